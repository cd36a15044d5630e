"""K-fold cross-validation splits for the single-corpus protocol (CTL-MTNet's 10-fold cross-validation).

- :func:`speaker_independent_folds` (the default of ``train_ctl_mtnet.py``): every speaker's utterances land in one
  fold only, so no test speaker is ever seen in training. Speakers are shuffled with ``seed`` and then assigned, the
  largest first, to the fold with the fewest utterances so far (balanced folds, deterministic).
- :func:`stratified_folds`: utterance-level folds stratified by label (speakers shared between train and test; what
  "10-fold cross-validation" on a corpus usually means in papers that do not say otherwise, paper 002 included).

Both return a list of ``(train_indices, test_indices)`` pairs of sorted ``np.int64`` arrays that partition
``range(len(...))``. Pure numpy; nothing here imports a model.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

FOLD_STRATEGIES: tuple[str, ...] = ("speaker", "utterance")


def _check_splits(num_splits: int, num_groups: int, what: str) -> None:
    if isinstance(num_splits, bool) or int(num_splits) != num_splits or num_splits < 2:
        raise ValueError(f"`num_splits` must be an integer >= 2, got {num_splits!r}.")
    if num_splits > num_groups:
        raise ValueError(
            f"`num_splits`={num_splits} is more than the {num_groups} {what} available; every fold needs at least "
            f"one. Use `num_splits` <= {num_groups}."
        )


def _pairs(fold_of: np.ndarray, num_splits: int) -> list[tuple[np.ndarray, np.ndarray]]:
    indices = np.arange(len(fold_of), dtype=np.int64)
    return [(indices[fold_of != k], indices[fold_of == k]) for k in range(num_splits)]


def speaker_independent_folds(
    speakers: Sequence[str], num_splits: int = 10, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Speaker-independent k-fold splits (group k-fold with speakers as groups).

    Args:
        speakers (`Sequence[str]`): the speaker of every utterance.
        num_splits (`int`, *optional*, defaults to 10): number of folds (the paper's 10); at most the speaker count.
        seed (`int`, *optional*, defaults to 0): shuffles which speakers share a fold.

    Returns:
        `list[tuple[np.ndarray, np.ndarray]]`: ``num_splits`` pairs of (train, test) utterance indices; the test sets
        partition the utterances and no speaker is on both sides of a pair.
    """
    speakers = np.asarray([str(s) for s in speakers])
    names, inverse, counts = np.unique(speakers, return_inverse=True, return_counts=True)
    _check_splits(num_splits, len(names), "speakers")
    order = np.random.default_rng(seed).permutation(len(names))
    order = order[np.argsort(-counts[order], kind="stable")]  # largest speakers first, ties in seeded order
    load = np.zeros(num_splits, dtype=np.int64)
    fold_of_speaker = np.empty(len(names), dtype=np.int64)
    for speaker in order:
        fold = int(np.argmin(load))  # the fold with the fewest utterances (lowest index on ties)
        fold_of_speaker[speaker] = fold
        load[fold] += counts[speaker]
    return _pairs(fold_of_speaker[inverse], num_splits)


def stratified_folds(
    labels: Sequence[int], num_splits: int = 10, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Utterance-level k-fold splits stratified by label: each class is shuffled and dealt round-robin to the folds.

    Args:
        labels (`Sequence[int]`): the class of every utterance.
        num_splits (`int`, *optional*, defaults to 10): number of folds; at most the number of utterances.
        seed (`int`, *optional*, defaults to 0): shuffling seed.
    """
    labels = np.asarray(labels)
    _check_splits(num_splits, len(labels), "utterances")
    rng = np.random.default_rng(seed)
    fold_of = np.empty(len(labels), dtype=np.int64)
    start = 0
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        fold_of[members] = (start + np.arange(len(members))) % num_splits
        start = (start + len(members)) % num_splits  # the next class continues where this one stopped
    return _pairs(fold_of, num_splits)


def make_folds(
    strategy: str,
    num_splits: int,
    seed: int = 0,
    speakers: Sequence[str] | None = None,
    labels: Sequence[int] | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """:func:`speaker_independent_folds` (``strategy="speaker"``) or :func:`stratified_folds` (``"utterance"``)."""
    if strategy == "speaker":
        if speakers is None:
            raise ValueError("`strategy='speaker'` needs `speakers`.")
        return speaker_independent_folds(speakers, num_splits, seed)
    if strategy == "utterance":
        if labels is None:
            raise ValueError("`strategy='utterance'` needs `labels`.")
        return stratified_folds(labels, num_splits, seed)
    raise ValueError(f"`strategy` must be one of {list(FOLD_STRATEGIES)}, got {strategy!r}.")


__all__ = ["FOLD_STRATEGIES", "make_folds", "speaker_independent_folds", "stratified_folds"]
