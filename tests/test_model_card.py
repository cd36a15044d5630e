"""Tests of hf_cser/model_card.py and the packaged templates (hf_cser/model_cards/)."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest
from huggingface_hub import ModelCard

from hf_cser.model_card import (
    SYNTHETIC_DISCLAIMER,
    TEMPLATE_DIR,
    get_model_card_template,
    list_model_card_templates,
    render_model_card,
    save_model_card,
)

ROOT = Path(__file__).resolve().parents[1]

EVAL_RESULTS = {
    "synthetic en->zh": {
        "dataset": "synthetic",
        "language": "zh",
        "split": "test",
        "uar": 0.6125,
        "war": 0.64,
        "macro_f1": 0.6,
    },
    "synthetic en->de": {"dataset": "synthetic", "language": "de", "uar": 0.4375, "war": 0.45, "macro_f1": 0.41},
}


def _render(**overrides):
    kwargs = dict(
        model_id="me/sapa-synthetic-en",
        base_models=["microsoft/wavlm-base-plus"],
        datasets=["synthetic"],
        languages=["en", "zh", "de"],
        eval_results=EVAL_RESULTS,
        training_args={"learning_rate": 1e-4, "num_train_epochs": 70},
        hyperparameters={"phoneme_margin": 0.4, "speaker_margin": 0.6},
        method_citation="@inproceedings{sapa, title = {Speaker-style aware phoneme anchoring}}",
        data_description="The default hf_cser synthetic corpus (espeak-ng speech), en only.",
        seeds=3,
        extra={"anchor_phonemes": "/a/, /i/"},
    )
    kwargs.update(overrides)
    return render_model_card("sapa", **kwargs)


def test_card_metadata_round_trips_with_model_index(tmp_path):
    path = save_model_card(_render(), tmp_path / "model")
    assert path == str(tmp_path / "model" / "README.md")
    card = ModelCard.load(path)
    data = card.data
    assert data.license == "apache-2.0" and data.library_name == "transformers"
    assert data.pipeline_tag == "audio-classification"
    assert data.tags == ["hf_cser", "speech-emotion-recognition", "cross-lingual", "sapa"]
    assert data.base_model == ["microsoft/wavlm-base-plus"] and data.datasets == ["synthetic"]
    assert data.language == ["en", "zh", "de"]
    assert data.model_name == "me/sapa-synthetic-en"
    found = {(r.dataset_name, r.metric_type): r for r in data.eval_results}
    assert len(found) == 6
    for name, entry in EVAL_RESULTS.items():
        for metric in ("uar", "war", "macro_f1"):
            result = found[(name, metric)]
            assert result.metric_value == pytest.approx(entry[metric])
            assert result.task_type == "audio-classification" and result.dataset_type == "synthetic"
            assert result.dataset_config == entry["language"]
    assert found[("synthetic en->zh", "uar")].dataset_split == "test"


def test_card_text_has_the_sections_and_the_numbers():
    text = _render().content
    for heading in (
        "## Method",
        "## Usage",
        "## Training data",
        "## Results",
        "## Training procedure",
        "## Limitations",
        "## Citation",
    ):
        assert heading in text
    assert "import hf_cser" in text and 'pipeline("audio-classification", model="me/sapa-synthetic-en")' in text
    assert "| synthetic en->zh | synthetic | zh | test | 61.25 | 64.00 | 60.00 |" in text
    assert "mean over 3 training seeds" in text
    assert "- phoneme_margin: 0.4" in text and "- learning_rate: 0.0001" in text
    assert "- anchor_phonemes: /a/, /i/" in text
    assert "@inproceedings{sapa" in text and "@misc{hf_cser" in text
    assert "speaker" in text.lower() and "triplet" in text.lower()


def test_synthetic_disclaimer_only_for_synthetic_data():
    assert SYNTHETIC_DISCLAIMER in _render().content
    real = _render(
        datasets=["msp-podcast"],
        data_description="MSP-Podcast (English) train split.",
        eval_results={
            "msp->biic": {"dataset": "biic-podcast", "language": "zh", "uar": 0.59, "war": 0.6, "macro_f1": 0.58}
        },
    )
    assert SYNTHETIC_DISCLAIMER not in real.content and "synthetic espeak-ng speech" not in real.content
    forced = _render(datasets=["mine"], data_description="My recordings.", synthetic=True)
    assert SYNTHETIC_DISCLAIMER in forced.content and "synthetic" in forced.content.split("## Training data")[1]


def test_card_without_results_and_bad_inputs():
    card = _render(eval_results=None, seeds=None, extra=None, method_citation=None)
    assert "No evaluation results" in card.content and card.data.eval_results is None
    assert "Cite SAPA" not in card.content
    with pytest.raises(ValueError, match="dataset"):
        _render(eval_results={"x": {"uar": 0.5}})
    with pytest.raises(ValueError, match="shadow"):
        _render(extra={"model_id": "x"})


def test_templates_by_name_or_path_and_shipped_as_package_data(tmp_path):
    assert "sapa" in list_model_card_templates()
    assert get_model_card_template("sapa") == TEMPLATE_DIR / "sapa.md"
    custom = tmp_path / "mine.md"
    custom.write_text("---\n{{ card_data }}\n---\n\n# {{ model_name }} ({{ method }}) {{ note }}\n")
    card = render_model_card(custom, model_id="me/x", extra={"note": "hello"})
    assert "# x (mine) hello" in card.content and "mine" in card.data.tags
    with pytest.raises(FileNotFoundError, match="sapa"):
        get_model_card_template("no-such-method")
    # the templates are package data, so a non-editable install has them
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    assert "model_cards/*.md" in setup["options.package_data"]["hf_cser"]
    assert TEMPLATE_DIR == ROOT / "hf_cser" / "model_cards"
    assert (ROOT / "model_cards" / "README.md").is_file()
