"""Checkpoints of the custom training loops of stages 2 and 3 (the InfoGAN and the classifier fine-tuning)."""

from __future__ import annotations

import json
import os
import random
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from transformers.utils import logging

logger = logging.get_logger(__name__)

# Checkpoints of the custom loops (stages 2 and 3): tensors in safetensors, optimizer states with `torch.save` (plain
# tensors and numbers, loaded with `weights_only=True`), everything else in JSON; written to a temporary folder and
# moved into place with `os.replace`, `trainer_state.json` last, so an interrupted save is never taken for a
# checkpoint.

LOOP_TENSORS_NAME = "loop_state.safetensors"
LOOP_OPTIMIZERS_NAME = "optimizers.pt"
LOOP_STATE_NAME = "trainer_state.json"


def capture_global_rng_state() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """torch's CPU RNG (a tensor), numpy's and Python's global RNG states (JSON-ready)."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    tensors = {"rng.torch": torch.random.get_rng_state(), "rng.numpy": torch.from_numpy(np_state[1].astype(np.int64))}
    state = {
        "numpy": [np_state[0], int(np_state[2]), int(np_state[3]), float(np_state[4])],
        "python": [py_state[0], list(py_state[1]), py_state[2]],
    }
    return tensors, state


def restore_global_rng_state(tensors: Mapping[str, torch.Tensor], state: Mapping[str, Any]) -> None:
    """Inverse of :func:`capture_global_rng_state`."""
    torch.random.set_rng_state(tensors["rng.torch"])
    name, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, tensors["rng.numpy"].numpy().astype(np.uint32), pos, has_gauss, cached))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))


def save_loop_checkpoint(
    output_dir: str,
    step: int,
    tensors: Mapping[str, torch.Tensor],
    optimizers: Mapping[str, torch.optim.Optimizer],
    state: Mapping[str, Any],
    save_total_limit: int | None = 1,
) -> str:
    """
    Write ``output_dir/checkpoint-<step>`` atomically: ``tensors`` (model weights, generator states, ...) plus the
    global RNG states in ``loop_state.safetensors``, the optimizer states in ``optimizers.pt`` and ``state`` (JSON:
    step, epoch, log history, ...) in ``trainer_state.json``. Older checkpoints beyond ``save_total_limit`` are
    removed. Returns the checkpoint folder.
    """
    from safetensors.torch import save_file

    os.makedirs(output_dir, exist_ok=True)
    final = os.path.join(output_dir, f"checkpoint-{step}")
    tmp = os.path.join(output_dir, f".tmp-checkpoint-{step}-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    rng_tensors, rng_state = capture_global_rng_state()
    all_tensors = {k: v.detach().cpu().contiguous().clone() for k, v in {**tensors, **rng_tensors}.items()}
    save_file(all_tensors, os.path.join(tmp, LOOP_TENSORS_NAME))
    torch.save({k: o.state_dict() for k, o in optimizers.items()}, os.path.join(tmp, LOOP_OPTIMIZERS_NAME))
    with open(os.path.join(tmp, LOOP_STATE_NAME), "w") as f:
        json.dump({**state, "global_rng": rng_state}, f)
        f.flush()
        os.fsync(f.fileno())
    if os.path.isdir(final):
        shutil.rmtree(final)
    os.replace(tmp, final)
    if save_total_limit:
        steps = sorted(
            int(name[len("checkpoint-") :])
            for name in os.listdir(output_dir)
            if name.startswith("checkpoint-") and name[len("checkpoint-") :].isdigit()
        )
        for old in steps[:-save_total_limit]:
            shutil.rmtree(os.path.join(output_dir, f"checkpoint-{old}"), ignore_errors=True)
    return final


def load_loop_checkpoint(
    checkpoint: str, optimizers: Mapping[str, torch.optim.Optimizer]
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a :func:`save_loop_checkpoint` folder: load the optimizer states into ``optimizers``, restore the global
    RNG states and return ``(tensors, state)``."""
    from safetensors.torch import load_file

    path = os.path.join(checkpoint, LOOP_STATE_NAME)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"'{checkpoint}' is not a complete checkpoint (no {LOOP_STATE_NAME}).")
    with open(path) as f:
        state = json.load(f)
    tensors = load_file(os.path.join(checkpoint, LOOP_TENSORS_NAME))
    saved = torch.load(os.path.join(checkpoint, LOOP_OPTIMIZERS_NAME), map_location="cpu", weights_only=True)
    for name, optimizer in optimizers.items():
        optimizer.load_state_dict(saved[name])
    restore_global_rng_state(tensors, state.pop("global_rng"))
    return tensors, state


def prefixed_state(prefix: str, state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """`state_dict` with `prefix.` before every key (several modules' weights in one safetensors file)."""
    return {f"{prefix}.{k}": v for k, v in state_dict.items()}


def unprefixed_state(prefix: str, tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The entries of `tensors` under `prefix.`, without it (the inverse of :func:`prefixed_state`)."""
    return {k[len(prefix) + 1 :]: v for k, v in tensors.items() if k.startswith(prefix + ".")}


def check_save_settings(args) -> None:
    """The checkpoint settings of a custom loop: `save_steps` an integer >= 0 (with an `output_dir` when > 0),
    `save_total_limit` >= 1 or None."""
    if int(args.save_steps) != args.save_steps or args.save_steps < 0:
        raise ValueError(f"`save_steps` must be an integer >= 0, got {args.save_steps!r}.")
    if args.save_steps and not args.output_dir:
        raise ValueError("`save_steps` > 0 needs an `output_dir` for the checkpoints.")
    if args.save_total_limit is not None and args.save_total_limit < 1:
        raise ValueError(f"`save_total_limit` must be >= 1 or None, got {args.save_total_limit!r}.")


@dataclass
class LoopArguments:
    r"""
    The settings every custom training loop of the method shares (stages 2 and 3).

    Args:
        seed (`int`, *optional*, defaults to 0): seed of the shuffling and every random draw of the loop.
        disable_tqdm (`bool`, *optional*, defaults to `False`): hide the progress bar.
        output_dir (`str`, *optional*): where ``checkpoint-<step>`` folders are written (none without it).
        save_steps (`int`, *optional*, defaults to 0): checkpoint every this many steps (0: never).
        save_total_limit (`int`, *optional*, defaults to 1): checkpoints kept.
    """

    seed: int = 0
    disable_tqdm: bool = False
    output_dir: str | None = None
    save_steps: int = 0
    save_total_limit: int = 1

    def __post_init__(self):
        check_save_settings(self)


__all__ = [
    "LoopArguments",
    "check_save_settings",
    "load_loop_checkpoint",
    "prefixed_state",
    "save_loop_checkpoint",
    "unprefixed_state",
]
