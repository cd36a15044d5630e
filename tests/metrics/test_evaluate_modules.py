import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, f1_score

from hf_cser.metrics import METRIC_MODULES, load_metric


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")


def test_local_modules_load_offline_and_match_sklearn():
    rng = np.random.default_rng(0)
    refs = rng.integers(0, 4, 64)
    preds = np.where(rng.random(64) < 0.5, refs, rng.integers(0, 4, 64))
    assert load_metric("uar").compute(predictions=preds, references=refs)["uar"] == pytest.approx(
        balanced_accuracy_score(refs, preds)
    )
    war = load_metric("war").compute(predictions=preds, references=refs)["war"]
    assert war == pytest.approx((refs == preds).mean())
    assert load_metric("macro_f1").compute(predictions=preds, references=refs)["macro_f1"] == pytest.approx(
        f1_score(refs, preds, average="macro")
    )


def test_ser_metrics_module_reports_per_language():
    out = load_metric("ser_metrics").compute(
        predictions=[0, 1, 1, 3], references=[0, 1, 2, 3], languages=["en", "en", "de", "de"]
    )
    assert out["uar"] == pytest.approx(0.75)
    assert out["per_language"]["de"]["uar"] == pytest.approx(0.5)
    assert out["per_language"]["en"]["war"] == pytest.approx(1.0)


def test_batched_add_then_compute():
    metric = load_metric("uar")
    metric.add_batch(predictions=[0, 1], references=[0, 1])
    metric.add_batch(predictions=[0, 0], references=[2, 3])
    assert metric.compute()["uar"] == pytest.approx(0.5)


def test_unknown_metric_name_lists_the_shipped_ones():
    with pytest.raises(ValueError, match="ships"):
        load_metric("recall")
    assert set(METRIC_MODULES) == {"uar", "war", "macro_f1", "ser_metrics"}
