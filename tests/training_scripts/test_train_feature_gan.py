"""train_feature_gan.py end to end on a tiny synthetic corpus and a tiny text encoder built in code: every stage saved
as a Hub-style folder with a card, stages resumable from the previous stage's folder, the final classifiers in
`pipeline("audio-classification")`."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch

from .conftest import ROOT, load_script


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_text_encoder(tiny_corpus, tmp_path_factory):
    from hf_cser.data.specs import load_data_spec
    from hf_cser.models.feature_gan import build_tiny_text_encoder

    dataset = load_data_spec(f"synthetic:en,zh@{tiny_corpus}")
    texts = sorted({t for split in dataset.values() for t in split["transcript"]})
    return build_tiny_text_encoder(texts, tmp_path_factory.mktemp("text_encoder"), hidden_size=16)


def _common(tiny_corpus, tiny_text_encoder, out, cache):
    return [
        "--data", f"synthetic:en,zh@{tiny_corpus}", "--text_encoder", str(tiny_text_encoder),
        "--output_dir", str(out), "--feature_cache_dir", str(cache), "--stage1_epochs", "2",
        "--stage1_batch_size", "8", "--gan_epochs", "5", "--gan_batch_size", "8", "--classifier_epochs", "3",
        "--disable_tqdm", "--seed", "0",
    ]  # fmt: skip


def test_all_stages_then_resume_stage3(tiny_corpus, tiny_text_encoder, tmp_path):
    from transformers import AutoModel, AutoModelForAudioClassification, pipeline

    script = load_script("train_feature_gan")
    out, cache = tmp_path / "run", tmp_path / "cache"
    results = script.main(_common(tiny_corpus, tiny_text_encoder, out, cache))
    for stage in ("stage1_baseline", "stage2_generator", "stage3_classifier", "stage3_multimodal"):
        folder = out / stage
        assert (folder / "config.json").is_file() and (folder / "model.safetensors").is_file(), stage
        card = (folder / "README.md").read_text()
        assert card.startswith("---") and "mutual-information regularised feature generation" in card
        assert "synthetic" in card.lower()
    assert not (out / "stage1_baseline" / "checkpoints").exists()
    assert set(results) >= {"stage1", "stage2", "stage3_audio", "stage3_audio_text",
                            "stage3_audio_without_augmentation"}  # fmt: skip
    assert results["stage3_audio"]["num_generated"] == results["stage3_audio"]["num_train"] // 2
    mi = json.loads((out / "stage2_generator" / "mutual_information.json").read_text())
    assert set(mi["generated_train"]["per_class"]) <= {"neutral", "happy", "angry", "sad"}
    assert 0.0 <= mi["generated_train"]["head_accuracy"] <= 1.0
    assert "| all |" in (out / "stage2_generator" / "README.md").read_text()
    generator = AutoModel.from_pretrained(out / "stage2_generator")
    assert type(generator).__name__ == "FeatureGanGeneratorModel"

    wave = (0.1 * np.random.default_rng(0).standard_normal(16000)).astype(np.float32)
    for stage in ("stage3_classifier", "stage3_multimodal"):
        model = AutoModelForAudioClassification.from_pretrained(out / stage)
        assert not any(p.requires_grad for p in model.backbone.parameters())
        scores = pipeline("audio-classification", model=str(out / stage))({"array": wave, "sampling_rate": 8000})
        assert scores and {s["label"] for s in scores} <= {"neutral", "happy", "angry", "sad"}

    # resume: stage 3 only, from the saved stage-1 and stage-2 folders (stage 1 is not retrained)
    stage1_weights = (out / "stage1_baseline" / "model.safetensors").read_bytes()
    resumed = script.main([*_common(tiny_corpus, tiny_text_encoder, out, cache), "--stage", "3", "--modality",
                           "audio", "--augmentation", "balance", "--class_weighted_loss"])  # fmt: skip
    assert set(resumed) == {"stage3_audio", "stage3_audio_without_augmentation"}
    assert resumed["stage3_audio"]["num_generated"] == 0  # the synthetic corpus is balanced: nothing to fill
    assert (out / "stage1_baseline" / "model.safetensors").read_bytes() == stage1_weights
    config = json.loads((out / "stage3_classifier" / "config.json").read_text())
    assert config["class_weights"] is not None and config["freeze_backbone"] is True

    # stage 2 alone from the stage-1 folder, written elsewhere
    again = script.main([*_common(tiny_corpus, tiny_text_encoder, out, cache), "--stage", "2", "--generator_path",
                         str(tmp_path / "gen2"), "--use_text_condition", "false"])  # fmt: skip
    assert "stage2" in again and (tmp_path / "gen2" / "config.json").is_file()
    assert json.loads((tmp_path / "gen2" / "config.json").read_text())["use_text_condition"] is False


def test_resuming_without_a_stage1_folder_fails_clearly(tiny_corpus, tiny_text_encoder, tmp_path):
    script = load_script("train_feature_gan")
    with pytest.raises(FileNotFoundError, match="stage-1 folder"):
        script.main([*_common(tiny_corpus, tiny_text_encoder, tmp_path / "empty", tmp_path / "c"), "--stage", "2"])


def test_real_vs_generated_tsne_figure(tmp_path):
    script = load_script("train_feature_gan")
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(40, 8, generator=g), torch.randn(40, 8, generator=g) + 2
    labels = torch.arange(40) % 4
    path = script.plot_real_vs_generated(real, labels, fake, labels, str(tmp_path / "img" / "tsne.png"))
    assert os.path.getsize(path) > 1000


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_gloo_run(tiny_corpus, tiny_text_encoder, tmp_path):
    """Every stage under 2 CPU processes (gloo): stage 1 data-parallel in both ranks (world size 2 recorded), stages 2
    and 3 and every file in rank 0, which shares the feature cache folder with rank 1."""
    out, cache = tmp_path / "ddp", tmp_path / "cache"
    args = _common(tiny_corpus, tiny_text_encoder, out, cache)
    args[args.index("--gan_epochs") + 1], args[args.index("--classifier_epochs") + 1] = "2", "2"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()),
           str(ROOT / "training_scripts" / "train_feature_gan.py"), *args, "--modality", "audio", "--tsne", "false"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])  # printed once, by rank 0
    assert set(summary) >= {"stage1", "stage3_audio", "stage2_generated_head_accuracy"}
    results = json.loads((out / "results.json").read_text())
    assert results["stage1"]["world_size"] == 2  # real DDP, not two lone processes
    assert json.loads((out / "stage1_baseline" / "results.json").read_text())["world_size"] == 2
    for stage in ("stage1_baseline", "stage2_generator", "stage3_classifier"):
        assert (out / stage / "model.safetensors").is_file(), stage
    assert not list(cache.glob("*.tmp"))  # every cache write completed and was moved into place
