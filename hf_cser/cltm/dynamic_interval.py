"""The dynamic interval [N, 2N] of the CLTM protocol (split out of :mod:`hf_cser.cltm.protocol`).

Holds the rule that picks N from the learning-curve sweep (:class:`DynamicIntervalRule`, whose
:meth:`~DynamicIntervalRule.ci_min` is the confidence index CI_min of the authors' released code), the per-(language,
N) points of that sweep (:func:`learning_curve_points`) and the selection itself (:func:`select_dynamic_interval`,
returning a :class:`DynamicIntervalSelection`); the rule is described in the docstring of
:mod:`hf_cser.cltm.protocol`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from transformers.utils import logging

logger = logging.get_logger(__name__)

# ----------------------------------------------------------------------------------------------------------------
# Dynamic interval


@dataclass
class DynamicIntervalRule:
    """The rule that picks N from the learning-curve sweep (module docstring).

    Args:
        tau (`float`, *optional*, defaults to 0.05): minimum relative gain Delta / Perf(N).
        z (`float`, *optional*, defaults to 1.3): minimum gain in standard errors.
        epsilon (`float`, *optional*, defaults to 0.05): minimum slope per natural-log unit of data.
        threshold (`float`, *optional*, defaults to 1.0): minimum median CI_min.
        require_positive_self_gain (`bool`, *optional*, defaults to `True`): every language's mean self-gain > 0.
    """

    tau: float = 0.05
    z: float = 1.3
    epsilon: float = 0.05
    threshold: float = 1.0
    require_positive_self_gain: bool = True

    def ci_min(self, delta: float, se: float, perf_n: float) -> float:
        """The confidence index of one (language, N)."""
        if not np.isfinite(delta) or delta <= 0:
            return 0.0
        relative = delta / (self.tau * perf_n) if perf_n > 0 else math.inf
        snr = delta / (self.z * se) if np.isfinite(se) and se > 0 else math.inf
        slope = (delta / math.log(2.0)) / self.epsilon
        return float(min(relative, snr, slope))


@dataclass
class DynamicIntervalSelection:
    """The chosen N, why, and the per-N table (``n``, ``median_ci_min``, ``all_positive``, ``per_language``)."""

    n: int
    reason: str
    table: list[dict[str, Any]]
    rule: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "interval": [self.n, 2 * self.n],
            "reason": self.reason,
            "rule": self.rule,
            "table": self.table,
        }


def learning_curve_points(rows: Iterable[Mapping[str, Any]]) -> dict[tuple[str, int], dict[str, Any]]:
    """Per (language, N): per-seed Perf(N) (single) and Perf(2N) (self) from run rows."""
    points: dict[tuple[str, int], dict[str, Any]] = defaultdict(lambda: {"single": {}, "self": {}})
    for row in rows:
        if row["kind"] in ("single", "self"):
            points[(str(row["target"]), int(row["n"]))][row["kind"]][int(row["seed"])] = float(row["performance"])
    return dict(points)


def select_dynamic_interval(
    rows: Iterable[Mapping[str, Any]], rule: DynamicIntervalRule | None = None
) -> DynamicIntervalSelection:
    """Pick N from single/self run rows of several N (module docstring)."""
    rule = rule if rule is not None else DynamicIntervalRule()
    points = learning_curve_points(rows)
    if not points:
        raise ValueError("No single/self runs to choose the dynamic interval from.")
    n_values = sorted({n for _, n in points})
    languages = sorted({lang for lang, _ in points})
    table = []
    for n in n_values:
        per_language = {}
        for lang in languages:
            p = points.get((lang, n))
            if p is None:
                continue
            seeds = sorted(set(p["single"]) & set(p["self"]))
            gains = np.array([p["self"][s] - p["single"][s] for s in seeds])
            perf_n = float(np.mean(list(p["single"].values()))) if p["single"] else float("nan")
            delta = float(gains.mean()) if gains.size else float("nan")
            se = float(gains.std(ddof=1) / math.sqrt(gains.size)) if gains.size > 1 else float("nan")
            per_language[lang] = {
                "perf_n": perf_n,
                "perf_2n": float(np.mean(list(p["self"].values()))) if p["self"] else float("nan"),
                "self_gain": delta,
                "self_gain_se": se,
                "ci_min": rule.ci_min(delta, se, perf_n),
                "num_seeds": int(gains.size),
            }
        ci = [v["ci_min"] for v in per_language.values()]
        table.append(
            {
                "n": n,
                "median_ci_min": float(np.median(ci)) if ci else 0.0,
                "all_positive": bool(per_language)
                and len(per_language) == len(languages)
                and all(np.isfinite(v["self_gain"]) and v["self_gain"] > 0 for v in per_language.values()),
                "per_language": per_language,
            }
        )

    def best(candidates):
        return max(candidates, key=lambda r: (r["median_ci_min"], -r["n"]))

    qualified = [
        r
        for r in table
        if r["median_ci_min"] >= rule.threshold and (r["all_positive"] or not rule.require_positive_self_gain)
    ]
    if qualified:
        chosen = best(qualified)
        reason = (
            f"largest median CI_min ({chosen['median_ci_min']:.3f}) among the N meeting the rule "
            f"({[r['n'] for r in qualified]})"
        )
    else:
        positive = [r for r in table if r["all_positive"]]
        chosen = best(positive or table)
        reason = (
            f"no N meets the rule (median CI_min >= {rule.threshold}"
            + (" with every self-gain positive" if rule.require_positive_self_gain else "")
            + "); fell back to "
            f"the largest median CI_min ({chosen['median_ci_min']:.3f}) among "
            + ("the N with every self-gain positive" if positive else "all N")
        )
        logger.warning(f"Dynamic interval: {reason}; N = {chosen['n']}.")
    return DynamicIntervalSelection(n=int(chosen["n"]), reason=reason, table=table, rule=asdict(rule))
