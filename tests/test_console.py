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
