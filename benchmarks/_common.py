"""Shared helpers of the hf_cser benchmarks: timing, peak memory, result records, growth fits.

Every benchmark module ``benchmarks/bench_<name>.py`` exposes ``run(quick: bool = False) -> list[dict]`` returning
records made with :func:`result`; ``benchmarks/run_benchmarks.py`` runs them all and writes the report. Figures are
**ratios measured side by side in one run** (ours vs a named reference), never absolute targets.
"""

from __future__ import annotations

import gc
import math
import multiprocessing as mp
import resource
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any


def timeit(fn: Callable[[], Any], *, repeat: int = 5, warmup: int = 1, min_time: float = 0.0) -> float:
    """Median wall time in seconds of ``fn()`` over ``repeat`` runs after ``warmup`` runs.

    With ``min_time`` > 0, each measurement loops ``fn`` until at least that long and divides (for fast calls).
    """
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        gc.collect()
        calls, start = 0, time.perf_counter()
        while True:
            fn()
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_time:
                break
        times.append(elapsed / calls)
    return statistics.median(times)


def side_by_side(
    ours: Callable[[], Any], reference: Callable[[], Any], *, repeat: int = 5, warmup: int = 1, min_time: float = 0.0
) -> tuple[float, float]:
    """Median seconds of ``ours`` and ``reference``, measured interleaved (A, B, A, B, ...) so that load changes on
    the machine hit both alike. Returns ``(ours_seconds, reference_seconds)``."""
    for _ in range(warmup):
        ours()
        reference()
    a, b = [], []
    for _ in range(repeat):
        a.append(timeit(ours, repeat=1, warmup=0, min_time=min_time))
        b.append(timeit(reference, repeat=1, warmup=0, min_time=min_time))
    return statistics.median(a), statistics.median(b)


def _child(fn, queue):  # pragma: no cover - runs in a forked child
    try:  # a forked child must not reuse the parent's OpenMP pool: multi-threaded torch ops can hang there
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        fn()
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        queue.put(("ok", (after - before) * 1024))
    except BaseException as error:  # report, never hang the parent
        queue.put(("error", repr(error)))


def peak_memory_bytes(fn: Callable[[], Any], timeout: float = 600.0) -> int:
    """Peak resident-memory growth in bytes while ``fn()`` runs, measured in a forked child process (so the
    parent's earlier peaks do not hide it). Covers torch's CPU allocations, which ``tracemalloc`` does not see.
    Resolution: the kernel's max-RSS counter (KiB), so growths below ~1 MB read as noise. The child runs torch
    single-threaded, and the parent's free heap is trimmed first (glibc ``malloc_trim``)."""
    try:  # give freed heap pages back first, or the child reuses them and its growth reads too low
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    process = ctx.Process(target=_child, args=(fn, queue))
    process.start()
    try:
        status, value = queue.get(timeout=timeout)
    except Exception:  # queue.Empty: a hung child (e.g. a forked OpenMP / joblib pool) must not hang the run
        process.kill()
        process.join()
        raise RuntimeError(f"memory measurement did not finish within {timeout} s (child killed)") from None
    process.join()
    if status != "ok":
        raise RuntimeError(f"memory measurement failed: {value}")
    return int(value)


def fit_growth(sizes: Sequence[float], values: Sequence[float]) -> float:
    """Exponent k of ``value ~ size**k`` by least squares on log-log (e.g. 2.0 means O(n^2))."""
    xs = [math.log(s) for s in sizes]
    ys = [math.log(max(v, 1e-12)) for v in values]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else float("nan")


def result(
    group: str,
    name: str,
    *,
    ours: float | None = None,
    reference: float | None = None,
    reference_name: str = "",
    unit: str = "s",
    ratio: float | None = None,
    target: str = "",
    met: bool | None = None,
    details: dict | None = None,
) -> dict:
    """One benchmark record.

    Args:
        group: the issue-8 group, e.g. ``"1. losses"``.
        name: what was measured, e.g. ``"SupCon gamma=0, B=256, fwd+bwd"``.
        ours / reference: the two measurements (``unit``); ``ratio`` defaults to ``ours / reference``.
        reference_name: the reference, named (e.g. ``"pytorch-metric-learning SupConLoss"``).
        target: the target in words, e.g. ``"<= 1.3x"``; ``met``: whether it is met (None: no target).
        details: anything else (sizes, memory, numerical differences).
    """
    if ratio is None and ours is not None and reference:
        ratio = ours / reference
    return {
        "group": group,
        "name": name,
        "ours": ours,
        "reference": reference,
        "reference_name": reference_name,
        "unit": unit,
        "ratio": ratio,
        "target": target,
        "met": met,
        "details": details or {},
    }


def markdown_table(records: Sequence[dict]) -> str:
    """The records of one benchmark module as a Markdown table (for running a module on its own)."""

    def fmt(value) -> str:
        return "-" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)

    lines = ["| group | name | ours | reference | ratio | target | met |", "|---|---|---|---|---|---|---|"]
    for r in records:
        met = {True: "met", False: "NOT met", None: "-"}[r["met"]]
        reference = f"{fmt(r['reference'])} {r['unit']} ({r['reference_name'] or '-'})"
        lines.append(
            f"| {r['group']} | {r['name']} | {fmt(r['ours'])} {r['unit']} | {reference} | {fmt(r['ratio'])} "
            f"| {r['target'] or '-'} | {met} |"
        )
    return "\n".join(lines)
