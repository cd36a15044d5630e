"""Per-group z-normalisation of features and embeddings (per speaker, per corpus, or global).

Speaker and corpus differences dominate frozen speech features: on real corpora (leave-one-corpus-out) a linear probe
gains several UAR points from z-normalising features per corpus or per speaker. [`FeatureNormalizer`] does this for
any method and for the baselines::

    z = (x - mean_g) / (std_g + eps)        g = the row's group (speaker id, corpus name, or one global group)

- **fit** on the labelled training data: one mean / std per training group, plus the global statistics of all
  training rows.
- **transform** rows of groups seen in `fit` with their fitted statistics. Rows of *new* groups (the target
  speakers or corpus) are normalised with statistics computed from those rows themselves when `adapt=True`: the
  target's unlabelled audio, as unsupervised domain adaptation allows (no label is read). A new group with fewer than
  `min_group_size` rows (a single utterance cannot give a standard deviation) falls back to the global training
  statistics, as do all rows when `adapt=False` or no groups are given (e.g. one file in a `pipeline`).
- `group_by="none"` turns normalisation off (identity); `"global"` uses the training statistics for every row.

The statistics are population moments (ddof 0) over rows; features may be 2-D `(rows, dim)`, 3-D
`(rows, windows, dim)` with a window mask, or a list of `(observations_i, dim)` arrays of different lengths (frames or
windows of utterances); in the last two, every observation counts for its row's group.
[`FeatureNormalizer.to_dict`] / [`FeatureNormalizer.from_dict`] store the settings and the global statistics in a
model config, so a saved model carries what it needs at inference.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

NORMALIZATION_GROUPS = ("none", "global", "corpus", "speaker")
"""Values of `group_by`: no normalisation, the training statistics for all rows, per corpus, per speaker."""


class FeatureNormalizer:
    """Z-normalisation of features per group (speaker, corpus) or globally; see the module docstring.

    Args:
        group_by (`str`, *optional*, defaults to `"speaker"`):
            One of `NORMALIZATION_GROUPS`. The name only records what the groups are; the caller passes the group of
            each row (its speaker or corpus column).
        eps (`float`, *optional*, defaults to 1e-5):
            Added to the standard deviation (constant dimensions stay finite).
        min_group_size (`int`, *optional*, defaults to 2):
            A group needs at least this many rows for its own statistics; smaller groups use the global training
            statistics.
        adapt (`bool`, *optional*, defaults to `True`):
            Normalise groups unseen in `fit` with their own statistics (computed from the unlabelled rows being
            transformed); `False`: the global training statistics.

    Example:

    ```python
    >>> normalizer = FeatureNormalizer("speaker").fit(train_features, train_speakers)
    >>> train_z = normalizer.transform(train_features, train_speakers)
    >>> target_z = normalizer.transform(target_features, target_speakers)  # target speakers: their own statistics
    ```
    """

    def __init__(self, group_by: str = "speaker", *, eps: float = 1e-5, min_group_size: int = 2, adapt: bool = True):
        if group_by not in NORMALIZATION_GROUPS:
            raise ValueError(f"`group_by` must be one of {NORMALIZATION_GROUPS}, got {group_by!r}.")
        if eps < 0:
            raise ValueError(f"`eps` must be >= 0, got {eps}.")
        if int(min_group_size) < 1:
            raise ValueError(f"`min_group_size` must be >= 1, got {min_group_size}.")
        self.group_by = group_by
        self.eps = float(eps)
        self.min_group_size = int(min_group_size)
        self.adapt = bool(adapt)
        self.mean_: np.ndarray | None = None
        self.std_: np.ndarray | None = None
        self.group_statistics_: dict[str, tuple[np.ndarray, np.ndarray, int]] = {}

    # ------------------------------------------------------------------ statistics

    @staticmethod
    def _is_ragged(features) -> bool:
        """A list of `(observations_i, dim)` arrays (utterances of different lengths)."""
        return isinstance(features, (list, tuple)) and len(features) > 0 and np.ndim(features[0]) == 2

    @classmethod
    def _flatten(cls, features, mask=None) -> tuple[np.ndarray, np.ndarray, int]:
        """(observations, row index of each observation, number of rows) of 2-D rows, 3-D windowed rows or a ragged
        list of per-row observation arrays."""
        if cls._is_ragged(features):
            arrays = [np.asarray(a, dtype=np.float64) for a in features]
            counts = [len(a) for a in arrays]
            return np.concatenate(arrays), np.repeat(np.arange(len(arrays)), counts), len(arrays)
        array = np.asarray(features, dtype=np.float64)
        if array.ndim == 2:
            return array, np.arange(array.shape[0]), array.shape[0]
        if array.ndim != 3:
            raise ValueError(f"features must be (rows, dim) or (rows, windows, dim), got shape {array.shape}.")
        if mask is None:
            mask = np.ones(array.shape[:2], dtype=bool)
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != array.shape[:2]:
            raise ValueError(f"`mask` must have shape {array.shape[:2]}, got {mask.shape}.")
        rows = np.nonzero(mask)[0]
        return array[mask], rows, array.shape[0]

    @staticmethod
    def _moments(observations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return observations.mean(axis=0), observations.std(axis=0)

    def _groups(self, groups, count: int) -> np.ndarray:
        if groups is None:
            return np.full(count, "__all__", dtype=object)
        groups = np.asarray([str(g) for g in groups], dtype=object)
        if groups.shape[0] != count:
            raise ValueError(f"`groups` has {groups.shape[0]} entries for {count} rows of features.")
        return groups

    def fit(self, features, groups: Sequence[Any] | None = None, mask=None) -> FeatureNormalizer:
        """Global and per-group statistics of the **training** rows (`groups`: each row's speaker or corpus)."""
        observations, rows, num_rows = self._flatten(features, mask)
        if observations.shape[0] == 0:
            raise ValueError("cannot fit a FeatureNormalizer on zero rows.")
        self.mean_, self.std_ = self._moments(observations)
        self.group_statistics_ = {}
        if self.group_by in ("speaker", "corpus"):
            row_groups = self._groups(groups, num_rows)[rows]
            for group in dict.fromkeys(row_groups):
                selected = observations[row_groups == group]
                mean, std = self._moments(selected)
                self.group_statistics_[group] = (mean, std, int(selected.shape[0]))
        return self

    def _check_fitted(self) -> None:
        if self.mean_ is None and self.group_by != "none":
            raise ValueError("this FeatureNormalizer is not fitted: call `fit` on the training features first.")

    def transform(self, features, groups: Sequence[Any] | None = None, mask=None) -> np.ndarray | list[np.ndarray]:
        """Normalised copy of `features` (float32, same shape; a ragged list gives a list); padded windows (mask
        false) stay as they are."""
        ragged = self._is_ragged(features)
        if self.group_by == "none":
            if ragged:
                return [np.asarray(a, dtype=np.float32) for a in features]
            return np.asarray(features, dtype=np.float64).astype(np.float32)
        self._check_fitted()
        observations, rows, num_rows = self._flatten(features, mask)
        out_observations = np.empty_like(observations)
        if self.group_by == "global" or groups is None:
            out_observations = (observations - self.mean_) / (self.std_ + self.eps)
        else:
            row_groups = self._groups(groups, num_rows)[rows]
            for group in dict.fromkeys(row_groups):
                selected = row_groups == group
                if group in self.group_statistics_ and self.group_statistics_[group][2] >= self.min_group_size:
                    mean, std, _ = self.group_statistics_[group]
                elif group not in self.group_statistics_ and self.adapt and selected.sum() >= self.min_group_size:
                    mean, std = self._moments(observations[selected])
                else:
                    mean, std = self.mean_, self.std_
                out_observations[selected] = (observations[selected] - mean) / (std + self.eps)
        if ragged:
            bounds = np.cumsum([len(a) for a in features])[:-1]
            return [part.astype(np.float32) for part in np.split(out_observations, bounds)]
        array = np.asarray(features, dtype=np.float64)
        if array.ndim == 2:
            return out_observations.astype(np.float32)
        out = array.copy()
        out[np.asarray(mask if mask is not None else np.ones(array.shape[:2]), dtype=bool)] = out_observations
        return out.astype(np.float32)

    def fit_transform(self, features, groups: Sequence[Any] | None = None, mask=None) -> np.ndarray:
        return self.fit(features, groups, mask).transform(features, groups, mask)

    # ------------------------------------------------------------------ persistence

    def to_dict(self) -> dict[str, Any]:
        """Settings and global statistics (JSON-serialisable), for a model config; per-group training statistics are
        not stored (a saved model meets new speakers)."""
        return {
            "group_by": self.group_by,
            "eps": self.eps,
            "min_group_size": self.min_group_size,
            "adapt": self.adapt,
            "mean": None if self.mean_ is None else [float(v) for v in self.mean_],
            "std": None if self.std_ is None else [float(v) for v in self.std_],
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> FeatureNormalizer:
        """Inverse of [`to_dict`]; `None` or `{}` gives the identity (`group_by="none"`)."""
        values = dict(values or {})
        normalizer = cls(
            values.get("group_by", "none"),
            eps=values.get("eps", 1e-5),
            min_group_size=values.get("min_group_size", 2),
            adapt=values.get("adapt", True),
        )
        if values.get("mean") is not None:
            normalizer.mean_ = np.asarray(values["mean"], dtype=np.float64)
            normalizer.std_ = np.asarray(values["std"], dtype=np.float64)
        return normalizer

    def __repr__(self) -> str:
        fitted = "fitted" if self.mean_ is not None else "not fitted"
        return (
            f"FeatureNormalizer(group_by={self.group_by!r}, eps={self.eps:g}, min_group_size={self.min_group_size}, "
            f"adapt={self.adapt}; {fitted}, {len(self.group_statistics_)} training groups)"
        )


def group_column(group_by: str) -> str | None:
    """The dataset column that holds each row's group for `group_by` (`speaker`, `corpus`), `None` otherwise."""
    return {"speaker": "speaker", "corpus": "corpus"}.get(group_by)


__all__ = ["NORMALIZATION_GROUPS", "FeatureNormalizer", "group_column"]
