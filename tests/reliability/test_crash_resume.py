"""Crash safety under 2 CPU processes (gloo): `train_sapa.py` (the main job) killed with SIGKILL after a mid-epoch
checkpoint and run again with the same command ends bit-identical to an uninterrupted run with the same seed; a
`train_zero_shot.py` run resumed from a mid-epoch checkpoint too (its own batch sampler and GRL schedule)."""

import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[2]


def _training_script_fixtures():
    """The session fixtures of tests/training_scripts/conftest.py (tiny corpus and backbone), reused here."""
    spec = importlib.util.spec_from_file_location(
        "_crash_resume_fixtures", ROOT / "tests" / "training_scripts" / "conftest.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_fixtures = _training_script_fixtures()
tiny_corpus = _fixtures.tiny_corpus
tiny_backbone = _fixtures.tiny_backbone
tiny_corpus5 = _fixtures.tiny_corpus5

# 16 English training utterances, 2 processes x 4 = 8 per optimiser step: 2 steps per epoch, 6 steps = 3 epochs.
# checkpoint-3 is in the middle of epoch 1, so the resumed run must skip a batch of a shuffled epoch > 0.
MAX_STEPS, SAVE_STEPS = 6, 3

# Launched by torch.distributed.run instead of train_sapa.py itself: optionally sleeps after every optimiser step
# (HF_CSER_TEST_STEP_SLEEP seconds) so that the test can reliably kill the run between two checkpoints. Sleeping
# changes no computation; every run (uninterrupted, killed, resumed) goes through this same launcher.
LAUNCHER = """
import os, runpy, sys, time

import transformers.trainer_callback as trainer_callback

_on_step_end = trainer_callback.DefaultFlowCallback.on_step_end


def on_step_end(self, args, state, control, **kwargs):
    time.sleep(float(os.environ.get("HF_CSER_TEST_STEP_SLEEP", "0")))
    return _on_step_end(self, args, state, control, **kwargs)


trainer_callback.DefaultFlowCallback.on_step_end = on_step_end
sys.argv = [{script!r}, *sys.argv[1:]]
runpy.run_path({script!r}, run_name="__main__")
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command(launcher, corpus, backbone, out, cache):
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        str(free_port()),
        str(launcher),
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
        str(MAX_STEPS),
        "--per_device_train_batch_size",
        "4",
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
        "--save_strategy",
        "steps",
        "--save_steps",
        str(SAVE_STEPS),
        "--eval_strategy",
        "steps",
        "--eval_steps",
        str(SAVE_STEPS),
        "--save_total_limit",
        "3",
        "--run_analyses",
        "false",
    ]


def environment(step_sleep=0.0):
    return {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "HF_CSER_TEST_STEP_SLEEP": str(step_sleep)}


def run_to_the_end(cmd, step_sleep=0.0):
    proc = subprocess.run(cmd, capture_output=True, text=True, env=environment(step_sleep), timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc


def checkpoint_is_complete(folder: Path) -> bool:
    names = (
        "trainer_state.json",
        "model.safetensors",
        "optimizer.pt",
        "scheduler.pt",
        "rng_state_0.pth",
        "rng_state_1.pth",
    )
    return all((folder / name).is_file() for name in names)


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (Linux ``/proc``)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                todo.extend(int(child) for child in (task / "children").read_text().split())
            except OSError:  # the process ended meanwhile
                pass
    return found


def is_dead(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


def kill_after_checkpoint(cmd, out: Path, step: int, timeout=300.0) -> None:
    """Start ``cmd`` and, once ``checkpoint-<step>`` is complete, SIGKILL the launcher and every worker at once.

    torch.distributed.run starts each worker in its own session, so killing the launcher's process group alone would
    leave the workers training; the whole tree is killed instead, as a crash or a job scheduler's kill would."""
    log = out.parent / f"{out.name}_killed_run.log"
    with open(log, "w") as stderr:
        proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=stderr, env=environment(step_sleep=1.0), start_new_session=True
        )
        deadline = time.monotonic() + timeout
        try:
            while not checkpoint_is_complete(out / f"checkpoint-{step}"):
                assert proc.poll() is None, f"the run ended before checkpoint-{step}: {log.read_text()[-3000:]}"
                assert time.monotonic() < deadline, f"no complete checkpoint-{step} after {timeout} s"
                time.sleep(0.05)
            time.sleep(0.2)  # let rank 0 close trainer_state.json; the step sleep keeps the next checkpoint away
        finally:
            tree = process_tree(proc.pid)
            for pid in tree:
                try:
                    os.killpg(os.getpgid(pid), signal.SIGKILL)  # each worker leads its own process group
                except ProcessLookupError:  # already gone (or its group was killed with an earlier one)
                    pass
            proc.wait(timeout=60)
            deadline = time.monotonic() + 30
            while not all(is_dead(pid) for pid in tree):
                assert time.monotonic() < deadline, "the killed workers did not exit"
                time.sleep(0.05)
    assert proc.returncode == -signal.SIGKILL and len(tree) >= 3  # the launcher and 2 workers
    assert not (out / "results.json").exists() and not (out / f"checkpoint-{MAX_STEPS}").exists()


