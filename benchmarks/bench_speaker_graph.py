#!/usr/bin/env python
"""Benchmarks of issue 8, group 2 (speaker graph + Louvain + modularity) and the graph part of group 7 (growth).

Data: ``N`` speakers, ``d = 256``, random unit vectors around ``N // 50`` random cluster centres (seeded), i.e. a
SAPA speaker-style graph of one emotion with planted style groups. The edge threshold ``tau`` is the
``1 - 20 / N`` quantile of 200 000 seeded random pair cosines (computed once, outside the timings), so each speaker
keeps about 20 neighbours: sparse, ``E ~ 10 N``.

Compared, each timed end to end (similarity -> graph -> Louvain communities -> modularity), interleaved:

- **ours**: ``hf_cser.analysis.build_similarity_graph`` (blocked upper-triangle products, ``block_size = 1024``,
  never an ``N x N`` matrix) + ``hf_cser.analysis.louvain_partition`` (seeded networkx Louvain + modularity);
- **dense**: a plain numpy + networkx build: ``S = U @ U.T`` (the ``N x N`` float64 matrix, 3.2 GB at 20k; written
  ``U @ ascontiguousarray(U.T)``, since numpy's symmetric ``U @ U.T`` path crashed at 20k on the development machine),
  ``S[S <= tau] = 0``, zero diagonal, ``networkx.from_numpy_array``; skipped when the machine lacks the memory;
- **sparse**: scikit-learn ``radius_neighbors_graph`` (chunked brute-force radius search into a ``scipy.sparse`` CSR;
  on unit vectors ``cos > tau`` is ``|u - v| < sqrt(2 - 2 tau)``), cosines from the distances, upper triangle,
  ``networkx.from_scipy_sparse_array``.

Both references are followed by the same ``networkx.community.louvain_communities(weight="weight", seed=0)`` and
``networkx.community.modularity``. Peak memory is the max-RSS growth of one call in a clean child forked from a
freshly *spawned* measurer process (not ``_common.peak_memory_bytes``: a long-running process reuses the memory it
freed, so its forked children show little growth, and scikit-learn's OpenMP runtime hangs in forked children of a
process that already ran it); at the largest size the time is that single child run (after a warm-up on tiny data).

The per-emotion target (5k speakers in under 5 s) times everything :class:`hf_cser.analysis.SpeakerStyleGraph` does
per emotion with a fixed ``tau``: graph, Louvain, modularity and the "Rand" baseline (``random_grouping`` + its
modularity); the data-adaptive threshold (``quantile_threshold``, 2M sampled pairs) is timed on its own.

Run alone: ``python benchmarks/bench_speaker_graph.py [--quick]``. Threads: numpy / BLAS defaults (no setting).
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing as mp
import os
import resource
import sys
import time
from collections.abc import Callable, Sequence
from queue import Empty
from typing import Any

import networkx as nx
import numpy as np
from scipy import sparse

sys.path.insert(0, os.path.dirname(__file__))
from _common import fit_growth, markdown_table, result, timeit  # noqa: E402

GROUP = "2. speaker graph"
GROWTH = "7. growth"
DIM = 256
DEGREE = 20
SEED = 0
TARGET_SIZE, TARGET_SECONDS = 5000, 5.0
DENSE_NAME = "dense numpy N x N + networkx.from_numpy_array"
SPARSE_NAME = "scikit-learn radius_neighbors_graph (scipy.sparse) + networkx.from_scipy_sparse_array"


def make_speakers(num_speakers: int, dim: int = DIM, seed: int = SEED) -> tuple[np.ndarray, float]:
    """Unit speaker vectors around ``num_speakers // 50`` seeded centres and the threshold giving ~``DEGREE``
    neighbours per speaker (a quantile of seeded random pair cosines)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(max(2, num_speakers // 50), dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    labels = rng.integers(0, len(centres), size=num_speakers)
    vectors = centres[labels] + 0.8 * rng.normal(size=(num_speakers, dim)) / np.sqrt(dim)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    i, j = rng.integers(0, num_speakers, 200_000), rng.integers(0, num_speakers, 200_000)
    i, j = i[i != j], j[i != j]
    cosines = np.concatenate(
        [np.einsum("ij,ij->i", vectors[i[s : s + 4096]], vectors[j[s : s + 4096]]) for s in range(0, len(i), 4096)]
    )  # chunked: no 200k x d temporaries
    tau = float(np.quantile(cosines, 1.0 - DEGREE / num_speakers))
    return vectors, tau


def ours(vectors: np.ndarray, tau: float) -> tuple[nx.Graph, list[set], float]:
    """The library path: blocked similarity graph, seeded Louvain and modularity."""
    from hf_cser.analysis import build_similarity_graph, louvain_partition

    graph = build_similarity_graph(vectors, tau=tau)
    communities, modularity = louvain_partition(graph, seed=SEED)
    return graph, communities, modularity


def _louvain(graph: nx.Graph) -> tuple[list[set], float]:
    communities = nx.community.louvain_communities(graph, weight="weight", seed=SEED)
    return communities, float(nx.community.modularity(graph, communities, weight="weight"))


def dense(vectors: np.ndarray, tau: float) -> tuple[nx.Graph, list[set], float]:
    """Reference (a): the whole ``N x N`` cosine matrix, thresholded in place, through ``from_numpy_array``."""
    # a general product (gemm): numpy's ``U @ U.T`` (syrk) segfaults at N = 20000 with numpy 2.4 / OpenBLAS 0.3.31
    sims = vectors @ np.ascontiguousarray(vectors.T)
    sims[sims <= tau] = 0.0
    np.fill_diagonal(sims, 0.0)
    graph = nx.from_numpy_array(sims)
    del sims
    return (graph, *_louvain(graph))


def sparse_knn(vectors: np.ndarray, tau: float) -> tuple[nx.Graph, list[set], float]:
    """Reference (b): scikit-learn's chunked radius-neighbour graph (scipy.sparse CSR) of the unit vectors."""
    from sklearn.neighbors import radius_neighbors_graph

    distances = radius_neighbors_graph(vectors, float(np.sqrt(max(2.0 - 2.0 * tau, 0.0))), mode="distance")
    upper = sparse.triu(distances, k=1).tocsr()
    upper.data = 1.0 - upper.data**2 / 2.0  # |u - v|^2 = 2 - 2 cos for unit vectors
    graph = nx.from_scipy_sparse_array(upper)
    return (graph, *_louvain(graph))


def per_emotion(vectors: np.ndarray, tau: float) -> float:
    """Everything ``SpeakerStyleGraph`` does for one emotion at a fixed tau; returns the "Rand" modularity."""
    from hf_cser.analysis.speaker_graph import graph_modularity, random_grouping

    graph, communities, _ = ours(vectors, tau)
    groups = random_grouping(list(graph.nodes), [len(c) for c in communities], seed=SEED + 1)
    return graph_modularity(graph, groups)


def _memory_available() -> int:
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


PATHS: dict[str, Callable[[np.ndarray, float], Any]] = {"ours": ours, "dense": dense, "sparse": sparse_knn}


def _fingerprint(communities: Sequence[set]) -> str:
    """A digest of a partition of ``0..N-1`` that does not depend on the order of the communities."""
    labels = np.empty(sum(map(len, communities)), dtype=np.int64)
    for community in communities:
        labels[list(community)] = min(community)
    return hashlib.sha1(labels.tobytes()).hexdigest()


def _stats(output: tuple[nx.Graph, list[set], float]) -> dict[str, Any]:
    graph, communities, modularity = output
    return {
        "edges": graph.number_of_edges(),
        "communities": len(communities),
        "modularity": float(modularity),
        "partition": _fingerprint(communities),
    }


def _measure_child(name: str, vectors: np.ndarray, tau: float, queue: Any) -> None:  # pragma: no cover - child
    """Warm the imports and thread pools on tiny data, then time one call and its max-RSS growth."""
    PATHS[name](np.repeat(vectors[:8], 8, axis=0), 0.5)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    output = PATHS[name](vectors, tau)
    seconds = time.perf_counter() - start
    growth = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024
    queue.put({"seconds": seconds, "peak": int(growth), **_stats(output)})


def _measure_server(conn: Any) -> None:  # pragma: no cover - runs in the spawned measurer
    """The spawned measurer: imports once, builds each size's data once, and forks one clean child per call.

    A fresh process keeps earlier heaps out of the max-RSS growth (a long-lived process reuses freed memory, so its
    forked children show no growth), and scikit-learn's OpenMP runtime (GNU libgomp, not fork-safe) only ever runs
    in the forked children, never here."""
    import sklearn.neighbors  # noqa: F401

    import hf_cser.analysis  # noqa: F401 - imported once, inherited by every child

    fork = mp.get_context("fork")
    while True:
        request = conn.recv()
        if request is None:
            return
        num_speakers, names = request
        vectors, tau = make_speakers(num_speakers)
        results = {}
        for name in names:
            queue = fork.Queue()
            child = fork.Process(target=_measure_child, args=(name, vectors, tau, queue))
            child.start()
            results[name] = None
            while True:
                try:
                    results[name] = queue.get(timeout=2)
                    break
                except Empty:
                    if not child.is_alive():  # killed (e.g. out of memory) or crashed: no result
                        break
            child.join()
        conn.send(results)


class Measurer:
    """Context manager around the spawned measurer: ``measurer(num_speakers, names)`` -> per path
    ``{"seconds", "peak", "edges", "communities", "modularity", "partition"}`` (``None`` if the child died)."""

    def __enter__(self) -> Measurer:
        ctx = mp.get_context("spawn")
        self._conn, child_conn = ctx.Pipe()
        self._process = ctx.Process(target=_measure_server, args=(child_conn,))
        self._process.start()
        return self

    def __call__(self, num_speakers: int, names: Sequence[str]) -> dict[str, dict | None]:
        self._conn.send((num_speakers, list(names)))
        return self._conn.recv()

    def __exit__(self, *exc: object) -> None:
        try:
            self._conn.send(None)
        except OSError:  # the measurer already died; its traceback is on stderr
            pass
        self._process.join(timeout=30)
        if self._process.is_alive():
            self._process.terminate()


def _interleaved(fns: dict[str, Callable[[], Any]], repeat: int) -> tuple[dict[str, float], dict[str, Any]]:
    """Median seconds of each function, measured round-robin (A, B, C, A, B, C, ...) after one warm-up each, and
    the warm-up outputs."""
    outputs = {name: fn() for name, fn in fns.items()}
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            times[name].append(timeit(fn, repeat=1, warmup=0))
    return {name: float(np.median(values)) for name, values in times.items()}, outputs


def measure(num_speakers: int, repeat: int | None, measurer: Measurer) -> dict[str, Any]:
    """Times, peak memories and graph statistics of the three paths at one size. ``repeat=None``: the time is the
    single measured child run (largest size); otherwise the median of ``repeat`` interleaved runs in this process."""
    vectors, tau = make_speakers(num_speakers)
    dense_bytes = num_speakers * num_speakers * 8
    run_dense = _memory_available() > 2.5 * dense_bytes
    names = ["ours", "sparse"] + (["dense"] if run_dense else [])
    out: dict[str, Any] = {"N": num_speakers, "tau": tau, "dense_matrix_bytes": dense_bytes, "dense_run": run_dense}
    children = measurer(num_speakers, names)
    for name in names:
        child = children[name]
        if child is None:
            raise RuntimeError(f"the {name} path died in its child process at N={num_speakers} (out of memory?)")
        out[f"{name}_peak"] = child["peak"]
        out[f"{name}_stats"] = {key: child[key] for key in ("edges", "communities", "modularity", "partition")}
        out[f"{name}_s"] = child["seconds"]
    if repeat is not None:
        seconds, outputs = _interleaved({name: (lambda f=PATHS[name]: f(vectors, tau)) for name in names}, repeat)
        for name in names:
            out[f"{name}_s"] = seconds[name]
            assert _stats(outputs[name]) == out[f"{name}_stats"], f"{name}: child and parent runs differ"
    return out


def _mb(value: int | None) -> float | None:
    return None if value is None else round(value / 2**20, 1)


def run(quick: bool = False) -> list[dict]:
    """Group 2 and the graph part of group 7. Sizes 1k / 5k / 20k speakers (quick: 250 / 500 / 1k)."""
    sizes = (250, 500, 1000) if quick else (1000, 5000, 20000)
    repeats = {250: 1, 500: 1} if quick else {1000: 5, 5000: 3}
    records, rows = [], []
    with Measurer() as measurer:
        for n in sizes:
            rows.append(measure(n, repeats.get(n), measurer))
    for n, row in zip(sizes, rows):
        stats = row["ours_stats"]
        row["edges"] = stats["edges"]
        common = {
            "N": n,
            "dim": DIM,
            "tau": round(row["tau"], 4),
            "edges": stats["edges"],
            "mean_degree": round(2 * stats["edges"] / n, 1),
            "communities": stats["communities"],
            "modularity": round(stats["modularity"], 4),
            "ours_peak_MB": _mb(row["ours_peak"]),
            "timing": f"median of {repeats[n]} interleaved" if n in repeats else "one run in a fresh child",
        }
        name = f"graph + Louvain + modularity, N={n}, d={DIM}"
        if row["dense_run"]:
            dense_stats = row["dense_stats"]
            records.append(
                result(
                    GROUP,
                    name,
                    ours=row["ours_s"],
                    reference=row["dense_s"],
                    reference_name=DENSE_NAME,
                    details={
                        **common,
                        "dense_peak_MB": _mb(row["dense_peak"]),
                        "dense_edges": dense_stats["edges"],
                        "dense_same_partition": dense_stats["partition"] == stats["partition"],
                        "modularity_difference": abs(dense_stats["modularity"] - stats["modularity"]),
                    },
                )
            )
        else:
            records.append(
                result(
                    GROUP,
                    name,
                    ours=row["ours_s"],
                    reference_name=DENSE_NAME,
                    details={
                        **common,
                        "dense": f"skipped: needs {_mb(row['dense_matrix_bytes'])} MB "
                        f"for S alone, {_mb(_memory_available())} MB available",
                    },
                )
            )
        sparse_stats = row["sparse_stats"]
        records.append(
            result(
                GROUP,
                f"graph + Louvain + modularity vs sparse, N={n}, d={DIM}",
                ours=row["ours_s"],
                reference=row["sparse_s"],
                reference_name=SPARSE_NAME,
                details={
                    **common,
                    "sparse_peak_MB": _mb(row["sparse_peak"]),
                    "sparse_edges": sparse_stats["edges"],
                    "sparse_same_partition": sparse_stats["partition"] == stats["partition"],
                    "sparse_modularity": round(sparse_stats["modularity"], 4),
                    "note": "sparse edges use <= radius on float distances: boundary pairs may differ",
                },
            )
        )
        largest = n == sizes[-1] and not quick  # at 1k (quick) the networkx graph itself outweighs N x N
        records.append(
            result(
                GROUP,
                f"peak memory, N={n}",
                ours=float(row["ours_peak"]),
                reference=float(row["dense_peak"]) if row["dense_run"] else float(row["dense_matrix_bytes"]),
                reference_name=DENSE_NAME if row["dense_run"] else "the dense N x N float64 matrix alone (not run)",
                unit="bytes",
                target="below the dense N x N float64 matrix" if largest else "",
                met=(row["ours_peak"] < row["dense_matrix_bytes"]) if largest else None,
                details={
                    "ours_MB": _mb(row["ours_peak"]),
                    "dense_matrix_MB": _mb(row["dense_matrix_bytes"]),
                    "sparse_MB": _mb(row["sparse_peak"]),
                    "dense_MB": _mb(row["dense_peak"]) if row["dense_run"] else None,
                    "how": "max-RSS growth of one call in a clean child of a freshly spawned process",
                },
            )
        )

    # Target: 5k speakers per emotion (everything SpeakerStyleGraph does per emotion at a fixed tau).
    target_n = TARGET_SIZE if not quick else 1000
    vectors, tau = make_speakers(target_n)
    seconds = timeit(lambda: per_emotion(vectors, tau), repeat=1 if quick else 3, warmup=0 if quick else 1)
    from hf_cser.analysis.speaker_graph import quantile_threshold

    quantile_seconds = timeit(lambda: quantile_threshold(vectors, 0.5), repeat=1, warmup=0)
    records.append(
        result(
            GROUP,
            f"per emotion: {target_n} speakers, graph + Louvain + modularity + Rand baseline",
            ours=seconds,
            target=f"< {TARGET_SECONDS:g} s at {TARGET_SIZE} speakers" + (" (quick: at 1000)" if quick else ""),
            met=seconds < TARGET_SECONDS,
            details={
                "tau": round(tau, 4),
                "quantile_threshold_s (tau_quantile=0.5, not included)": round(quantile_seconds, 3),
            },
        )
    )

    # Group 7: growth over the three sizes.
    ns = [row["N"] for row in rows]
    time_exponents = {name: fit_growth(ns, [row[f"{name}_s"] for row in rows]) for name in ("ours", "sparse")}
    memory_exponents = {
        name: fit_growth(ns, [max(row[f"{name}_peak"], 2**20) for row in rows]) for name in ("ours", "sparse")
    }
    if all(row["dense_run"] for row in rows):
        time_exponents["dense"] = fit_growth(ns, [row["dense_s"] for row in rows])
        memory_exponents["dense"] = fit_growth(ns, [max(row["dense_peak"], 2**20) for row in rows])
    sizes_detail = {"sizes": ns, "edges": [row["edges"] for row in rows]}
    records.append(
        result(
            GROWTH,
            f"speaker graph time, N in {ns}",
            ours=time_exponents["ours"],
            unit="exponent",
            details={
                **sizes_detail,
                "ours_s": [round(row["ours_s"], 3) for row in rows],
                "sparse_s": [round(row["sparse_s"], 3) for row in rows],
                "dense_s": [round(row["dense_s"], 3) if row["dense_run"] else None for row in rows],
                "exponents": {k: round(v, 2) for k, v in time_exponents.items()},
                "expected": "O(N^2 d) similarity products + O(E) = O(N) Louvain at a fixed mean degree",
            },
        )
    )
    records.append(
        result(
            GROWTH,
            f"speaker graph peak memory, N in {ns}",
            ours=memory_exponents["ours"],
            unit="exponent",
            target="< 1.5 (no dense N x N, which grows as N^2)",
            met=memory_exponents["ours"] < 1.5,
            details={
                **sizes_detail,
                "ours_MB": [_mb(row["ours_peak"]) for row in rows],
                "sparse_MB": [_mb(row["sparse_peak"]) for row in rows],
                "dense_MB": [_mb(row["dense_peak"]) if row["dense_run"] else None for row in rows],
                "exponents": {k: round(v, 2) for k, v in memory_exponents.items()},
                "note": "memory below ~1 MB reads as noise and is floored at 1 MB for the fit",
            },
        )
    )
    return records


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its records as a Markdown table (and the details underneath)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run, ~30 s)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    records = run(quick=args.quick)
    print(markdown_table(records))
    print()
    for r in records:
        print(f"- {r['name']}: {r['details']}")
    print(f"\n({time.perf_counter() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
