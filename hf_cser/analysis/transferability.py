"""SAPA's speaker-group transferability analysis (section 4.4, Table 5).

"For each emotion-specific speaker cluster graph, we aggregate all test utterances belonging to speakers within that
cluster and compute the average emotion recognition accuracy over these samples." Three groupings are compared:
"w/ Emo" (the communities of the emotion's graph), "w/o Emo" (the communities of one emotion-agnostic graph) and
"Rand" ("we randomly sample an equal number of utterances from speakers across the target corpus", repeated with
several seeds and averaged).

What the paper leaves open, and what we do (library choices):

- **Which clusters a row uses.** Table 5 has one row per emotion ``e``. Under "w/ Emo" the row uses the communities
  of the graph of ``e``; a speaker's cluster therefore depends on the row, not on the emotion of each utterance (the
  paper aggregates "all test utterances belonging to speakers within that cluster"). Under "w/o Emo" every row uses
  the same agnostic communities, restricted to the speakers that are nodes of the graph of ``e`` (this is what
  :meth:`~hf_cser.analysis.SpeakerStyleGraph.cluster_assignments` returns: keys ``(speaker, e)``); that is why the
  w/o Emo column still varies by row. So the three columns of a row cover the same utterances and differ only in how
  they are partitioned.
- **Which utterances.** ``scope="all"`` (default, the paper's wording): every target test utterance of the cluster's
  speakers, whatever its label, so a per-cluster accuracy is an accuracy over all classes (and UAR is meaningful).
  ``scope="emotion"``: only the utterances labelled ``e`` (then accuracy is the recall of ``e`` and UAR equals it).
- **Summary over clusters.** ``mean_accuracy`` (the paper's number: the unweighted mean of the per-cluster
  accuracies), plus std (population, ``ddof=0``), min, max and the utterance-weighted mean (= pooled accuracy).
- **Rand.** :data:`RANDOM_UTTERANCES` is the paper's baseline: per row, the pooled utterances of the reference
  grouping (default: the first explicit one, i.e. w/ Emo) are shuffled and cut into groups of exactly the reference
  clusters' utterance counts, once per seed; statistics are averaged over seeds (``draw_std_accuracy`` is the spread
  of the mean across seeds). :func:`random_speaker_groupings` gives the speaker-level alternative (speakers shuffled
  into groups of the reference clusters' speaker counts); any list of groupings, or a callable ``seed -> grouping``,
  is averaged the same way.
- **Target speakers in the graphs.** The paper clusters speakers of both corpora in the same graphs (Fig. 1) and
  analyses BIIC-P test utterances, which implies the target test speakers are nodes of the graphs (built with their
  emotion labels: fine for an analysis, not for training). It does not say so explicitly. Every function here takes
  an explicit grouping ``{(speaker, emotion_id): cluster}``; build it from a graph fitted on the target speakers, or
  assign unseen target speakers to the nearest existing cluster with :func:`assign_speakers_to_clusters`
  (label-free when ``emotion_ids`` is omitted).

Pure numpy; plotting imports matplotlib lazily.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from transformers.utils import logging

from ..labels import EMOTIONS
from ..metrics import unweighted_average_recall
from .phoneme_commonality import json_safe, save_rows
from .speaker_graph import random_grouping

logger = logging.get_logger(__name__)

RANDOM_UTTERANCES = "random_utterances"
"""Grouping value for the paper's "Rand": random utterance groups with the reference clusters' sizes."""

SCOPES = ("all", "emotion")

PAPER_GROUPING_NAMES = ("w/ Emo", "w/o Emo", "Rand")

SUMMARY_FIELDS = (
    "emotion",
    "emotion_id",
    "grouping",
    "num_draws",
    "num_clusters",
    "num_empty_clusters",
    "num_utterances",
    "mean_accuracy",
    "std_accuracy",
    "min_accuracy",
    "max_accuracy",
    "weighted_accuracy",
    "mean_uar",
    "std_uar",
    "min_uar",
    "max_uar",
    "weighted_uar",
    "draw_std_accuracy",
)
"""Columns of :attr:`TransferabilityResult.rows`."""

CLUSTER_FIELDS = (
    "emotion",
    "emotion_id",
    "grouping",
    "draw",
    "cluster",
    "num_speakers",
    "num_utterances",
    "accuracy",
    "uar",
)
"""Columns of :attr:`TransferabilityResult.cluster_rows`."""

Assignments = Mapping[tuple[Hashable, int], Hashable]
GroupingSpec = Assignments | Sequence[Assignments] | Callable[[int], Assignments] | str


# ---------------------------------------------------------------------------------------------------------------------
# Building blocks


def _to_numpy(values: Any) -> np.ndarray:
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    return np.asarray(values)


def grouping_for_emotion(assignments: Assignments, emotion: int) -> dict[Hashable, Hashable]:
    """``{speaker: cluster}`` of one emotion from ``{(speaker, emotion_id): cluster}``."""
    return {speaker: cluster for (speaker, e), cluster in assignments.items() if e == emotion}


def broadcast_grouping(speaker_clusters: Mapping[Hashable, Hashable], emotions: Sequence[int]) -> dict:
    """``{speaker: cluster}`` -> ``{(speaker, e): cluster}`` for every ``e`` (e.g. an externally made grouping)."""
    return {(speaker, int(e)): cluster for e in emotions for speaker, cluster in speaker_clusters.items()}


def utterance_clusters(
    speaker_ids: np.ndarray, speaker_clusters: Mapping[Hashable, Hashable]
) -> tuple[np.ndarray, list[Hashable]]:
    """Cluster index per utterance (``-1`` for a speaker without a cluster) and the cluster names by index."""
    speakers, inverse = np.unique(speaker_ids, return_inverse=True)
    names = list(dict.fromkeys(speaker_clusters.values()))
    index = {name: i for i, name in enumerate(names)}
    per_speaker = np.array([index.get(speaker_clusters.get(s), -1) for s in speakers.tolist()], dtype=np.int64)
    return per_speaker[inverse.reshape(-1)] if speakers.size else np.zeros(0, dtype=np.int64), names


def cluster_scores(
    predictions: np.ndarray,
    labels: np.ndarray,
    speaker_ids: np.ndarray,
    clusters: np.ndarray,
    names: Sequence[Hashable] | None = None,
    num_classes: int = len(EMOTIONS),
) -> list[dict[str, Any]]:
    """Accuracy and UAR of each cluster over its utterances (``clusters[i]`` = cluster index, ``-1`` = none).

    Returns one row ``{"cluster", "num_speakers", "num_utterances", "accuracy", "uar"}`` per cluster index that has
    utterances, in index order.
    """
    rows = []
    for k in np.unique(clusters[clusters >= 0]).tolist():
        m = clusters == k
        rows.append(
            {
                "cluster": names[k] if names is not None else k,
                "num_speakers": int(np.unique(speaker_ids[m]).size),
                "num_utterances": int(m.sum()),
                "accuracy": float((predictions[m] == labels[m]).mean()),
                "uar": unweighted_average_recall(labels[m], predictions[m], num_classes),
            }
        )
    return rows


def summarize_clusters(rows: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Mean, std (``ddof=0``), min, max and utterance-weighted mean of the per-cluster accuracy and UAR.

    NaN everywhere when ``rows`` is empty.
    """
    out: dict[str, float] = {"num_clusters": len(rows), "num_utterances": int(sum(r["num_utterances"] for r in rows))}
    weights = np.array([r["num_utterances"] for r in rows], dtype=np.float64)
    for metric in ("accuracy", "uar"):
        values = np.array([r[metric] for r in rows], dtype=np.float64)
        if values.size == 0:
            out.update({f"{s}_{metric}": float("nan") for s in ("mean", "std", "min", "max", "weighted")})
            continue
        out[f"mean_{metric}"] = float(values.mean())
        out[f"std_{metric}"] = float(values.std())
        out[f"min_{metric}"] = float(values.min())
        out[f"max_{metric}"] = float(values.max())
        out[f"weighted_{metric}"] = float((values * weights).sum() / weights.sum())
    return out


