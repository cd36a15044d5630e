"""Helpers the corpus loaders share: finding files in a corpus tree, reading its metadata, building the DatasetDict.

Loaders only check that files exist; audio is never decoded here (the ``audio`` column holds paths).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from transformers.utils import logging

from ...labels import CORPUS_LABEL_MAPS, EMOTION_ALIASES
from ..schema import SPLITS, build_dataset_dict, speaker_independent_split
from .report import CorpusLoadReport, attach_report

logger = logging.get_logger(__name__)

AUDIO_EXTENSIONS: tuple[str, ...] = (".wav", ".flac")
SPLIT_ORDER: tuple[str, ...] = (*SPLITS, "test2", "test3")


class CorpusLayoutError(FileNotFoundError):
    """Raised when a corpus folder does not look the way its owners distribute it.

    The message names the folder searched and gives an example of the expected file names.
    """


def require_data_dir(data_dir: str | os.PathLike, corpus: str, expected: str) -> Path:
    """Return ``data_dir`` as a `Path`, or raise :class:`CorpusLayoutError` when it is missing or empty.

    Args:
        data_dir (`str` or `os.PathLike`): the corpus root given by the user.
        corpus (`str`): corpus name for the message.
        expected (`str`): what the root should contain, e.g. ``"wav/03a01Fa.wav"``.
    """
    root = Path(data_dir).expanduser()
    problem = (
        "does not exist"
        if not root.exists()
        else "is not a folder"
        if not root.is_dir()
        else "is empty"
        if not any(root.iterdir())
        else None
    )
    if problem is not None:
        raise CorpusLayoutError(f"{corpus}: data_dir '{root}' {problem}; expected a folder containing:\n{expected}")
    return root


def find_files(root: Path, extensions: Sequence[str] = AUDIO_EXTENSIONS) -> list[Path]:
    """All files under ``root`` (recursively, sorted) whose suffix is in ``extensions`` (case-insensitive).

    macOS archive debris (``__MACOSX/`` folders, ``._name`` resource forks) and hidden folders are skipped.
    """
    extensions = tuple(e.lower() for e in extensions)
    found = []
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith(".") and d != "__MACOSX")
        for name in files:
            if not name.startswith(".") and name.lower().endswith(extensions):
                found.append(Path(folder) / name)
    return sorted(found)


def find_dir(root: Path, names: Iterable[str], max_depth: int = 3) -> Path | None:
    """The shallowest folder under ``root`` (``root`` included) whose name is one of ``names`` (case-insensitive)."""
    wanted = {n.lower() for n in names}
    level = [root]
    for _ in range(max_depth + 1):
        for folder in level:
            if folder.name.lower() in wanted:
                return folder
        level = sorted(
            d for folder in level for d in folder.iterdir() if d.is_dir() and not d.name.startswith((".", "__MACOSX"))
        )
        if not level:
            return None
    return None


def find_file(root: Path, names: Iterable[str], max_depth: int = 3) -> Path | None:
    """The shallowest file under ``root`` whose name is one of ``names`` (case-insensitive)."""
    wanted = {n.lower() for n in names}
    level = [root]
    for _ in range(max_depth + 1):
        for folder in level:
            for child in sorted(folder.iterdir()):
                if child.is_file() and child.name.lower() in wanted:
                    return child
        level = sorted(
            d for folder in level for d in folder.iterdir() if d.is_dir() and not d.name.startswith((".", "__MACOSX"))
        )
        if not level:
            return None
    return None


def no_audio_error(corpus: str, root: Path, expected: str, extensions: Sequence[str] = AUDIO_EXTENSIONS) -> Exception:
    """The error for a corpus folder in which no usable audio file was found."""
    patterns = ", ".join(f"*{e}" for e in extensions)
    return CorpusLayoutError(
        f"{corpus}: no audio file with the corpus's naming found under '{root}' (searched recursively for "
        f"{patterns}). Expected a layout like:\n{expected}"
    )


def read_text(path: Path) -> str:
    """Read a metadata text file (transcripts, labels, CSV) whatever its encoding.

    UTF-8 (with or without BOM) and UTF-16 with a BOM are read silently. Anything else is decoded with the first of
    GB18030 (the encoding of the ESD and CASIA releases) and Latin-1 that works, with a warning naming the file and
    the encoding used, so that garbled transcripts can be traced to their file (fix: re-save it as UTF-8). Nothing
    is dropped and no error is raised: Latin-1 decodes any byte.
    """
    raw = Path(path).read_bytes()
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        encoding, text = "gb18030", raw.decode("gb18030")
    except UnicodeDecodeError:
        encoding, text = "latin-1", raw.decode("latin-1")
    logger.warning(f"{path}: not UTF-8; decoded as {encoding}. If its text looks garbled, re-save the file as UTF-8.")
    return text


def read_csv_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """Read a CSV (any of the encodings of :func:`read_text`) into its header and rows (values stripped)."""
    reader = csv.DictReader(io.StringIO(read_text(path)))
    header = [h.strip() for h in (reader.fieldnames or [])]
    rows = []
    for row in reader:
        rows.append({(k or "").strip(): (v or "").strip() if isinstance(v, str) else "" for k, v in row.items()})
    return header, rows


def map_label(corpus: str, label: str) -> tuple[bool, str | None]:
    """Map a corpus's own label with :data:`hf_cser.labels.CORPUS_LABEL_MAPS`.

    Returns:
        `tuple[bool, str | None]`: ``(known, emotion)``: ``known`` is `False` for a label the corpus is not
        documented to use; ``emotion`` is ``None`` for a known label outside the four classes.
    """
    table = CORPUS_LABEL_MAPS[corpus]
    key = str(label).strip()
    if key in table:
        return True, table[key]
    lowered = {k.lower(): v for k, v in table.items()}
    if key.lower() in lowered:
        return True, lowered[key.lower()]
    if key.lower() in EMOTION_ALIASES and len(key) > 1:  # spelled-out variants ("Neutral", "anger")
        return True, EMOTION_ALIASES[key.lower()]
    return False, None


def order_splits(names: Iterable[str]) -> list[str]:
    names = set(names)
    return [s for s in SPLIT_ORDER if s in names] + sorted(names - set(SPLIT_ORDER))


def warn_single_speaker_languages(by_split: dict[str, list[dict[str, Any]]], corpus: str) -> list[str]:
    """Warn for every language with a single speaker in a speaker-independent split; return those languages.

    Such a language is kept (a language with one speaker is valid data), but all of its rows land in one split, so
    it can be trained on or evaluated on, never both; the warning names the language, the speaker and the split.
    """
    speakers: dict[str, set[str]] = {}
    split_of: dict[str, str] = {}
    for split, rows in by_split.items():
        for row in rows:
            speakers.setdefault(str(row["language"]), set()).add(str(row["speaker"]))
            split_of[str(row["speaker"])] = split
    single = sorted(language for language, names in speakers.items() if len(names) == 1)
    for language in single:
        (speaker,) = speakers[language]
        logger.warning(
            f"{corpus}: language {language!r} has a single speaker ({speaker!r}); all of its rows are in the "
            f"{split_of[speaker]!r} split, so {language!r} cannot be both trained on and evaluated "
            "speaker-independently. Add speakers of that language, or use it only as a zero-shot target."
        )
    return single


def assemble_corpus(
    records: Sequence[dict[str, Any]],
    report: CorpusLoadReport,
    *,
    splits: Sequence[str] | None = None,
    seed: int = 0,
    ratios: Sequence[float] = (0.8, 0.1, 0.1),
):
    """Turn a loader's records into the DatasetDict it returns, with ``report`` filled, logged and attached.

    Args:
        records (`Sequence[dict]`): rows for :func:`hf_cser.data.make_record`.
        report (:class:`CorpusLoadReport`): the loader's drop counts; :attr:`~CorpusLoadReport.kept` is filled here.
        splits (`Sequence[str]`, *optional*): the official split of each record. Without it the records are split
            speaker-independently with ``seed`` and ``ratios`` (:func:`hf_cser.data.speaker_independent_split`).
        seed (`int`, *optional*, defaults to 0): seed of the speaker-independent split.
        ratios (`Sequence[float]`, *optional*, defaults to `(0.8, 0.1, 0.1)`): train/validation/test speaker ratios
            (our choice; the corpora without an official split do not define one).
    """
    if not records:
        raise CorpusLayoutError(
            f"{report.corpus}: no row is left after mapping labels to the four classes in '{report.data_dir}'. "
            f"{report.summary()}"
        )
    if splits is None:
        by_split = speaker_independent_split(records, ratios=ratios, seed=seed)
        report.split_source = f"speaker-independent (seed={seed}, ratios={list(ratios)})"
        warn_single_speaker_languages(by_split, report.corpus)
    else:
        if len(splits) != len(records):
            raise ValueError(f"{report.corpus}: got {len(splits)} split names for {len(records)} records.")
        by_split = {name: [] for name in order_splits(splits)}
        for split, record in zip(splits, records, strict=True):
            by_split[split].append(record)
        report.split_source = report.split_source or "official"
    report.set_kept_from_records(by_split)
    logger.info(report.summary())
    return attach_report(build_dataset_dict(by_split), report)
