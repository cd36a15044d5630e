"""Figures of the CLTM: the heatmap (paper 003, Figure 5) and the learning curves with the dynamic interval
(Figures 1-2). matplotlib is imported lazily and only through its object API with the Agg canvas (no pyplot, no
global backend change), so plotting works on headless machines and inside tests.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from .families import family_labels, order_by_family


def _figure(**kwargs):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:  # pragma: no cover - matplotlib is a dependency, but may be stripped
        raise ImportError("Plotting the CLTM needs matplotlib: `pip install matplotlib`.") from error
    fig = Figure(**kwargs)
    FigureCanvasAgg(fig)
    return fig


def plot_cltm_heatmap(
    matrix,
    path: str | os.PathLike,
    languages: Sequence[str] | None = None,
    families: Mapping[str, str] | None = None,
    vmin: float = -1.5,
    vmax: float = 1.5,
    title: str | None = None,
    annotate: bool = True,
    order: str = "family",
) -> list[str]:
    """Save a CLTM heatmap (rows = targets, columns = donors) and return the language order used.

    Args:
        matrix (`np.ndarray` or :class:`~hf_cser.cltm.CltmResult`): the CLTM (NaN = undefined, drawn grey and
            hatched).
        path (`str`): output image (PNG, PDF, SVG... by extension).
        languages (`Sequence[str]`, *optional*): row/column names (taken from a result when omitted).
        families (`Mapping[str, str]`, *optional*): code -> family (defaults to the shipped table).
        vmin, vmax (`float`, *optional*, default to -1.5 and 1.5): colour range, symmetric around 0 as in the paper
            (values outside are clipped in colour; the numbers show the true value). A diverging map (blue positive,
            red negative) centred on 0.
        title (`str`, *optional*): figure title.
        annotate (`bool`, *optional*, defaults to `True`): print each value in its cell.
        order (`str`, *optional*, defaults to `"family"`): ``family`` (grouped by family, with separators) or
            ``given``.
    """
    from matplotlib.colors import TwoSlopeNorm

    if hasattr(matrix, "matrix"):
        languages = list(matrix.languages) if languages is None else languages
        matrix = matrix.matrix
    m = np.asarray(matrix, dtype=np.float64)
    if languages is None or len(languages) != m.shape[0]:
        raise ValueError("`languages` must name every row of the matrix.")
    languages = list(languages)
    ordered = order_by_family(languages, families) if order == "family" else languages
    idx = [languages.index(lang) for lang in ordered]
    m = m[np.ix_(idx, idx)]
    n = len(ordered)
    size = max(3.5, 0.55 * n + 1.8)
    fig = _figure(figsize=(size + 1.0, size))
    ax = fig.add_subplot(1, 1, 1)
    ax.set_facecolor("#d9d9d9")
    masked = np.ma.masked_invalid(m)
    image = ax.imshow(
        masked, cmap="RdBu", norm=TwoSlopeNorm(vcenter=0.0, vmin=vmin, vmax=vmax), interpolation="nearest"
    )
    for i in range(n):
        for j in range(n):
            if not np.isfinite(m[i, j]):
                ax.add_patch(_hatch(fig, j, i))
            elif annotate:
                strong = abs(np.clip(m[i, j], vmin, vmax)) > 0.6 * max(abs(vmin), abs(vmax))
                ax.text(
                    j,
                    i,
                    f"{m[i, j]:.2f}",
                    ha="center",
                    va="center",
                    fontsize=8 if n <= 12 else 6,
                    color="white" if strong else "black",
                )
    labels = family_labels(ordered, families, warn=False)
    if order == "family":
        for k in range(1, n):
            if labels[k] != labels[k - 1]:
                ax.axhline(k - 0.5, color="black", linewidth=1.2)
                ax.axvline(k - 0.5, color="black", linewidth=1.2)
    ax.set_xticks(range(n), ordered, rotation=45 if n > 8 else 0)
    ax.set_yticks(range(n), ordered)
    ax.set_xlabel("donor language j")
    ax.set_ylabel("target language i")
    if title:
        ax.set_title(title, fontsize=10)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="CLTM[i, j]")
    fig.tight_layout()
    fig.savefig(os.fspath(path), dpi=150)
    return ordered


def _hatch(fig, x, y):
    from matplotlib.patches import Rectangle

    return Rectangle((x - 0.5, y - 0.5), 1, 1, fill=False, hatch="//", edgecolor="#7f7f7f", linewidth=0)


def plot_learning_curves(
    rows: Iterable[Mapping[str, Any]],
    path: str | os.PathLike,
    chosen_n: int | None = None,
    metric: str = "performance",
    title: str | None = None,
) -> None:
    """Save the learning curves of the sweep: mean +- standard error over seeds of Perf_i(D_i) at N (solid) and
    Perf_i(D_i + D'_i) at 2N (hollow markers, dashed) per language, with the chosen interval [N, 2N] shaded.

    Args:
        rows: run rows with ``kind`` (``single`` / ``self``), ``target``, ``n``, ``seed``, ``performance``.
        path (`str`): output image.
        chosen_n (`int`, *optional*): the N of the chosen interval.
        metric (`str`, *optional*): y-axis label.
        title (`str`, *optional*): figure title.
    """
    from .protocol import learning_curve_points

    points = learning_curve_points(rows)
    languages = sorted({lang for lang, _ in points})
    fig = _figure(figsize=(8.4, 4.4))
    ax = fig.add_subplot(1, 1, 1)
    if chosen_n is not None:
        ax.axvspan(
            chosen_n, 2 * chosen_n, color="gold", alpha=0.3, label=f"chosen [N, 2N] = [{chosen_n}, {2 * chosen_n}]"
        )
    colours = [f"C{k % 10}" for k in range(len(languages))]
    for lang, colour in zip(languages, colours):
        ns = sorted(n for language, n in points if language == lang)
        for kind, factor, style, face in (("single", 1, "-", colour), ("self", 2, "--", "white")):
            xs, ys, es = [], [], []
            for n in ns:
                values = list(points[(lang, n)][kind].values())
                if values:
                    xs.append(n * factor)
                    ys.append(np.mean(values))
                    es.append(np.std(values, ddof=1) / np.sqrt(len(values)) if len(values) > 1 else 0.0)
            if xs:
                ax.errorbar(
                    xs,
                    ys,
                    yerr=es,
                    color=colour,
                    linestyle=style,
                    marker="o",
                    markerfacecolor=face,
                    capsize=2,
                    label=f"{lang}: D_i (N)" if kind == "single" else f"{lang}: D_i + D'_i (2N)",
                )
    ax.set_xscale("log", base=2)
    ax.set_xlabel("training samples of the target language")
    ax.set_ylabel(metric)
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", linestyle=":", alpha=0.5)
    ax.legend(fontsize=6, ncol=1, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    fig.tight_layout()
    fig.savefig(os.fspath(path), dpi=150)
