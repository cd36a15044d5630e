"""hf_cser.metrics.predictions: the saved-predictions CSV (write / read back) against hand-computed values."""

import math

import numpy as np
import pytest

from hf_cser.metrics import read_predictions, write_predictions


def test_logits_become_probabilities_and_the_argmax_the_prediction(tmp_path):
    path = tmp_path / "p.csv"
    logits = np.array([[0.0, math.log(3.0), 0.0, 0.0], [2.0, 0.0, 0.0, 0.0]])
    write_predictions(
        path,
        [1, 3],
        logits,
        audio=["a.wav", {"path": "b.wav", "bytes": None}],
        speaker=["s1", "s2"],
        language=["en", "zh"],
    )
    saved = read_predictions(path)
    np.testing.assert_allclose(saved["scores"][0], [1 / 6, 3 / 6, 1 / 6, 1 / 6], atol=1e-6)  # softmax by hand
    e2 = math.exp(2.0)
    rest = 1 / (e2 + 3)
    np.testing.assert_allclose(saved["scores"][1], [e2 / (e2 + 3), rest, rest, rest], atol=1e-6)
    assert saved["labels"].tolist() == [1, 3] and saved["predictions"].tolist() == [1, 0]
    assert saved["audio"] == ["a.wav", "b.wav"] and saved["speaker"] == ["s1", "s2"] and saved["corpus"] == ["", ""]
    header = path.read_text().splitlines()[0]
    assert header == "audio,speaker,language,corpus,emotion,prediction,p_neutral,p_happy,p_angry,p_sad"


def test_scores_that_are_not_logits_are_written_as_they_are(tmp_path):
    path = tmp_path / "p.csv"
    write_predictions(path, [2], [[0.1, 0.2, 0.7, 0.05]], scores_are_logits=False)
    saved = read_predictions(path)
    np.testing.assert_allclose(saved["scores"], [[0.1, 0.2, 0.7, 0.05]])
    assert saved["predictions"].tolist() == [2] and "score_angry" in path.read_text().splitlines()[0]


def test_shape_and_length_mismatches_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"shape \(2, 4\)"):
        write_predictions(tmp_path / "p.csv", [0, 1], np.zeros((2, 3)))
    with pytest.raises(ValueError, match="`speaker` has 1 values for 2 labels"):
        write_predictions(tmp_path / "p.csv", [0, 1], np.zeros((2, 4)), speaker=["s"])
