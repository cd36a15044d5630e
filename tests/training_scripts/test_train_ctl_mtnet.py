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

from hf_cser.experiments.ctl_mtnet import feature_rows
from hf_cser.experiments.ctl_mtnet import runs as experiment_runs
from hf_cser.trainers.ctl_mtnet_trainer import CtlMtNetTrainer

from .conftest import ROOT, assert_metrics_recompute, assert_run_records_recompute, corpus_files, load_script

TINY_MODEL = [
    "--conv_filters",
    "4",
    "--primary_capsule_types",
    "2",
    "--primary_capsule_dim",
    "4",
    "--digit_capsule_dim",
    "4",
]


def common(out):
    return [
        *TINY_MODEL,
        "--max_steps",
        "2",
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
        "--report_to",
        "none",
        "--feature_cache_dir",
        str(out.parent / "mfcc"),
    ]


@pytest.fixture(scope="module")
def script():
    return load_script("train_ctl_mtnet")


def read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_single_corpus_kfold_is_speaker_independent_and_writes_tables(script, tiny_corpus, tmp_path):
    out = tmp_path / "single"
    summary = script.main(
        [
            "--task",
            "single_corpus",
            "--data",
            f"synthetic:en@{tiny_corpus}",
            "--num_folds",
            "2",
            "--seeds",
            "0,1",
            *common(out),
        ]
    )
    runs = read_csv(out / "ctl_mtnet_runs.csv")
    assert [(r["seed"], r["fold"]) for r in runs] == [("0", "0"), ("0", "1"), ("1", "0"), ("1", "1")]
    assert sum(int(r["num_test"]) for r in runs[:2]) == 32  # the two folds cover the 4 en speakers x 8 utterances
    assert all(0.0 <= float(r["uar"]) <= 1.0 and 0.0 <= float(r["war"]) <= 1.0 for r in runs)
    (row,) = summary
    uars = [100 * float(r["uar"]) for r in runs]
    assert row["runs"] == 4 and row["uar_mean"] == pytest.approx(np.mean(uars))
    assert row["uar_std"] == pytest.approx(np.std(uars))
    for run in runs:  # capsule head: the saved scores are the capsule lengths, their argmax the prediction
        folder = out / "runs" / f"seed{run['seed']}_fold{run['fold']}"
        saved = assert_metrics_recompute(folder / "test_predictions.csv", run)
        assert len(saved) == int(run["num_test"]) and "score_neutral" in saved[0]
        (record,) = assert_run_records_recompute(folder, "ctl_mtnet", ["capsule"])
        assert record.extra == {"task": "single_corpus", "fold": int(run["fold"])} and record.validation_uar is None
        assert all(0.0 <= float(r[f"score_{e}"]) < 1.0 for r in saved for e in ("neutral", "happy", "angry", "sad"))
    assert "| single_corpus |" in (out / "ctl_mtnet_results.md").read_text()
    assert read_csv(out / "ctl_mtnet_summary.csv")[0]["runs"] == "4"


def test_cross_corpus_with_and_without_mdd_and_the_saved_model(script, tiny_corpus, tmp_path):
    from transformers import AutoModel, pipeline

    for flag, name in (([], "mdd"), (["--no_mdd"], "no_mdd")):
        out = tmp_path / name
        (row,) = script.main(
            [
                "--task",
                "cross_corpus",
                "--source",
                f"synthetic:en@{tiny_corpus}",
                "--target",
                f"synthetic:zh@{tiny_corpus}",
                "--seeds",
                "0",
                *flag,
                *common(out),
            ]
        )
        assert row["mdd"] == str(not flag)
        (run,) = read_csv(out / "ctl_mtnet_runs.csv")
        assert int(run["num_test"]) == 8  # the zh test speaker
        # the reported metrics recompute from the saved predictions: the zh test files, in order
        assert_metrics_recompute(
            out / "runs" / "seed0" / "test_predictions.csv", run, files=corpus_files(tiny_corpus, "zh", "test")
        )
        (record,) = assert_run_records_recompute(out / "runs" / "seed0", "ctl_mtnet", ["no_mdd" if flag else "mdd"])
        assert record.validation_uar == pytest.approx(float(run["validation_uar"]))  # selection on source validation
    model = AutoModel.from_pretrained(tmp_path / "mdd" / "model")
    assert model.config.use_mdd and model.config.head == "linear"
    card = (tmp_path / "mdd" / "model" / "README.md").read_text()
    assert "CTL-MTNet" in card and "synthetic" in card
    classifier = pipeline("audio-classification", model=str(tmp_path / "mdd" / "model"))
    result = classifier(np.zeros(8000, dtype=np.float32) + 0.01)
    assert sorted(r["label"] for r in result) == ["angry", "happy", "neutral", "sad"]
    # transductive: the whole target corpus (4 zh speakers x 8) is adapted to and scored
    out = tmp_path / "transductive"
    script.main(
        [
            "--task",
            "cross_corpus",
            "--source",
            f"synthetic:en@{tiny_corpus}",
            "--target",
            f"synthetic:zh@{tiny_corpus}",
            "--transductive",
            "--seeds",
            "0",
            "--save_model",
            "false",
            *common(out),
        ]
    )
    assert int(read_csv(out / "ctl_mtnet_runs.csv")[0]["num_test"]) == 32


