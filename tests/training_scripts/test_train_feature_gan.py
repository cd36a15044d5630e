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

from hf_cser.experiments.feature_gan import audio_inputs
from hf_cser.experiments.feature_gan import grid as experiment_grid
from hf_cser.experiments.feature_gan import run as experiment_run
from hf_cser.trainers.feature_gan import FeatureGanBaselineTrainer

from .conftest import ROOT, assert_metrics_recompute, assert_run_records_recompute, corpus_files, load_script

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny_text_encoder(tiny_corpus, tmp_path_factory):
    from hf_cser.data.specs import load_data_spec
    from hf_cser.models.feature_gan import build_tiny_text_encoder

    dataset = load_data_spec(f"synthetic:en,zh@{tiny_corpus}")
    texts = sorted({t for split in dataset.values() for t in split["transcript"]})
    return build_tiny_text_encoder(texts, tmp_path_factory.mktemp("text_encoder"), hidden_size=16)


def _common(tiny_corpus, tiny_text_encoder, out, cache):
    return [
        "--data",
        f"synthetic:en,zh@{tiny_corpus}",
        "--text_encoder",
        str(tiny_text_encoder),
        "--output_dir",
        str(out),
        "--feature_cache_dir",
        str(cache),
        "--stage1_epochs",
        "2",
        "--stage1_batch_size",
        "8",
        "--gan_epochs",
        "5",
        "--gan_batch_size",
        "8",
        "--classifier_epochs",
        "3",
        "--disable_tqdm",
        "--seed",
        "0",
    ]


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
    assert set(results) >= {
        "stage1",
        "stage2",
        "stage3_audio",
        "stage3_audio_text",
        "stage3_audio_without_augmentation",
    }
    assert results["stage3_audio"]["num_generated"] == results["stage3_audio"]["num_train"] // 2
    # every reported test metric recomputes from the saved predictions of the test files, in order
    files = corpus_files(tiny_corpus, "en,zh", "test")
    for key, predictions in (
        ("stage1", out / "stage1_baseline" / "test_predictions.csv"),
        ("stage3_audio", out / "stage3_classifier" / "test_predictions.csv"),
        ("stage3_audio_text", out / "stage3_multimodal" / "test_predictions.csv"),
        ("stage3_audio_without_augmentation", out / "test_predictions_stage3_audio_without_augmentation.csv"),
    ):
        assert_metrics_recompute(predictions, results[key]["test"], files=files)
    systems = ["stage1", "augmented", "control", "audio_text_augmented", "audio_text_control"]
    records = assert_run_records_recompute(out, "feature_gan", systems)
    assert records[1].uar == pytest.approx(results["stage3_audio"]["test"]["uar"])
    assert records[2].validation_uar == pytest.approx(
        results["stage3_audio_without_augmentation"]["validation"]["uar"]
    )
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
    resumed = script.main(
        [
            *_common(tiny_corpus, tiny_text_encoder, out, cache),
            "--stage",
            "3",
            "--modality",
            "audio",
            "--augmentation",
            "balance",
            "--class_weighted_loss",
        ]
    )
    assert set(resumed) == {"stage3_audio", "stage3_audio_without_augmentation", "bad_audio_skipped"}
    assert resumed["stage3_audio"]["num_generated"] == 0  # the synthetic corpus is balanced: nothing to fill
    assert (out / "stage1_baseline" / "model.safetensors").read_bytes() == stage1_weights
    config = json.loads((out / "stage3_classifier" / "config.json").read_text())
    assert config["class_weights"] is not None and config["freeze_backbone"] is True

    # stage 2 alone from the stage-1 folder, written elsewhere
    again = script.main(
        [
            *_common(tiny_corpus, tiny_text_encoder, out, cache),
            "--stage",
            "2",
            "--generator_path",
            str(tmp_path / "gen2"),
            "--use_text_condition",
            "false",
        ]
    )
    assert "stage2" in again and (tmp_path / "gen2" / "config.json").is_file()
    assert json.loads((tmp_path / "gen2" / "config.json").read_text())["use_text_condition"] is False


