"""What a corpus loader kept and dropped, carried with the `datasets.DatasetDict` it returns.

Every loader fills a :class:`CorpusLoadReport`: rows kept per split and emotion, rows dropped per reason (an emotion
outside the four classes, a song, a missing file, a duplicate...). The report is logged, and stored as JSON in the
``description`` of each split's `datasets.DatasetInfo`, so it survives ``save_to_disk`` and can be read back with
:func:`get_load_report`.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ...labels import EMOTIONS

REPORT_PREFIX = "hf_cser corpus load report: "


@dataclass
class CorpusLoadReport:
    """Counts of what a corpus loader kept and dropped.

    Args:
        corpus (`str`): the corpus name (``emodb``, ``msp-podcast``...).
        data_dir (`str`): where it was read from.
        split_source (`str`, *optional*): ``official`` when the corpus's own split was used, else a description of
            the split we made (``speaker-independent (seed=0)``).
        kept (`dict[str, dict[str, int]]`, *optional*): rows kept, ``{split: {emotion: count}}``.
        dropped (`Counter`, *optional*): rows dropped, ``{reason: count}``; reasons are ``emotion=<label>`` for a
            label outside the four classes, else a short name (``song``, ``missing_audio``, ``duplicate``,
            ``unparsed_name``, ``intensity``, ``language``...).
        examples (`dict[str, list[str]]`, *optional*): up to ``max_examples`` paths or ids per drop reason.
    """

    corpus: str
    data_dir: str = ""
    split_source: str = ""
    kept: dict[str, dict[str, int]] = field(default_factory=dict)
    dropped: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)
    max_examples: int = 3

    def drop(self, reason: str, example: Any = None, count: int = 1) -> None:
        """Count ``count`` dropped rows under ``reason``, keeping ``example`` (a path or id) for the summary."""
        self.dropped[reason] += count
        if example is not None:
            kept_examples = self.examples.setdefault(reason, [])
            if len(kept_examples) < self.max_examples:
                kept_examples.append(str(example))

    def drop_emotion(self, label: Any, example: Any = None) -> None:
        """Count a row whose emotion label is not one of the four classes."""
        self.drop(f"emotion={label}", example)

    @property
    def total_kept(self) -> int:
        return sum(sum(row.values()) for row in self.kept.values())

    @property
    def total_dropped(self) -> int:
        return sum(self.dropped.values())

    def set_kept_from_records(self, records_by_split: dict[str, list[dict[str, Any]]]) -> None:
        """Fill :attr:`kept` from ``{split: [record, ...]}`` (``emotion`` as a class name or id)."""
        self.kept = {}
        for split, records in records_by_split.items():
            counts = Counter(EMOTIONS[e] if isinstance(e, int) else e for e in (r["emotion"] for r in records))
            self.kept[split] = {name: int(counts.get(name, 0)) for name in EMOTIONS}

    def to_dict(self) -> dict[str, Any]:
        return {
            "corpus": self.corpus,
            "data_dir": self.data_dir,
            "split_source": self.split_source,
            "kept": self.kept,
            "dropped": dict(sorted(self.dropped.items())),
            "examples": self.examples,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CorpusLoadReport:
        return cls(
            corpus=data["corpus"],
            data_dir=data.get("data_dir", ""),
            split_source=data.get("split_source", ""),
            kept={k: dict(v) for k, v in data.get("kept", {}).items()},
            dropped=Counter(data.get("dropped", {})),
            examples={k: list(v) for k, v in data.get("examples", {}).items()},
        )

    def summary(self) -> str:
        """One paragraph: kept per split, dropped per reason with examples."""
        splits = ", ".join(f"{split}={sum(row.values())}" for split, row in self.kept.items())
        text = f"{self.corpus}: kept {self.total_kept} rows ({splits}; split: {self.split_source or 'n/a'})"
        if not self.dropped:
            return text + ", dropped none."
        parts = []
        for reason, n in sorted(self.dropped.items()):
            example = self.examples.get(reason)
            parts.append(f"{reason}: {n}" + (f" (e.g. {', '.join(example)})" if example else ""))
        return text + f", dropped {self.total_dropped}: " + "; ".join(parts) + "."


def attach_report(dataset_dict, report: CorpusLoadReport):
    """Store ``report`` in the ``description`` of every split of ``dataset_dict`` (returned for chaining)."""
    text = REPORT_PREFIX + json.dumps(report.to_dict(), ensure_ascii=False)
    for dataset in dataset_dict.values():
        dataset.info.description = text
    return dataset_dict


def get_load_report(dataset_dict) -> CorpusLoadReport | None:
    """Read back the :class:`CorpusLoadReport` of a DatasetDict made by a corpus loader (``None`` when absent)."""
    for dataset in dataset_dict.values():
        description = getattr(dataset.info, "description", None) or ""
        if description.startswith(REPORT_PREFIX):
            return CorpusLoadReport.from_dict(json.loads(description[len(REPORT_PREFIX) :]))
    return None
