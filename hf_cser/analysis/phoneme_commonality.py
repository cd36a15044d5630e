"""SAPA's phoneme-encoded commonality (section 2.3): cross-corpus similarity of phoneme embeddings (Table 2) and the
emotion-wise phoneme anchor candidates derived from it (Table 3).

Input: one content embedding per phoneme-centred window (SAPA: 120 ms around each phone's midpoint, see
:func:`hf_cser.data.phones.phoneme_windows`), the window's shared-vowel class (an index into
:data:`hf_cser.data.phones.SHARED_VOWELS`, ``-1`` for phones outside the shared inventory, which are skipped), its
emotion id and its corpus (or language).

For every corpus ``g``, emotion ``e`` and shared phoneme ``p`` the mean embedding ``z_c^{p,e,g}`` is taken over the
windows of that cell, and for a pair of corpora (source, target)::

    sim(p, e) = cos(z_c^{p,e,src}, z_c^{p,e,tgt})            (eq. 3)

A cell with fewer than ``min_count`` windows in either corpus (or whose mean is the zero vector) has no similarity:
it is NaN in the matrix and ``None`` in JSON, listed in :attr:`PhonemeSimilarity.missing` and logged, never an error.

Anchor candidates per emotion (Table 3): the paper only says they are "based on these scores". Three rules are
offered (library choices, see :func:`select_anchor_phonemes`): ``"top_k"`` (the ``k`` most similar phonemes),
``"threshold"`` (every phoneme with ``sim >= threshold``) and ``"relative"`` (every phoneme within ``margin`` of the
emotion's best one). ``"relative"`` with ``margin=0.01`` reproduces Table 3 exactly from the rounded Table 2; ``top_k``
with ``k=3`` reproduces three of its four rows (it adds /E/ to happiness).

Pure numpy; plotting imports matplotlib lazily.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from transformers.utils import logging

from ..data.phones import SHARED_VOWEL_LABELS, SHARED_VOWELS
from ..labels import EMOTIONS

logger = logging.get_logger(__name__)

ANCHOR_RULES = ("top_k", "threshold", "relative")
"""Rules of :func:`select_anchor_phonemes`."""

PAIR_AGGREGATIONS = ("mean", "min")
"""How :func:`select_anchor_phonemes` combines several corpus pairs."""

SIMILARITY_FIELDS = (
    "source",
    "target",
    "emotion_id",
    "emotion",
    "phoneme_id",
    "phoneme",
    "phoneme_label",
    "source_count",
    "target_count",
    "similarity",
)
"""Columns of :attr:`PhonemeSimilarity.rows` (one row per corpus pair, emotion and phoneme)."""


# ---------------------------------------------------------------------------------------------------------------------
# Helpers


def _to_numpy(values: Any) -> np.ndarray:
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    return np.asarray(values)


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def json_safe(value: Any) -> Any:
    """``value`` with NaN / inf floats replaced by ``None`` and numpy scalars by Python ones (strict JSON)."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def save_rows(rows: Sequence[Mapping[str, Any]], path: str | Path, fieldnames: Sequence[str] | None = None) -> Path:
    """Write rows as strict JSON (``.json``: NaN becomes ``null``) or CSV (other suffixes: NaN is written ``nan``).

    CSV files read back with :func:`hf_cser.analysis.read_table`; list-valued cells are joined with ``" "``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [dict(row) for row in rows]
    if path.suffix.lower() == ".json":
        path.write_text(json.dumps(json_safe(rows), indent=2, ensure_ascii=False) + "\n")
        return path
    fieldnames = list(fieldnames) if fieldnames is not None else (list(rows[0]) if rows else [])
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fieldnames, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: " ".join(map(str, v)) if isinstance(v, (list, tuple)) else v for k, v in row.items()})
    return path


def _check_inputs(
    embeddings: Any, phone_ids: Any, emotion_ids: Any, groups: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    embeddings = _to_numpy(embeddings).astype(np.float64, copy=False)
    if embeddings.ndim != 2:
        raise ValueError(f"`embeddings` must have shape (num_windows, dim), got {embeddings.shape}.")
    num = embeddings.shape[0]
    arrays = {}
    for name, values in (("phone_ids", phone_ids), ("emotion_ids", emotion_ids), ("groups", groups)):
        arr = _to_numpy(values)
        if arr.shape != (num,):
            raise ValueError(f"`{name}` must have one entry per window ({num}), got shape {arr.shape}.")
        arrays[name] = arr
    for name in ("phone_ids", "emotion_ids"):
        if arrays[name].size and not np.issubdtype(arrays[name].dtype, np.integer):
            raise ValueError(f"`{name}` must hold integer ids, got dtype {arrays[name].dtype}.")
    return embeddings, arrays["phone_ids"].astype(np.int64), arrays["emotion_ids"].astype(np.int64), arrays["groups"]


def cell_means(
    embeddings: np.ndarray,
    phone_ids: np.ndarray,
    emotion_ids: np.ndarray,
    num_emotions: int,
    num_phonemes: int,
    normalize_windows: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean embedding and window count per (emotion, phoneme) cell of one corpus.

    Windows with a phone id outside ``[0, num_phonemes)`` or an emotion id outside ``[0, num_emotions)`` are skipped.

    Returns:
        `tuple[np.ndarray, np.ndarray]`: means of shape `(num_emotions, num_phonemes, dim)` (NaN for an empty cell)
        and counts of shape `(num_emotions, num_phonemes)`.
    """
    keep = (phone_ids >= 0) & (phone_ids < num_phonemes) & (emotion_ids >= 0) & (emotion_ids < num_emotions)
    x = embeddings[keep]
    if normalize_windows:
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        x = np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)
    cell = emotion_ids[keep] * num_phonemes + phone_ids[keep]
    size = num_emotions * num_phonemes
    counts = np.bincount(cell, minlength=size)
    sums = np.zeros((size, embeddings.shape[1]))
    np.add.at(sums, cell, x)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / counts[:, None]
    means[counts == 0] = np.nan
    shape = (num_emotions, num_phonemes)
    return means.reshape(*shape, embeddings.shape[1]), counts.reshape(shape)