def random_utterance_groups(clusters: np.ndarray, seed: int) -> np.ndarray:
    """The paper's "Rand": the utterances with a cluster (``clusters >= 0``) shuffled with ``seed`` and cut into
    groups of the same sizes as the clusters; ``-1`` stays ``-1``."""
    pooled = np.flatnonzero(clusters >= 0)
    sizes = np.bincount(clusters[pooled]) if pooled.size else np.zeros(0, dtype=np.int64)
    sizes = sizes[sizes > 0]
    out = np.full(clusters.shape, -1, dtype=np.int64)
    shuffled = pooled[np.random.default_rng(seed).permutation(pooled.size)]
    out[shuffled] = np.repeat(np.arange(sizes.size), sizes)
    return out


def random_speaker_groupings(assignments: Assignments, seeds: Sequence[int] = range(5)) -> list[dict]:
    """Speaker-level random groupings: per emotion, the speakers of ``assignments`` shuffled into groups of the same
    sizes as its clusters (:func:`hf_cser.analysis.random_grouping`), one grouping per seed."""
    emotions = sorted({e for _, e in assignments})
    out = []
    for seed in seeds:
        grouping, offset = {}, 0
        for e in emotions:
            local = grouping_for_emotion(assignments, e)
            names = list(dict.fromkeys(local.values()))
            sizes = [sum(1 for c in local.values() if c == name) for name in names]
            for k, group in enumerate(random_grouping(list(local), sizes, seed=int(seed))):
                grouping.update({(speaker, e): offset + k for speaker in group})
            offset += len(sizes)
        out.append(grouping)
    return out


