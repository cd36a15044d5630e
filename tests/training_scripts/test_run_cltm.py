"""training_scripts/run_cltm.py end to end on a tiny synthetic corpus: outputs, resume after a crash, tasks."""

import csv
import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from .conftest import ROOT, load_script


@pytest.fixture(scope="module")
def corpus8(tmp_path_factory):
    """Three languages x 8 speakers (4 female, 4 male) x 8 utterances: D and D' get 2 speakers each, evaluation
    2 (4 for speaker verification, which needs two speakers of one gender for its non-target trials)."""
    from hf_cser.data import SyntheticCorpusConfig, synthesize_corpus

    out = tmp_path_factory.mktemp("corpus8")
    config = SyntheticCorpusConfig(
        languages=("en", "zh", "de"), speakers_per_language=8, utterances_per_speaker=8, seed=0
    )
    synthesize_corpus(config, out, progress=False)
    return out


def args_for(corpus, out, cache, *extra):
    return [
        "--data",
        str(corpus),
        "--seeds",
        "0,1",
        "--speakers_per_subset",
        "2",
        "--eval_speakers",
        "2",
        "--epochs",
        "5",
        "--output_dir",
        str(out),
        "--feature_cache_dir",
        str(cache),
        "--progress",
        "false",
        *extra,
    ]


def read_runs(path):
    with open(path, newline="") as f:
        return {(r["kind"], r["target"], r["donor"], r["n"], r["seed"]): r["performance"] for r in csv.DictReader(f)}


def test_ser_cltm_outputs_and_resume_after_a_crash(corpus8, tmp_path, monkeypatch):
    script = load_script("run_cltm")
    cache = tmp_path / "features"
    out = tmp_path / "full"
    result = script.main(args_for(corpus8, out, cache, "--task", "ser", "--n_grid", "4,8"))
    for name in (
        "cltm_runs.csv",
        "cltm_config.json",
        "dynamic_interval.json",
        "learning_curves.png",
        "cltm_matrix.csv",
        "cltm_matrix_se.csv",
        "cltm_gains.csv",
        "cltm_result.json",
        "cltm_diagnostics.json",
        "cltm_diagnostics.md",
        "cltm_heatmap.png",
    ):
        assert (out / name).is_file(), name
    runs = read_runs(out / "cltm_runs.csv")
    n = result["n"]
    assert n in (4, 8) and json.loads((out / "dynamic_interval.json").read_text())["interval"] == [n, 2 * n]
    # sweep: 3 languages x 2 N x (single, self) x 2 seeds; then 6 ordered pairs x 2 seeds of dual runs
    assert len(runs) == 24 + 12
    matrix = result["result"].matrix
    for i, lang in enumerate(result["result"].languages):
        if lang not in result["result"].undefined_targets:
            assert matrix[i, i] == 1.0
    with open(out / "cltm_matrix.csv") as f:
        table = list(csv.reader(f))
    assert table[0] == ["target \\ donor", "en", "zh", "de"]
    diagnostics = json.loads((out / "cltm_diagnostics.json").read_text())
    for key in (
        "rfd_1",
        "asym_rel",
        "mean_row_cosine",
        "prop_positive",
        "reciprocity_positive",
        "intra_family_positive",
        "rms",
        "top_donors",
        "top_receivers",
    ):
        assert key in diagnostics

    # the same command, interrupted after 7 runs, then restarted
    from hf_cser.cltm.protocol import CltmRunner

    original, calls = CltmRunner.run, []

    def crash_after_seven(self, spec):
        if len(calls) == 7:
            raise RuntimeError("simulated crash")
        calls.append(spec.key)
        return original(self, spec)

    crashed = tmp_path / "crashed"
    monkeypatch.setattr(CltmRunner, "run", crash_after_seven)
    with pytest.raises(RuntimeError, match="simulated crash"):
        script.main(args_for(corpus8, crashed, cache, "--task", "ser", "--n_grid", "4,8"))
    assert len(read_runs(crashed / "cltm_runs.csv")) == 7
    rerun = []

    def counting(self, spec):
        rerun.append(spec.key)
        return original(self, spec)

    monkeypatch.setattr(CltmRunner, "run", counting)
    script.main(args_for(corpus8, crashed, cache, "--task", "ser", "--n_grid", "4,8"))
    assert len(rerun) == 36 - 7 and not set(rerun) & set(calls)  # finished runs are not re-run
    assert read_runs(crashed / "cltm_runs.csv") == runs  # identical results
    assert (crashed / "cltm_matrix.csv").read_text() == (out / "cltm_matrix.csv").read_text()
    rerun.clear()
    script.main(args_for(corpus8, crashed, cache, "--task", "ser", "--n_grid", "4,8"))
    assert rerun == []  # nothing left to run

    # resuming with other settings is refused
    with pytest.raises(ValueError, match="other settings"):
        script.main(args_for(corpus8, crashed, cache, "--task", "ser", "--n_grid", "4,8", "--hidden_size", "8"))


