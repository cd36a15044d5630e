"""The cross-lingual transfer matrix (CLTM) of paper 003, from a table of training runs.

For a target language i and a donor language j, with disjoint same-size training sets D_i, D'_i (N samples each),
the paper (eq. 1-2) defines

    self-gain   Delta_{i<-i} = Perf_i(D_i + D'_i) - Perf_i(D_i)
    cross-gain  Delta_{i<-j} = Perf_i(D_i + D_j)  - Perf_i(D_i)
    CLTM[i, j]  = Delta_{i<-j} / Delta_{i<-i}        (defined when Delta_{i<-i} > 0; CLTM[i, i] = 1)

A run is one trained model: ``(target, donor, kind, seed, performance)`` with ``kind`` one of ``single`` (trained on
D_target, no donor), ``self`` (D_target + D'_target) or ``dual`` (D_target + D_donor). Performance is any
higher-is-better score on the target's evaluation set (UAR, macro-F1, AUC...).

Seeds. Gains are computed per seed (the single run of a seed is the reference of the self and dual runs of that
seed: common random numbers) and averaged over the seeds. The CLTM entry is the ratio of the mean gains (not the
mean of per-seed ratios, which explodes when one seed's self-gain is near zero). Standard errors over seeds:

- gains: ``std(ddof=1) / sqrt(S)`` of the per-seed gains;
- CLTM entries, ``se_method="jackknife"`` (default, our choice): the leave-one-seed-out jackknife of the ratio of
  mean gains, ``sqrt((S - 1) / S * sum_k (theta_(-k) - theta_bar)^2)``; ``inf`` when a leave-one-out self-gain is not
  positive (the ratio is unstable there);
- ``se_method="per_seed"``: ``std(ddof=1) / sqrt(S)`` of the per-seed ratios over the seeds whose own self-gain is
  positive.

Undefined rows. A target whose mean self-gain is not positive (or has no self run) has no CLTM row: the whole row,
diagonal included, is NaN, the target is listed in :attr:`CltmResult.undefined_targets` and a warning is logged.
Nothing is ever divided by zero. Missing dual runs give NaN entries (listed in :attr:`CltmResult.missing_entries`).

Example:

```python
>>> from hf_cser.cltm import compute_cltm
>>> runs = [
...     {"target": "en", "donor": None, "kind": "single", "seed": 0, "performance": 0.50},
...     {"target": "en", "donor": None, "kind": "self", "seed": 0, "performance": 0.60},
...     {"target": "en", "donor": "de", "kind": "dual", "seed": 0, "performance": 0.55},
...     {"target": "de", "donor": None, "kind": "single", "seed": 0, "performance": 0.40},
...     {"target": "de", "donor": None, "kind": "self", "seed": 0, "performance": 0.50},
...     {"target": "de", "donor": "en", "kind": "dual", "seed": 0, "performance": 0.52},
... ]
>>> result = compute_cltm(runs, languages=["en", "de"])
>>> result.matrix.round(2).tolist()
[[1.0, 0.5], [1.2, 1.0]]
```
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from transformers.utils import logging

logger = logging.get_logger(__name__)

RUN_KINDS = ("single", "self", "dual")
SE_METHODS = ("jackknife", "per_seed")


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip().lower() in ("", "none", "nan", "null")


@dataclass(frozen=True)
class CltmRun:
    """One trained model of the CLTM protocol.

    Args:
        target (`str`): the language the model is evaluated on (and whose D_i it always trains on).
        donor (`str`, *optional*): the donor language of a ``dual`` run; ``None`` for ``single`` and ``self``.
        kind (`str`): ``single`` (D_i), ``self`` (D_i + D'_i) or ``dual`` (D_i + D_donor).
        seed (`int`): the seed of the run.
        performance (`float`): higher-is-better score on the target's evaluation set.
    """

    target: str
    donor: str | None
    kind: str
    seed: int
    performance: float

    @classmethod
    def from_record(cls, record: Mapping[str, Any] | CltmRun) -> CltmRun:
        """Build a run from a mapping (e.g. a CSV row); validates kind, donor and performance."""
        if isinstance(record, CltmRun):
            return record
        for key in ("target", "kind", "seed", "performance"):
            if key not in record:
                raise ValueError(f"A CLTM run needs the key `{key}`; got keys {sorted(record)}.")
        kind = str(record["kind"]).strip()
        if kind not in RUN_KINDS:
            raise ValueError(f"`kind` must be one of {RUN_KINDS}, got {kind!r} (run {dict(record)}).")
        target = str(record["target"]).strip()
        donor = record.get("donor")
        donor = None if _is_missing(donor) else str(donor).strip()
        if kind == "dual":
            if donor is None:
                raise ValueError(f"A `dual` run needs a `donor`; got none (run {dict(record)}).")
            if donor == target:
                raise ValueError(f"A `dual` run with donor == target ({target!r}) is a `self` run: set kind='self'.")
        elif donor is not None and donor != target:
            raise ValueError(f"A `{kind}` run has no donor language, got donor={donor!r} for target {target!r}.")
        performance = float(record["performance"])
        if not math.isfinite(performance):
            raise ValueError(f"`performance` must be finite, got {performance} (run {dict(record)}).")
        return cls(
            target=target,
            donor=donor if kind == "dual" else None,
            kind=kind,
            seed=int(record["seed"]),
            performance=performance,
        )


def read_runs_csv(path: str | os.PathLike, **filters: Any) -> list[CltmRun]:
    """Read runs from a CSV with columns ``target, donor, kind, seed, performance`` (extra columns are ignored).

    ``filters`` keep only rows whose column equals the value as text, e.g. ``read_runs_csv(p, task="ser", n=64)``.
    Rows of other kinds (e.g. the learning-curve runs of :mod:`hf_cser.cltm.protocol`) are skipped.
    """
    runs = []
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if any(str(row.get(k)) != str(v) for k, v in filters.items()):
                continue
            if row.get("kind") not in RUN_KINDS:
                continue
            runs.append(CltmRun.from_record(row))
    return runs


@dataclass
class CltmResult:
    """Self-gains, cross-gains, the CLTM and their standard errors over seeds (see the module docstring).

    Attributes:
        languages (`list[str]`): row/column order (targets = rows, donors = columns).
        self_gain (`np.ndarray` of shape `(n,)`): mean self-gain Delta_{i<-i} over seeds (NaN without runs).
        self_gain_se (`np.ndarray` of shape `(n,)`): its standard error over seeds (NaN with fewer than 2 seeds).
        cross_gain (`np.ndarray` of shape `(n, n)`): mean gain Delta_{i<-j}; the diagonal holds the self-gains.
        cross_gain_se (`np.ndarray` of shape `(n, n)`): standard errors of ``cross_gain``.
        matrix (`np.ndarray` of shape `(n, n)`): the CLTM; NaN rows for undefined targets; diagonal exactly 1.
        matrix_se (`np.ndarray` of shape `(n, n)`): standard error of each entry over seeds (diagonal 0).
        num_seeds (`np.ndarray` of shape `(n, n)`): seeds that entered each mean gain.
        undefined_targets (`list[str]`): targets whose self-gain is not positive (rows left NaN).
        missing_entries (`list[tuple[str, str]]`): ``(target, donor)`` pairs without any usable dual run.
        seeds (`list[int]`): every seed seen.
        se_method (`str`): how ``matrix_se`` was computed.
    """

    languages: list[str]
    self_gain: np.ndarray
    self_gain_se: np.ndarray
    cross_gain: np.ndarray
    cross_gain_se: np.ndarray
    matrix: np.ndarray
    matrix_se: np.ndarray
    num_seeds: np.ndarray
    undefined_targets: list[str] = field(default_factory=list)
    missing_entries: list[tuple[str, str]] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)
    se_method: str = "jackknife"

    def se_summary(self) -> dict[str, float]:
        """Median and mean standard error over the finite off-diagonal entries (the paper's sigma_SE, section 4.4).

        Entries whose SE is ``inf`` (unstable jackknife) count in the median but are left out of the mean; their
        number is returned as ``num_unstable``.
        """
        n = len(self.languages)
        off = ~np.eye(n, dtype=bool)
        values = self.matrix_se[off & np.isfinite(self.matrix)]
        values = values[~np.isnan(values)]
        finite = values[np.isfinite(values)]
        return {
            "median_se": float(np.median(values)) if values.size else float("nan"),
            "mean_se": float(np.mean(finite)) if finite.size else float("nan"),
            "num_unstable": int(np.sum(np.isinf(values))),
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN and inf become ``None``)."""

        def clean(a):
            arr = np.asarray(a, dtype=np.float64)
            return [clean(x) for x in arr] if arr.ndim > 1 else [None if not np.isfinite(x) else float(x) for x in arr]

        return {
            "languages": list(self.languages),
            "matrix": clean(self.matrix),
            "matrix_se": clean(self.matrix_se),
            "self_gain": clean(self.self_gain),
            "self_gain_se": clean(self.self_gain_se),
            "cross_gain": clean(self.cross_gain),
            "cross_gain_se": clean(self.cross_gain_se),
            "num_seeds": np.asarray(self.num_seeds).astype(int).tolist(),
            "undefined_targets": list(self.undefined_targets),
            "missing_entries": [list(p) for p in self.missing_entries],
            "seeds": list(self.seeds),
            "se_method": self.se_method,
            **{k: (v if math.isfinite(v) else None) for k, v in self.se_summary().items()},
        }

    def to_csv(self, path: str | os.PathLike, which: str = "matrix", float_format: str = "{:.6f}") -> None:
        """Write a square table (rows = targets, columns = donors) of ``matrix``, ``matrix_se``, ``cross_gain`` or
        ``cross_gain_se``; undefined values are written as ``nan``."""
        values = getattr(self, which)
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["target \\ donor", *self.languages])
            for lang, row in zip(self.languages, values):
                writer.writerow([lang, *(float_format.format(v) if np.isfinite(v) else str(v) for v in row)])


def _se(values: Sequence[float]) -> float:
    if len(values) < 2:
        return float("nan")
    return float(np.std(np.asarray(values, dtype=np.float64), ddof=1) / math.sqrt(len(values)))


def _jackknife_ratio_se(numerators: np.ndarray, denominators: np.ndarray) -> float:
    """Leave-one-out jackknife SE of mean(numerators) / mean(denominators) (paired arrays, one value per seed)."""
    s = numerators.size
    if s < 2:
        return float("nan")
    num_loo = (numerators.sum() - numerators) / (s - 1)
    den_loo = (denominators.sum() - denominators) / (s - 1)
    if np.any(den_loo <= 0):
        return float("inf")
    theta = num_loo / den_loo
    return float(math.sqrt((s - 1) / s * np.sum((theta - theta.mean()) ** 2)))


def compute_cltm(
    runs: Iterable[Mapping[str, Any] | CltmRun],
    languages: Sequence[str] | None = None,
    se_method: str = "jackknife",
) -> CltmResult:
    """Compute self-gains, cross-gains, the row-normalised CLTM and standard errors over seeds.

    Args:
        runs (iterable of mappings or :class:`CltmRun`): the runs table (keys ``target``, ``donor``, ``kind``,
            ``seed``, ``performance``; extra keys ignored). Each ``(target, donor, kind, seed)`` must occur once.
        languages (`Sequence[str]`, *optional*): row/column order; defaults to the targets in sorted order. Every
            target of ``runs`` must be listed; listed languages without runs get NaN rows.
        se_method (`str`, *optional*, defaults to `"jackknife"`): ``jackknife`` or ``per_seed`` (module docstring).

    Returns:
        :class:`CltmResult`.

    Raises:
        ValueError: a duplicated run, a run of a language not in ``languages``, or an unknown ``se_method``.
    """
    if se_method not in SE_METHODS:
        raise ValueError(f"`se_method` must be one of {SE_METHODS}, got {se_method!r}.")
    table: dict[tuple[str, str | None, str, int], float] = {}
    for record in runs:
        run = CltmRun.from_record(record)
        key = (run.target, run.donor, run.kind, run.seed)
        if key in table:
            raise ValueError(f"Duplicated run {key}: each (target, donor, kind, seed) must occur once.")
        table[key] = run.performance
    targets = sorted({k[0] for k in table} | {k[1] for k in table if k[1] is not None})
    langs = list(languages) if languages is not None else targets
    if len(set(langs)) != len(langs):
        raise ValueError(f"`languages` has duplicates: {langs}.")
    unknown = sorted(set(targets) - set(langs))
    if unknown:
        raise ValueError(f"Runs mention languages {unknown} that are not in `languages` ({langs}).")
    n = len(langs)
    index = {lang: i for i, lang in enumerate(langs)}
    seeds = sorted({k[3] for k in table})

    # per-seed gains: gains[i][j] = {seed: gain}; j == i is the self-gain
    gains: list[list[dict[int, float]]] = [[{} for _ in range(n)] for _ in range(n)]
    for (target, donor, kind, seed), perf in table.items():
        if kind == "single":
            continue
        base = table.get((target, None, "single", seed))
        if base is None:
            logger.warning(f"CLTM: no `single` run for target {target!r}, seed {seed}; its {kind} run is unused.")
            continue
        i = index[target]
        j = i if kind == "self" else index[donor]
        gains[i][j][seed] = perf - base

    cross = np.full((n, n), np.nan)
    cross_se = np.full((n, n), np.nan)
    counts = np.zeros((n, n), dtype=np.int64)
    for i in range(n):
        for j in range(n):
            values = list(gains[i][j].values())
            counts[i, j] = len(values)
            if values:
                cross[i, j] = float(np.mean(values))
                cross_se[i, j] = _se(values)
    self_gain = np.diag(cross).copy()
    self_gain_se = np.diag(cross_se).copy()

    matrix = np.full((n, n), np.nan)
    matrix_se = np.full((n, n), np.nan)
    undefined, missing = [], []
    for i, target in enumerate(langs):
        if not (np.isfinite(self_gain[i]) and self_gain[i] > 0):
            undefined.append(target)
            continue
        matrix[i, i] = 1.0
        matrix_se[i, i] = 0.0
        for j, donor in enumerate(langs):
            if j == i:
                continue
            if counts[i, j] == 0:
                missing.append((target, donor))
                continue
            matrix[i, j] = cross[i, j] / self_gain[i]
            common = sorted(set(gains[i][j]) & set(gains[i][i]))
            num = np.array([gains[i][j][s] for s in common])
            den = np.array([gains[i][i][s] for s in common])
            if se_method == "jackknife":
                matrix_se[i, j] = _jackknife_ratio_se(num, den)
            else:
                keep = den > 0
                matrix_se[i, j] = _se((num[keep] / den[keep]).tolist())
    if undefined:
        shown = [round(float(g), 4) if np.isfinite(g) else None for g in (self_gain[index[t]] for t in undefined)]
        logger.warning(
            f"CLTM: the self-gain is not positive for {undefined} (self-gains {shown}): their rows are undefined "
            "(NaN). Choose a larger dynamic interval [N, 2N] or more seeds."
        )
    if missing:
        logger.warning(f"CLTM: no dual runs for (target, donor) {missing}: those entries are NaN.")
    return CltmResult(
        languages=langs,
        self_gain=self_gain,
        self_gain_se=self_gain_se,
        cross_gain=cross,
        cross_gain_se=cross_se,
        matrix=matrix,
        matrix_se=matrix_se,
        num_seeds=counts,
        undefined_targets=undefined,
        missing_entries=missing,
        seeds=seeds,
        se_method=se_method,
    )
