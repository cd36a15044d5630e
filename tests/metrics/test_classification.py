import numpy as np
import pytest
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score
from sklearn.metrics import confusion_matrix as sk_confusion_matrix
from transformers import EvalPrediction

from hf_cser.metrics import (
    compute_ser_metrics,
    confusion_matrix,
    macro_f1,
    make_compute_metrics,
    unweighted_average_recall,
    weighted_average_recall,
)


@pytest.mark.parametrize("seed", range(5))
def test_metrics_match_sklearn_on_random_labels(seed):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 4, size=200)
    # predictions correlated with the truth so the scores are not all near chance
    y_pred = np.where(rng.random(200) < 0.6, y_true, rng.integers(0, 4, size=200))
    assert unweighted_average_recall(y_true, y_pred, 4) == pytest.approx(balanced_accuracy_score(y_true, y_pred))
    assert weighted_average_recall(y_true, y_pred) == pytest.approx(accuracy_score(y_true, y_pred))
    assert macro_f1(y_true, y_pred, 4) == pytest.approx(f1_score(y_true, y_pred, average="macro"))
    expected = sk_confusion_matrix(y_true, y_pred, labels=range(4))
    np.testing.assert_array_equal(confusion_matrix(y_true, y_pred, 4), expected)


def test_absent_class_in_truth_is_left_out_of_uar_but_counts_in_f1():
    y_true = [0, 0, 1, 1, 2, 2]
    y_pred = [0, 3, 1, 1, 2, 0]  # class 3 predicted but never true
    assert unweighted_average_recall(y_true, y_pred, 4) == pytest.approx((0.5 + 1.0 + 0.5) / 3)
    assert unweighted_average_recall(y_true, y_pred, 4) == pytest.approx(balanced_accuracy_score(y_true, y_pred))
    assert macro_f1(y_true, y_pred, 4) == pytest.approx(f1_score(y_true, y_pred, average="macro", zero_division=0))


def test_hand_computed_report_with_languages():
    y_true = [0, 1, 2, 3, 0, 1]
    y_pred = [0, 1, 1, 3, 2, 1]
    langs = ["en", "en", "en", "en", "zh", "zh"]
    report = compute_ser_metrics(y_true, y_pred, langs)
    # recalls: neutral 1/2, happy 2/2, angry 0/1, sad 1/1
    assert report["uar"] == pytest.approx((0.5 + 1 + 0 + 1) / 4)
    assert report["war"] == pytest.approx(4 / 6)
    assert report["per_class_recall"] == {"neutral": 0.5, "happy": 1.0, "angry": 0.0, "sad": 1.0}
    assert report["confusion_matrix"][2] == [0, 1, 0, 0]
    assert report["per_language"]["en"]["uar"] == pytest.approx(0.75)
    assert report["per_language"]["zh"] == {"uar": 0.5, "war": 0.5, "macro_f1": pytest.approx(1 / 3), "num_samples": 2}


@pytest.mark.parametrize(
    "y_true, y_pred, match",
    [([0, 1], [0], "differ in length"), ([], [], "empty"), ([0, -1], [0, 1], "non-negative"), ([[0]], [[0]], "1-D")],
)
def test_bad_inputs_raise_clear_errors(y_true, y_pred, match):
    with pytest.raises(ValueError, match=match):
        compute_ser_metrics(y_true, y_pred)


def test_trainer_compute_metrics_uses_argmax_and_languages():
    logits = np.array([[3.0, 0, 0, 0], [0, 2.0, 0, 0], [0, 0, 0, 1.0], [0, 0, 5.0, 0]])
    labels = np.array([0, 1, 2, 2])
    fn = make_compute_metrics(languages=["en", "en", "de", "de"])
    scores = fn(EvalPrediction(predictions=(logits, np.zeros((4, 8))), label_ids=labels))
    assert scores["war"] == pytest.approx(0.75)
    assert scores["uar"] == pytest.approx((1 + 1 + 0.5) / 3)
    assert scores["uar_en"] == pytest.approx(1.0)
    assert scores["uar_de"] == pytest.approx(0.5)
