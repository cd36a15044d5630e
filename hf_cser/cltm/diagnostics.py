"""Aggregate diagnostics of a CLTM (paper 003, section 2.1 and Table 1; section 4.4 for RMS and standard errors).

For an n x n CLTM ``M`` (rows = targets, columns = donors, diagonal 1):

- ``RFD_1 = ||M - 1||_F / n``: relative Frobenius deviation from the language-agnostic matrix of ones (eq. 3);
- ``Asym_rel = ||M - M^T||_F / ||M||_F``: relative asymmetry (eq. 4);
- ``mean_row_cosine``: mean cosine similarity of rows ``M[i, :]`` and ``M[k, :]`` over the n(n-1) ordered pairs
  i != k (eq. 5); a pair involving an all-zero row has no cosine and is left out;
- ``prop_+``: share of off-diagonal entries that are positive;
- ``reciprocity_+``: among unordered pairs {i, j} (i != j) with at least one positive direction, the share whose two
  directions are both positive (the paper reports reciprocity_+ above prop_+ for SV, 16.91 % vs 8.93 %, which rules
  out "share of all pairs"); ``reciprocity_+_weighted`` is the positive-mass version of the authors' released code,
  ``sum_{i<j} min(M+_ij, M+_ji) / sum_{i<j} max(M+_ij, M+_ji)`` with ``M+ = max(M, 0)``;
- ``intra_family_+``: among positive off-diagonal entries, the share whose target and donor share a family
  (:mod:`hf_cser.cltm.families`); ``intra_family_pairs`` is the share of all off-diagonal entries that are
  intra-family (the value intra_family_+ takes when positive transfer ignores families: the paper's GR 4.98 % sits
  at that level, SV's 41.68 % far above it); ``intra_family_+_mass`` is the positive-mass version;
- ``RMS = ||M||_F / n``;
- top donors (columns) and receivers (rows) by the mean of their off-diagonal entries (a donor's mean effect on the
  other targets, a target's mean benefit from the other donors).

The paper computes prop_+, reciprocity_+ and intra-family_+ on the off-diagonal entries (our reading of "derived from
the off-diagonal entries"); the released code counts the diagonal in prop_+. We follow the paper.

NaN handling (undefined rows, missing dual runs), ``nan_policy`` of :func:`cltm_diagnostics`:

- ``"drop"`` (default): every language whose row holds a non-finite value is removed as a target **and** as a donor
  (its row and column), so the statistics are those of the largest fully defined square sub-matrix; the dropped
  languages are listed in the result;
- ``"omit"``: keep every language and compute each statistic over the finite entries only: RFD_1 and RMS become the
  root mean square over finite entries (equal to the formulas above when all are finite), Asym_rel uses the ordered
  pairs whose both directions are finite over the Frobenius norm of the finite entries, row cosines use the columns
  finite in both rows, the proportions count finite entries (a pair with one NaN direction is left out);
- ``"raise"``: a ``ValueError`` on any non-finite entry.

The single-statistic functions (:func:`rfd_1`, :func:`asym_rel`, ...) all follow ``"omit"``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .families import family_labels

NAN_POLICIES = ("drop", "omit", "raise")


def _square(matrix) -> np.ndarray:
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"A CLTM must be a square matrix, got shape {m.shape}.")
    return m


def _off_diagonal(n: int) -> np.ndarray:
    return ~np.eye(n, dtype=bool)


def rfd_1(matrix) -> float:
    """Relative Frobenius deviation from the all-ones matrix, ``||M - 1||_F / n`` (root mean square over finite
    entries)."""
    m = _square(matrix)
    finite = np.isfinite(m)
    if not finite.any():
        return float("nan")
    return float(math.sqrt(np.mean((m[finite] - 1.0) ** 2)))


def rms(matrix) -> float:
    """``||M||_F / n`` (root mean square over finite entries)."""
    m = _square(matrix)
    finite = np.isfinite(m)
    if not finite.any():
        return float("nan")
    return float(math.sqrt(np.mean(m[finite] ** 2)))


def asym_rel(matrix) -> float:
    """Relative asymmetry ``||M - M^T||_F / ||M||_F``; NaN when ``||M||_F`` is 0."""
    m = _square(matrix)
    both = np.isfinite(m) & np.isfinite(m.T)
    denominator = math.sqrt(np.sum(m[np.isfinite(m)] ** 2))
    if denominator == 0:
        return float("nan")
    return float(math.sqrt(np.sum((m - m.T)[both] ** 2)) / denominator)


def mean_row_cosine(matrix) -> float:
    """Mean cosine similarity between rows over ordered pairs i != k (pairs without a defined cosine left out)."""
    m = _square(matrix)
    n = m.shape[0]
    values = []
    for i in range(n):
        for k in range(n):
            if i == k:
                continue
            cols = np.isfinite(m[i]) & np.isfinite(m[k])
            a, b = m[i, cols], m[k, cols]
            na, nb = np.linalg.norm(a), np.linalg.norm(b)
            if cols.any() and na > 0 and nb > 0:
                values.append(float(np.clip(a @ b / (na * nb), -1.0, 1.0)))
    return float(np.mean(values)) if values else float("nan")


def prop_positive(matrix) -> float:
    """Share of finite off-diagonal entries that are > 0."""
    m = _square(matrix)
    values = m[_off_diagonal(m.shape[0]) & np.isfinite(m)]
    return float(np.mean(values > 0)) if values.size else float("nan")


def _pairs(m: np.ndarray):
    n = m.shape[0]
    for i in range(n):
        for j in range(i + 1, n):
            if np.isfinite(m[i, j]) and np.isfinite(m[j, i]):
                yield i, j


def reciprocity_positive(matrix) -> float:
    """Among unordered pairs with at least one positive direction, the share with both directions positive."""
    m = _square(matrix)
    any_pos = both_pos = 0
    for i, j in _pairs(m):
        a, b = m[i, j] > 0, m[j, i] > 0
        any_pos += a or b
        both_pos += a and b
    return both_pos / any_pos if any_pos else float("nan")


def reciprocity_positive_weighted(matrix) -> float:
    """``sum min(M+_ij, M+_ji) / sum max(M+_ij, M+_ji)`` over unordered pairs (the released code's definition)."""
    m = _square(matrix)
    num = den = 0.0
    for i, j in _pairs(m):
        a, b = max(m[i, j], 0.0), max(m[j, i], 0.0)
        num += min(a, b)
        den += max(a, b)
    return num / den if den > 0 else float("nan")


def _same_family(languages: Sequence[str], families: Mapping[str, str] | None) -> np.ndarray:
    labels = family_labels(languages, families)
    return np.array([[a == b for b in labels] for a in labels])


def intra_family_positive(matrix, languages: Sequence[str], families: Mapping[str, str] | None = None) -> float:
    """Among positive finite off-diagonal entries, the share whose target and donor share a family."""
    m = _square(matrix)
    same = _same_family(languages, families)
    positive = _off_diagonal(m.shape[0]) & np.isfinite(m) & (m > 0)
    return float(np.mean(same[positive])) if positive.any() else float("nan")


def intra_family_positive_mass(matrix, languages: Sequence[str], families: Mapping[str, str] | None = None) -> float:
    """Share of the positive off-diagonal mass ``sum max(M_ij, 0)`` that lies within families."""
    m = _square(matrix)
    same = _same_family(languages, families)
    mask = _off_diagonal(m.shape[0]) & np.isfinite(m)
    positive = np.where(mask, np.maximum(np.nan_to_num(m, nan=0.0), 0.0), 0.0)
    total = positive.sum()
    return float(positive[same].sum() / total) if total > 0 else float("nan")


def intra_family_pairs(languages: Sequence[str], families: Mapping[str, str] | None = None) -> float:
    """Share of off-diagonal (target, donor) pairs that are within one family (the no-structure baseline)."""
    n = len(languages)
    if n < 2:
        return float("nan")
    same = _same_family(languages, families)
    return float(np.mean(same[_off_diagonal(n)]))


def donor_scores(matrix) -> np.ndarray:
    """Mean of each column's finite off-diagonal entries (a donor's mean effect on the other targets)."""
    m = _square(matrix)
    masked = np.where(_off_diagonal(m.shape[0]), m, np.nan)
    with np.errstate(invalid="ignore"):
        counts = np.isfinite(masked).sum(axis=0)
        return np.where(counts > 0, np.nansum(masked, axis=0) / np.maximum(counts, 1), np.nan)


def receiver_scores(matrix) -> np.ndarray:
    """Mean of each row's finite off-diagonal entries (a target's mean benefit from the other donors)."""
    return donor_scores(_square(matrix).T)


def _ranked(languages: Sequence[str], scores: np.ndarray, k: int) -> list[dict[str, Any]]:
    order = [i for i in np.argsort(-np.nan_to_num(scores, nan=-np.inf), kind="stable") if np.isfinite(scores[i])]
    return [{"language": languages[i], "score": float(scores[i])} for i in order[:k]]


@dataclass
class CltmDiagnostics:
    """The diagnostics of one CLTM (see the module docstring for the definitions).

    ``languages`` are the languages the statistics were computed on (after ``nan_policy="drop"``), ``dropped``
    the removed ones. ``median_se`` / ``mean_se`` are the paper's median and mean standard error over seeds of the
    off-diagonal entries (when a :class:`~hf_cser.cltm.CltmResult` was given).
    """

    languages: list[str]
    rfd_1: float
    asym_rel: float
    mean_row_cosine: float
    prop_positive: float
    reciprocity_positive: float
    reciprocity_positive_weighted: float
    intra_family_positive: float
    intra_family_positive_mass: float
    intra_family_pairs: float
    rms: float
    top_donors: list[dict[str, Any]]
    top_receivers: list[dict[str, Any]]
    nan_policy: str = "drop"
    dropped: list[str] = field(default_factory=list)
    median_se: float | None = None
    mean_se: float | None = None

    SUMMARY_ROWS = (
        ("RFD_1", "rfd_1", False),
        ("Asym_rel", "asym_rel", False),
        ("prop_+", "prop_positive", True),
        ("reciprocity_+", "reciprocity_positive", True),
        ("mean row cosine", "mean_row_cosine", False),
        ("intra-family_+", "intra_family_positive", True),
        ("intra-family share of all pairs (baseline)", "intra_family_pairs", True),
        ("reciprocity_+ (weighted, released code)", "reciprocity_positive_weighted", True),
        ("intra-family_+ (positive mass)", "intra_family_positive_mass", True),
        ("RMS", "rms", False),
        ("median SE over seeds", "median_se", False),
        ("mean SE over seeds", "mean_se", False),
    )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN becomes ``None``)."""

        def clean(v):
            return None if isinstance(v, float) and not math.isfinite(v) else v

        return {k: clean(v) for k, v in self.__dict__.items()}

    def to_markdown(self, title: str | None = None) -> str:
        """A two-column Markdown table of the statistics plus the top donors and receivers."""

        def fmt(value, percent):
            if value is None or (isinstance(value, float) and math.isnan(value)):
                return "n/a"
            if isinstance(value, float) and math.isinf(value):
                return "inf"
            return f"{100 * value:.2f} %" if percent else f"{value:.3f}"

        lines = [f"**{title}**", ""] if title else []
        lines += ["| metric | value |", "|---|---|"]
        for label, key, percent in self.SUMMARY_ROWS:
            lines.append(f"| {label} | {fmt(getattr(self, key), percent)} |")
        donors = ", ".join(f"{d['language']} ({d['score']:.2f})" for d in self.top_donors) or "n/a"
        receivers = ", ".join(f"{d['language']} ({d['score']:.2f})" for d in self.top_receivers) or "n/a"
        lines.append(f"| top donors (mean CLTM as donor) | {donors} |")
        lines.append(f"| top receivers (mean CLTM as target) | {receivers} |")
        lines.append(
            f"| languages | {', '.join(self.languages)}"
            + (f" (dropped, undefined: {', '.join(self.dropped)})" if self.dropped else "")
            + " |"
        )
        return "\n".join(lines)


def cltm_diagnostics(
    matrix,
    languages: Sequence[str] | None = None,
    families: Mapping[str, str] | None = None,
    nan_policy: str = "drop",
    top_k: int = 3,
) -> CltmDiagnostics:
    """All diagnostics of a CLTM.

    Args:
        matrix (`np.ndarray` or :class:`~hf_cser.cltm.CltmResult`): the CLTM (a result also brings its languages and
            standard errors).
        languages (`Sequence[str]`, *optional*): row/column names (required for a bare array).
        families (`Mapping[str, str]`, *optional*): code -> family (defaults to the shipped table, branch level).
        nan_policy (`str`, *optional*, defaults to `"drop"`): ``drop``, ``omit`` or ``raise`` (module docstring).
        top_k (`int`, *optional*, defaults to 3): how many top donors / receivers to list.

    Returns:
        :class:`CltmDiagnostics`.
    """
    if nan_policy not in NAN_POLICIES:
        raise ValueError(f"`nan_policy` must be one of {NAN_POLICIES}, got {nan_policy!r}.")
    se = None
    if hasattr(matrix, "matrix") and hasattr(matrix, "languages"):
        result = matrix
        languages = list(result.languages) if languages is None else list(languages)
        m = _square(result.matrix)
        se = np.asarray(result.matrix_se, dtype=np.float64)
    else:
        m = _square(matrix)
    if languages is None:
        raise ValueError("`languages` is required with a bare matrix (one name per row).")
    languages = list(languages)
    if len(languages) != m.shape[0]:
        raise ValueError(f"`languages` has {len(languages)} names for a {m.shape[0]} x {m.shape[0]} matrix.")
    dropped: list[str] = []
    if not np.isfinite(m).all():
        if nan_policy == "raise":
            bad = [languages[i] for i in range(m.shape[0]) if not np.isfinite(m[i]).all()]
            raise ValueError(f"The CLTM has undefined entries in the rows of {bad} (nan_policy='raise').")
        if nan_policy == "drop":
            keep = np.isfinite(m).all(axis=1)
            dropped = [lang for lang, k in zip(languages, keep) if not k]
            m = m[np.ix_(keep, keep)]
            se = se[np.ix_(keep, keep)] if se is not None else None
            languages = [lang for lang, k in zip(languages, keep) if k]
    median_se = mean_se = None
    if se is not None:
        values = se[_off_diagonal(m.shape[0]) & np.isfinite(m)]
        values = values[~np.isnan(values)]
        finite = values[np.isfinite(values)]
        median_se = float(np.median(values)) if values.size else float("nan")
        mean_se = float(np.mean(finite)) if finite.size else float("nan")
    return CltmDiagnostics(
        languages=languages,
        rfd_1=rfd_1(m),
        asym_rel=asym_rel(m),
        mean_row_cosine=mean_row_cosine(m),
        prop_positive=prop_positive(m),
        reciprocity_positive=reciprocity_positive(m),
        reciprocity_positive_weighted=reciprocity_positive_weighted(m),
        intra_family_positive=intra_family_positive(m, languages, families),
        intra_family_positive_mass=intra_family_positive_mass(m, languages, families),
        intra_family_pairs=intra_family_pairs(languages, families),
        rms=rms(m),
        top_donors=_ranked(languages, donor_scores(m), top_k),
        top_receivers=_ranked(languages, receiver_scores(m), top_k),
        nan_policy=nan_policy,
        dropped=dropped,
        median_se=median_se,
        mean_se=mean_se,
    )