def _row_cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine along the last axis; NaN where either vector is NaN or zero."""
    na, nb = np.linalg.norm(a, axis=-1), np.linalg.norm(b, axis=-1)
    dot = np.einsum("...d,...d->...", a, b)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = dot / (na * nb)
    cos[~((na > 0) & (nb > 0))] = np.nan
    return np.clip(cos, -1.0, 1.0)


def _resolve_pairs(
    names: list[Hashable], source: Hashable | None, target: Hashable | Sequence[Hashable] | None
) -> list[tuple[Hashable, Hashable]]:
    def check(name):
        if name not in names:
            raise ValueError(f"corpus {name!r} has no window; the corpora in `groups` are {names}.")
        return name

    if isinstance(target, (str, bytes)) or (target is not None and not isinstance(target, Sequence)):
        target = [target]
    if source is None and target is None:
        pairs = list(itertools.combinations(names, 2))
    elif source is None:
        raise ValueError("`target` needs a `source` corpus; give neither to compare every pair of corpora.")
    else:
        check(source)
        targets = [n for n in names if n != source] if target is None else [check(t) for t in target]
        pairs = [(source, t) for t in targets]
    if not pairs:
        raise ValueError(f"the similarity needs two corpora, got {names} (source={source!r}, target={target!r}).")
    return pairs


# ---------------------------------------------------------------------------------------------------------------------
# Table 2


@dataclass
class PhonemeSimilarity:
    """Cross-corpus phoneme similarities (SAPA Table 2), returned by :func:`phoneme_similarity_table`.

    Args:
        pairs (`list[tuple]`): the (source, target) corpus pairs, in row order.
        emotion_names (`tuple[str]`): row names of the matrices (emotion id order).
        phonemes (`tuple[str]`): column names (:data:`~hf_cser.data.phones.SHARED_VOWELS` by default).
        matrices (`dict[tuple, np.ndarray]`): per pair, the `(num_emotions, num_phonemes)` similarity matrix (NaN
            where a cell lacks data).
        counts (`dict[Hashable, np.ndarray]`): per corpus, the `(num_emotions, num_phonemes)` window counts (support).
        means (`dict[Hashable, np.ndarray]`): per corpus, the `(num_emotions, num_phonemes, dim)` mean embeddings.
        min_count (`int`): windows a cell needed in each corpus.
    """

    pairs: list[tuple[Hashable, Hashable]]
    emotion_names: tuple[str, ...]
    phonemes: tuple[str, ...]
    matrices: dict[tuple[Hashable, Hashable], np.ndarray]
    counts: dict[Hashable, np.ndarray]
    means: dict[Hashable, np.ndarray] = field(repr=False, default_factory=dict)
    min_count: int = 1

    def matrix(self, source: Hashable | None = None, target: Hashable | None = None) -> np.ndarray:
        """The emotions x phonemes similarity matrix of one pair (the only one when there is a single pair)."""
        if source is None and target is None:
            if len(self.pairs) != 1:
                raise ValueError(f"{len(self.pairs)} corpus pairs {self.pairs}: name `source` and `target`.")
            return self.matrices[self.pairs[0]]
        for pair in ((source, target), (target, source)):
            if pair in self.matrices:
                return self.matrices[pair]
        raise ValueError(f"no pair ({source!r}, {target!r}); pairs: {self.pairs}.")

    @property
    def rows(self) -> list[dict[str, Any]]:
        """Tidy table: one row per (pair, emotion, phoneme) with both supports and the similarity (NaN if missing)."""
        out = []
        for source, target in self.pairs:
            sims = self.matrices[(source, target)]
            for e, emotion in enumerate(self.emotion_names):
                for p, phoneme in enumerate(self.phonemes):
                    out.append(
                        {
                            "source": str(source),
                            "target": str(target),
                            "emotion_id": e,
                            "emotion": emotion,
                            "phoneme_id": p,
                            "phoneme": phoneme,
                            "phoneme_label": SHARED_VOWEL_LABELS.get(phoneme, f"/{phoneme}/"),
                            "source_count": int(self.counts[source][e, p]),
                            "target_count": int(self.counts[target][e, p]),
                            "similarity": float(sims[e, p]),
                        }
                    )
        return out

    @property
    def missing(self) -> list[dict[str, Any]]:
        """The rows of :attr:`rows` without a similarity (a corpus had fewer than ``min_count`` windows)."""
        return [row for row in self.rows if _is_nan(row["similarity"])]

    def matrix_rows(self, source: Hashable | None = None, target: Hashable | None = None) -> list[dict[str, Any]]:
        """The matrix of one pair as rows ``{"emotion": name, "/i/": sim, ...}``, laid out like Table 2."""
        sims = self.matrix(source, target)
        labels = [SHARED_VOWEL_LABELS.get(p, f"/{p}/") for p in self.phonemes]
        return [
            {"emotion": emotion, **{label: float(sims[e, p]) for p, label in enumerate(labels)}}
            for e, emotion in enumerate(self.emotion_names)
        ]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary: settings, matrices per pair, supports per corpus and the tidy rows."""
        return json_safe(
            {
                "emotions": list(self.emotion_names),
                "phonemes": list(self.phonemes),
                "min_count": self.min_count,
                "pairs": [
                    {"source": str(s), "target": str(t), "similarity": self.matrices[(s, t)]} for s, t in self.pairs
                ],
                "counts": {str(g): c for g, c in self.counts.items()},
                "rows": self.rows,
            }
        )

    def save(self, path: str | Path) -> Path:
        """Write :attr:`rows` as JSON (``.json``, NaN -> null) or CSV (other suffixes)."""
        return save_rows(self.rows, path, SIMILARITY_FIELDS)