def test_resuming_without_a_stage1_folder_fails_clearly(tiny_corpus, tiny_text_encoder, tmp_path):
    script = load_script("train_feature_gan")
    with pytest.raises(FileNotFoundError, match="stage-1 folder"):
        script.main([*_common(tiny_corpus, tiny_text_encoder, tmp_path / "empty", tmp_path / "c"), "--stage", "2"])


def test_real_vs_generated_tsne_figure(tmp_path):
    from hf_cser.experiments.feature_gan import plot_real_vs_generated

    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(40, 8, generator=g), torch.randn(40, 8, generator=g) + 2
    labels = torch.arange(40) % 4
    path = plot_real_vs_generated(real, labels, fake, labels, str(tmp_path / "img" / "tsne.png"))
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
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        str(free_port()),
        str(ROOT / "training_scripts" / "train_feature_gan.py"),
        *args,
        "--modality",
        "audio",
        "--tsne",
        "false",
    ]
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


def no_training(*args, **kwargs):
    raise AssertionError("training started")


def test_bad_audio_fails_before_training_or_is_skipped_and_counted(
    tiny_corpus, tiny_text_encoder, tmp_path, monkeypatch
):
    from hf_cser.audio import BadAudioError

    from .test_train_ctl_mtnet import corrupt_copy

    corpus, bad = corrupt_copy(tiny_corpus, tmp_path / "corpus")
    script = load_script("train_feature_gan")
    args = _common(corpus, tiny_text_encoder, tmp_path / "out", tmp_path / "cache")
    with monkeypatch.context() as m:
        m.setattr(FeatureGanBaselineTrainer, "train", no_training)
        with pytest.raises(BadAudioError, match=os.path.basename(bad)):
            script.main([*args, "--stage", "1"])
    results = script.main([*args, "--stage", "1", "--skip_bad_audio", "true"])
    assert results["bad_audio_skipped"] == 1
    assert json.loads((tmp_path / "out" / "stage1_baseline" / "results.json").read_text())["bad_audio_skipped"] == 1


def test_test_speakers_in_training_are_refused(tiny_corpus, tiny_text_encoder, tmp_path, monkeypatch):
    """Within-corpus leakage guard: a test speaker's file in the training split raises before training."""
    from datasets import concatenate_datasets

    from hf_cser.data import TargetLeakageError, specs

    original = specs.load_data_spec

    def leaky(*args, **kwargs):
        data = original(*args, **kwargs)
        data["train"] = concatenate_datasets([data["train"], data["test"].select([0])])
        return data

    monkeypatch.setattr(specs, "load_data_spec", leaky)
    script = load_script("train_feature_gan")
    monkeypatch.setattr(FeatureGanBaselineTrainer, "train", no_training)
    with pytest.raises(TargetLeakageError, match=r"train holds 1 audio file\(s\) of the test split"):
        script.main(_common(tiny_corpus, tiny_text_encoder, tmp_path / "out", tmp_path / "cache"))


@pytest.mark.parametrize("problem", ["not_a_folder", "disk_full"])
def test_unusable_output_dir_fails_before_data_loading(
    tiny_corpus, tiny_text_encoder, tmp_path, monkeypatch, unusable_output_dir, problem
):
    from hf_cser.trainers import checkpointing

    out = unusable_output_dir(problem)
    script = load_script("train_feature_gan")
    monkeypatch.setattr(experiment_run, "prepare_data", no_training)
    with pytest.raises(checkpointing.OutputDirError, match=str(out)):
        script.main(_common(tiny_corpus, tiny_text_encoder, out, tmp_path / "cache"))