def groupings_from_speaker_graph(
    graph: Any, random: str = "utterances", seeds: Sequence[int] = range(5)
) -> dict[str, GroupingSpec]:
    """The three groupings of Table 5 from a fitted :class:`~hf_cser.analysis.SpeakerStyleGraph`.

    Args:
        graph ([`SpeakerStyleGraph`]): fitted on speakers that include the target test speakers.
        random (`str`, *optional*, defaults to `"utterances"`): `"utterances"` (the paper's Rand,
            :data:`RANDOM_UTTERANCES`) or `"speakers"` (:func:`random_speaker_groupings` over ``seeds``).
        seeds (`Sequence[int]`, *optional*, defaults to `range(5)`): seeds of `"speakers"` (the utterance baseline
            takes its seeds from :func:`speaker_group_transferability`).
    """
    if random not in ("utterances", "speakers"):
        raise ValueError(f"`random` must be 'utterances' or 'speakers', got {random!r}.")
    emotion = graph.cluster_assignments("emotion")
    rand = RANDOM_UTTERANCES if random == "utterances" else random_speaker_groupings(emotion, seeds)
    return {"w/ Emo": emotion, "w/o Emo": graph.cluster_assignments("agnostic"), "Rand": rand}


def assign_speakers_to_clusters(
    graph: Any,
    speaker_embeddings: np.ndarray,
    speaker_ids: Sequence[Hashable] | np.ndarray,
    emotion_ids: Sequence[int] | np.ndarray | None = None,
    grouping: str = "emotion",
) -> dict[tuple[Hashable, int], int]:
    """Extend a graph's assignments to speakers that are not its nodes (e.g. unseen target test speakers).

    Library addition (the paper does not describe one): per emotion ``e``, a cluster's centroid is the mean of its
    members' L2-normalised node vectors (the agnostic graph's vectors for ``grouping="agnostic"``); a new speaker
    joins the centroid with the highest cosine to its mean embedding. With ``emotion_ids`` the speaker's vector under
    ``e`` is the mean over its utterances labelled ``e`` (and it is assigned only under emotions it has); without
    them (no target labels needed) the mean over all its utterances is assigned under every emotion.

    Args:
        graph ([`SpeakerStyleGraph`]): fitted graphs.
        speaker_embeddings (`np.ndarray` of shape `(num_utterances, dim)`): the new speakers' utterance embeddings.
        speaker_ids (`Sequence` of length `num_utterances`): speaker of each utterance.
        emotion_ids (`Sequence[int]`, *optional*): emotion of each utterance.
        grouping (`str`, *optional*, defaults to `"emotion"`): `"emotion"` or `"agnostic"`.

    Returns:
        `dict`: ``graph.cluster_assignments(grouping)`` plus an entry for every new (speaker, emotion); speakers that
        are already nodes keep their cluster.
    """
    if grouping not in ("emotion", "agnostic"):
        raise ValueError(
            f"`grouping` must be 'emotion' or 'agnostic' (random groups have no centroid), got {grouping!r}."
        )
    embeddings = _to_numpy(speaker_embeddings).astype(np.float64)
    speaker_ids = _to_numpy(speaker_ids)
    if embeddings.ndim != 2 or speaker_ids.shape != (embeddings.shape[0],):
        raise ValueError(
            f"`speaker_embeddings` must be (num_utterances, dim) with one speaker id each; got {embeddings.shape} and "
            f"{speaker_ids.shape}."
        )
    emotion_ids = None if emotion_ids is None else _to_numpy(emotion_ids).astype(np.int64)
    mapping = dict(graph.cluster_assignments(grouping))

    def unit(x):
        norms = np.linalg.norm(x, axis=-1, keepdims=True)
        return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)

    for e, result in graph.graphs.items():
        source = graph.agnostic_graph if grouping == "agnostic" else result
        row = {s: i for i, s in enumerate(source.speakers)}
        members = [(s, c) for (s, emo), c in mapping.items() if emo == e]
        clusters = list(dict.fromkeys(c for _, c in members))
        if not clusters:
            continue
        vectors = unit(source.vectors)
        centroids = np.stack(
            [vectors[[row[s] for s, c in members if c == cluster]].mean(axis=0) for cluster in clusters]
        )
        selected = np.ones(len(speaker_ids), dtype=bool) if emotion_ids is None else emotion_ids == e
        for speaker in np.unique(speaker_ids[selected]).tolist():
            if (speaker, e) in mapping:
                continue
            query = embeddings[selected & (speaker_ids == speaker)].mean(axis=0)
            mapping[(speaker, e)] = clusters[int(np.argmax(unit(centroids) @ unit(query)))]
    return mapping