@pytest.mark.parametrize("task, metric", [("gender", "macro_f1"), ("sv", "auc")])
def test_gender_and_speaker_verification(corpus8, tmp_path, task, metric):
    script = load_script("run_cltm")
    out = tmp_path / task
    extra = ["--eval_speakers", "4"] if task == "sv" else []
    result = script.main(args_for(corpus8, out, tmp_path / "features", "--task", task, "--n_samples", "8", *extra))
    assert result["n"] == 8
    with open(out / "cltm_runs.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 * 2 * 2 + 6 * 2 and {r["metric"] for r in rows} == {metric}
    performance = np.array([float(r["performance"]) for r in rows])
    assert ((performance >= 0) & (performance <= 1)).all()
    config = json.loads((out / "cltm_config.json").read_text())
    assert config["speaker_normalization"] is False  # the voice is what these tasks recognise


def test_two_process_launch_shares_the_runs(corpus8, tmp_path):
    """Under 2 CPU processes (gloo) each run is done once, by one process, with the same result as in one process."""
    common = ["--task", "ser", "--n_samples", "4", "--seeds", "0"]
    single = tmp_path / "one"
    load_script("run_cltm").main(args_for(corpus8, single, tmp_path / "features", *common))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "two"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        str(port),
        str(ROOT / "training_scripts" / "run_cltm.py"),
        *args_for(corpus8, out, tmp_path / "features", *common),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((out / "cltm_result.json").read_text())["num_processes"] == 2  # one group, not two lone runs
    with open(out / "cltm_runs.csv", newline="") as f:
        keys = [(r["kind"], r["target"], r["donor"]) for r in csv.DictReader(f)]
    assert len(keys) == len(set(keys)) == 3 * 2 + 6  # every run once
    assert read_runs(out / "cltm_runs.csv") == read_runs(single / "cltm_runs.csv")


def quick_args(corpus, out, cache, *extra):
    return [
        "--data",
        str(corpus),
        "--seeds",
        "0",
        "--speakers_per_subset",
        "2",
        "--eval_speakers",
        "2",
        "--epochs",
        "2",
        "--output_dir",
        str(out),
        "--feature_cache_dir",
        str(cache),
        "--progress",
        "false",
        "--task",
        "ser",
        "--n_samples",
        "4",
        "--languages",
        "en,zh",
        *extra,
    ]


def test_a_cell_whose_evaluation_speakers_reach_training_is_refused(corpus8, tmp_path, monkeypatch):
    """Leakage guard of every CLTM cell: evaluation speakers / files in the training rows raise before training."""
    from hf_cser.cltm.models import MlpTaskModel
    from hf_cser.cltm.protocol import CltmRunner
    from hf_cser.data import TargetLeakageError

    original = CltmRunner.training_indices

    def leaky(self, spec):  # the cell's first evaluation utterance joins the training rows
        return np.concatenate([original(self, spec), self.partition(spec.target, spec.seed).eval_indices[:1]])

    monkeypatch.setattr(CltmRunner, "training_indices", leaky)
    monkeypatch.setattr(MlpTaskModel, "fit", lambda *a, **k: pytest.fail("trained on leaked rows"))
    with pytest.raises(TargetLeakageError, match=r"train holds 1 audio file\(s\) of the \w+ evaluation set"):
        load_script("run_cltm").main(quick_args(corpus8, tmp_path / "out", tmp_path / "features"))


def test_bad_audio_fails_before_training_or_is_skipped_and_counted(corpus8, tmp_path, monkeypatch):
    from hf_cser.audio import BadAudioError
    from hf_cser.cltm.models import MlpTaskModel

    from .test_train_ctl_mtnet import corrupt_copy

    corpus, bad = corrupt_copy(corpus8, tmp_path / "corpus")
    script = load_script("run_cltm")
    with monkeypatch.context() as m:
        m.setattr(MlpTaskModel, "fit", lambda *a, **k: pytest.fail("training started"))
        with pytest.raises(BadAudioError, match=os.path.basename(bad)):
            script.main(quick_args(corpus, tmp_path / "strict", tmp_path / "features"))
    script.main(quick_args(corpus, tmp_path / "skip", tmp_path / "features", "--skip_bad_audio", "true"))
    assert json.loads((tmp_path / "skip" / "cltm_result.json").read_text())["bad_audio_skipped"] == 1


@pytest.mark.parametrize("problem", ["not_a_folder", "disk_full"])
def test_unusable_output_dir_fails_before_data_loading(corpus8, tmp_path, monkeypatch, unusable_output_dir, problem):
    from hf_cser.experiments.cltm import run as experiment_run
    from hf_cser.trainers import checkpointing

    out = unusable_output_dir(problem)
    monkeypatch.setattr(experiment_run, "load_data_spec", lambda *a, **k: pytest.fail("data loaded"))
    with pytest.raises(checkpointing.OutputDirError, match=str(out)):
        load_script("run_cltm").main(quick_args(corpus8, out, tmp_path / "features"))
