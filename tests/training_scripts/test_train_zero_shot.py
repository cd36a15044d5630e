"""`training_scripts/train_zero_shot.py` on a tiny five-language synthetic corpus: results table, t-SNE, resume."""

import csv
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest

from hf_cser.experiments.zero_shot import SYSTEM_LOSSES, parse_language_backbones, parse_list, summarize
from hf_cser.experiments.zero_shot import run as experiment_run
from hf_cser.trainers import ZeroShotTrainer

from .conftest import ROOT, assert_metrics_recompute, assert_run_records_recompute, corpus_files, load_script


def script_args(corpus, backbone, out, *extra):
    return [
        "--data",
        f"synthetic@{corpus}",
        "--backbone",
        str(backbone),
        "--settings",
        "en->de",
        "--systems",
        "proposed,baseline1",
        "--seeds",
        "0",
        "--max_steps",
        "2",
        "--languages_per_batch",
        "2",
        "--emotions_per_batch",
        "4",
        "--samples_per_cell",
        "1",
        "--eval_strategy",
        "no",
        "--save_strategy",
        "no",
        "--load_best_model_at_end",
        "false",
        "--output_dir",
        str(out),
        "--disable_tqdm",
        "true",
        "--use_cpu",
        "true",
        *extra,
    ]


@pytest.fixture(scope="module")
def grid(tiny_corpus5, tiny_backbone, tmp_path_factory):
    out = tmp_path_factory.mktemp("zero_shot")
    script = load_script("train_zero_shot")
    rows = script.main(script_args(tiny_corpus5, tiny_backbone, out))
    return {
        "out": out,
        "rows": rows,
        "script": script,
        "args": script_args(tiny_corpus5, tiny_backbone, out),
        "corpus": tiny_corpus5,
    }


def test_one_row_per_run_and_a_table(grid):
    with open(grid["out"] / "zero_shot_runs.csv") as f:
        runs = list(csv.DictReader(f))
    assert sorted((r["setting"], r["system"]) for r in runs) == [("en->de", "baseline1"), ("en->de", "proposed")]
    assert all(0.0 <= float(r["uar"]) <= 1.0 and int(r["num_test"]) == 4 for r in runs)  # 1 German test speaker
    for run in runs:  # the reported metrics recompute from each run's saved predictions: the de test files, in order
        files = corpus_files(grid["corpus"], "de", "test")
        saved = assert_metrics_recompute(Path(run["output_dir"]) / "target_predictions.csv", run, files=files)
        assert {r["language"] for r in saved} == {"de"}
        (record,) = assert_run_records_recompute(run["output_dir"], "zero_shot", [run["system"]])
        assert record.uar == pytest.approx(float(run["uar"])) and record.target == "de"
    table = (grid["out"] / "zero_shot_table.md").read_text()
    assert "| setting | baseline1 | proposed |" in table and "| average |" in table
    assert (grid["out"] / "tsne_en_to_de.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_finished_runs_are_not_redone(grid, monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(ZeroShotTrainer, "train", fail)
    assert grid["script"].main(grid["args"]) == grid["rows"]


def test_summary_statistics_and_unknown_names():
    runs = [{"setting": "en->de", "system": "proposed", "uar": u, "macro_f1": u} for u in (0.5, 0.7)]
    (row,) = summarize(runs)
    assert row["uar_mean"] == pytest.approx(60.0) and row["uar_std"] == pytest.approx(10.0)
    with pytest.raises(ValueError, match="unknown value"):
        parse_list("proposed,best_system", list(SYSTEM_LOSSES), "systems")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_gloo_run(tiny_corpus5, tiny_backbone, tmp_path):
    """The grid runs unchanged under 2 CPU processes (gloo DDP): one CSV row per run, written by rank 0 only."""
    out = tmp_path / "ddp"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        str(free_port()),
        str(ROOT / "training_scripts" / "train_zero_shot.py"),
        *script_args(tiny_corpus5, tiny_backbone, out, "--tsne", "false"),
    ]
    at = cmd.index("--use_cpu")
    del cmd[at : at + 2]  # no --use_cpu: a distributed launch without an accelerator must be detected
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(out / "zero_shot_runs.csv") as f:
        runs = list(csv.DictReader(f))
    assert [(r["system"], r["world_size"]) for r in runs] == [("proposed", "2"), ("baseline1", "2")]
    assert json.loads(proc.stdout.strip().splitlines()[-1])["runs"] == 2


