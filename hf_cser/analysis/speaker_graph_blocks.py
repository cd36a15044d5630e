"""Building blocks of the speaker-style graphs, usable on their own (split out of
:mod:`hf_cser.analysis.speaker_graph`).

Holds the blocked cosine-similarity edges over the upper triangle (:func:`similarity_edges`, never materialising the
``N x N`` matrix) and the graph built from them (:func:`build_similarity_graph`), the data-adaptive threshold
(:func:`quantile_threshold`), seeded Louvain communities and modularity (:func:`louvain_partition`,
:func:`graph_modularity`), the "Rand" baseline grouping (:func:`random_grouping`), the threshold check
(:func:`check_tau`) and the JSON / CSV tables of results (:func:`write_table`, :func:`read_table`,
:data:`SUMMARY_FIELDS`).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Hashable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
from transformers.utils import logging

logger = logging.get_logger(__name__)

SUMMARY_FIELDS = ("emotion", "num_speakers", "num_edges", "num_clusters", "modularity", "random_modularity")


def check_tau(tau: float) -> float:
    """``tau`` as a float after checking that it is a cosine-similarity threshold in [-1, 1]."""
    if not isinstance(tau, (int, float)) or isinstance(tau, bool) or math.isnan(tau) or not -1.0 <= tau <= 1.0:
        raise ValueError(f"`tau` must be a cosine-similarity threshold in [-1, 1], got {tau!r} (the paper uses 0.7).")
    return float(tau)


def _unit_rows(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``vectors`` as float64 rows scaled to unit length (zero rows stay zero) and the mask of zero rows."""
    vectors = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
    return unit, norms[:, 0] == 0


def _upper_blocks(unit: np.ndarray, block_size: int) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Yield ``(start, sims, strict_upper)`` per block of ``block_size`` rows: ``sims = unit[start:stop] @
    unit[start:].T`` (rows ``start:stop`` of the cosine matrix from column ``start`` on, i.e. the diagonal square and
    everything right of it) and the boolean mask of ``j > i`` inside the diagonal square ``sims[:, :stop - start]``.
    Each pair ``i < j`` appears in exactly one block; the ``N x N`` matrix is never built."""
    num_nodes = unit.shape[0]
    size = min(block_size, num_nodes)
    strict_upper = np.triu(np.ones((size, size), dtype=bool), k=1)  # built once, sliced for the last block
    for start in range(0, num_nodes, block_size):
        stop = min(start + block_size, num_nodes)
        yield start, unit[start:stop] @ unit[start:].T, strict_upper[: stop - start, : stop - start]


def similarity_edges(
    vectors: np.ndarray, tau: float = 0.7, block_size: int = 1024
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pairs ``i < j`` with ``cos(vectors[i], vectors[j]) > tau``, found block by block.

    Only the upper triangle is computed: block ``[start, stop)`` of rows is multiplied with the columns from
    ``start`` on. Edges come out in row-major order (by ``i``, then ``j``).

    Args:
        vectors (`np.ndarray` of shape `(num_nodes, dim)`): one vector per node.
        tau (`float`, *optional*, defaults to 0.7): the threshold (paper value); an edge needs a cosine strictly above.
        block_size (`int`, *optional*, defaults to 1024): rows per block of the similarity matrix (library default);
            peak memory is about ``block_size * num_nodes`` similarities (float64) plus as many booleans.

    Returns:
        `tuple[np.ndarray, np.ndarray, np.ndarray]`: row indices, column indices (``row < col``) and cosine weights.
        A zero vector has no direction and gets no edge.
    """
    tau = check_tau(tau)
    if block_size < 1:
        raise ValueError(f"`block_size` must be a positive integer, got {block_size}.")
    if np.ndim(vectors) != 2:
        raise ValueError(f"`vectors` must have shape (num_nodes, dim), got {np.shape(vectors)}.")
    unit, zero = _unit_rows(vectors)
    num_nodes = unit.shape[0]
    any_zero = bool(zero.any())
    if any_zero:
        logger.warning(f"{int(zero.sum())} of {num_nodes} node vectors are zero: they get no edge.")
    rows, cols, weights = [], [], []
    for start, sims, strict_upper in _upper_blocks(unit, block_size):
        size = strict_upper.shape[0]
        keep = sims > tau
        keep[:, :size] &= strict_upper  # inside the diagonal square keep j > i only
        if any_zero:  # a zero vector's cosines are 0.0, above a negative tau: drop them explicitly
            keep[zero[start : start + size], :] = False
            keep[:, zero[start:]] = False
        r, c = np.nonzero(keep)
        rows.append(r + start)
        cols.append(c + start)
        weights.append(sims[r, c])
    if not rows:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0)
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(weights)


def build_similarity_graph(
    vectors: np.ndarray, nodes: Sequence[Hashable] | None = None, tau: float = 0.7, block_size: int = 1024
) -> nx.Graph:
    """The undirected cosine-similarity graph of section 2.2 (eq. 1): edge weight ``cos`` kept when ``> tau``.

    Args:
        vectors (`np.ndarray` of shape `(num_nodes, dim)`): one vector per node.
        nodes (`Sequence`, *optional*): node names in the order of ``vectors``; defaults to ``range(num_nodes)``.
        tau (`float`, *optional*, defaults to 0.7): the edge threshold (paper value).
        block_size (`int`, *optional*, defaults to 1024): see :func:`similarity_edges`.
    """
    vectors = np.asarray(vectors)
    nodes = list(range(len(vectors))) if nodes is None else list(nodes)
    if len(nodes) != len(vectors):
        raise ValueError(f"`nodes` has {len(nodes)} names for {len(vectors)} vectors.")
    rows, cols, weights = similarity_edges(vectors, tau=tau, block_size=block_size)
    graph = nx.Graph()
    graph.add_nodes_from(nodes)
    graph.add_weighted_edges_from(
        zip([nodes[i] for i in rows.tolist()], [nodes[j] for j in cols.tolist()], weights.tolist())
    )
    return graph


