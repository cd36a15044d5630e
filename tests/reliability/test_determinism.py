"""Same seed, same data: identical metrics and identical saved weights on CPU (issue 9), for train_ctl_mtnet.py,
train_feature_gan.py (every stage that trains) and run_cltm.py, each on a tiny setting; and a different seed changes
them (so each test can fail)."""

import csv
import importlib.util
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location(
    "_training_scripts_conftest", ROOT / "tests" / "training_scripts" / "conftest.py"
)
_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_conftest)
tiny_corpus = _conftest.tiny_corpus  # the training-script tests' session fixture
load_script = _conftest.load_script


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def same_tensors(a: Path, b: Path) -> bool:
    x, y = load_file(str(a)), load_file(str(b))
    assert x.keys() == y.keys(), (a, b)
    return all(torch.equal(x[k], y[k]) for k in x)


def rows(path: Path, drop=()) -> list[dict]:
    with open(path) as f:
        return [{k: v for k, v in r.items() if k not in drop} for r in csv.DictReader(f)]


def test_train_ctl_mtnet_is_deterministic(tiny_corpus, tmp_path):
    script = load_script("train_ctl_mtnet")

    def run(name, seed):
        out = tmp_path / name
        script.main(
            [
                "--task",
                "cross_corpus",
                "--source",
                f"synthetic:en@{tiny_corpus}",
                "--target",
                f"synthetic:zh@{tiny_corpus}",
                "--seeds",
                seed,
                "--conv_filters",
                "4",
                "--primary_capsule_types",
                "2",
                "--primary_capsule_dim",
                "4",
                "--digit_capsule_dim",
                "4",
                "--max_steps",
                "4",
                "--per_device_train_batch_size",
                "4",
                "--max_train_frames",
                "64",
                "--output_dir",
                str(out),
                "--disable_tqdm",
                "true",
                "--use_cpu",
                "true",
                "--feature_cache_dir",
                str(tmp_path / "mfcc"),
            ]
        )
        return out

    a, b, c = run("a", "0"), run("b", "0"), run("c", "1")
    assert rows(a / "ctl_mtnet_runs.csv") == rows(b / "ctl_mtnet_runs.csv")
    assert (a / "ctl_mtnet_summary.csv").read_text() == (b / "ctl_mtnet_summary.csv").read_text()
    assert same_tensors(a / "model" / "model.safetensors", b / "model" / "model.safetensors")
    assert not same_tensors(a / "model" / "model.safetensors", c / "model" / "model.safetensors")


def test_train_feature_gan_is_deterministic(tiny_corpus, tmp_path):
    from hf_cser.data.specs import load_data_spec
    from hf_cser.models.feature_gan import build_tiny_text_encoder

    dataset = load_data_spec(f"synthetic:en,zh@{tiny_corpus}")
    texts = sorted({t for split in dataset.values() for t in split["transcript"]})
    encoder = build_tiny_text_encoder(texts, tmp_path / "text_encoder", hidden_size=16)
    script = load_script("train_feature_gan")

    def run(name, seed):
        out = tmp_path / name
        script.main(
            [
                "--data",
                f"synthetic:en,zh@{tiny_corpus}",
                "--text_encoder",
                str(encoder),
                "--output_dir",
                str(out),
                "--feature_cache_dir",
                str(tmp_path / "cache"),
                "--stage1_epochs",
                "1",
                "--stage1_batch_size",
                "8",
                "--gan_epochs",
                "3",
                "--gan_batch_size",
                "8",
                "--classifier_epochs",
                "3",
                "--disable_tqdm",
                "--seed",
                seed,
                "--modality",
                "audio",
                "--save_steps",
                "2",
            ]
        )
        return out

    def results(out):
        value = json.loads((out / "results.json").read_text())
        value["stage1"].pop("train_seconds"), value["stage2"].pop("train_seconds")
        return value

    a, b, c = run("a", "0"), run("b", "0"), run("c", "1")
    assert results(a) == results(b)
    for stage in ("stage1_baseline", "stage2_generator", "stage3_classifier"):
        assert same_tensors(a / stage / "model.safetensors", b / stage / "model.safetensors"), stage
        assert not same_tensors(a / stage / "model.safetensors", c / stage / "model.safetensors"), stage
    assert not (a / "stage2_generator" / "checkpoints").exists()  # checkpoints are dropped once a stage finished


def test_run_cltm_is_deterministic(tiny_corpus, tmp_path):
    """CLTM runs save no weights (small MLPs per cell): every run's score and the matrix must be identical."""
    script = load_script("run_cltm")

    def run(name, seeds):
        out = tmp_path / name
        script.main(
            [
                "--data",
                str(tiny_corpus),
                "--seeds",
                seeds,
                "--speakers_per_subset",
                "1",
                "--eval_speakers",
                "1",
                "--epochs",
                "3",
                "--n_samples",
                "4",
                "--output_dir",
                str(out),
                "--feature_cache_dir",
                str(tmp_path / "features"),
                "--progress",
                "false",
            ]
        )
        return out

    a, b, c = run("a", "0,1"), run("b", "0,1"), run("c", "2,3")
    assert rows(a / "cltm_runs.csv", drop=("seconds",)) == rows(b / "cltm_runs.csv", drop=("seconds",))
    assert (a / "cltm_matrix.csv").read_text() == (b / "cltm_matrix.csv").read_text()
    assert [r["performance"] for r in rows(a / "cltm_runs.csv")] != [
        r["performance"] for r in rows(c / "cltm_runs.csv")
    ]