# ---------------------------------------------------------------------------------------------------------------------
# Table 5


@dataclass
class TransferabilityResult:
    """Output of :func:`speaker_group_transferability`.

    Args:
        rows (`list[dict]`): one row per (emotion, grouping) with :data:`SUMMARY_FIELDS` (fractions, not %).
        cluster_rows (`list[dict]`): one row per (emotion, grouping, draw, cluster) with :data:`CLUSTER_FIELDS`.
        groupings (`list[str]`): grouping names in column order.
        emotions (`list[str]`): emotion names in row order.
        scope (`str`): `"all"` or `"emotion"`.
    """

    rows: list[dict[str, Any]]
    cluster_rows: list[dict[str, Any]] = field(repr=False)
    groupings: list[str]
    emotions: list[str]
    scope: str = "all"

    def table(self, metric: str = "mean_accuracy", percent: bool = True) -> list[dict[str, Any]]:
        """Table 5: one row per emotion, one column per grouping (``metric`` of :data:`SUMMARY_FIELDS`, in % by
        default), and a last row ``"mean"`` averaging the emotions."""
        if metric not in SUMMARY_FIELDS[4:]:
            raise ValueError(f"`metric` must be one of {SUMMARY_FIELDS[4:]}, got {metric!r}.")
        scale = 100.0 if percent and metric.endswith(("accuracy", "uar")) else 1.0
        values = {(r["emotion"], r["grouping"]): r[metric] for r in self.rows}
        out = [
            {"emotion": emotion, **{g: scale * values[(emotion, g)] for g in self.groupings}}
            for emotion in self.emotions
        ]
        if out:
            mean_row: dict[str, Any] = {"emotion": "mean"}
            for g in self.groupings:
                column = np.array([row[g] for row in out], dtype=np.float64)
                mean_row[g] = float(column[np.isfinite(column)].mean()) if np.isfinite(column).any() else float("nan")
            out.append(mean_row)
        return out

    def to_dict(self) -> dict[str, Any]:
        return json_safe(
            {
                "scope": self.scope,
                "groupings": self.groupings,
                "emotions": self.emotions,
                "table_percent": self.table(),
                "rows": self.rows,
                "cluster_rows": self.cluster_rows,
            }
        )

    def save(self, path: str | Path) -> Path:
        """Write :attr:`rows` as JSON (``.json``, NaN -> null) or CSV (other suffixes)."""
        return save_rows(self.rows, path, SUMMARY_FIELDS)


def _draws(spec: GroupingSpec, seeds: Sequence[int]) -> list[Assignments] | str:
    if isinstance(spec, str):
        if spec != RANDOM_UTTERANCES:
            raise ValueError(f"a grouping given as a string must be {RANDOM_UTTERANCES!r}, got {spec!r}.")
        return spec
    if isinstance(spec, Mapping):
        return [spec]
    if callable(spec):
        return [spec(int(seed)) for seed in seeds]
    draws = list(spec)
    if not draws or not all(isinstance(d, Mapping) for d in draws):
        raise ValueError(
            f"a grouping must be a mapping, a non-empty list of mappings, a callable or {RANDOM_UTTERANCES!r}."
        )
    return draws