def test_language_matched_backbone_is_used_and_recorded(grid, tiny_corpus5, tiny_backbone, tmp_path):
    script = grid["script"]
    out = tmp_path / "matched"
    args = script_args(
        tiny_corpus5, tiny_backbone, out, "--tsne", "false", "--language_backbones", f"en={tiny_backbone}, zh=/nowhere"
    )
    args[args.index("--systems") + 1] = "baseline1"
    script.main(args)
    config = json.loads((out / "en_to_de" / "baseline1" / "seed0" / "config.json").read_text())
    assert config["language_backbones"] == {"en": str(tiny_backbone), "zh": "/nowhere"}
    assert config["backbone_name_or_path"] == str(tiny_backbone)
    with pytest.raises(ValueError, match="LANG=BACKBONE"):
        parse_language_backbones("en=a,de")


def test_run_folder_is_a_complete_model_with_a_card(grid, tiny_corpus5):
    import numpy as np
    import soundfile as sf
    from transformers import AutoModelForAudioClassification, pipeline

    from hf_cser.models.zero_shot import ZeroShotForEmotionClassification

    run_dir = grid["out"] / "en_to_de" / "proposed" / "seed0"
    assert not (run_dir / "training_args.bin").exists() and (run_dir / "training_args.json").is_file()
    card = (run_dir / "README.md").read_text()
    assert "pipeline_tag: audio-classification" in card and "synthetic" in card and "proposed" in card
    model = AutoModelForAudioClassification.from_pretrained(run_dir)
    assert isinstance(model, ZeroShotForEmotionClassification) and model.config.top_adapter_size == 64
    wav = next(tiny_corpus5.rglob("*.wav"))
    scores = pipeline("audio-classification", model=str(run_dir), top_k=None)(str(wav))
    assert sorted(s["label"] for s in scores) == sorted(model.config.id2label.values())
    assert np.isclose(sum(s["score"] for s in scores), 1.0, atol=1e-4) and sf.info(str(wav)).samplerate > 0


def test_settings_that_share_target_and_training_data_train_once(
    grid, tiny_corpus5, tiny_backbone, tmp_path, monkeypatch
):
    script = grid["script"]
    calls = []
    train = ZeroShotTrainer.train
    monkeypatch.setattr(ZeroShotTrainer, "train", lambda self, *a, **k: calls.append(1) or train(self, *a, **k))
    args = script_args(tiny_corpus5, tiny_backbone, tmp_path / "dedup", "--tsne", "false")
    args[args.index("--settings") + 1] = "en->de,zh->de"
    args[args.index("--systems") + 1] = "baseline2,baseline1"
    script.main(args)
    with open(tmp_path / "dedup" / "zero_shot_runs.csv") as f:
        runs = {(r["setting"], r["system"]): r for r in csv.DictReader(f)}
    assert len(calls) == 3  # baseline2 once (same languages en+zh+fr+ur for both), baseline1 once per source
    assert runs[("zh->de", "baseline2")]["trained_in"] == "en->de"
    assert runs[("zh->de", "baseline2")]["uar"] == runs[("en->de", "baseline2")]["uar"]
    assert runs[("zh->de", "baseline1")]["trained_in"] == "zh->de"


def test_same_seed_same_weights_and_metrics(grid, tiny_corpus5, tiny_backbone, tmp_path):
    """Determinism on CPU: a second run with the same seed gives bit-identical weights and the same metrics."""
    import torch
    from safetensors.torch import load_file

    script = grid["script"]
    args = script_args(tiny_corpus5, tiny_backbone, tmp_path / "again", "--tsne", "false")
    args[args.index("--systems") + 1] = "proposed"
    script.main(args)
    first = grid["out"] / "en_to_de" / "proposed" / "seed0"
    second = tmp_path / "again" / "en_to_de" / "proposed" / "seed0"
    a, b = load_file(first / "model.safetensors"), load_file(second / "model.safetensors")
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)
    with open(grid["out"] / "zero_shot_runs.csv") as f, open(tmp_path / "again" / "zero_shot_runs.csv") as g:
        (row_a,) = [r for r in csv.DictReader(f) if r["system"] == "proposed"]
        (row_b,) = list(csv.DictReader(g))
    assert (row_a["uar"], row_a["macro_f1"]) == (row_b["uar"], row_b["macro_f1"])
    # and another seed gives other weights (the comparison above can fail)
    args = script_args(tiny_corpus5, tiny_backbone, tmp_path / "seed1", "--tsne", "false")
    args[args.index("--systems") + 1] = "proposed"
    args[args.index("--seeds") + 1] = "1"
    script.main(args)
    c = load_file(tmp_path / "seed1" / "en_to_de" / "proposed" / "seed1" / "model.safetensors")
    assert any(not torch.equal(a[k], c[k]) for k in a)


