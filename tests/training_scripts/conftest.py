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
