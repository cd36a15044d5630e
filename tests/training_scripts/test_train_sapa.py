"""End to end: `training_scripts/train_sapa.py` on a tiny synthetic corpus, then every way users load the result."""

import csv
import importlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import soundfile as sf

from hf_cser.experiments.sapa import run as experiment_run
from hf_cser.trainers import SapaTrainer

from .conftest import ROOT, assert_metrics_recompute, assert_run_records_recompute, corpus_files, load_script


def script_args(corpus, backbone, out, cache, *extra):
    return [
        "--train_data",
        f"synthetic:en@{corpus}",
        "--eval_data",
        f"synthetic:zh@{corpus}",
        "--content_encoder",
        str(backbone),
        "--output_dir",
        str(out),
        "--feature_cache_dir",
        str(cache),
        "--max_steps",
        "4",
        "--per_device_train_batch_size",
        "8",
        "--per_device_eval_batch_size",
        "16",
        "--hidden_size",
        "32",
        "--num_transformer_layers",
        "1",
        "--logging_steps",
        "1",
        "--disable_tqdm",
        "true",
        "--use_cpu",
        "true",
        *extra,
    ]


@pytest.fixture(scope="module")
def trained(tiny_corpus, tiny_backbone, tmp_path_factory):
    out = tmp_path_factory.mktemp("sapa_out")
    cache = tmp_path_factory.mktemp("sapa_cache")
    script = load_script("train_sapa")
    with (
        mock.patch("huggingface_hub.HfApi.create_repo") as create_repo,
        mock.patch("huggingface_hub.HfApi.create_commit") as create_commit,
    ):
        summary = script.main(
            script_args(tiny_corpus, tiny_backbone, out, cache, "--push_to_hub", "true", "--hub_model_id", "me/sapa")
        )
    return {"out": out, "cache": cache, "summary": summary, "create_repo": create_repo, "create_commit": create_commit}


def test_summary_reports_source_and_target_metrics(trained):
    summary = trained["summary"]
    assert summary["source_languages"] == ["en"] and summary["target_languages"] == ["zh"]
    for side in ("source", "target"):
        assert set(summary[side]) == {"uar", "war", "macro_f1"}
        assert all(0.0 <= v <= 1.0 for v in summary[side].values())
    results = json.loads((trained["out"] / "results.json").read_text())
    assert results["summary"]["target"] == summary["target"]


def test_reported_metrics_recompute_from_the_saved_predictions(trained, tiny_corpus):
    """target_predictions.csv: one row per target test utterance (its file, in order); UAR, WAR, macro-F1, the
    confusion matrix and per-class recall of results.json recomputed from it with scikit-learn."""
    report = json.loads((trained["out"] / "results.json").read_text())["target_test"]
    rows = assert_metrics_recompute(
        trained["out"] / "target_predictions.csv", report, files=corpus_files(tiny_corpus, "zh", "test")
    )
    target = [
        r for r in csv.DictReader(open(tiny_corpus / "metadata.csv")) if r["language"] == "zh" and r["split"] == "test"
    ]
    assert [r["emotion"] for r in rows] == [r["emotion"] for r in target]
    assert trained["summary"]["target"]["uar"] == pytest.approx(report["uar"])
    (record,) = assert_run_records_recompute(trained["out"], "sapa", ["sapa"])  # the shared run record
    assert record.uar == pytest.approx(report["uar"]) and record.num_test == len(rows) and record.seed == 42
    assert record.validation_uar is not None and record.extra["target_languages"] == ["zh"]


def test_output_folder_is_complete(trained):
    out = trained["out"]
    for name in (
        "config.json",
        "model.safetensors",
        "preprocessor_config.json",
        "README.md",
        "results.json",
        "training_args.json",
    ):
        assert (out / name).is_file(), name
    assert not list(out.glob("*.bin")) and not list(out.glob("*.pt"))
    analysis = out / "analysis"
    for name in (
        "speaker_graph_summary.json",
        "speaker_clusters.csv",
        "phoneme_similarity.csv",
        "phoneme_similarity_matrix.csv",
        "phoneme_anchors.csv",
        "transferability.json",
        "transferability_table.csv",
        "transferability.png",
    ):
        assert (analysis / name).is_file(), name
    assert list(analysis.glob("speaker_graph_*.png"))
    card = (out / "README.md").read_text()
    assert "synthetic" in card.lower() and "model-index" in card


def test_push_to_hub_uploads_the_final_folder(trained):
    trained["create_repo"].assert_called_once()
    assert trained["create_repo"].call_args.kwargs.get("repo_id", trained["create_repo"].call_args.args[:1]) in (
        "me/sapa",
        ("me/sapa",),
    )
    operations = trained["create_commit"].call_args.kwargs["operations"]
    uploaded = {op.path_in_repo for op in operations}
    assert {"config.json", "model.safetensors", "preprocessor_config.json", "README.md"} <= uploaded


