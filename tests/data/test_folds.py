"""Speaker-independent and stratified k-fold splits (hf_cser/data/folds.py)."""

import numpy as np
import pytest

from hf_cser.data.folds import make_folds, speaker_independent_folds, stratified_folds


def speakers_of(counts):
    return [f"spk{i}" for i, n in enumerate(counts) for _ in range(n)]


@pytest.mark.parametrize("num_splits", [2, 3, 5, 10])
def test_speaker_independent_folds_partition_and_never_share_a_speaker(num_splits):
    speakers = np.asarray(speakers_of([30, 28, 32, 25, 31, 30, 29, 33, 30, 27, 26, 31]))
    folds = speaker_independent_folds(speakers, num_splits=num_splits, seed=3)
    assert len(folds) == num_splits
    tests = np.concatenate([test for _, test in folds])
    assert sorted(tests.tolist()) == list(range(len(speakers)))  # the test sets partition the utterances
    for train, test in folds:
        assert len(test) > 0
        assert set(train.tolist()) | set(test.tolist()) == set(range(len(speakers)))
        assert not set(speakers[train]) & set(speakers[test])  # speaker-independent
    sizes = [len(test) for _, test in folds]
    assert max(sizes) - min(sizes) <= 33  # balanced to within one speaker


def test_speaker_folds_are_seeded_and_checked():
    speakers = speakers_of([4] * 6)
    a = speaker_independent_folds(speakers, 3, seed=0)
    b = speaker_independent_folds(speakers, 3, seed=0)
    assert all(np.array_equal(x[1], y[1]) for x, y in zip(a, b, strict=True))
    with pytest.raises(ValueError, match="more than the 6 speakers"):
        speaker_independent_folds(speakers, 7)
    with pytest.raises(ValueError, match="integer >= 2"):
        speaker_independent_folds(speakers, 1)


def test_stratified_folds_keep_class_proportions():
    labels = np.repeat([0, 1, 2, 3], [40, 20, 30, 10])
    folds = stratified_folds(labels, num_splits=10, seed=0)
    assert sorted(np.concatenate([t for _, t in folds]).tolist()) == list(range(100))
    for _, test in folds:
        counts = np.bincount(labels[test], minlength=4)
        assert counts.tolist() == [4, 2, 3, 1]
    with pytest.raises(ValueError, match="strategy"):
        make_folds("session", 3, speakers=["a"] * 3)
    assert len(make_folds("utterance", 5, labels=labels)) == 5