def phoneme_similarity_table(
    embeddings: np.ndarray,
    phone_ids: Sequence[int] | np.ndarray,
    emotion_ids: Sequence[int] | np.ndarray,
    groups: Sequence[Hashable] | np.ndarray,
    source: Hashable | None = None,
    target: Hashable | Sequence[Hashable] | None = None,
    min_count: int = 1,
    phonemes: Sequence[str] = SHARED_VOWELS,
    emotion_names: Sequence[str] = EMOTIONS,
    normalize_windows: bool = False,
) -> PhonemeSimilarity:
    """Cosine similarity of mean phoneme embeddings across corpora, per (emotion, phoneme): SAPA eq. 3, Table 2.

    Args:
        embeddings (`np.ndarray` of shape `(num_windows, dim)`): content embedding of each phoneme-centred window
            (a torch tensor is converted).
        phone_ids (`Sequence[int]` of length `num_windows`): index into ``phonemes`` of each window's shared phoneme;
            ``-1`` (or any id outside ``phonemes``) marks a phone outside the shared inventory: the window is skipped.
        emotion_ids (`Sequence[int]` of length `num_windows`): emotion id of each window (ids outside
            ``emotion_names`` are skipped).
        groups (`Sequence` of length `num_windows`): corpus or language of each window.
        source (`Hashable`, *optional*): the source corpus. ``None`` (and no ``target``) compares every unordered
            pair of corpora (sorted names); the cosine is symmetric, so a pair is listed once.
        target (`Hashable` or `Sequence`, *optional*): target corpus or corpora; ``None`` with a ``source`` compares
            the source with every other corpus.
        min_count (`int`, *optional*, defaults to 1): windows a cell needs in each corpus to get a similarity
            (library default; the paper gives none). Cells below it are NaN and reported.
        phonemes (`Sequence[str]`, *optional*, defaults to `SHARED_VOWELS`): column names (paper: /i/ /E/ /@/ /A,a/
            /O/ /u/).
        emotion_names (`Sequence[str]`, *optional*, defaults to `EMOTIONS`): row names, in emotion id order.
        normalize_windows (`bool`, *optional*, defaults to `False`): L2-normalise every window embedding before
            averaging (library option; the paper averages raw embeddings).

    Returns:
        [`PhonemeSimilarity`]: matrices, supports, means and the tidy :attr:`~PhonemeSimilarity.rows`.

    Example:
        ```python
        >>> import numpy as np
        >>> from hf_cser.analysis import phoneme_similarity_table
        >>> embeddings = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
        >>> table = phoneme_similarity_table(embeddings, [0, 0, 0], [0, 0, 0], ["en", "en", "zh"])
        >>> round(float(table.matrix()[0, 0]), 4)  # cos([0.5, 0.5], [1, 1])
        1.0

        ```
    """
    if not isinstance(min_count, (int, np.integer)) or isinstance(min_count, bool) or min_count < 1:
        raise ValueError(f"`min_count` must be an integer >= 1, got {min_count!r}.")
    embeddings, phone_ids, emotion_ids, groups = _check_inputs(embeddings, phone_ids, emotion_ids, groups)
    phonemes, emotion_names = tuple(phonemes), tuple(emotion_names)
    names = sorted(set(groups.tolist()), key=str)
    pairs = _resolve_pairs(names, source, target)
    used = sorted({g for pair in pairs for g in pair}, key=str)
    means, counts = {}, {}
    for name in used:
        mask = groups == name
        means[name], counts[name] = cell_means(
            embeddings[mask],
            phone_ids[mask],
            emotion_ids[mask],
            len(emotion_names),
            len(phonemes),
            normalize_windows=normalize_windows,
        )
    matrices = {}
    for src, tgt in pairs:
        sims = _row_cosine(means[src], means[tgt])
        sims[(counts[src] < min_count) | (counts[tgt] < min_count)] = np.nan
        matrices[(src, tgt)] = sims
        lacking = [
            f"{emotion_names[e]} {SHARED_VOWEL_LABELS.get(phonemes[p], phonemes[p])} "
            f"({counts[src][e, p]}/{counts[tgt][e, p]})"
            for e, p in zip(*np.nonzero(np.isnan(sims)))
        ]
        if lacking:
            logger.warning(
                f"{src} vs {tgt}: {len(lacking)} of {sims.size} (emotion, phoneme) cells have no similarity (fewer "
                f"than min_count={min_count} windows in a corpus, or a zero mean; windows src/tgt): "
                + ", ".join(lacking[:12])
                + (f", ... ({len(lacking) - 12} more; see `PhonemeSimilarity.missing`)" if len(lacking) > 12 else "")
            )
    return PhonemeSimilarity(
        pairs=pairs,
        emotion_names=emotion_names,
        phonemes=phonemes,
        matrices=matrices,
        counts=counts,
        means=means,
        min_count=int(min_count),
    )