def test_cross_corpus_refuses_overlapping_corpora(script, tiny_corpus, tmp_path):
    from hf_cser.data import TargetLeakageError

    with pytest.raises(TargetLeakageError, match=r"train holds \d+ audio file\(s\) of the target corpus"):
        script.main(
            [
                "--task",
                "cross_corpus",
                "--source",
                f"synthetic@{tiny_corpus}",
                "--target",
                f"synthetic:zh@{tiny_corpus}",
                *common(tmp_path / "x"),
            ]
        )


def test_cross_corpus_refuses_labelled_target_data(script, tiny_corpus, tmp_path, monkeypatch):
    """Leakage guard: if the unlabelled target data kept its labels (here: label stripping disabled), training
    never starts."""
    from hf_cser.data import TargetLeakageError

    monkeypatch.setattr(experiment_runs, "strip_label_columns", lambda dataset: dataset)
    monkeypatch.setattr(CtlMtNetTrainer, "train", no_training)
    with pytest.raises(TargetLeakageError, match="unlabelled target data carries a `emotion` column"):
        script.main(
            [
                "--task",
                "cross_corpus",
                "--source",
                f"synthetic:en@{tiny_corpus}",
                "--target",
                f"synthetic:zh@{tiny_corpus}",
                *common(tmp_path / "x"),
            ]
        )


def test_single_corpus_refuses_folds_sharing_speakers(script, tiny_corpus, tmp_path, monkeypatch):
    from hf_cser.data import TargetLeakageError, folds

    def leaky_folds(*args, **kwargs):
        n = len(kwargs["speakers"])
        return [(list(range(n - 4)), list(range(n - 8, n)))]  # 4 test rows also in train

    monkeypatch.setattr(folds, "make_folds", leaky_folds)
    monkeypatch.setattr(CtlMtNetTrainer, "train", no_training)
    with pytest.raises(TargetLeakageError, match=r"train holds 4 audio file\(s\) of the fold 0 test set"):
        script.main(["--task", "single_corpus", "--data", f"synthetic:en@{tiny_corpus}", *common(tmp_path / "x")])


def no_training(*args, **kwargs):
    raise AssertionError("training started")


def corrupt_copy(corpus, folder, language="en", split="train"):
    """A copy of a synthetic corpus with one wav (the first `split` file of `language`) truncated to 10 bytes;
    returns the copy and the relative path of the bad file."""
    import shutil

    shutil.copytree(corpus, folder)
    with open(folder / "metadata.csv") as f:
        bad = next(r["path"] for r in csv.DictReader(f) if r["language"] == language and r["split"] == split)
    (folder / bad).write_bytes(b"RIFF\x00\x00\x00\x00WA")
    return folder, bad


def test_bad_audio_fails_before_training_or_is_skipped_and_counted(script, tiny_corpus, tmp_path, monkeypatch):
    from hf_cser.audio import BadAudioError

    corpus, bad = corrupt_copy(tiny_corpus, tmp_path / "corpus")
    args = ["--task", "single_corpus", "--data", f"synthetic:en@{corpus}", "--num_folds", "2", "--save_model", "false"]
    with monkeypatch.context() as m:
        m.setattr(CtlMtNetTrainer, "train", no_training)
        with pytest.raises(BadAudioError, match=os.path.basename(bad)):
            script.main([*args, *common(tmp_path / "strict")])
    (row,) = script.main([*args, "--skip_bad_audio", "true", *common(tmp_path / "skip")])
    assert row["bad_audio_skipped"] == 1
    assert read_csv(tmp_path / "skip" / "ctl_mtnet_summary.csv")[0]["bad_audio_skipped"] == "1"
    assert sum(int(r["num_test"]) for r in read_csv(tmp_path / "skip" / "ctl_mtnet_runs.csv")) == 31


