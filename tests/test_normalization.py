"""Per-group z-normalisation (hf_cser/normalization.py) against hand-computed values."""

import json

import numpy as np
import pytest

from hf_cser.normalization import FeatureNormalizer

TRAIN = np.array([[1.0, 10.0], [3.0, 14.0], [5.0, 0.0], [9.0, 4.0]])
SPEAKERS = ["a", "a", "b", "b"]


def test_speaker_statistics_are_hand_computed():
    z = FeatureNormalizer("speaker", eps=0.0).fit_transform(TRAIN, SPEAKERS)
    # speaker a: mean (2, 12), std (1, 2); speaker b: mean (7, 2), std (2, 2)
    np.testing.assert_allclose(z, [[-1, -1], [1, 1], [-1, -1], [1, 1]])


def test_global_uses_training_statistics_for_every_row():
    normalizer = FeatureNormalizer("global", eps=0.0).fit(TRAIN)
    # mean (4.5, 7), population std (sqrt(8.75), sqrt(29))
    expected = (np.array([[2.0, 3.0]]) - [4.5, 7.0]) / np.sqrt([8.75, 29.0])
    np.testing.assert_allclose(normalizer.transform([[2.0, 3.0]], ["anyone"]), expected, rtol=1e-6)


def test_unseen_groups_use_their_own_statistics_only_when_adapting():
    target = np.array([[0.0, 0.0], [4.0, 2.0], [100.0, 100.0]])
    groups = ["t", "t", "lonely"]
    adapted = FeatureNormalizer("speaker", eps=0.0).fit(TRAIN, SPEAKERS).transform(target, groups)
    np.testing.assert_allclose(adapted[:2], [[-1, -1], [1, 1]])  # t: mean (2, 1), std (2, 1)
    global_z = (np.array([100.0, 100.0]) - [4.5, 7.0]) / np.sqrt([8.75, 29.0])
    np.testing.assert_allclose(adapted[2], global_z, rtol=1e-6)  # one row: no std, training statistics
    fixed = FeatureNormalizer("speaker", eps=0.0, adapt=False).fit(TRAIN, SPEAKERS).transform(target, groups)
    np.testing.assert_allclose(fixed[0], (np.array([0.0, 0.0]) - [4.5, 7.0]) / np.sqrt([8.75, 29.0]), rtol=1e-6)


def test_windowed_features_count_only_real_windows():
    features = np.zeros((2, 3, 1))
    features[0, :, 0] = [1.0, 3.0, 99.0]  # third window is padding
    features[1, :, 0] = [5.0, 7.0, 9.0]
    mask = np.array([[True, True, False], [True, True, True]])
    out = FeatureNormalizer("corpus", eps=0.0).fit_transform(features, ["c", "c"], mask)
    # observations 1, 3, 5, 7, 9: mean 5, std sqrt(8)
    np.testing.assert_allclose(out[0, :2, 0], (np.array([1.0, 3.0]) - 5) / np.sqrt(8))
    assert out[0, 2, 0] == 99.0
    np.testing.assert_allclose(out[1, :, 0], (np.array([5.0, 7.0, 9.0]) - 5) / np.sqrt(8))


def test_none_is_the_identity_and_constant_dimensions_stay_finite():
    np.testing.assert_array_equal(FeatureNormalizer("none").transform(TRAIN), TRAIN.astype(np.float32))
    z = FeatureNormalizer("speaker").fit_transform(np.ones((4, 2)), SPEAKERS)
    assert np.all(np.isfinite(z)) and np.all(z == 0)


def test_round_trip_through_json_keeps_the_global_statistics():
    normalizer = FeatureNormalizer("corpus", eps=1e-3, min_group_size=3).fit(TRAIN, ["x", "x", "y", "y"])
    restored = FeatureNormalizer.from_dict(json.loads(json.dumps(normalizer.to_dict())))
    assert (restored.group_by, restored.eps, restored.min_group_size) == ("corpus", 1e-3, 3)
    probe = np.array([[2.0, 2.0], [4.0, 4.0]])
    np.testing.assert_allclose(restored.transform(probe), normalizer.transform(probe))
    assert FeatureNormalizer.from_dict(None).group_by == "none"


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: FeatureNormalizer("utterance"), "`group_by` must be one of"),
        (lambda: FeatureNormalizer("speaker").transform(TRAIN, SPEAKERS), "not fitted"),
        (lambda: FeatureNormalizer("speaker").fit(TRAIN, ["a"]), "1 entries for 4 rows"),
        (lambda: FeatureNormalizer("speaker").fit(np.zeros((0, 2))), "zero rows"),
    ],
)
def test_bad_input_is_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_ragged_rows_equal_their_stacked_observations():
    """A list of per-utterance (frames, dim) arrays is normalised as its stacked frames with the row's group each."""
    rng = np.random.default_rng(1)
    rows = [rng.standard_normal((n, 3)) + 5 * i for i, n in enumerate((2, 4, 3, 1))]
    groups = ["a", "a", "b", "new"]
    stacked = np.concatenate(rows)
    per_frame = np.repeat(groups, [len(r) for r in rows])
    normalizer = FeatureNormalizer("corpus", eps=0.0).fit(rows[:3], groups[:3])
    reference = FeatureNormalizer("corpus", eps=0.0).fit(stacked[:9], per_frame[:9])
    out = normalizer.transform(rows, groups)
    assert isinstance(out, list) and [len(o) for o in out] == [2, 4, 3, 1]
    np.testing.assert_allclose(np.concatenate(out), reference.transform(stacked, per_frame), rtol=1e-6)
    assert [len(o) for o in FeatureNormalizer("none").transform(rows)] == [2, 4, 3, 1]