def speaker_group_transferability(
    predictions: Sequence[int] | np.ndarray,
    labels: Sequence[int] | np.ndarray,
    speaker_ids: Sequence[Hashable] | np.ndarray,
    groupings: Mapping[str, GroupingSpec],
    emotions: Sequence[int] | None = None,
    scope: str = "all",
    seeds: Sequence[int] = range(5),
    reference: str | None = None,
    num_classes: int = len(EMOTIONS),
    emotion_names: Sequence[str] = EMOTIONS,
) -> TransferabilityResult:
    """Per-cluster accuracy of target test utterances under several speaker groupings (SAPA section 4.4, Table 5).

    Args:
        predictions (`Sequence[int]` of length `num_utterances`): predicted emotion id of each target test utterance.
        labels (`Sequence[int]` of length `num_utterances`): true emotion id.
        speaker_ids (`Sequence` of length `num_utterances`): speaker of each utterance (same ids as the groupings).
        groupings (`Mapping[str, ...]`): name -> grouping, in column order. A grouping is a mapping
            ``{(speaker, emotion_id): cluster}`` (e.g. ``SpeakerStyleGraph.cluster_assignments(...)``), a list of such
            mappings or a callable ``seed -> mapping`` (evaluated for every seed in ``seeds``; statistics are averaged
            over the draws), or :data:`RANDOM_UTTERANCES` (the paper's Rand, see the module docstring).
            :func:`groupings_from_speaker_graph` builds the paper's three.
        emotions (`Sequence[int]`, *optional*): the rows; defaults to every emotion in the reference grouping's keys.
        scope (`str`, *optional*, defaults to `"all"`): `"all"` (every utterance of the cluster's speakers) or
            `"emotion"` (only those labelled with the row's emotion).
        seeds (`Sequence[int]`, *optional*, defaults to `range(5)`): seeds of random baselines (library default: 5;
            the paper says "multiple seeds").
        reference (`str`, *optional*): grouping whose cluster sizes :data:`RANDOM_UTTERANCES` copies; defaults to the
            first grouping given as a single mapping.
        num_classes (`int`, *optional*, defaults to 4): classes of the per-cluster UAR.
        emotion_names (`Sequence[str]`, *optional*, defaults to `EMOTIONS`): row names.

    Returns:
        [`TransferabilityResult`]: summary rows, per-cluster rows and :meth:`~TransferabilityResult.table`.
    """
    if scope not in SCOPES:
        raise ValueError(f"`scope` must be one of {SCOPES}, got {scope!r}.")
    if not groupings:
        raise ValueError("`groupings` is empty: give at least one {name: grouping}.")
    predictions, labels, speaker_ids = _to_numpy(predictions), _to_numpy(labels), _to_numpy(speaker_ids)
    n = labels.shape[0] if labels.ndim == 1 else -1
    for name, values in (("predictions", predictions), ("labels", labels), ("speaker_ids", speaker_ids)):
        if values.ndim != 1 or values.shape[0] != n:
            raise ValueError(f"`{name}` must be 1-D with one entry per utterance ({n}), got shape {values.shape}.")
    predictions, labels = predictions.astype(np.int64), labels.astype(np.int64)
    seeds = [int(s) for s in seeds]
    draws = {name: _draws(spec, seeds) for name, spec in groupings.items()}
    explicit = [name for name, d in draws.items() if not isinstance(d, str) and len(d) == 1]
    if reference is None:
        reference = explicit[0] if explicit else None
    needs_reference = any(isinstance(d, str) for d in draws.values())
    if needs_reference and (reference not in draws or isinstance(draws[reference], str)):
        raise ValueError(
            f"{RANDOM_UTTERANCES!r} copies the cluster sizes of a `reference` grouping given as one mapping; "
            f"got reference={reference!r} among {list(draws)}."
        )
    if needs_reference and not seeds:
        raise ValueError(f"`seeds` is empty but {RANDOM_UTTERANCES!r} needs at least one.")
    if emotions is None:
        keys_from = draws[reference][0] if reference is not None else next(d[0] for d in draws.values())
        emotions = sorted({int(e) for _, e in keys_from})
    emotion_names = tuple(emotion_names)

    def name_of(e: int) -> str:
        return emotion_names[e] if 0 <= e < len(emotion_names) else str(e)

    rows, cluster_rows = [], []
    for e in emotions:
        in_scope = labels == e if scope == "emotion" else np.ones(n, dtype=bool)
        for gname, gdraws in draws.items():
            if isinstance(gdraws, str):
                ref_clusters, _ = utterance_clusters(speaker_ids, grouping_for_emotion(draws[reference][0], e))
                ref_clusters[~in_scope] = -1
                assignments = [(random_utterance_groups(ref_clusters, seed), None) for seed in seeds]
                empty = [0] * len(seeds)
            else:
                assignments, empty = [], []
                for mapping in gdraws:
                    local = grouping_for_emotion(mapping, e)
                    clusters, names = utterance_clusters(speaker_ids, local)
                    clusters[~in_scope] = -1
                    assignments.append((clusters, names))
                    empty.append(len(names) - np.unique(clusters[clusters >= 0]).size)
            summaries = []
            for draw, (clusters, names) in enumerate(assignments):
                per_cluster = cluster_scores(predictions, labels, speaker_ids, clusters, names, num_classes)
                cluster_rows.extend(
                    {"emotion": name_of(e), "emotion_id": int(e), "grouping": gname, "draw": draw, **r}
                    for r in per_cluster
                )
                summaries.append(summarize_clusters(per_cluster))
            row: dict[str, Any] = {
                "emotion": name_of(e),
                "emotion_id": int(e),
                "grouping": gname,
                "num_draws": len(summaries),
            }
            for key in SUMMARY_FIELDS[4:-1]:
                if key == "num_empty_clusters":
                    mean_empty = float(np.mean(empty))
                    row[key] = int(mean_empty) if mean_empty.is_integer() else mean_empty
                    continue
                values = np.array([s[key] for s in summaries], dtype=np.float64)
                row[key] = float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
                if key.startswith("num_") and float(row[key]).is_integer():
                    row[key] = int(row[key])
            means = np.array([s["mean_accuracy"] for s in summaries], dtype=np.float64)
            row["draw_std_accuracy"] = float(np.nanstd(means)) if np.isfinite(means).any() else float("nan")
            if row["num_clusters"] == 0:
                logger.warning(f"{name_of(e)} / {gname}: no cluster has a test utterance; its accuracy is NaN.")
            rows.append(row)
    return TransferabilityResult(
        rows=rows,
        cluster_rows=cluster_rows,
        groupings=list(draws),
        emotions=[name_of(e) for e in emotions],
        scope=scope,
    )