@pytest.mark.parametrize("problem", ["not_a_folder", "disk_full"])
def test_unusable_output_dir_fails_before_data_loading(script, tiny_corpus, unusable_output_dir, monkeypatch, problem):
    from hf_cser.trainers import checkpointing

    out = unusable_output_dir(problem)
    monkeypatch.setattr(experiment_runs, "load_checked", no_training)
    with pytest.raises(checkpointing.OutputDirError, match=str(out)):
        script.main(["--task", "single_corpus", "--data", f"synthetic:en@{tiny_corpus}", *common(out)])


class Interrupted(RuntimeError):
    pass


def tensors(path):
    from safetensors.torch import load_file

    return load_file(str(path))


def test_interrupted_run_resumes_bit_identical_and_finished_runs_are_skipped(
    script, tiny_corpus, tmp_path, monkeypatch
):
    """Cross-corpus MDD with random crops (Trainer checkpoints + the crop generator's state): a run killed after step
    3 resumes from checkpoint-2 (mid-epoch) and ends with the same weights and metrics as an uninterrupted run; a
    restarted command skips runs that finished."""
    import torch
    from transformers import TrainerCallback

    args = [
        "--task",
        "cross_corpus",
        "--source",
        f"synthetic:en@{tiny_corpus}",
        "--target",
        f"synthetic:zh@{tiny_corpus}",
        "--seeds",
        "0,1",
        "--save_strategy",
        "steps",
        "--save_steps",
        "2",
        "--eval_strategy",
        "no",
        "--load_best_model_at_end",
        "false",
    ]  # the final weights are the last ones

    def run(name):
        settings = common(tmp_path / name)
        settings[settings.index("--max_steps") + 1] = "6"  # 2 epochs of 4 source batches
        settings[settings.index("--max_train_frames") + 1] = "16"  # shorter than the utterances: crops are random
        return script.main([*args, *settings])

    reference = run("reference")

    class Crash(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if args.seed == 1 and state.global_step == 3:
                raise Interrupted("simulated crash")

    original_init = CtlMtNetTrainer.__init__

    def crashing_init(self, *a, **k):
        k["callbacks"] = [*(k.get("callbacks") or []), Crash()]
        original_init(self, *a, **k)

    with monkeypatch.context() as m:
        m.setattr(CtlMtNetTrainer, "__init__", crashing_init)
        with pytest.raises(Interrupted):
            run("crashed")
    run_dirs = tmp_path / "crashed" / "runs"
    assert (run_dirs / "seed0" / "run_result.json").is_file() and not list((run_dirs / "seed0").glob("checkpoint-*"))
    assert sorted(p.name for p in (run_dirs / "seed1").glob("checkpoint-*")) == ["checkpoint-2"]
    assert (run_dirs / "seed1" / "checkpoint-2" / "crop_rng_state.safetensors").is_file()

    calls = []
    original_train = CtlMtNetTrainer.train
    monkeypatch.setattr(CtlMtNetTrainer, "train", lambda self, **k: calls.append(k) or original_train(self, **k))
    resumed = run("crashed")
    assert len(calls) == 1 and calls[0]["resume_from_checkpoint"].endswith("checkpoint-2")  # seed 0 was skipped
    assert resumed == reference
    assert read_csv(tmp_path / "crashed" / "ctl_mtnet_runs.csv") == read_csv(
        tmp_path / "reference" / "ctl_mtnet_runs.csv"
    )
    expected, got = (
        tensors(tmp_path / "reference" / "model" / "model.safetensors"),
        tensors(tmp_path / "crashed" / "model" / "model.safetensors"),
    )
    assert expected.keys() == got.keys() and all(torch.equal(expected[k], got[k]) for k in expected)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_gloo_run(tiny_corpus, tmp_path):
    """The cross-corpus protocol (with MDD) runs unchanged under 2 CPU processes (gloo DDP): the two ranks share the
    MFCC cache folder, rank 0 alone writes the tables and the model, and the run records world size 2."""
    out = tmp_path / "ddp"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        str(free_port()),
        str(ROOT / "training_scripts" / "train_ctl_mtnet.py"),
        "--task",
        "cross_corpus",
        "--source",
        f"synthetic:en@{tiny_corpus}",
        "--target",
        f"synthetic:zh@{tiny_corpus}",
        "--seeds",
        "0",
        *common(out),
    ]
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