def graph_modularity(graph: nx.Graph, communities: Sequence[set], resolution: float = 1.0) -> float:
    """Weighted ``networkx.community.modularity``; 0.0 for a graph without edges (where networkx divides by 0)."""
    if graph.number_of_edges() == 0:
        return 0.0
    return float(nx.community.modularity(graph, communities, weight="weight", resolution=resolution))


def louvain_partition(
    graph: nx.Graph, resolution: float = 1.0, seed: int = 0, name: str = "graph"
) -> tuple[list[set], float]:
    """Louvain communities and their modularity, with a deterministic community order.

    Communities are sorted by decreasing size, ties by the position of their first node in ``graph.nodes``. A graph
    without edges (no pair above ``tau``) or with one node gives one community per node and modularity 0.0, with a
    warning.

    Args:
        graph (`nx.Graph`): the similarity graph.
        resolution (`float`, *optional*, defaults to 1.0): Louvain resolution (the networkx default; the paper does
            not give one).
        seed (`int`, *optional*, defaults to 0): Louvain's random seed (library default).
        name (`str`, *optional*): what to call the graph in warnings.
    """
    order = {node: i for i, node in enumerate(graph.nodes)}
    if graph.number_of_edges() == 0:
        if graph.number_of_nodes() > 0:
            logger.warning(
                f"{name}: {graph.number_of_nodes()} speaker(s) and no edge above the threshold; each speaker is its "
                "own community and the modularity is set to 0.0."
            )
        communities = [{node} for node in graph.nodes]
        return communities, 0.0
    communities = nx.community.louvain_communities(graph, weight="weight", resolution=resolution, seed=seed)
    communities = sorted(communities, key=lambda c: (-len(c), min(order[node] for node in c)))
    return communities, graph_modularity(graph, communities, resolution=resolution)


def random_grouping(nodes: Sequence[Hashable], sizes: Sequence[int], seed: int = 0) -> list[set]:
    """The "Rand" baseline: ``nodes`` shuffled with ``seed`` and cut into groups of the given ``sizes``."""
    if sum(sizes) != len(nodes):
        raise ValueError(f"`sizes` sum to {sum(sizes)}, but there are {len(nodes)} nodes.")
    permutation = np.random.default_rng(seed).permutation(len(nodes))
    nodes = list(nodes)
    groups, start = [], 0
    for size in sizes:
        groups.append({nodes[i] for i in permutation[start : start + size]})
        start += size
    return groups


def write_table(rows: Sequence[Mapping[str, Any]], path: str | Path) -> Path:
    """Write rows (dicts with the same keys) as JSON (``.json``, a list of objects) or CSV (any other suffix)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [dict(row) for row in rows]
    if path.suffix.lower() == ".json":
        path.write_text(json.dumps(rows, indent=2) + "\n")
        return path
    fieldnames = list(rows[0]) if rows else list(SUMMARY_FIELDS)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fieldnames)
        writer.writeheader()
        writer.writerows(rows)
    return path


def _parse_cell(value: str) -> Any:
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            continue
    return value


def read_table(path: str | Path) -> list[dict[str, Any]]:
    """Read a table written by :func:`write_table` (CSV cells that look like numbers come back as numbers)."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        return json.loads(path.read_text())
    with path.open(newline="") as handle:
        return [{key: _parse_cell(value) for key, value in row.items()} for row in csv.DictReader(handle)]


def quantile_threshold(
    vectors: np.ndarray, quantile: float, seed: int = 0, max_pairs: int = 2_000_000, block_size: int = 1024
) -> float:
    """The ``quantile`` of the pairwise cosine similarities of ``vectors`` (all pairs, or ``max_pairs`` seeded
    random pairs when there are more), used as a data-adaptive edge threshold. ``nan`` with fewer than 2 vectors.

    All pairs are read from the same blocked products as :func:`similarity_edges` (same ``block_size``, so a pair's
    cosine is the very float compared with the threshold there); sampled pairs are scored ``1024`` at a time, so
    memory stays ``O(block_size * N + max_pairs)`` instead of two ``max_pairs x dim`` gathered copies.
    """
    n = len(vectors)
    if n < 2:
        return float("nan")
    if block_size < 1:
        raise ValueError(f"`block_size` must be a positive integer, got {block_size}.")
    unit, _ = _unit_rows(vectors)
    if n * (n - 1) // 2 <= max_pairs:
        values = np.concatenate(
            [
                part
                for _, sims, strict_upper in _upper_blocks(unit, block_size)
                for part in (sims[:, : strict_upper.shape[0]][strict_upper], sims[:, strict_upper.shape[0] :].ravel())
            ]
        )
    else:
        rng = np.random.default_rng(seed)
        i, j = rng.integers(0, n, max_pairs), rng.integers(0, n, max_pairs)
        i, j = i[i != j], j[i != j]
        values = np.empty(len(i))
        chunk = 1024  # two 1024 x dim gathers stay in cache
        for s in range(0, len(i), chunk):
            np.einsum("ij,ij->i", unit[i[s : s + chunk]], unit[j[s : s + chunk]], out=values[s : s + chunk])
    return float(np.quantile(values, quantile))
