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

The building blocks live in :mod:`hf_cser.analysis.speaker_graph_blocks` and the plots in
:mod:`hf_cser.analysis.speaker_graph_plots`; every name stays importable from here.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
from scipy import sparse
from transformers.utils import logging

from ..labels import EMOTIONS
from .speaker_graph_blocks import (  # noqa: F401
    SUMMARY_FIELDS,
    build_similarity_graph,
    check_tau,
    graph_modularity,
    louvain_partition,
    quantile_threshold,
    random_grouping,
    read_table,
    similarity_edges,
    write_table,
)
from .speaker_graph_plots import plot_speaker_graphs

logger = logging.get_logger(__name__)

GROUPINGS = ("emotion", "agnostic", "random")
"""Speaker groupings of the transferability analysis: "w/ Emo", "w/o Emo" and "Rand" in the paper's Table 5."""

EMOTION_AGNOSTIC = "w/o Emo"
"""Row name of the emotion-agnostic graph in :meth:`SpeakerStyleGraph.summary`."""


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
        self.tau = check_tau(tau)
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
        return plot_speaker_graphs(
            self,
            output_dir,
            emotions=emotions,
            layout=layout,
            max_speakers_per_corpus=max_speakers_per_corpus,
            draw_edges=draw_edges,
            dpi=dpi,
        )