def corpus_manifest(corpus, path, replace=None):
    """The corpus's metadata as a manifest with absolute audio paths; ``replace``: {row index: new path}."""
    with open(corpus / "metadata.csv") as f:
        rows = [{**r, "path": str(corpus / r["path"])} for r in csv.DictReader(f)]
    for index, new_path in (replace or {}).items():
        rows[index] = {**rows[index], "path": str(new_path)}
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path, rows


def test_unusable_output_dir_fails_before_loading_data(grid, tiny_corpus5, tiny_backbone, tmp_path, monkeypatch):
    from hf_cser.trainers.checkpointing import OutputDirError

    monkeypatch.setattr(experiment_run, "load_data_spec", mock.Mock(side_effect=AssertionError("data loaded")))
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(OutputDirError) as info:
        grid["script"].main(script_args(tiny_corpus5, tiny_backbone, blocker / "out"))
    assert str(blocker / "out") in str(info.value)
    monkeypatch.setenv("HF_CSER_MIN_FREE_MB", "1e15")  # a "full" disk
    with pytest.raises(OutputDirError, match="MiB free") as info:
        grid["script"].main(script_args(tiny_corpus5, tiny_backbone, tmp_path / "out"))
    assert str(tmp_path / "out") in str(info.value)


def test_target_audio_relabelled_into_training_is_refused(grid, tiny_corpus5, tiny_backbone, tmp_path, monkeypatch):
    """A target test file that reached the training rows under another language and speaker (so that language and
    speaker checks cannot see it) is caught by its audio path, in every component it feeds."""
    from datasets import concatenate_datasets

    from hf_cser.data import TargetLeakageError
    from hf_cser.data import build_zero_shot_splits as build

    def leaky_build(data, setting, system):
        splits, speaker_map = build(data, setting, system)
        smuggled = splits["test"].select([0]).map(lambda row: {"language": "en", "speaker": "nobody"})
        splits["train"] = concatenate_datasets([splits["train"], smuggled.cast(splits["train"].features)])
        return splits, speaker_map

    monkeypatch.setattr(experiment_run, "build_zero_shot_splits", leaky_build)
    monkeypatch.setattr(ZeroShotTrainer, "train", mock.Mock(side_effect=AssertionError("trained")))
    with pytest.raises(TargetLeakageError) as info:
        grid["script"].main(script_args(tiny_corpus5, tiny_backbone, tmp_path / "leak", "--tsne", "false"))
    message = str(info.value)
    assert "train holds 1 audio file(s) of the de test split" in message
    assert "normalization statistics holds 1 audio file(s)" in message