def trainer_log(checkpoint: Path) -> list[dict]:
    history = json.loads((checkpoint / "trainer_state.json").read_text())["log_history"]
    return [{k: v for k, v in entry.items() if "runtime" not in k and "per_second" not in k} for entry in history]


def assert_same_tensors(a: Path, b: Path) -> None:
    first, second = load_file(a), load_file(b)
    assert first.keys() == second.keys()
    different = [k for k in first if not torch.equal(first[k], second[k])]
    assert not different, f"{len(different)} tensors differ, e.g. {different[:3]}"


@pytest.mark.slow
def test_sigkill_mid_run_then_rerun_resumes_and_ends_bit_identical(tiny_corpus, tiny_backbone, tmp_path):
    launcher = tmp_path / "launch_train_sapa.py"
    launcher.write_text(LAUNCHER.format(script=str(ROOT / "training_scripts" / "train_sapa.py")))
    cache = tmp_path / "cache"
    reference, crashed = tmp_path / "uninterrupted", tmp_path / "crashed"

    run_to_the_end(command(launcher, tiny_corpus, tiny_backbone, reference, cache))
    crashed_cmd = command(launcher, tiny_corpus, tiny_backbone, crashed, cache)
    kill_after_checkpoint(crashed_cmd, crashed, SAVE_STEPS)
    proc = run_to_the_end(crashed_cmd)  # the same command again: automatic resume from the last checkpoint

    # it really resumed: from checkpoint-3, and its log starts at step 4
    assert f"Resuming training from checkpoint '{crashed / f'checkpoint-{SAVE_STEPS}'}'" in proc.stderr
    results = json.loads((crashed / "results.json").read_text())
    assert results["resumed_from_checkpoint"] == str(crashed / f"checkpoint-{SAVE_STEPS}")
    assert results["world_size"] == 2
    assert json.loads((reference / "results.json").read_text())["resumed_from_checkpoint"] is None

    # bit-identical on CPU: the last step's weights, the final (best) model, every logged loss and metric
    last = f"checkpoint-{MAX_STEPS}"
    assert_same_tensors(reference / last / "model.safetensors", crashed / last / "model.safetensors")
    assert_same_tensors(reference / "model.safetensors", crashed / "model.safetensors")
    assert trainer_log(reference / last) == trainer_log(crashed / last)
    expected = json.loads((reference / "results.json").read_text())
    assert results["summary"] == expected["summary"]
    assert results["target_test"] == expected["target_test"] and results["source_test"] == expected["source_test"]


def zero_shot_command(corpus, backbone, out):
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        str(free_port()),
        str(ROOT / "training_scripts" / "train_zero_shot.py"),
        "--data",
        f"synthetic@{corpus}",
        "--backbone",
        str(backbone),
        "--settings",
        "en->de",
        "--systems",
        "proposed",
        "--seeds",
        "0",
        "--max_steps",
        "5",
        "--languages_per_batch",
        "2",
        "--emotions_per_batch",
        "2",
        "--samples_per_cell",
        "1",
        "--eval_strategy",
        "no",
        "--load_best_model_at_end",
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
        "--output_dir",
        str(out),
        "--disable_tqdm",
        "true",
        "--tsne",
        "false",
    ]


@pytest.mark.slow
def test_zero_shot_two_process_run_resumed_mid_epoch_ends_bit_identical(tiny_corpus5, tiny_backbone, tmp_path):
    """4 global batches of 4 per epoch = 2 optimiser steps with 2 processes: checkpoint-3 is in the middle of epoch 1.
    A run folder left with only checkpoint-3 (what a kill after that save leaves) resumes from it when the command is
    rerun, and its batches (`HierarchicalLanguageEmotionSampler`, epoch 1 behind Accelerate's resume wrappers), GRL
    coefficients, losses and final weights are those of the uninterrupted run."""
    run = Path("en_to_de") / "proposed" / "seed0"
    reference, resumed = tmp_path / "uninterrupted", tmp_path / "resumed"
    run_to_the_end(zero_shot_command(tiny_corpus5, tiny_backbone, reference))
    shutil.copytree(reference / run / "checkpoint-3", resumed / run / "checkpoint-3")
    proc = run_to_the_end(zero_shot_command(tiny_corpus5, tiny_backbone, resumed))
    assert f"resuming from checkpoint '{resumed / run / 'checkpoint-3'}'" in proc.stderr
    assert trainer_log(reference / run / "checkpoint-5") == trainer_log(resumed / run / "checkpoint-5")
    assert [e["step"] for e in trainer_log(resumed / run / "checkpoint-5") if "grl_coeff" in e] == [1, 2, 3, 4, 5]
    assert_same_tensors(reference / run / "model.safetensors", resumed / run / "model.safetensors")
