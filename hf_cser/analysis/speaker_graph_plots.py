"""Plots of the speaker-style graphs like the paper's Fig. 1 (split out of :mod:`hf_cser.analysis.speaker_graph`).

Holds :func:`plot_speaker_graphs`, the implementation of :meth:`SpeakerStyleGraph.plot
<hf_cser.analysis.speaker_graph.SpeakerStyleGraph.plot>`: one PNG per emotion graph, colour = community, marker =
corpus / language, laid out on the first two principal components of the node vectors or with a seeded spring
layout. Matplotlib is imported only when plotting (Agg canvas, no pyplot, no global backend change).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import networkx as nx
import numpy as np

if TYPE_CHECKING:
    from .speaker_graph import EmotionSpeakerGraph, SpeakerStyleGraph


def plot_speaker_graphs(
    graphs: SpeakerStyleGraph,
    output_dir: str | Path,
    emotions: Sequence[int] | None = None,
    layout: str = "pca",
    max_speakers_per_corpus: int | None = None,
    draw_edges: bool = True,
    dpi: int = 120,
) -> list[Path]:
    """One PNG per emotion of a fitted :class:`~hf_cser.analysis.speaker_graph.SpeakerStyleGraph`; the arguments
    are those of :meth:`SpeakerStyleGraph.plot <hf_cser.analysis.speaker_graph.SpeakerStyleGraph.plot>`."""
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
    rng = np.random.default_rng(graphs.seed)
    paths = []
    for emotion in graphs.graphs if emotions is None else emotions:
        if emotion not in graphs.graphs:
            raise ValueError(f"emotion id {emotion} has no graph; fitted emotions: {sorted(graphs.graphs)}.")
        result = graphs.graphs[emotion]
        corpus = [graphs.speaker_corpus.get(s, "unknown") for s in result.speakers]
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
        positions = _layout(result, layout, graphs.seed)
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


def _layout(result: EmotionSpeakerGraph, layout: str, seed: int) -> np.ndarray:
    if layout == "spring":
        pos = nx.spring_layout(result.graph, weight="weight", seed=seed)
        return np.array([pos[s] for s in result.speakers], dtype=float).reshape(-1, 2)
    centred = result.vectors - result.vectors.mean(axis=0, keepdims=True)
    if centred.shape[0] < 2:
        return np.zeros((centred.shape[0], 2))
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    projected = centred @ vt[:2].T
    if projected.shape[1] < 2:
        projected = np.pad(projected, ((0, 0), (0, 2 - projected.shape[1])))
    return projected