def test_no_mdd_is_checked_by_behaviour(script, tiny_corpus, tmp_path, monkeypatch):
    """`--no_mdd` trains without target batches and without the MDD term; the default trains with both on every
    step (the recorded loss components of every training step, and the data the trainer was given)."""

    seen = {"targets": [], "steps": []}
    real_init, real_record = CtlMtNetTrainer.__init__, CtlMtNetTrainer._record_loss_components

    def init(self, *args, **kwargs):
        seen["targets"].append(kwargs.get("target_dataset"))
        real_init(self, *args, **kwargs)

    def record(self, mode, logged):
        if mode == "train":
            seen["steps"].append(set(logged))
        return real_record(self, mode, logged)

    monkeypatch.setattr(CtlMtNetTrainer, "__init__", init)
    monkeypatch.setattr(CtlMtNetTrainer, "_record_loss_components", record)
    results = {}
    for flag, name in (([], "mdd"), (["--no_mdd"], "no_mdd")):
        seen["targets"].clear()
        seen["steps"].clear()
        script.main(
            [
                "--task",
                "cross_corpus",
                "--source",
                f"synthetic:en@{tiny_corpus}",
                "--target",
                f"synthetic:zh@{tiny_corpus}",
                "--seeds",
                "0",
                *flag,
                *common(tmp_path / name),
            ]
        )
        results[name] = (list(seen["targets"]), [set(s) for s in seen["steps"]])
    targets, steps = results["mdd"]
    assert targets[0] is not None and len(steps) == 2
    assert all({"mdd_discrepancy", "mdd_target_disparity", "grl_coeff"} <= s for s in steps)
    targets, steps = results["no_mdd"]
    assert targets[0] is None and len(steps) == 2
    assert all(not any(k.startswith("mdd") for k in s) and "grl_coeff" not in s for s in steps)


def _two_tones(folder):
    import soundfile as sf

    paths = []
    for i in range(2):
        path = folder / f"{i}.wav"
        sf.write(path, (0.1 * np.sin(np.arange(8000) * (i + 1) / 10)).astype(np.float32), 16000)
        paths.append(str(path))
    return paths


def _edit_keeping_the_size(path):
    """Rewrite `path` with other samples of the same length (same byte size), one second newer."""
    import os

    import soundfile as sf

    before = os.stat(path)
    sf.write(path, (0.1 * np.cos(np.arange(8000) / 3)).astype(np.float32), 16000)
    assert os.stat(path).st_size == before.st_size
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 10**9))


def test_mfcc_cache_is_reused_and_an_edited_file_of_the_same_size_is_recomputed(script, tmp_path, monkeypatch):
    from datasets import Dataset

    from hf_cser.models.ctl_mtnet import CtlMtNetFeatureExtractor

    paths = _two_tones(tmp_path)
    data = Dataset.from_dict({"audio": paths, "emotion": [0, 1], "speaker": ["a", "b"]})
    extractor = CtlMtNetFeatureExtractor()
    first = feature_rows(data, extractor, str(tmp_path / "cache"))
    calls = []
    original = CtlMtNetFeatureExtractor.extract  # patched on the class: the instance's settings stay as they are
    monkeypatch.setattr(
        CtlMtNetFeatureExtractor, "extract", lambda self, wave: calls.append(1) or original(self, wave)
    )
    again = feature_rows(data, extractor, str(tmp_path / "cache"))
    assert calls == []  # served from the cache
    assert all(np.array_equal(a["input_features"], b["input_features"]) for a, b in zip(first, again, strict=True))
    _edit_keeping_the_size(paths[1])
    edited = feature_rows(data, extractor, str(tmp_path / "cache"))
    assert len(calls) == 2  # recomputed
    assert not np.array_equal(edited[1]["input_features"], first[1]["input_features"])
    np.testing.assert_array_equal(edited[0]["input_features"], first[0]["input_features"])