# ---------------------------------------------------------------------------------------------------------------------
# Table 3


def _matrix_from_rows(rows: Sequence[Mapping[str, Any]]) -> tuple[list[list[list[float]]], list[str], list[str]]:
    """Similarities per (emotion, phoneme) cell, one value per corpus pair; ``None`` / ``""`` / NaN read as NaN."""
    emotions = list(dict.fromkeys(str(r["emotion"]) for r in rows))
    phonemes = list(dict.fromkeys(str(r["phoneme"]) for r in rows))
    sums: list[list[list[float]]] = [[[] for _ in phonemes] for _ in emotions]
    for r in rows:
        value = r["similarity"]
        value = math.nan if value is None or value == "" else float(value)
        sums[emotions.index(str(r["emotion"]))][phonemes.index(str(r["phoneme"]))].append(value)
    return sums, emotions, phonemes


def select_anchor_phonemes(
    table: PhonemeSimilarity | Sequence[Mapping[str, Any]],
    rule: str = "top_k",
    k: int = 3,
    threshold: float = 0.7,
    margin: float = 0.01,
    max_anchors: int | None = None,
    source: Hashable | None = None,
    target: Hashable | None = None,
    aggregate: str = "mean",
) -> dict[str, list[str]]:
    """Emotion-wise phoneme anchor candidates from the similarity scores (SAPA Table 3).

    The paper does not state its rule; all three here are library choices:

    - ``"top_k"``: the ``k`` phonemes with the highest similarity (ties keep the ``phonemes`` order);
    - ``"threshold"``: every phoneme with ``sim >= threshold``;
    - ``"relative"``: every phoneme with ``sim >= best - margin`` (``best`` = the emotion's highest similarity); with
      ``margin=0.01`` this reproduces Table 3 from Table 2. Comparisons allow a ``1e-9`` float tolerance so that
      rounded inputs such as 0.73 vs 0.74 - 0.01 behave as written.

    NaN similarities are never selected. Each list is ordered by decreasing similarity and cut to ``max_anchors``.

    Args:
        table ([`PhonemeSimilarity`] or rows): the output of :func:`phoneme_similarity_table`, or rows with
            ``emotion``, ``phoneme`` and ``similarity`` keys (and optionally ``source`` / ``target``), e.g. read back
            with :func:`hf_cser.analysis.read_table`.
        rule (`str`, *optional*, defaults to `"top_k"`): `"top_k"`, `"threshold"` or `"relative"`.
        k (`int`, *optional*, defaults to 3): anchors per emotion for `"top_k"` (library default; Table 3 lists 2-3).
        threshold (`float`, *optional*, defaults to 0.7): minimum similarity for `"threshold"` (library default).
        margin (`float`, *optional*, defaults to 0.01): distance from the best similarity for `"relative"`.
        max_anchors (`int`, *optional*): cap on the anchors per emotion for any rule.
        source, target (*optional*): restrict to one corpus pair of a multi-pair table.
        aggregate (`str`, *optional*, defaults to `"mean"`): how several pairs are combined per cell before
            selection: `"mean"` (NaN-ignoring mean) or `"min"` (the worst pair: anchors must align for every pair).

    Returns:
        `dict[str, list[str]]`: emotion name -> anchor phonemes (names from the table's ``phoneme`` column).
    """
    if rule not in ANCHOR_RULES:
        raise ValueError(f"`rule` must be one of {ANCHOR_RULES}, got {rule!r}.")
    if aggregate not in PAIR_AGGREGATIONS:
        raise ValueError(f"`aggregate` must be one of {PAIR_AGGREGATIONS}, got {aggregate!r}.")
    if rule == "top_k" and (not isinstance(k, (int, np.integer)) or k < 1):
        raise ValueError(f"`k` must be a positive integer for rule='top_k', got {k!r}.")
    if max_anchors is not None and max_anchors < 1:
        raise ValueError(f"`max_anchors` must be a positive integer or None, got {max_anchors!r}.")
    rows = table.rows if isinstance(table, PhonemeSimilarity) else list(table)
    if source is not None or target is not None:
        named = {str(n) for n in (source, target) if n is not None}
        if len(named) == 2:  # exactly that pair, in either order
            rows = [r for r in rows if {str(r.get("source")), str(r.get("target"))} == named]
        else:  # every pair that involves the named corpus
            rows = [r for r in rows if named & {str(r.get("source")), str(r.get("target"))}]
        if not rows:
            raise ValueError(f"no rows for the pair ({source!r}, {target!r}).")
    values, emotions, phonemes = _matrix_from_rows(rows)
    anchors: dict[str, list[str]] = {}
    for e, emotion in enumerate(emotions):
        sims = []
        for cell in values[e]:
            finite = [v for v in cell if not math.isnan(v)]
            if not finite:
                sims.append(math.nan)
            else:
                sims.append(float(np.mean(finite)) if aggregate == "mean" else min(finite))
        order = sorted((i for i, s in enumerate(sims) if not math.isnan(s)), key=lambda i: -sims[i])  # stable
        if rule == "top_k":
            chosen = order[:k]
        elif rule == "threshold":
            chosen = [i for i in order if sims[i] >= threshold - 1e-9]
        else:
            chosen = [i for i in order if sims[i] >= sims[order[0]] - margin - 1e-9] if order else []
        if max_anchors is not None:
            chosen = chosen[:max_anchors]
        anchors[emotion] = [phonemes[i] for i in chosen]
    return anchors


