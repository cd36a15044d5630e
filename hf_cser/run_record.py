"""The one run record every training script writes: ``run_record.json`` in each run's folder.

Each script keeps its own richer outputs (SAPA's ``results.json``, the zero-shot and CTL-MTNet run tables, the
feature-GAN stage folders); the run record is the common part, the same fields for every method, so a benchmark, a
notebook or a dashboard reads any run the same way (``benchmarks/real/methods.py`` reads nothing else)::

    {"schema": 1, "runs": [{"method": "sapa", "system": "sapa", "seed": 0, "source": "...", "target": "...",
      "uar": 0.53, "war": 0.55, "macro_f1": 0.52, "num_test": 400, "validation_uar": 0.61, "world_size": 1,
      "bad_audio_skipped": 0, "predictions": "target_predictions.csv"}]}

A folder holds one record per system trained in it (the feature-GAN run: the augmented classifier and its
no-augmentation control). ``predictions`` names the saved predictions file (:mod:`hf_cser.metrics.predictions`) from
which ``uar`` / ``war`` / ``macro_f1`` recompute.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from .cache import write_atomically

RUN_RECORD_NAME = "run_record.json"
RUN_RECORD_SCHEMA = 1
METHOD_NAMES: tuple[str, ...] = ("sapa", "zero_shot", "ctl_mtnet", "feature_gan")


@dataclass
class RunRecord:
    """The result of one trained system on its test data.

    Args:
        method (`str`): one of :data:`METHOD_NAMES`.
        system (`str`): the variant / system / ablation within the method (e.g. SAPA's `only_p`, zero-shot's
            `proposed`, CTL-MTNet's `mdd` or `no_mdd`, the feature GAN's `augmented` or `control`).
        seed (`int`): the training seed.
        source (`str`), target (`str`): the training data and the test data (data specs, languages or settings).
        uar, war, macro_f1 (`float`): test metrics in [0, 1].
        num_test (`int`): test utterances.
        validation_uar (`float`, *optional*): the source-validation UAR used for model selection.
        world_size (`int`, *optional*, defaults to 1): processes of the run.
        bad_audio_skipped (`int`, *optional*, defaults to 0): files dropped by `--skip_bad_audio`.
        predictions (`str`, *optional*): the predictions file, relative to the run folder.
        extra (`dict`, *optional*): method-specific values (JSON-serialisable).
    """

    method: str
    system: str
    seed: int
    source: str
    target: str
    uar: float
    war: float
    macro_f1: float
    num_test: int
    validation_uar: float | None = None
    world_size: int = 1
    bad_audio_skipped: int = 0
    predictions: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if self.method not in METHOD_NAMES:
            raise ValueError(f"`method` must be one of {list(METHOD_NAMES)}, got {self.method!r}.")
        for name in ("uar", "war", "macro_f1"):
            value = float(getattr(self, name))
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"`{name}` must be in [0, 1], got {value!r}.")
            setattr(self, name, value)
        if self.validation_uar is not None:
            self.validation_uar = float(self.validation_uar)
        self.seed, self.num_test = int(self.seed), int(self.num_test)
        self.world_size, self.bad_audio_skipped = int(self.world_size), int(self.bad_audio_skipped)

    @classmethod
    def from_metrics(cls, metrics: Mapping[str, Any], **values) -> RunRecord:
        """A record from a `compute_ser_metrics` report (``uar``, ``war``, ``macro_f1``, ``num_samples``)."""
        return cls(
            uar=metrics["uar"],
            war=metrics["war"],
            macro_f1=metrics["macro_f1"],
            num_test=metrics["num_samples"],
            **values,
        )


def write_run_records(folder: str | os.PathLike, records: Sequence[RunRecord]) -> str:
    """Write `records` to ``folder/run_record.json`` (atomically); returns the path."""
    path = os.path.join(os.fspath(folder), RUN_RECORD_NAME)
    content = {"schema": RUN_RECORD_SCHEMA, "runs": [asdict(record) for record in records]}

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(content, handle, indent=2)

    write_atomically(path, write)
    return path


def read_run_records(folder: str | os.PathLike) -> list[RunRecord]:
    """The records of ``folder/run_record.json``; a missing file or another schema raises naming the file."""
    path = os.path.join(os.fspath(folder), RUN_RECORD_NAME)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} does not exist: the run did not finish (or predates run records).")
    with open(path, encoding="utf-8") as handle:
        content = json.load(handle)
    if content.get("schema") != RUN_RECORD_SCHEMA:
        raise ValueError(f"{path}: run-record schema {content.get('schema')!r}, expected {RUN_RECORD_SCHEMA}.")
    known = {f.name for f in fields(RunRecord)}
    return [RunRecord(**{k: v for k, v in run.items() if k in known}) for run in content["runs"]]


__all__ = [
    "METHOD_NAMES",
    "RUN_RECORD_NAME",
    "RUN_RECORD_SCHEMA",
    "RunRecord",
    "read_run_records",
    "write_run_records",
]
