"""SAPA's emotion-specific speaker-style graphs (section 2.2), their Louvain communities and modularity (Table 1).

For each emotion ``e``:

1. nodes = the speakers that have utterances labelled ``e``; a node's vector is the mean speaker embedding over those
   utterances;
2. an undirected edge ``(i, j)`` with weight ``w_ij = cos(z_i, z_j)`` is kept only when ``w_ij > tau`` (paper:
   ``tau = 0.7``);
3. Louvain communities (``networkx.community.louvain_communities``) group speakers with similar expressive styles,
   and the modularity ``Q = 1/(2m) sum_ij [A_ij - k_i k_j / (2m)] delta(c_i, c_j)`` (``networkx.community.modularity``)
   scores the partition.

The emotion-agnostic graph ("w/o Emo": one node per speaker, mean over all of its utterances) and a random grouping
("Rand": per emotion, the same number and sizes of groups as the emotion graph, drawn with a seed) are the baselines
of the transferability analysis (section 4.4, Table 5).

The communities become the ``cluster_ids`` input of :class:`hf_cser.losses.PhonemeTripletLoss` and
:class:`hf_cser.losses.SpeakerTripletLoss` through :meth:`SpeakerStyleGraph.cluster_ids_for`: one global integer per
(emotion, community), so a speaker has a different cluster id under each emotion.

Edges are found with a blocked, normalised matrix product over the upper triangle only (``block_size`` rows at a
time against the columns from the block's first row on, ``O(block_size * N)`` memory; the ``N x N`` matrix is never
materialised) and ``numpy.nonzero``: there is no Python loop over node pairs. The data-adaptive threshold
(:func:`quantile_threshold`) reads the same blocks, or scores its sampled pairs a chunk at a time.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
from scipy import sparse
from transformers.utils import logging

from ..labels import EMOTIONS

logger = logging.get_logger(__name__)

GROUPINGS = ("emotion", "agnostic", "random")
"""Speaker groupings of the transferability analysis: "w/ Emo", "w/o Emo" and "Rand" in the paper's Table 5."""

EMOTION_AGNOSTIC = "w/o Emo"
"""Row name of the emotion-agnostic graph in :meth:`SpeakerStyleGraph.summary`."""

SUMMARY_FIELDS = ("emotion", "num_speakers", "num_edges", "num_clusters", "modularity", "random_modularity")


# ---------------------------------------------------------------------------------------------------------------------
# Building blocks (usable on their own)


def _check_tau(tau: float) -> float:
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
    tau = _check_tau(tau)
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


# ---------------------------------------------------------------------------------------------------------------------
# The analysis object


@dataclass
class EmotionSpeakerGraph:
    """One speaker-style graph and its partition.

    Args:
        name (`str`): the emotion name, or :data:`EMOTION_AGNOSTIC`.
        speakers (`list`): node names, in the row order of ``vectors``.
        vectors (`np.ndarray` of shape `(num_speakers, dim)`): mean speaker embedding per node.
        graph (`nx.Graph`): the thresholded cosine-similarity graph.
        communities (`list[set]`): Louvain communities, largest first.
        modularity (`float`): modularity of ``communities`` on ``graph``.
        random_communities (`list[set]`): the "Rand" grouping with the same group sizes.
        random_modularity (`float`): modularity of ``random_communities`` on ``graph``.
        tau (`float`): the edge threshold used for this graph (differs per graph with ``tau_quantile``).
    """

    name: str
    speakers: list
    vectors: np.ndarray
    graph: nx.Graph
    communities: list[set]
    modularity: float
    random_communities: list[set] = field(default_factory=list)
    random_modularity: float = 0.0
    tau: float = 0.7

    @property
    def num_clusters(self) -> int:
        return len(self.communities)

    def assignment(self, random: bool = False) -> dict[Hashable, int]:
        """speaker -> community index (local to this graph)."""
        groups = self.random_communities if random else self.communities
        return {speaker: k for k, group in enumerate(groups) for speaker in group}


