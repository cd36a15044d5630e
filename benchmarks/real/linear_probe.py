"""The linear probe shared by the real-speech benchmark scripts (`run.py`, `probe_frontend.py`): feature
normalisation fitted on the training rows (`hf_cser.normalization.FeatureNormalizer`; other rows of unseen groups
with their own statistics), a class-balanced logistic regression, UAR."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

EMOTIONS = ("neutral", "happy", "angry", "sad")


def normalized(normalization: str, x_train: np.ndarray, groups_train, others: Sequence[tuple] = ()) -> list:
    """`[z_train, *z_others]`: `normalization` 'none' standardises with the training statistics (global), 'corpus' /
    'speaker' per group; `others` are `(x, groups)` pairs."""
    from hf_cser.normalization import FeatureNormalizer

    normalizer = FeatureNormalizer("global" if normalization == "none" else normalization).fit(x_train, groups_train)
    return [normalizer.transform(x_train, groups_train)] + [normalizer.transform(x, g) for x, g in others]


def fit_probe(z: np.ndarray, y: np.ndarray, c: float):
    """Logistic regression with balanced class weights (deterministic)."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=2000, C=c, class_weight="balanced").fit(z, y)


def uar(clf, z: np.ndarray, y: np.ndarray) -> float:
    from sklearn.metrics import balanced_accuracy_score

    return float(balanced_accuracy_score(y, clf.predict(z)))
