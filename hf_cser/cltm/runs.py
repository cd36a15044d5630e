"""Run specs, run planning and the resumable run log of the CLTM protocol (split out of
:mod:`hf_cser.cltm.protocol`).

Holds :class:`RunSpec` (one ``single`` / ``self`` / ``dual`` training run) and its key (:func:`run_key`), the
planners of the learning-curve sweep (:func:`plan_self_runs`) and of one CLTM (:func:`plan_cltm_runs`), the CSV of
finished runs (:class:`RunLog`, columns :data:`RUN_FIELDS`, appended durably under a file lock so an interrupted
grid resumes) and the check that a resumed output folder was made with the same settings
(:func:`check_run_config`).
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

RUN_FIELDS = (
    "task",
    "kind",
    "target",
    "donor",
    "n",
    "seed",
    "performance",
    "metric",
    "num_train",
    "num_eval",
    "seconds",
)


# ----------------------------------------------------------------------------------------------------------------
# Run planning


@dataclass(frozen=True)
class RunSpec:
    """One training run: ``kind`` ``single`` / ``self`` / ``dual``, target, donor (dual only), N, seed."""

    task: str
    kind: str
    target: str
    donor: str | None
    n: int
    seed: int

    @property
    def key(self) -> tuple[str, str, str, str, int, int]:
        return (self.task, self.kind, self.target, self.donor or "", int(self.n), int(self.seed))


def run_key(row: Mapping[str, Any]) -> tuple[str, str, str, str, int, int]:
    """The :attr:`RunSpec.key` of a CSV row."""
    donor = row.get("donor")
    donor = "" if donor is None or str(donor) in ("", "None", "nan") else str(donor)
    return (str(row["task"]), str(row["kind"]), str(row["target"]), donor, int(row["n"]), int(row["seed"]))


def plan_self_runs(
    task: str, languages: Sequence[str], seeds: Sequence[int], n_values: Iterable[int]
) -> list[RunSpec]:
    """The single and self runs of every language, N and seed (the learning-curve sweep)."""
    return [
        RunSpec(task, kind, lang, None, int(n), int(seed))
        for n in n_values
        for seed in seeds
        for lang in languages
        for kind in ("single", "self")
    ]


def plan_cltm_runs(task: str, languages: Sequence[str], seeds: Sequence[int], n: int) -> list[RunSpec]:
    """Every run of one CLTM: single and self per target, dual per ordered pair (target != donor), per seed."""
    runs = plan_self_runs(task, languages, seeds, [n])
    runs += [
        RunSpec(task, "dual", target, donor, int(n), int(seed))
        for seed in seeds
        for target in languages
        for donor in languages
        if donor != target
    ]
    return runs


# ----------------------------------------------------------------------------------------------------------------
# Resumable run log


class RunLog:
    """A CSV of finished runs (:data:`RUN_FIELDS`), appended one row at a time.

    Args:
        path (`str`): the CSV file (created with its header on the first append).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)

    def rows(self) -> list[dict[str, str]]:
        """Every complete row of the file (a torn last line from a crash is ignored)."""
        if not os.path.isfile(self.path):
            return []
        with open(self.path, newline="", encoding="utf-8") as f:
            rows = []
            for row in csv.DictReader(f):
                if None in row.values() or row.get("performance") in (None, ""):
                    continue  # a line cut by a crash
                rows.append(row)
            return rows

    def finished(self) -> dict[tuple, dict[str, str]]:
        """Finished runs by :attr:`RunSpec.key`."""
        return {run_key(r): r for r in self.rows()}

    def append(self, row: Mapping[str, Any]) -> None:
        """Append one row durably (flush + fsync) under an exclusive lock."""
        import fcntl

        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        with open(self.path, "a", newline="", encoding="utf-8") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                f.seek(0, os.SEEK_END)
                writer = csv.DictWriter(f, fieldnames=RUN_FIELDS, extrasaction="ignore")
                if f.tell() == 0:
                    writer.writeheader()
                else:
                    self._terminate_torn_line(f)
                writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in RUN_FIELDS})
                f.flush()
                os.fsync(f.fileno())
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def _terminate_torn_line(self, f) -> None:
        with open(self.path, "rb") as r:
            r.seek(-1, os.SEEK_END)
            if r.read(1) != b"\n":
                f.write("\n")


def check_run_config(output_dir: str | os.PathLike, config: Mapping[str, Any], overwrite: bool = False) -> None:
    """Write ``cltm_config.json`` or check that an existing one matches ``config`` (a resumed grid must not mix
    runs of different settings). ``overwrite`` replaces a mismatching config (the caller removes old runs)."""
    path = os.path.join(output_dir, "cltm_config.json")
    normalised = json.loads(json.dumps(dict(config), sort_keys=True, default=str))
    if os.path.isfile(path) and not overwrite:
        with open(path, encoding="utf-8") as f:
            previous = json.load(f)
        diff = sorted(k for k in set(previous) | set(normalised) if previous.get(k) != normalised.get(k))
        if diff:
            raise ValueError(
                f"{output_dir} holds runs made with other settings (differing: {diff}). Use another "
                "`--output_dir`, or `--overwrite_output_dir` to discard them."
            )
        return
    os.makedirs(output_dir, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(normalised, f, indent=2, sort_keys=True)
