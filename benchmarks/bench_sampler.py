#!/usr/bin/env python
"""HierarchicalLanguageEmotionSampler at corpus scale (group 5b): one epoch of batches over 100k samples.

Reference: a plain `numpy.random.permutation` of the indices cut into batches of the same size (the lower bound of
any sampler). Target: one epoch over 100k samples in under 10 s on 2 cores (was a timed unit test; speed lives here).

Usage::

    python benchmarks/bench_sampler.py [--quick]
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import markdown_table, result, timeit  # noqa: E402

GROUP = "5b. sampler"


def run(quick: bool = False) -> list[dict]:
    from hf_cser.data import HierarchicalLanguageEmotionSampler

    n = 20_000 if quick else 100_000
    rng = np.random.default_rng(0)
    languages = rng.choice(["en", "zh", "de", "fr", "ur"], n, p=[0.4, 0.2, 0.2, 0.1, 0.1])
    emotions = rng.choice(4, n, p=[0.4, 0.3, 0.2, 0.1])

    def ours():
        return list(HierarchicalLanguageEmotionSampler(languages, emotions, samples_per_cell=8, num_replicas=1))

    batch_size = len(ours()[0])

    def reference():
        order = np.random.default_rng(1).permutation(n)
        return [order[i : i + batch_size] for i in range(0, n, batch_size)]

    seconds = timeit(ours, repeat=3)
    baseline = timeit(reference, repeat=3)
    return [
        result(
            GROUP,
            f"one epoch of batches, {n} samples",
            ours=seconds,
            reference=baseline,
            reference_name="numpy permutation cut into batches",
            target="< 10 s",
            met=seconds < 10,
            details={"batch_size": batch_size},
        )
    ]


def main(argv: Sequence[str] | None = None) -> int:
    print(markdown_table(run(quick="--quick" in (argv if argv is not None else sys.argv[1:]))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
