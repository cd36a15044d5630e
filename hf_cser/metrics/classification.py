"""Emotion classification metrics: UAR, WAR, macro-F1, confusion matrix and per-language breakdowns.

Definitions (standard; paper 002 swaps the names of the first two in its text, we do not):

- UAR, unweighted average recall = mean over classes of per-class recall = macro recall = balanced accuracy. Classes
  absent from ``y_true`` have no recall and are left out of the mean (as ``sklearn.metrics.balanced_accuracy_score``).
- WAR, weighted average recall = accuracy.
- macro-F1 = mean of per-class F1 over the classes that occur in ``y_true`` or ``y_pred`` (as
  ``sklearn.metrics.f1_score(average="macro")``).

Pure numpy; nothing here imports a model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..labels import EMOTIONS


def _as_labels(values: Sequence[int] | np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"`{name}` must be a 1-D sequence of class ids, got shape {arr.shape}.")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.equal(np.mod(arr, 1), 0)):
            raise ValueError(f"`{name}` must hold integer class ids; got {arr.dtype} values such as {arr[:3]}.")
        arr = arr.astype(np.int64)
    return arr.astype(np.int64, copy=False)


def _check_pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    t, p = _as_labels(y_true, "y_true"), _as_labels(y_pred, "y_pred")
    if t.shape != p.shape:
        raise ValueError(f"`y_true` and `y_pred` differ in length: {t.size} vs {p.size}.")
    if t.size == 0:
        raise ValueError("`y_true` is empty: there is nothing to score.")
    if (t < 0).any() or (p < 0).any():
        raise ValueError("class ids must be non-negative (use the ids of `hf_cser.labels.EMOTIONS`).")
    return t, p


def confusion_matrix(y_true, y_pred, num_classes: int | None = None) -> np.ndarray:
    """Counts ``C[i, j]`` of samples with true class ``i`` predicted as ``j`` (rows: truth, columns: prediction)."""
    t, p = _check_pair(y_true, y_pred)
    n = int(num_classes if num_classes is not None else max(t.max(), p.max()) + 1)
    if t.max() >= n or p.max() >= n:
        raise ValueError(f"a class id is >= `num_classes` ({n}).")
    return np.bincount(t * n + p, minlength=n * n).reshape(n, n)


def per_class_recall(y_true, y_pred, num_classes: int | None = None) -> np.ndarray:
    """Recall of each class; NaN for classes absent from ``y_true``."""
    cm = confusion_matrix(y_true, y_pred, num_classes)
    support = cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, np.diag(cm) / np.maximum(support, 1), np.nan)


def unweighted_average_recall(y_true, y_pred, num_classes: int | None = None) -> float:
    """UAR: mean recall over the classes present in ``y_true``."""
    return float(np.nanmean(per_class_recall(y_true, y_pred, num_classes)))


def weighted_average_recall(y_true, y_pred) -> float:
    """WAR: accuracy."""
    t, p = _check_pair(y_true, y_pred)
    return float((t == p).mean())


def macro_f1(y_true, y_pred, num_classes: int | None = None) -> float:
    """Macro-F1 over the classes occurring in ``y_true`` or ``y_pred``; F1 is 0 for a class with no true positive."""
    cm = confusion_matrix(y_true, y_pred, num_classes).astype(np.float64)
    tp = np.diag(cm)
    support, predicted = cm.sum(axis=1), cm.sum(axis=0)
    present = (support + predicted) > 0
    denom = support + predicted
    f1 = np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)
    return float(f1[present].mean())


def compute_ser_metrics(
    y_true,
    y_pred,
    languages: Sequence[str] | None = None,
    label_names: Sequence[str] = EMOTIONS,
    with_confusion: bool = True,
) -> dict[str, Any]:
    """UAR, WAR and macro-F1 overall and, when ``languages`` is given, per language.

    Args:
        y_true, y_pred: class ids (``label_names`` order).
        languages (`Sequence[str]`, *optional*): the language of each sample, for the per-language breakdown.
        label_names (`Sequence[str]`, *optional*, defaults to `EMOTIONS`): class names, used for the per-class
            recall keys and the size of the confusion matrix.
        with_confusion (`bool`, *optional*, defaults to `True`): include ``confusion_matrix`` (nested lists).

    Returns:
        `dict`: ``{"uar", "war", "macro_f1", "num_samples", "per_class_recall": {name: value}, "confusion_matrix",
        "per_language": {lang: {"uar", "war", "macro_f1", "num_samples"}}}``.
    """
    t, p = _check_pair(y_true, y_pred)
    n = len(label_names)
    recalls = per_class_recall(t, p, n)
    out: dict[str, Any] = {
        "uar": float(np.nanmean(recalls)),
        "war": weighted_average_recall(t, p),
        "macro_f1": macro_f1(t, p, n),
        "num_samples": int(t.size),
        "per_class_recall": {name: (None if np.isnan(r) else float(r)) for name, r in zip(label_names, recalls)},
    }
    if with_confusion:
        out["confusion_matrix"] = confusion_matrix(t, p, n).tolist()
    if languages is not None:
        langs = np.asarray(languages).astype(str)
        if langs.shape != t.shape:
            raise ValueError(f"`languages` has {langs.size} entries for {t.size} predictions.")
        out["per_language"] = {
            lang: {
                "uar": unweighted_average_recall(t[m], p[m], n),
                "war": weighted_average_recall(t[m], p[m]),
                "macro_f1": macro_f1(t[m], p[m], n),
                "num_samples": int(m.sum()),
            }
            for lang in sorted(set(langs.tolist()))
            for m in [langs == lang]
        }
    return out


def make_compute_metrics(
    languages: Sequence[str] | None = None, label_names: Sequence[str] = EMOTIONS
) -> Callable[[Any], dict[str, float]]:
    """A ``compute_metrics`` for `transformers.Trainer`: flat float metrics (``uar``, ``war``, ``macro_f1``, and
    ``uar_<lang>`` per language when ``languages`` lists the eval set's language per sample, in dataset order).

    The Trainer's ``metric_for_best_model="uar"`` then selects on UAR.
    """

    def compute_metrics(eval_pred) -> dict[str, float]:
        logits, labels = eval_pred.predictions, eval_pred.label_ids
        if isinstance(logits, tuple):  # models that also return embeddings
            logits = logits[0]
        preds = np.asarray(logits).argmax(axis=-1)
        result = compute_ser_metrics(labels, preds, languages, label_names, with_confusion=False)
        flat = {k: result[k] for k in ("uar", "war", "macro_f1")}
        for lang, scores in result.get("per_language", {}).items():
            flat[f"uar_{lang}"] = scores["uar"]
        return flat

    return compute_metrics
