"""The training scripts' console: transformers' per-checkpoint weight bars are off, the switch to keep them works."""

import pytest
from transformers import BertConfig, BertModel
from transformers.utils import logging

from hf_cser.console import quiet_library_progress_bars


@pytest.fixture
def restore_bars():
    yield
    logging.enable_progress_bar()


def test_no_writing_model_shards_bar_after_quieting(tmp_path, capfd, restore_bars, monkeypatch):
    model = BertModel(
        BertConfig(hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=8, vocab_size=10)
    )
    logging.enable_progress_bar()
    model.save_pretrained(tmp_path / "a")
    assert "Writing model shards" in capfd.readouterr().err  # the bar this module turns off exists
    monkeypatch.delenv("HF_CSER_LIBRARY_BARS", raising=False)
    assert quiet_library_progress_bars() is True
    model.save_pretrained(tmp_path / "b")
    BertModel.from_pretrained(tmp_path / "b")
    err = capfd.readouterr().err
    assert "Writing model shards" not in err and "Loading weights" not in err


def test_the_environment_switch_keeps_the_bars(restore_bars, monkeypatch):
    logging.enable_progress_bar()
    monkeypatch.setenv("HF_CSER_LIBRARY_BARS", "1")
    assert quiet_library_progress_bars() is False
    assert logging.is_progress_bar_enabled()


def test_datasets_bars_are_off_after_quieting(restore_bars, monkeypatch, capfd):
    import datasets

    datasets.enable_progress_bars()
    monkeypatch.delenv("HF_CSER_LIBRARY_BARS", raising=False)
    dataset = datasets.Dataset.from_dict({"x": list(range(5))})
    dataset.map(lambda row: row)
    assert "Map" in capfd.readouterr().err  # the bar exists
    quiet_library_progress_bars()
    try:
        dataset.map(lambda row: {"x": row["x"] + 1})
        assert "Map" not in capfd.readouterr().err
    finally:
        datasets.enable_progress_bars()


def test_hf_cser_bars_follow_the_switch(capfd):
    from hf_cser.console import progress_bar, set_progress_bars

    list(progress_bar(range(3), desc="stage one"))
    assert "stage one" in capfd.readouterr().err
    set_progress_bars(False)  # a script's --disable_tqdm
    list(progress_bar(range(3), desc="stage two"))
    assert "stage two" not in capfd.readouterr().err
    set_progress_bars(True)


def test_summary_line_shows_time_metrics_in_percent_and_the_folder():
    from hf_cser.console import summary_line

    line = summary_line("SAPA (sapa)", 192.0, {"target UAR": 0.4523, "WAR": None, "macro-F1": 0.41}, "outputs/sapa")
    assert line == "SAPA (sapa) finished in 3.2 min: target UAR 45.2, macro-F1 41.0 (%); outputs in outputs/sapa"
    assert summary_line("x", 12.0, {}, "o") == "x finished in 12 s; outputs in o"
