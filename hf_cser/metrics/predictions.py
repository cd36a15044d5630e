"""Saved test predictions: one CSV row per utterance, so every reported metric can be recomputed (and the errors looked
at) from what the model predicted.

Columns: ``audio`` (the file), ``speaker``, ``language``, ``corpus`` (empty where unknown), ``emotion`` (true label),
``prediction`` (argmax of the scores) and one score column per emotion: ``p_<emotion>`` (the softmax of the logits)
or, for scores that are not logits (CTL-MTNet's capsule lengths), ``score_<emotion>`` as given.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence

import numpy as np

from ..labels import EMOTIONS

PREDICTION_COLUMNS: tuple[str, ...] = ("audio", "speaker", "language", "corpus", "emotion", "prediction")


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    return np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)


def _audio_path(value) -> str:
    if isinstance(value, dict):  # a datasets Audio(decode=False) cell
        return str(value.get("path") or "")
    return "" if value is None else str(value)


def write_predictions(
    path: str,
    labels: Sequence[int],
    scores,
    *,
    audio: Sequence | None = None,
    speaker: Sequence | None = None,
    language: Sequence | None = None,
    corpus: Sequence | None = None,
    scores_are_logits: bool = True,
) -> None:
    """Write one row per utterance to `path` (see the module docstring).

    Args:
        labels: true emotion ids, `(N,)`.
        scores: `(N, num_labels)` class scores; the prediction is their argmax.
        audio, speaker, language, corpus: per-utterance columns (`None`: left empty).
        scores_are_logits: `True` writes ``p_<emotion>`` = softmax(scores); `False` writes ``score_<emotion>`` as is.
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels = [int(label) for label in labels]
    if scores.ndim != 2 or scores.shape[0] != len(labels) or scores.shape[1] != len(EMOTIONS):
        raise ValueError(
            f"`scores` must have shape ({len(labels)}, {len(EMOTIONS)}) (one row per label, one column per emotion), "
            f"got {scores.shape}."
        )
    columns = {"audio": audio, "speaker": speaker, "language": language, "corpus": corpus}
    for name, values in columns.items():
        if values is not None and len(values) != len(labels):
            raise ValueError(f"`{name}` has {len(values)} values for {len(labels)} labels.")
    values = _softmax(scores) if scores_are_logits else scores
    prefix = "p_" if scores_are_logits else "score_"
    predictions = scores.argmax(axis=1)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([*PREDICTION_COLUMNS, *[f"{prefix}{e}" for e in EMOTIONS]])
        for i, label in enumerate(labels):
            cells = [
                _audio_path(columns["audio"][i]) if audio is not None else "",
                *("" if columns[name] is None else columns[name][i] for name in ("speaker", "language", "corpus")),
                EMOTIONS[label],
                EMOTIONS[int(predictions[i])],
            ]
            writer.writerow([*cells, *[f"{v:.6f}" for v in values[i]]])


def read_predictions(path: str) -> dict[str, np.ndarray | list[str]]:
    """A saved predictions CSV as ``{"labels": (N,), "predictions": (N,), "scores": (N, K), <text columns>}``."""
    with open(path, encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        return {"labels": np.zeros(0, int), "predictions": np.zeros(0, int), "scores": np.zeros((0, len(EMOTIONS)))}
    prefix = "p_" if f"p_{EMOTIONS[0]}" in rows[0] else "score_"
    out: dict[str, np.ndarray | list[str]] = {
        "labels": np.array([EMOTIONS.index(r["emotion"]) for r in rows]),
        "predictions": np.array([EMOTIONS.index(r["prediction"]) for r in rows]),
        "scores": np.array([[float(r[f"{prefix}{e}"]) for e in EMOTIONS] for r in rows]),
    }
    for name in ("audio", "speaker", "language", "corpus"):
        out[name] = [r[name] for r in rows]
    return out


__all__ = ["PREDICTION_COLUMNS", "read_predictions", "write_predictions"]
