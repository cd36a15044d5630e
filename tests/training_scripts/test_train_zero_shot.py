"""`training_scripts/train_zero_shot.py` on a tiny five-language synthetic corpus: results table, t-SNE, resume."""

import csv
import json
import os
import socket
import subprocess
import sys

import pytest

from .conftest import ROOT, load_script


def script_args(corpus, backbone, out, *extra):
    return [
        "--data", f"synthetic@{corpus}", "--backbone", str(backbone), "--settings", "en->de",
        "--systems", "proposed,baseline1", "--seeds", "0", "--max_steps", "2", "--languages_per_batch", "2",
        "--emotions_per_batch", "4", "--samples_per_cell", "1", "--eval_strategy", "no", "--save_strategy", "no",
        "--load_best_model_at_end", "false", "--output_dir", str(out), "--disable_tqdm", "true", "--use_cpu", "true",
        *extra,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def grid(tiny_corpus5, tiny_backbone, tmp_path_factory):
    out = tmp_path_factory.mktemp("zero_shot")
    script = load_script("train_zero_shot")
    rows = script.main(script_args(tiny_corpus5, tiny_backbone, out))
    return {"out": out, "rows": rows, "script": script, "args": script_args(tiny_corpus5, tiny_backbone, out)}


def test_one_row_per_run_and_a_table(grid):
    with open(grid["out"] / "zero_shot_runs.csv") as f:
        runs = list(csv.DictReader(f))
    assert sorted((r["setting"], r["system"]) for r in runs) == [("en->de", "baseline1"), ("en->de", "proposed")]
    assert all(0.0 <= float(r["uar"]) <= 1.0 and int(r["num_test"]) == 4 for r in runs)  # 1 German test speaker
    table = (grid["out"] / "zero_shot_table.md").read_text()
    assert "| setting | baseline1 | proposed |" in table and "| average |" in table
    assert (grid["out"] / "tsne_en_to_de.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_finished_runs_are_not_redone(grid, monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(grid["script"].ZeroShotTrainer, "train", fail)
    assert grid["script"].main(grid["args"]) == grid["rows"]


def test_summary_statistics_and_unknown_names(grid):
    script = grid["script"]
    runs = [{"setting": "en->de", "system": "proposed", "uar": u, "macro_f1": u} for u in (0.5, 0.7)]
    (row,) = script.summarize(runs)
    assert row["uar_mean"] == pytest.approx(60.0) and row["uar_std"] == pytest.approx(10.0)
    with pytest.raises(ValueError, match="unknown value"):
        script.parse_list("proposed,best_system", list(script.SYSTEM_LOSSES), "systems")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_gloo_run(tiny_corpus5, tiny_backbone, tmp_path):
    """The grid runs unchanged under 2 CPU processes (gloo DDP): one CSV row per run, written by rank 0 only."""
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()),
           str(ROOT / "training_scripts" / "train_zero_shot.py"),
           *script_args(tiny_corpus5, tiny_backbone, out, "--tsne", "false")]  # fmt: skip
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
    args = script_args(tiny_corpus5, tiny_backbone, out, "--tsne", "false", "--language_backbones",
                       f"en={tiny_backbone}, zh=/nowhere")  # fmt: skip
    args[args.index("--systems") + 1] = "baseline1"
    script.main(args)
    config = json.loads((out / "en_to_de" / "baseline1" / "seed0" / "config.json").read_text())
    assert config["language_backbones"] == {"en": str(tiny_backbone), "zh": "/nowhere"}
    assert config["backbone_name_or_path"] == str(tiny_backbone)
    with pytest.raises(ValueError, match="LANG=BACKBONE"):
        script.parse_language_backbones("en=a,de")


def test_run_folder_is_a_complete_model_with_a_card(grid, tiny_corpus5):
    import numpy as np
    import soundfile as sf
    from transformers import AutoModelForAudioClassification, pipeline

    from hf_cser.models.zero_shot import ZeroShotSerForEmotionClassification

    run_dir = grid["out"] / "en_to_de" / "proposed" / "seed0"
    assert not (run_dir / "training_args.bin").exists() and (run_dir / "training_args.json").is_file()
    card = (run_dir / "README.md").read_text()
    assert "pipeline_tag: audio-classification" in card and "synthetic" in card and "proposed" in card
    model = AutoModelForAudioClassification.from_pretrained(run_dir)
    assert isinstance(model, ZeroShotSerForEmotionClassification) and model.config.top_adapter_size == 64
    wav = next(tiny_corpus5.rglob("*.wav"))
    scores = pipeline("audio-classification", model=str(run_dir), top_k=None)(str(wav))
    assert sorted(s["label"] for s in scores) == sorted(model.config.id2label.values())
    assert np.isclose(sum(s["score"] for s in scores), 1.0, atol=1e-4) and sf.info(str(wav)).samplerate > 0


def test_settings_that_share_target_and_training_data_train_once(grid, tiny_corpus5, tiny_backbone, tmp_path,
                                                                   monkeypatch):
    script = grid["script"]
    calls = []
    train = script.ZeroShotTrainer.train
    monkeypatch.setattr(script.ZeroShotTrainer, "train", lambda self, *a, **k: calls.append(1) or train(self, *a, **k))
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