def test_target_speaker_in_training_data_is_refused(grid, tiny_corpus5, tiny_backbone, tmp_path):
    with open(tiny_corpus5 / "metadata.csv") as f:
        rows = list(csv.DictReader(f))
    target_speaker = next(r["speaker"] for r in rows if r["language"] == "de" and r["split"] == "test")
    victim = next(i for i, r in enumerate(rows) if r["language"] == "en" and r["split"] == "train")
    manifest, rows = corpus_manifest(tiny_corpus5, tmp_path / "leaky.csv")
    rows[victim]["speaker"] = target_speaker
    with open(manifest, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    args = script_args(tiny_corpus5, tiny_backbone, tmp_path / "leak", "--tsne", "false")
    args[args.index("--data") + 1] = str(manifest)
    from hf_cser.data import TargetLeakageError

    with pytest.raises(TargetLeakageError, match="target speaker") as info:
        grid["script"].main(args)
    assert target_speaker in str(info.value)


def test_bad_audio_raises_before_training_or_is_skipped_and_counted(
    grid, tiny_corpus5, tiny_backbone, tmp_path, monkeypatch
):
    from hf_cser.audio import BadAudioError

    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF....WAVEfmt not really audio")
    with open(tiny_corpus5 / "metadata.csv") as f:
        victim = next(i for i, r in enumerate(csv.DictReader(f)) if r["language"] == "zh" and r["split"] == "test")
    manifest, _ = corpus_manifest(tiny_corpus5, tmp_path / "corrupt.csv", replace={victim: broken})
    script = grid["script"]
    args = script_args(tiny_corpus5, tiny_backbone, tmp_path / "out", "--tsne", "false")
    args[args.index("--data") + 1] = str(manifest)
    args[args.index("--systems") + 1] = "baseline1"
    with monkeypatch.context() as patch:
        patch.setattr(ZeroShotTrainer, "train", mock.Mock(side_effect=AssertionError("training started")))
        with pytest.raises(BadAudioError, match="soundfile cannot decode it") as info:
            script.main(args)
    assert str(broken) in str(info.value)

    script.main(args + ["--skip_bad_audio", "true"])
    summary = json.loads((tmp_path / "out" / "zero_shot_summary.json").read_text())
    assert summary["bad_audio_skipped"] == 1 and str(broken) in summary["bad_audio"]


def test_killed_run_resumes_from_its_checkpoint_to_the_same_weights(
    grid, tiny_corpus5, tiny_backbone, tmp_path, caplog
):
    """A run of the grid with checkpoints every 3 steps, "killed" after checkpoint-3 (its folder holds only that
    checkpoint), resumes from it when the command is rerun and ends with the uninterrupted run's weights: the
    sampler's batches of the resumed (middle of an) epoch and the GRL warm-start schedule continue where they were."""
    from safetensors.torch import load_file

    def args_for(out):
        args = script_args(
            tiny_corpus5,
            tiny_backbone,
            out,
            "--tsne",
            "false",
            "--save_strategy",
            "steps",
            "--save_steps",
            "3",
            "--save_total_limit",
            "3",
            "--grl_schedule",
            "warm_start",
            "--logging_steps",
            "1",
        )
        args[args.index("--systems") + 1] = "proposed"
        args[args.index("--max_steps") + 1] = "5"
        return args

    script = grid["script"]
    run = os.path.join("en_to_de", "proposed", "seed0")
    script.main(args_for(tmp_path / "full"))
    shutil.copytree(tmp_path / "full" / run / "checkpoint-3", tmp_path / "killed" / run / "checkpoint-3")
    with caplog.at_level(logging.WARNING, logger="hf_cser.experiments.zero_shot.run"):
        script.main(args_for(tmp_path / "killed"))
    assert f"resuming from checkpoint '{tmp_path / 'killed' / run / 'checkpoint-3'}'" in caplog.text
    a = load_file(tmp_path / "full" / run / "model.safetensors")
    b = load_file(tmp_path / "killed" / run / "model.safetensors")
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)
    with open(tmp_path / "full" / "zero_shot_runs.csv") as f, open(tmp_path / "killed" / "zero_shot_runs.csv") as g:
        (row_a,), (row_b,) = list(csv.DictReader(f)), list(csv.DictReader(g))
    assert (row_a["uar"], row_a["macro_f1"]) == (row_b["uar"], row_b["macro_f1"])
    logs = []
    for out in ("full", "killed"):
        history = json.loads((tmp_path / out / run / "checkpoint-5" / "trainer_state.json").read_text())
        logs.append(
            [
                {k: v for k, v in e.items() if "runtime" not in k and "per_second" not in k}
                for e in history["log_history"]
            ]
        )
    assert [e["step"] for e in logs[1] if "grl_coeff" in e] == [1, 2, 3, 4, 5]
    assert logs[0] == logs[1]  # losses and GRL coefficients of steps 4 and 5 included


def test_a_checkpoint_of_no_run_of_the_grid_is_refused_before_loading_data(
    grid, tiny_corpus5, tiny_backbone, tmp_path, monkeypatch
):
    monkeypatch.setattr(experiment_run, "load_data_spec", mock.Mock(side_effect=AssertionError("data loaded")))
    foreign = tmp_path / "another_experiment" / "checkpoint-3"
    with pytest.raises(ValueError, match=r"another_experiment/checkpoint-3. is not a checkpoint of a run of this"):
        grid["script"].main(
            [*script_args(tiny_corpus5, tiny_backbone, tmp_path / "out"), "--resume_from_checkpoint", str(foreign)]
        )