def anchor_rows(anchors: Mapping[str, Sequence[str]]) -> list[dict[str, Any]]:
    """:func:`select_anchor_phonemes` as Table 3 rows ``{"emotion", "anchors", "anchor_labels", "num_anchors"}``."""
    return [
        {
            "emotion": emotion,
            "anchors": list(phones),
            "anchor_labels": [SHARED_VOWEL_LABELS.get(p, f"/{p}/") for p in phones],
            "num_anchors": len(phones),
        }
        for emotion, phones in anchors.items()
    ]


# ---------------------------------------------------------------------------------------------------------------------
# Plot


def plot_phoneme_similarity(
    table: PhonemeSimilarity,
    output_dir: str | Path,
    anchors: Mapping[str, Sequence[str]] | None = None,
    show_counts: bool = True,
    dpi: int = 120,
) -> list[Path]:
    """One heatmap PNG per corpus pair, emotions x phonemes, each cell annotated with its similarity (like Table 2).

    Args:
        table ([`PhonemeSimilarity`]): the output of :func:`phoneme_similarity_table`.
        output_dir (`str` or `Path`): where ``phoneme_similarity_<source>_vs_<target>.png`` files go.
        anchors (`Mapping`, *optional*): emotion -> anchor phonemes (:func:`select_anchor_phonemes`); their cells are
            outlined.
        show_counts (`bool`, *optional*, defaults to `True`): print the supports ``n=src/tgt`` under each value.
        dpi (`int`, *optional*, defaults to 120): resolution.

    Returns:
        `list[Path]`: the written files. Cells without a similarity are grey and marked "n/a".
    """
    try:
        from matplotlib import colormaps
        from matplotlib.figure import Figure  # Agg canvas, no pyplot and no global backend change
        from matplotlib.patches import Rectangle
    except ImportError as error:  # pragma: no cover - matplotlib is a dependency, but may be stripped
        raise ImportError("Plotting phoneme similarities needs matplotlib: `pip install matplotlib`.") from error

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    labels = [SHARED_VOWEL_LABELS.get(p, f"/{p}/") for p in table.phonemes]
    paths = []
    for source, target in table.pairs:
        sims = table.matrices[(source, target)]
        finite = sims[np.isfinite(sims)]
        vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        if vmax - vmin < 1e-6:
            vmin, vmax = vmin - 0.05, vmax + 0.05
        fig = Figure(figsize=(1.1 * len(labels) + 2.5, 0.7 * len(table.emotion_names) + 1.8))
        ax = fig.add_subplot()
        masked = np.ma.masked_invalid(sims)
        cmap = colormaps["viridis"].with_extremes(bad="0.85")  # grey for cells without a similarity
        image = ax.imshow(masked, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
        fig.colorbar(image, ax=ax, label="cosine similarity")
        threshold = (vmin + vmax) / 2
        for e in range(sims.shape[0]):
            for p in range(sims.shape[1]):
                value = sims[e, p]
                text = "n/a" if not np.isfinite(value) else f"{value:.2f}"
                if show_counts:
                    text += f"\nn={table.counts[source][e, p]}/{table.counts[target][e, p]}"
                colour = "k" if not np.isfinite(value) or value > threshold else "w"
                ax.text(p, e, text, ha="center", va="center", color=colour, fontsize=8)
                if anchors and table.phonemes[p] in anchors.get(table.emotion_names[e], ()):
                    ax.add_patch(Rectangle((p - 0.5, e - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=2))
        ax.set_xticks(range(len(labels)), labels)
        ax.set_yticks(range(len(table.emotion_names)), table.emotion_names)
        ax.set_title(f"phoneme similarity: {source} vs {target}" + ("  (red: anchors)" if anchors else ""))
        path = output_dir / f"phoneme_similarity_{_safe(source)}_vs_{_safe(target)}.png"
        fig.savefig(path, dpi=dpi, bbox_inches="tight")
        paths.append(path)
    return paths


def _safe(name: Hashable) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in str(name))