def test_stage1_resumes_bit_identical_after_a_crash(tiny_corpus, tiny_text_encoder, tmp_path, monkeypatch):
    """Stage 1 (Trainer): killed in epoch 2, the restarted command resumes from the epoch-1 checkpoint (optimizer,
    scheduler, RNG states) and saves the same weights as an uninterrupted run."""
    from safetensors.torch import load_file
    from transformers import TrainerCallback

    script = load_script("train_feature_gan")

    def run(name):
        return script.main(
            [*_common(tiny_corpus, tiny_text_encoder, tmp_path / name, tmp_path / "cache"), "--stage", "1"]
        )

    reference = run("reference")

    class Crash(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 6:
                raise RuntimeError("simulated crash")

    original_init = FeatureGanBaselineTrainer.__init__

    def crashing_init(self, *a, **k):
        k["callbacks"] = [*(k.get("callbacks") or []), Crash()]
        original_init(self, *a, **k)

    with monkeypatch.context() as m:
        m.setattr(FeatureGanBaselineTrainer, "__init__", crashing_init)
        with pytest.raises(RuntimeError, match="simulated crash"):
            run("crashed")
    checkpoints = tmp_path / "crashed" / "stage1_baseline" / "checkpoints"
    assert sorted(p.name for p in checkpoints.glob("checkpoint-*")) == ["checkpoint-4"]
    resumed = run("crashed")
    for split in ("validation", "test"):
        assert resumed["stage1"][split] == reference["stage1"][split]
    expected = load_file(str(tmp_path / "reference" / "stage1_baseline" / "model.safetensors"))
    got = load_file(str(tmp_path / "crashed" / "stage1_baseline" / "model.safetensors"))
    assert expected.keys() == got.keys() and all(torch.equal(expected[k], got[k]) for k in expected)
    assert not checkpoints.exists()


def test_table3_grid_resumes_without_redoing_finished_work(tiny_corpus, tiny_text_encoder, tmp_path, monkeypatch):
    """The Table 3 grid appends every finished classifier run at once: interrupted in its 4th stage-3 run, the
    restarted command reuses both stage-1 folders and the finished stage-2 folder, runs only what is left and ends
    with the same table as an uninterrupted grid."""
    import csv

    script = load_script("train_feature_gan")

    def grid(name):
        args = _common(tiny_corpus, tiny_text_encoder, tmp_path / name, tmp_path / "cache")
        args[args.index("--stage1_epochs") + 1] = "1"
        args[args.index("--gan_epochs") + 1], args[args.index("--classifier_epochs") + 1] = "2", "2"
        return script.main([*args, "--grid", "table3", "--seeds", "0", "--tsne", "false"])

    def runs(name):
        with open(tmp_path / name / "grid" / "feature_gan_runs.csv") as f:
            return sorted(tuple(r.values()) for r in csv.DictReader(f))

    grid("reference")
    calls = {"run_stage1": 0, "run_stage2": 0, "run_stage3": 0}
    for name in calls:
        original = getattr(experiment_grid, name)

        def counted(*a, _name=name, _original=original, **k):
            if _name == "run_stage3" and crash["on"] and calls[_name] == 3:
                raise RuntimeError("simulated crash")
            calls[_name] += 1
            return _original(*a, **k)

        monkeypatch.setattr(experiment_grid, name, counted)
    crash = {"on": True}
    with pytest.raises(RuntimeError, match="simulated crash"):
        grid("crashed")
    assert calls == {"run_stage1": 2, "run_stage2": 1, "run_stage3": 3}
    assert len(runs("crashed")) == 5  # stage-1 head, 2 real-only classifiers (+ audio-only input row), 1 augmented
    crash["on"] = False
    calls.update(run_stage1=0, run_stage2=0, run_stage3=0)
    grid("crashed")
    assert calls == {"run_stage1": 0, "run_stage2": 3, "run_stage3": 6}  # of 2, 4 and 9 in the whole grid
    assert runs("crashed") == runs("reference")


def test_restarted_all_stages_run_does_not_redo_finished_stages(tiny_corpus, tiny_text_encoder, tmp_path, monkeypatch):
    """`--stage all` killed in stage 2: the same command again reuses the finished stage 1 (its weights and
    results untouched) and trains stages 2 and 3; `--resume_from_checkpoint none` redoes stage 1."""
    script = load_script("train_feature_gan")
    out, cache = tmp_path / "run", tmp_path / "cache"
    argv = [*_common(tiny_corpus, tiny_text_encoder, out, cache), "--modality", "audio"]

    class Killed(RuntimeError):
        pass

    def crash(*args, **kwargs):
        raise Killed("stage 2 interrupted")

    with monkeypatch.context() as patch:
        patch.setattr(experiment_run, "run_stage2", crash)
        with pytest.raises(Killed):
            script.main(argv)
    stage1 = json.loads((out / "stage1_baseline" / "results.json").read_text())
    weights = (out / "stage1_baseline" / "model.safetensors").read_bytes()
    assert not (out / "stage2_generator" / "mutual_information.json").exists()

    with monkeypatch.context() as patch:
        patch.setattr(experiment_run, "run_stage1", no_training)
        results = script.main(argv)
    assert results["stage1"] == stage1
    assert (out / "stage1_baseline" / "model.safetensors").read_bytes() == weights
    assert (out / "stage2_generator" / "mutual_information.json").is_file() and "stage3_audio" in results

    retrained = []
    with monkeypatch.context() as patch:
        patch.setattr(experiment_run, "run_stage1", lambda *a, **k: retrained.append(a) or stage1)
        patch.setattr(experiment_run, "run_stage2", lambda *a, **k: results["stage2"])
        script.main([*argv, "--resume_from_checkpoint", "none"])
    assert len(retrained) == 1


def test_audio_input_cache_is_safetensors_reused_and_rebuilt_when_damaged(tiny_corpus, tmp_path, monkeypatch, caplog):
    import logging
    from pathlib import Path

    from hf_cser import audio
    from hf_cser.models.feature_gan import LogMelFeatureExtractor

    paths = sorted(str(p) for p in Path(tiny_corpus).rglob("*.wav"))[:3]
    extractor = LogMelFeatureExtractor()
    first = audio_inputs(paths, extractor, str(tmp_path), "test")
    (cache,) = tmp_path.glob("inputs_*.safetensors")  # no pickle: tensors only
    for wave_path, frames in zip(paths, first, strict=True):
        np.testing.assert_array_equal(frames, extractor.log_mel(audio.load_audio(wave_path)))

    with monkeypatch.context() as patch:  # a hit reads no audio
        patch.setattr(audio, "load_audio", lambda *a, **k: pytest.fail("audio decoded on a cache hit"))
        again = audio_inputs(paths, extractor, str(tmp_path), "test")
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))

    cache.write_bytes(cache.read_bytes()[:40])  # truncated by a crash
    with caplog.at_level(logging.WARNING, logger="hf_cser.experiments.feature_gan.data"):
        rebuilt = audio_inputs(paths, extractor, str(tmp_path), "test")
    assert "cannot read the input cache" in caplog.text and str(cache) in caplog.text
    assert all(np.array_equal(a, b) for a, b in zip(first, rebuilt, strict=True))


def test_input_cache_recomputes_an_edited_file_of_the_same_size(tmp_path, monkeypatch):
    from hf_cser.models.feature_gan import LogMelFeatureExtractor

    from .test_train_ctl_mtnet import _edit_keeping_the_size, _two_tones

    paths = _two_tones(tmp_path)
    extractor = LogMelFeatureExtractor()
    first = audio_inputs(paths, extractor, str(tmp_path / "cache"), "test")
    calls = []
    original = LogMelFeatureExtractor.log_mel  # patched on the class: the instance's settings stay as they are
    monkeypatch.setattr(LogMelFeatureExtractor, "log_mel", lambda self, wave: calls.append(1) or original(self, wave))
    again = audio_inputs(paths, extractor, str(tmp_path / "cache"), "test")
    assert calls == [] and all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    _edit_keeping_the_size(paths[1])
    edited = audio_inputs(paths, extractor, str(tmp_path / "cache"), "test")
    assert len(calls) == 2 and not np.array_equal(edited[1], first[1])
    np.testing.assert_array_equal(edited[0], first[0])