class SpeakerStyleGraph:
    """Emotion-specific speaker-style graphs and communities of SAPA (section 2.2, Table 1, Fig. 1).

    Args:
        tau (`float`, *optional*, defaults to 0.7):
            Cosine-similarity threshold; an edge needs ``cos > tau`` (paper value). Must be in [-1, 1]; a negative
            ``tau`` admits negative weights, which Louvain and modularity do not support (a warning says so).
        resolution (`float`, *optional*, defaults to 1.0):
            Louvain resolution (networkx default; not given in the paper).
        seed (`int`, *optional*, defaults to 0):
            Seed of Louvain and of the "Rand" grouping (library default); the same inputs and seed give the same
            result.
        block_size (`int`, *optional*, defaults to 1024):
            Rows per block of the cosine-similarity matrix (library default): peak memory ``block_size * N``.
        emotion_names (`Sequence[str]`, *optional*, defaults to `hf_cser.labels.EMOTIONS`):
            Name of each emotion id, for the table and plots.
        tau_quantile (`float`, *optional*):
            Library addition: when set, each graph's threshold is this quantile of its own pairwise speaker
            similarities instead of ``tau`` (0.5 keeps the more similar half of the pairs). For embeddings where every
            pair is above ``tau`` (synthetic voices, a single-speaker-type corpus) the fixed threshold yields a
            complete graph and a single community; a quantile restores the structure. The threshold used is
            reported per graph (``tau`` column of :meth:`summary`).

    Example:
        ```python
        >>> import numpy as np
        >>> from hf_cser.analysis import SpeakerStyleGraph

        >>> rng = np.random.default_rng(0)
        >>> embeddings = np.repeat(np.eye(3), 4, axis=0) + 0.01 * rng.normal(size=(12, 3))
        >>> speakers = np.arange(12)
        >>> graphs = SpeakerStyleGraph(tau=0.7).fit(embeddings, speakers, emotion_ids=np.zeros(12, dtype=int))
        >>> graphs.summary()[0]["num_clusters"]
        3
        >>> graphs.cluster_ids_for([0, 5, 11], [0, 0, 0]).tolist()
        [0, 1, 2]

        ```
    """

    def __init__(
        self,
        tau: float = 0.7,
        resolution: float = 1.0,
        seed: int = 0,
        block_size: int = 1024,
        emotion_names: Sequence[str] = EMOTIONS,
        tau_quantile: float | None = None,
    ) -> None:
        self.tau = _check_tau(tau)
        if tau_quantile is not None and not 0.0 <= tau_quantile < 1.0:
            raise ValueError(f"`tau_quantile` must be in [0, 1) or None, got {tau_quantile}.")
        self.tau_quantile = tau_quantile
        if tau < 0:
            logger.warning(f"`tau`={tau} < 0 admits negative cosine weights; Louvain assumes weights >= 0.")
        if not resolution > 0:
            raise ValueError(f"`resolution` must be > 0, got {resolution}.")
        if block_size < 1:
            raise ValueError(f"`block_size` must be a positive integer, got {block_size}.")
        self.resolution = float(resolution)
        self.seed = int(seed)
        self.block_size = int(block_size)
        self.emotion_names = tuple(emotion_names)
        self.graphs: dict[int, EmotionSpeakerGraph] = {}
        self.agnostic_graph: EmotionSpeakerGraph | None = None
        self.speaker_corpus: dict[Hashable, str] = {}
        self._offsets: dict[int, int] = {}

    # --- fitting -------------------------------------------------------------------------------------------------

    def _partition(self, name: str, speakers: list, vectors: np.ndarray, seed_offset: int) -> EmotionSpeakerGraph:
        tau = self.tau
        if self.tau_quantile is not None and len(speakers) > 1:
            tau = quantile_threshold(vectors, self.tau_quantile, seed=self.seed, block_size=self.block_size)
        graph = build_similarity_graph(vectors, speakers, tau=tau, block_size=self.block_size)
        communities, modularity = louvain_partition(graph, self.resolution, self.seed, name=name)
        random_groups = random_grouping(speakers, [len(c) for c in communities], seed=self.seed + seed_offset)
        return EmotionSpeakerGraph(
            name=name,
            speakers=speakers,
            vectors=vectors,
            graph=graph,
            communities=communities,
            modularity=modularity,
            random_communities=random_groups,
            random_modularity=graph_modularity(graph, random_groups, self.resolution),
            tau=float(tau),
        )

    def fit(
        self,
        speaker_embeddings: np.ndarray,
        speaker_ids: Sequence[Hashable] | np.ndarray,
        emotion_ids: Sequence[int] | np.ndarray,
        speaker_corpus: Mapping[Hashable, str] | None = None,
    ) -> SpeakerStyleGraph:
        """Build the per-emotion graphs, the emotion-agnostic graph and the random groupings.

        Args:
            speaker_embeddings (`np.ndarray` of shape `(num_utterances, dim)`): per-utterance speaker embeddings
                (e.g. the speaker encoder's ``z_s``); a torch tensor is converted.
            speaker_ids (`Sequence` of length `num_utterances`): speaker of each utterance (ints or strings).
            emotion_ids (`Sequence[int]` of length `num_utterances`): emotion id of each utterance.
            speaker_corpus (`Mapping`, *optional*): speaker -> corpus or language, used as the marker in plots.

        Returns:
            `SpeakerStyleGraph`: ``self``.
        """
        if hasattr(speaker_embeddings, "detach"):
            speaker_embeddings = speaker_embeddings.detach().cpu().numpy()
        embeddings = np.asarray(speaker_embeddings, dtype=np.float64)
        speaker_ids = np.asarray(speaker_ids)
        emotion_ids = np.asarray(emotion_ids)
        if embeddings.ndim != 2:
            raise ValueError(f"`speaker_embeddings` must have shape (num_utterances, dim), got {embeddings.shape}.")
        for name, values in (("speaker_ids", speaker_ids), ("emotion_ids", emotion_ids)):
            if values.shape != (embeddings.shape[0],):
                raise ValueError(
                    f"`{name}` must have one entry per utterance ({embeddings.shape[0]}), got shape {values.shape}."
                )
        if emotion_ids.size and not np.issubdtype(emotion_ids.dtype, np.integer):
            raise ValueError(f"`emotion_ids` must hold integer emotion ids, got dtype {emotion_ids.dtype}.")
        self.speaker_corpus = dict(speaker_corpus or {})

        # Mean embedding per (speaker, emotion) and per speaker with sparse indicator products (no Python loop).
        speakers, speaker_index = np.unique(speaker_ids, return_inverse=True)
        num_utterances = embeddings.shape[0]
        ones = np.ones(num_utterances)
        utterances = np.arange(num_utterances)
        emotions = np.unique(emotion_ids)
        self.graphs, self._offsets = {}, {}
        offset = 0
        for seed_offset, emotion in enumerate(emotions.tolist(), start=1):
            selected = emotion_ids == emotion
            local, local_index = np.unique(speaker_index[selected], return_inverse=True)
            indicator = sparse.csr_matrix(
                (ones[selected], (local_index, utterances[: selected.sum()])), shape=(len(local), int(selected.sum()))
            )
            counts = np.asarray(indicator.sum(axis=1))
            means = np.asarray(indicator @ embeddings[selected]) / counts
            name = self._emotion_name(emotion)
            self.graphs[emotion] = self._partition(name, speakers[local].tolist(), means, seed_offset)
            self._offsets[emotion] = offset
            offset += self.graphs[emotion].num_clusters
            logger.info(
                f"{name}: {len(local)} speakers, {self.graphs[emotion].graph.number_of_edges()} edges, "
                f"{self.graphs[emotion].num_clusters} clusters, modularity {self.graphs[emotion].modularity:.3f}"
            )
        indicator = sparse.csr_matrix((ones, (speaker_index, utterances)), shape=(len(speakers), num_utterances))
        means = np.asarray(indicator @ embeddings) / np.asarray(indicator.sum(axis=1))
        self.agnostic_graph = self._partition(EMOTION_AGNOSTIC, speakers.tolist(), means, 0)
        return self

    def _emotion_name(self, emotion: int) -> str:
        return self.emotion_names[emotion] if 0 <= emotion < len(self.emotion_names) else str(emotion)

    def _check_fitted(self) -> None:
        if self.agnostic_graph is None:
            raise RuntimeError("call `SpeakerStyleGraph.fit(...)` before reading its results.")

    # --- results -------------------------------------------------------------------------------------------------

    def summary(self) -> list[dict[str, Any]]:
        """Table 1: per emotion the number of speakers, edges, clusters and the modularity (plus "Rand" modularity).

        The last row is the emotion-agnostic graph (``emotion`` = :data:`EMOTION_AGNOSTIC`).
        """
        self._check_fitted()
        rows = []
        for result in [*self.graphs.values(), self.agnostic_graph]:
            rows.append(
                {
                    "emotion": result.name,
                    "num_speakers": len(result.speakers),
                    "tau": result.tau,
                    "num_edges": result.graph.number_of_edges(),
                    "num_clusters": result.num_clusters,
                    "modularity": result.modularity,
                    "random_modularity": result.random_modularity,
                }
            )
        return rows

    def save_summary(self, path: str | Path) -> Path:
        """Write :meth:`summary` as JSON (``.json``) or CSV (other suffixes); read it back with :func:`read_table`."""
        return write_table(self.summary(), path)

    def cluster_assignments(self, grouping: str = "emotion") -> dict[tuple[Hashable, int], int]:
        """(speaker, emotion id) -> global cluster id, the ``cluster_ids`` of the SAPA triplet losses.

        Args:
            grouping (`str`, *optional*, defaults to `"emotion"`):
                `"emotion"` ("w/ Emo": Louvain communities of each emotion graph; ids are offset per emotion so they
                are unique across emotions), `"agnostic"` ("w/o Emo": the speaker's community in the emotion-agnostic
                graph, the same under every emotion) or `"random"` ("Rand": the random groups, offset like
                `"emotion"`).
        """
        self._check_fitted()
        if grouping not in GROUPINGS:
            raise ValueError(f"`grouping` must be one of {GROUPINGS}, got {grouping!r}.")
        mapping: dict[tuple[Hashable, int], int] = {}
        agnostic = self.agnostic_graph.assignment()
        for emotion, result in self.graphs.items():
            if grouping == "agnostic":
                mapping.update({(speaker, emotion): agnostic[speaker] for speaker in result.speakers})
            else:
                local = result.assignment(random=grouping == "random")
                mapping.update({(speaker, emotion): self._offsets[emotion] + k for speaker, k in local.items()})
        return mapping

    def cluster_ids_for(
        self,
        speaker_ids: Sequence[Hashable] | np.ndarray,
        emotion_ids: Sequence[int] | np.ndarray,
        grouping: str = "emotion",
    ) -> np.ndarray:
        """Global cluster id per sample (``-1`` for a (speaker, emotion) not in the graphs), e.g. for a dataset column.

        ``torch.as_tensor(graphs.cluster_ids_for(batch_speakers, batch_emotions))`` is the ``cluster_ids`` argument of
        :class:`hf_cser.losses.PhonemeTripletLoss` and :class:`hf_cser.losses.SpeakerTripletLoss`.
        """
        mapping = self.cluster_assignments(grouping)
        speaker_ids = np.asarray(speaker_ids).tolist()
        emotion_ids = np.asarray(emotion_ids).tolist()
        if len(speaker_ids) != len(emotion_ids):
            raise ValueError(f"`speaker_ids` ({len(speaker_ids)}) and `emotion_ids` ({len(emotion_ids)}) differ.")
        return np.array([mapping.get((s, e), -1) for s, e in zip(speaker_ids, emotion_ids)], dtype=np.int64)

    def assignments_table(self) -> list[dict[str, Any]]:
        """One row per (speaker, emotion) with its corpus and its cluster id under each grouping."""
        self._check_fitted()
        groupings = {grouping: self.cluster_assignments(grouping) for grouping in GROUPINGS}
        return [
            {
                "speaker": speaker,
                "emotion": self._emotion_name(emotion),
                "corpus": self.speaker_corpus.get(speaker, ""),
                **{f"cluster_{grouping}": groupings[grouping][(speaker, emotion)] for grouping in GROUPINGS},
            }
            for (speaker, emotion) in groupings["emotion"]
        ]

    # --- plotting ------------------------------------------------------------------------------------------------

    def plot(
        self,
        output_dir: str | Path,
        emotions: Sequence[int] | None = None,
        layout: str = "pca",
        max_speakers_per_corpus: int | None = None,
        draw_edges: bool = True,
        dpi: int = 120,
    ) -> list[Path]:
        """One PNG per emotion like the paper's Fig. 1: colour = community, marker = corpus / language.

        Args:
            output_dir (`str` or `Path`): where ``speaker_graph_<emotion>.png`` files go (created if needed).
            emotions (`Sequence[int]`, *optional*): emotion ids to plot; defaults to every fitted emotion.
            layout (`str`, *optional*, defaults to `"pca"`): `"pca"` (first two principal components of the node
                vectors) or `"spring"` (``networkx.spring_layout`` on the weighted graph, seeded).
            max_speakers_per_corpus (`int`, *optional*): plot a seeded subset of at most this many speakers per
                corpus (the paper shows 15 per corpus); ``None`` plots all.
            draw_edges (`bool`, *optional*, defaults to `True`): draw the kept edges as thin grey lines.
            dpi (`int`, *optional*, defaults to 120): resolution of the PNG files.

        Returns:
            `list[Path]`: the written files.
        """
        self._check_fitted()
        if layout not in ("pca", "spring"):
            raise ValueError(f"`layout` must be 'pca' or 'spring', got {layout!r}.")
        try:
            from matplotlib.collections import LineCollection
            from matplotlib.figure import Figure  # Agg canvas, no pyplot and no global backend change
        except ImportError as error:  # pragma: no cover - matplotlib is a dependency, but may be stripped
            raise ImportError("Plotting speaker graphs needs matplotlib: `pip install matplotlib`.") from error

        output_dir = Path(output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)
        markers = ("o", "s", "^", "D", "v", "P", "X", "*")
        rng = np.random.default_rng(self.seed)
        paths = []
        for emotion in self.graphs if emotions is None else emotions:
            if emotion not in self.graphs:
                raise ValueError(f"emotion id {emotion} has no graph; fitted emotions: {sorted(self.graphs)}.")
            result = self.graphs[emotion]
            corpus = [self.speaker_corpus.get(s, "unknown") for s in result.speakers]
            keep = np.arange(len(result.speakers))
            if max_speakers_per_corpus is not None:
                corpus_arr = np.array(corpus)
                keep = np.sort(
                    np.concatenate(
                        [
                            rng.permutation(np.flatnonzero(corpus_arr == c))[:max_speakers_per_corpus]
                            for c in sorted(set(corpus))
                        ]
                    )
                ).astype(int)
            positions = self._layout(result, layout)
            community = result.assignment()
            colours = np.array([community[result.speakers[i]] for i in keep])

            fig = Figure(figsize=(5.5, 5))
            ax = fig.add_subplot()
            if draw_edges and result.graph.number_of_edges():
                index = {s: i for i, s in enumerate(result.speakers)}
                kept = set(keep.tolist())
                segments = [
                    (positions[index[u]], positions[index[v]])
                    for u, v in result.graph.edges
                    if index[u] in kept and index[v] in kept
                ]
                ax.add_collection(LineCollection(segments, colors="0.8", linewidths=0.5, zorder=1))
            for k, name in enumerate(sorted(set(corpus))):
                chosen = np.array([corpus[i] == name for i in keep], dtype=bool)
                ax.scatter(
                    positions[keep[chosen], 0],
                    positions[keep[chosen], 1],
                    c=colours[chosen],
                    cmap="tab10" if result.num_clusters <= 10 else "tab20",
                    vmin=0,
                    vmax=9 if result.num_clusters <= 10 else max(19, result.num_clusters - 1),
                    marker=markers[k % len(markers)],
                    edgecolors="k",
                    linewidths=0.4,
                    s=60,
                    label=name,
                    zorder=2,
                )
            ax.set_title(f"{result.name}: {result.num_clusters} clusters, Q = {result.modularity:.2f}")
            ax.set_xticks([])
            ax.set_yticks([])
            legend = ax.legend(title="corpus", loc="best", fontsize="small")
            for handle in getattr(legend, "legend_handles", None) or getattr(legend, "legendHandles", []):
                handle.set_array(None)  # the marker names the corpus; colours are communities
                handle.set_facecolor("0.6")
            path = output_dir / f"speaker_graph_{result.name.replace('/', '_').replace(' ', '_')}.png"
            fig.savefig(path, dpi=dpi, bbox_inches="tight")
            paths.append(path)
        return paths

    def _layout(self, result: EmotionSpeakerGraph, layout: str) -> np.ndarray:
        if layout == "spring":
            pos = nx.spring_layout(result.graph, weight="weight", seed=self.seed)
            return np.array([pos[s] for s in result.speakers], dtype=float).reshape(-1, 2)
        centred = result.vectors - result.vectors.mean(axis=0, keepdims=True)
        if centred.shape[0] < 2:
            return np.zeros((centred.shape[0], 2))
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        projected = centred @ vt[:2].T
        if projected.shape[1] < 2:
            projected = np.pad(projected, ((0, 0), (0, 2 - projected.shape[1])))
        return projected
