"""`training_scripts/train_ctl_mtnet.py` end to end on a tiny two-language synthetic corpus: single-corpus k-fold and
cross-corpus (with and without MDD), result tables, and the saved model folder (AutoModel + pipeline)."""

import csv
import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from .conftest import ROOT, load_script

TINY_MODEL = ["--conv_filters", "4", "--primary_capsule_types", "2", "--primary_capsule_dim", "4",
              "--digit_capsule_dim", "4"]  # fmt: skip


def common(out):
    return [
        *TINY_MODEL, "--max_steps", "2", "--per_device_train_batch_size", "4", "--max_train_frames", "64",
        "--output_dir", str(out), "--disable_tqdm", "true", "--use_cpu", "true", "--report_to", "none",
        "--feature_cache_dir", str(out.parent / "mfcc"),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def script():
    return load_script("train_ctl_mtnet")


def read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_single_corpus_kfold_is_speaker_independent_and_writes_tables(script, tiny_corpus, tmp_path):
    out = tmp_path / "single"
    summary = script.main(["--task", "single_corpus", "--data", f"synthetic:en@{tiny_corpus}", "--num_folds", "2",
                           "--seeds", "0,1", *common(out)])  # fmt: skip
    runs = read_csv(out / "ctl_mtnet_runs.csv")
    assert [(r["seed"], r["fold"]) for r in runs] == [("0", "0"), ("0", "1"), ("1", "0"), ("1", "1")]
    assert sum(int(r["num_test"]) for r in runs[:2]) == 32  # the two folds cover the 4 en speakers x 8 utterances
    assert all(0.0 <= float(r["uar"]) <= 1.0 and 0.0 <= float(r["war"]) <= 1.0 for r in runs)
    (row,) = summary
    uars = [100 * float(r["uar"]) for r in runs]
    assert row["runs"] == 4 and row["uar_mean"] == pytest.approx(np.mean(uars))
    assert row["uar_std"] == pytest.approx(np.std(uars))
    assert "| single_corpus |" in (out / "ctl_mtnet_results.md").read_text()
    assert read_csv(out / "ctl_mtnet_summary.csv")[0]["runs"] == "4"


def test_cross_corpus_with_and_without_mdd_and_the_saved_model(script, tiny_corpus, tmp_path):
    from transformers import AutoModel, pipeline

    for flag, name in (([], "mdd"), (["--no_mdd"], "no_mdd")):
        out = tmp_path / name
        (row,) = script.main(["--task", "cross_corpus", "--source", f"synthetic:en@{tiny_corpus}", "--target",
                              f"synthetic:zh@{tiny_corpus}", "--seeds", "0", *flag, *common(out)])  # fmt: skip
        assert row["mdd"] == str(not flag)
        (run,) = read_csv(out / "ctl_mtnet_runs.csv")
        assert int(run["num_test"]) == 8  # the zh test speaker
    model = AutoModel.from_pretrained(tmp_path / "mdd" / "model")
    assert model.config.use_mdd and model.config.head == "linear"
    card = (tmp_path / "mdd" / "model" / "README.md").read_text()
    assert "CTL-MTNet" in card and "synthetic" in card
    classifier = pipeline("audio-classification", model=str(tmp_path / "mdd" / "model"))
    result = classifier(np.zeros(8000, dtype=np.float32) + 0.01)
    assert sorted(r["label"] for r in result) == ["angry", "happy", "neutral", "sad"]
    # transductive: the whole target corpus (4 zh speakers x 8) is adapted to and scored
    out = tmp_path / "transductive"
    script.main(["--task", "cross_corpus", "--source", f"synthetic:en@{tiny_corpus}", "--target",
                 f"synthetic:zh@{tiny_corpus}", "--transductive", "--seeds", "0", "--save_model", "false",
                 *common(out)])  # fmt: skip
    assert int(read_csv(out / "ctl_mtnet_runs.csv")[0]["num_test"]) == 32


def test_cross_corpus_refuses_overlapping_corpora(script, tiny_corpus, tmp_path):
    with pytest.raises(ValueError, match="share"):
        script.main(["--task", "cross_corpus", "--source", f"synthetic@{tiny_corpus}",
                     "--target", f"synthetic:zh@{tiny_corpus}", *common(tmp_path / "x")])  # fmt: skip


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_gloo_run(tiny_corpus, tmp_path):
    """The cross-corpus protocol (with MDD) runs unchanged under 2 CPU processes (gloo DDP): the two ranks share the
    MFCC cache folder, rank 0 alone writes the tables and the model, and the run records world size 2."""
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()),
           str(ROOT / "training_scripts" / "train_ctl_mtnet.py"), "--task", "cross_corpus", "--source",
           f"synthetic:en@{tiny_corpus}", "--target", f"synthetic:zh@{tiny_corpus}", "--seeds", "0",
           *common(out)]  # fmt: skip
    at = cmd.index("--use_cpu")
    del cmd[at : at + 2]  # no --use_cpu: a distributed launch without an accelerator must be detected
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run,) = read_csv(out / "ctl_mtnet_runs.csv")
    assert run["world_size"] == "2"  # real DDP, not two lone processes
    assert int(run["num_test"]) == 8  # the zh test speaker, each utterance counted once across the ranks
    assert json.loads(proc.stdout.strip().splitlines()[-1])["runs"] == 1
    assert (out / "model" / "model.safetensors").is_file()