def test_auto_classes_and_pipeline_load_the_folder(trained, tiny_corpus, tmp_path):
    from transformers import AutoFeatureExtractor, AutoModelForAudioClassification, pipeline

    from hf_cser.models.sapa import SapaForEmotionClassification

    model = AutoModelForAudioClassification.from_pretrained(trained["out"])
    assert isinstance(model, SapaForEmotionClassification)
    AutoFeatureExtractor.from_pretrained(trained["out"])
    classifier = pipeline("audio-classification", model=str(trained["out"]))
    wav = sorted((tiny_corpus / "wavs" / "zh").rglob("*.wav"))[0]
    audio, sr = sf.read(wav, dtype="float32")
    # a file path, and the same audio as an 8 kHz int16 array: both give the 4 classes with scores summing to 1
    by_path = classifier(str(wav), top_k=4)
    resampled = classifier({"raw": (audio[::2] * 32767).astype(np.int16), "sampling_rate": sr // 2}, top_k=4)
    for result in (by_path, resampled):
        assert sorted(r["label"] for r in result) == ["angry", "happy", "neutral", "sad"]
        assert sum(r["score"] for r in result) == pytest.approx(1.0, abs=1e-4)


def test_cli_evaluate_agrees_with_the_training_script(trained, tiny_corpus, capsys):
    """`hf-cser evaluate` runs raw audio through the saved model; training evaluated cached features: same UAR."""
    from hf_cser.cli import main

    assert main(["evaluate", str(trained["out"]), "--data", f"synthetic:zh@{tiny_corpus}"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["uar"] == pytest.approx(trained["summary"]["target"]["uar"], abs=1e-6)
    assert report["per_language"]["zh"]["num_samples"] == report["num_samples"]


def test_the_training_speaker_graph_holds_only_source_training_speakers(
    trained, tiny_corpus, tiny_backbone, tmp_path, monkeypatch
):
    """The speaker-style graph whose clusters drive L_s is fitted on the source training speakers only: no validation
    (model selection) speaker and no target speaker is a node (the analyses' diagnostic graph comes after training
    and is turned off here)."""
    import csv

    from hf_cser.analysis import SpeakerStyleGraph

    fitted = []
    original = SpeakerStyleGraph.fit
    monkeypatch.setattr(
        SpeakerStyleGraph, "fit", lambda self, e, s, *a, **k: fitted.append(list(s)) or original(self, e, s, *a, **k)
    )
    load_script("train_sapa").main(
        script_args(tiny_corpus, tiny_backbone, tmp_path / "out", trained["cache"], "--run_analyses", "false")
    )
    rows = list(csv.DictReader(open(tiny_corpus / "metadata.csv")))
    speakers = {
        split: {r["speaker"] for r in rows if r["language"] == lang and r["split"] == split}
        for lang, split in (("en", "train"), ("en", "validation"), ("zh", "test"))
    }
    assert len(fitted) == 1 and set(fitted[0]) == speakers["train"]
    assert not set(fitted[0]) & (speakers["validation"] | speakers["test"])


def test_target_leak_is_refused(tiny_corpus, tiny_backbone, tmp_path):
    """A manifest whose training rows include a target test utterance is refused before any training."""
    import csv

    rows = list(csv.DictReader(open(tiny_corpus / "metadata.csv")))
    leaked = next(r for r in rows if r["language"] == "zh" and r["split"] == "test")
    kept = [r for r in rows if r["language"] == "en"] + [{**leaked, "split": "train"}]
    manifest = tiny_corpus / "leaky_manifest.csv"
    with open(manifest, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(kept)
    script = load_script("train_sapa")
    args = script_args(tiny_corpus, tiny_backbone, tmp_path / "o", tmp_path / "c") + ["--train_data", str(manifest)]
    with pytest.raises(ValueError, match="leakage") as info:
        script.main(args)
    assert leaked["speaker"] in str(info.value)


def write_manifest(path, rows):
    import csv

    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def corpus_rows(corpus, language):
    """The corpus's metadata rows of one language, with absolute audio paths (usable from any folder)."""
    import csv

    rows = [r for r in csv.DictReader(open(corpus / "metadata.csv")) if r["language"] == language]
    return [{**r, "path": str(corpus / r["path"])} for r in rows]


def test_same_seed_same_weights_and_metrics(trained, tiny_corpus, tiny_backbone, tmp_path, capsys):
    """Determinism on CPU: a second run with the same seed and data gives bit-identical weights and metrics. Its
    console ends with a readable summary line, then the JSON summary; `--disable_tqdm true` leaves no bar."""
    import torch
    from safetensors.torch import load_file

    out = tmp_path / "again"
    summary = load_script("train_sapa").main(script_args(tiny_corpus, tiny_backbone, out, trained["cache"]))
    assert summary == trained["summary"]
    console = capsys.readouterr()
    *_, line, last = console.out.strip().splitlines()
    assert json.loads(last) == summary
    uar = 100 * summary["target"]["uar"]
    assert line.startswith("SAPA (sapa) finished in ") and f"target UAR {uar:.1f}" in line and str(out) in line
    assert "it/s]" not in console.err and "SAPA window features" not in console.err  # no progress bar at all
    first, second = load_file(trained["out"] / "model.safetensors"), load_file(out / "model.safetensors")
    assert first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)
    graphs = [json.loads((o / "analysis" / "speaker_graph_summary.json").read_text()) for o in (trained["out"], out)]
    assert graphs[0] == graphs[1]  # seeded Louvain: the same speaker-style clusters
    # another seed gives other weights (so the equality above can fail)
    other = tmp_path / "seed7"
    load_script("train_sapa").main(
        script_args(tiny_corpus, tiny_backbone, other, trained["cache"], "--seed", "7", "--run_analyses", "false")
    )
    third = load_file(other / "model.safetensors")
    assert any(not torch.equal(first[k], third[k]) for k in first)


def test_unusable_output_dir_fails_before_loading_data(tiny_corpus, tiny_backbone, tmp_path, monkeypatch):
    from hf_cser.trainers.checkpointing import OutputDirError

    def no_data(*args, **kwargs):
        raise AssertionError("data was loaded before the output folder was checked")

    monkeypatch.setattr(experiment_run, "load_data_spec", no_data)
    script = load_script("train_sapa")
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(OutputDirError) as info:  # a folder below a regular file cannot be created
        script.main(script_args(tiny_corpus, tiny_backbone, blocker / "out", tmp_path / "c"))
    assert str(blocker / "out") in str(info.value)
    monkeypatch.setenv("HF_CSER_MIN_FREE_MB", "1e15")  # a "full" disk: less free space than required
    with pytest.raises(OutputDirError, match="MiB free") as info:
        script.main(script_args(tiny_corpus, tiny_backbone, tmp_path / "out", tmp_path / "c"))
    assert str(tmp_path / "out") in str(info.value)


def test_overlapping_train_and_eval_data_is_refused(tiny_corpus, tiny_backbone, tmp_path, monkeypatch):
    """--eval_data whose test split is the source's training audio: refused before any feature or training."""
    from hf_cser.data import TargetLeakageError

    script = load_script("train_sapa")
    monkeypatch.setattr(
        experiment_run, "resolve_encoders", mock.Mock(side_effect=AssertionError("encoders were loaded"))
    )
    en = corpus_rows(tiny_corpus, "en")
    overlapping = [{**r, "split": "test"} for r in en if r["split"] == "train"]
    manifest = write_manifest(tmp_path / "overlap.csv", overlapping)
    args = script_args(tiny_corpus, tiny_backbone, tmp_path / "o", tmp_path / "c") + ["--eval_data", str(manifest)]
    with pytest.raises(TargetLeakageError, match="Target leakage") as info:
        script.main(args)
    message = str(info.value)
    assert f"train holds {len(overlapping)} audio file(s)" in message and "--eval_data" in message


@pytest.fixture
def corrupt_manifest(tiny_corpus, tmp_path):
    """The English rows of the tiny corpus with one training file replaced by a file soundfile cannot decode."""
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF....WAVEfmt not really audio")
    rows = corpus_rows(tiny_corpus, "en")
    victim = next(i for i, r in enumerate(rows) if r["split"] == "train")
    rows[victim] = {**rows[victim], "path": str(broken)}
    return write_manifest(tmp_path / "corrupt.csv", rows), broken


def test_bad_audio_file_raises_before_training(corrupt_manifest, tiny_corpus, tiny_backbone, tmp_path, monkeypatch):
    from hf_cser.audio import BadAudioError

    manifest, broken = corrupt_manifest
    script = load_script("train_sapa")
    monkeypatch.setattr(SapaTrainer, "train", mock.Mock(side_effect=AssertionError("training started")))
    args = script_args(tiny_corpus, tiny_backbone, tmp_path / "o", tmp_path / "c") + ["--train_data", str(manifest)]
    with pytest.raises(BadAudioError, match="soundfile cannot decode it") as info:
        script.main(args)
    assert str(broken) in str(info.value)


def test_skip_bad_audio_drops_counts_and_reports(corrupt_manifest, trained, tiny_corpus, tiny_backbone, tmp_path):
    manifest, broken = corrupt_manifest
    out = tmp_path / "o"
    args = script_args(
        tiny_corpus,
        tiny_backbone,
        out,
        trained["cache"],
        "--run_analyses",
        "false",
        "--max_steps",
        "2",
        "--train_data",
        str(manifest),
        "--skip_bad_audio",
        "true",
    )
    summary = load_script("train_sapa").main(args)
    assert summary["bad_audio_skipped"] == 1
    results = json.loads((out / "results.json").read_text())
    assert results["bad_audio_skipped"] == 1 and results["bad_audio"]["by_reason"] == {"unreadable": 1}
    assert results["bad_audio"]["examples"]["unreadable"] == [str(broken)]
    assert trained["summary"]["bad_audio_skipped"] == 0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_gloo_run(tiny_corpus, tiny_backbone, trained, tmp_path):
    """The script runs unchanged under 2 CPU processes (gloo DDP) and reuses the cached window features."""
    out = tmp_path / "ddp"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        str(free_port()),
        str(ROOT / "training_scripts" / "train_sapa.py"),
        *script_args(tiny_corpus, tiny_backbone, out, trained["cache"], "--run_analyses", "false"),
    ]
    at = cmd.index("--use_cpu")
    del cmd[at : at + 2]  # no --use_cpu: a distributed launch without an accelerator must be detected
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["target_languages"] == ["zh"]
    assert (out / "model.safetensors").is_file()
    assert json.loads((out / "results.json").read_text())["world_size"] == 2  # real DDP, not two lone processes


@pytest.mark.parametrize(
    "name, default, experiment",
    [
        ("train_sapa", "outputs/sapa", "sapa"),
        ("train_zero_shot", "outputs/zero_shot", "zero_shot"),
        ("train_ctl_mtnet", "outputs/ctl_mtnet", "ctl_mtnet"),
    ],
)
def test_scripts_write_to_their_documented_default_folder(name, default, experiment, tmp_path, monkeypatch):
    """Without `--output_dir` a script writes to its documented default (the README's main job: `outputs/sapa`), not
    to the `trainer_output` transformers fills in; an explicit folder is kept."""
    script = load_script(name)
    used = []

    class Stop(Exception):
        pass

    def record(path, **kwargs):
        used.append(str(path))
        raise Stop

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(importlib.import_module(f"hf_cser.experiments.{experiment}.run"), "check_output_dir", record)
    for argv, expected in (([], default), (["--output_dir", "elsewhere"], "elsewhere")):
        with pytest.raises(Stop):
            script.main(argv)
        assert used.pop() == expected


def test_same_result_with_cold_or_warm_encoder_caches(trained, tiny_corpus, tiny_backbone, tmp_path, monkeypatch):
    """A first run pretrains / converts the encoders (drawing random numbers), a later run finds them cached: the
    model, and so the results, must be the same (found on the README main job: cold 56.2 vs warm 43.8 target UAR)."""
    import torch
    from safetensors.torch import load_file

    script = load_script("train_sapa")
    resolve = experiment_run.resolve_encoders

    def resolve_drawing_random_numbers(*args, **kwargs):
        torch.rand(1000), np.random.rand(1000)  # what phonetic pretraining on a cold cache does to the global RNGs
        return resolve(*args, **kwargs)

    monkeypatch.setattr(experiment_run, "resolve_encoders", resolve_drawing_random_numbers)
    out = tmp_path / "cold"
    assert script.main(script_args(tiny_corpus, tiny_backbone, out, trained["cache"])) == trained["summary"]
    first, cold = load_file(trained["out"] / "model.safetensors"), load_file(out / "model.safetensors")
    assert all(torch.equal(first[k], cold[k]) for k in first)


def test_started_again_after_it_finished_gives_the_same_model_without_training(
    tiny_corpus, tiny_backbone, tmp_path, trained
):
    """A run that early-stopped, started again in its folder (e.g. after a crash while writing its analyses), must
    not train on from its last checkpoint (transformers forgets the stop on resume): it restores the best
    checkpoint and reports the uninterrupted run's metrics and weights."""
    import torch
    from safetensors.torch import load_file

    from hf_cser.trainers.checkpointing import last_checkpoint, training_finished

    script = load_script("train_sapa")
    out = tmp_path / "early_stopped"
    argv = [a for a in script_args(tiny_corpus, tiny_backbone, out, trained["cache"]) if a not in ("--max_steps", "4")]
    argv += [
        "--num_train_epochs",
        "40",
        "--early_stopping_patience",
        "1",
        "--learning_rate",
        "1e-2",
        "--run_analyses",
        "false",
    ]
    first = script.main(argv)
    final = last_checkpoint(str(out))
    state = json.loads((Path(final) / "trainer_state.json").read_text())
    assert state["global_step"] < state["max_steps"] and training_finished(final)  # it stopped early
    weights = load_file(out / "model.safetensors")

    again = script.main(argv)
    assert again == first
    assert last_checkpoint(str(out)) == final  # not one more step, not one more checkpoint
    restored = load_file(out / "model.safetensors")
    assert all(torch.equal(weights[k], restored[k]) for k in weights)