# ---------------------------------------------------------------------------------------------------------------------
# Plot


def plot_transferability(result: TransferabilityResult, path: str | Path, dpi: int = 120) -> Path:
    """Grouped box plot: per emotion, the per-cluster accuracies (%) of each grouping (all draws pooled for random
    groupings), with the Table 5 value (mean over clusters, averaged over draws) as a diamond.

    Returns:
        `Path`: the written PNG.
    """
    try:
        from matplotlib.figure import Figure  # Agg canvas, no pyplot and no global backend change
    except ImportError as error:  # pragma: no cover - matplotlib is a dependency, but may be stripped
        raise ImportError("Plotting transferability needs matplotlib: `pip install matplotlib`.") from error

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    groupings, emotions = result.groupings, result.emotions
    width = 0.8 / max(len(groupings), 1)
    colours = ["C0", "C1", "C2", "C3", "C4", "C5", "C6", "C7"]
    table = {row["emotion"]: row for row in result.table()}
    fig = Figure(figsize=(1.6 * len(emotions) + 2.5, 4.2))
    ax = fig.add_subplot()
    for g, gname in enumerate(groupings):
        positions = [i - 0.4 + width * (g + 0.5) for i in range(len(emotions))]
        data = [
            [100.0 * r["accuracy"] for r in result.cluster_rows if r["emotion"] == emotion and r["grouping"] == gname]
            for emotion in emotions
        ]
        kept = [(p, d) for p, d in zip(positions, data) if d]
        if kept:
            boxes = ax.boxplot(
                [d for _, d in kept],
                positions=[p for p, _ in kept],
                widths=width * 0.8,
                patch_artist=True,
                showfliers=False,
                medianprops={"color": "k"},
            )
            for box in boxes["boxes"]:
                box.set_facecolor(colours[g % len(colours)])
                box.set_alpha(0.5)
        ax.scatter(
            positions,
            [table[e][gname] for e in emotions],
            marker="D",
            color=colours[g % len(colours)],
            edgecolors="k",
            zorder=3,
            label=gname,
        )
    ax.set_xticks(range(len(emotions)), emotions)
    ax.set_xlim(-0.6, len(emotions) - 0.4)
    ax.set_ylabel("per-cluster accuracy (%)")
    ax.set_title(f"speaker-group transferability (scope: {result.scope}; diamond = mean over clusters)")
    ax.legend(title="grouping", fontsize="small")
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path
