"""Shared fixtures for the training-script tests: a tiny synthetic corpus and a tiny content backbone on disk."""

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def load_script(name: str):
    """Import ``training_scripts/<name>.py`` as a module (the library never imports scripts; tests may)."""
    spec = importlib.util.spec_from_file_location(f"_script_{name}", ROOT / "training_scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def corpus_files(corpus, languages: str, split: str | None = None) -> list[str]:
    """File names of the synthetic corpus's utterances of `languages` (comma-separated) and `split`, in metadata
    order."""
    import csv

    with open(Path(corpus) / "metadata.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [
        Path(r["path"]).name
        for r in rows
        if r["language"] in languages.split(",") and (split is None or r["split"] == split)
    ]


def assert_metrics_recompute(predictions_csv, reported: dict, files: list[str] | None = None) -> dict:
    """The saved predictions reproduce the reported metrics: UAR, WAR and macro-F1 (and the confusion matrix when
    reported) recomputed with scikit-learn from `predictions_csv`; the prediction column is the argmax of the saved
    scores, probabilities sum to 1; the rows are the files `files` (names, in order) when given. Returns the rows."""
    import csv

    import numpy as np
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, recall_score

    from hf_cser.labels import EMOTIONS

    with open(predictions_csv, encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert rows, predictions_csv
    prefix = "p_" if f"p_{EMOTIONS[0]}" in rows[0] else "score_"
    scores = np.array([[float(r[f"{prefix}{e}"]) for e in EMOTIONS] for r in rows])
    if prefix == "p_":
        np.testing.assert_allclose(scores.sum(axis=1), 1.0, atol=1e-5)
    assert [EMOTIONS[i] for i in scores.argmax(axis=1)] == [r["prediction"] for r in rows]
    if files is not None:
        assert [Path(r["audio"]).name for r in rows] == files
    y = [EMOTIONS.index(r["emotion"]) for r in rows]
    p = [EMOTIONS.index(r["prediction"]) for r in rows]
    labels = range(len(EMOTIONS))
    assert float(reported["uar"]) == pytest.approx(recall_score(y, p, average="macro", labels=labels, zero_division=0))
    assert float(reported["war"]) == pytest.approx(accuracy_score(y, p))
    assert float(reported["macro_f1"]) == pytest.approx(
        f1_score(y, p, average="macro", labels=labels, zero_division=0)
    )
    if "confusion_matrix" in reported:
        assert reported["confusion_matrix"] == confusion_matrix(y, p, labels=labels).tolist()
    return rows


def assert_run_records_recompute(folder, method: str, systems: list[str]) -> list:
    """``folder/run_record.json`` holds one record per system in `systems` (that order) of `method`, and each
    record's metrics recompute from its predictions file (:func:`assert_metrics_recompute`). Returns the records."""
    from dataclasses import asdict

    from hf_cser.run_record import read_run_records

    records = read_run_records(folder)
    assert [(r.method, r.system) for r in records] == [(method, s) for s in systems]
    for record in records:
        rows = assert_metrics_recompute(Path(folder) / record.predictions, asdict(record))
        assert len(rows) == record.num_test
    return records


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory):
    from hf_cser.data import SyntheticCorpusConfig, synthesize_corpus

    out = tmp_path_factory.mktemp("tiny_corpus")
    config = SyntheticCorpusConfig(languages=("en", "zh"), speakers_per_language=4, utterances_per_speaker=8, seed=0)
    synthesize_corpus(config, out, progress=False)
    return out


@pytest.fixture(scope="session")
def tiny_backbone(tmp_path_factory):
    import torch
    from transformers import Wav2Vec2FeatureExtractor, WavLMModel

    from hf_cser.encoders.phonetic_pretraining import tiny_wavlm_config

    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("tiny_backbone")
    config = tiny_wavlm_config(
        conv_dim=(16,) * 7,
        hidden_size=32,
        intermediate_size=64,
        num_attention_heads=2,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
    )
    WavLMModel(config).save_pretrained(out)
    Wav2Vec2FeatureExtractor(return_attention_mask=True, do_normalize=True).save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_corpus5(tmp_path_factory):
    """All five languages of the paper-001 settings, 3 speakers each (one per split)."""
    from hf_cser.data import SyntheticCorpusConfig, synthesize_corpus

    out = tmp_path_factory.mktemp("tiny_corpus5")
    config = SyntheticCorpusConfig(
        languages=("en", "zh", "de", "fr", "ur"), speakers_per_language=3, utterances_per_speaker=4, seed=0
    )
    synthesize_corpus(config, out, progress=False)
    return out


@pytest.fixture
def unusable_output_dir(tmp_path, monkeypatch):
    """``make(problem)`` -> an output folder a script cannot use: ``"not_a_folder"`` (a path below a regular file:
    tests run as root, so permissions cannot make a folder unwritable) or ``"disk_full"`` (1 MiB free, mocked)."""
    import shutil

    from hf_cser.trainers import checkpointing

    def make(problem: str):
        if problem == "not_a_folder":
            (tmp_path / "file").write_text("x")
            return tmp_path / "file" / "out"
        full = shutil._ntuple_diskusage(total=2**34, used=2**34 - 2**20, free=2**20)
        monkeypatch.setattr(checkpointing.shutil, "disk_usage", lambda path: full)
        return tmp_path / "out"

    return make
