"""Device rules shared by the training arguments of every hf_cser trainer (CPU-only multi-process launches)."""

from __future__ import annotations

import os
from typing import Any

from transformers.utils import logging

logger = logging.get_logger(__name__)


def has_accelerator() -> bool:
    """Whether this machine has a CUDA, XPU or MPS device."""
    import torch

    has_xpu = hasattr(torch, "xpu") and torch.xpu.is_available()
    has_mps = hasattr(torch.backends, "mps") and torch.backends.mps.is_available()
    return torch.cuda.is_available() or has_xpu or has_mps


def cpu_only_distributed_launch() -> bool:
    """Whether this process was started by a multi-process launcher (``WORLD_SIZE`` > 1) on a machine with no CUDA,
    XPU or MPS device."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    return not has_accelerator()


def apply_device_launch_rules(args: Any) -> None:
    """Adjust `TrainingArguments` in place before their own ``__post_init__``: ``use_cpu`` under a CPU-only
    multi-process launch, and no pinned memory without an accelerator."""
    if not args.use_cpu and cpu_only_distributed_launch():
        # `accelerate launch --multi_gpu` with `use_cpu` (and torchrun) on a machine without an accelerator start
        # several processes, but TrainingArguments only builds a distributed state with `use_cpu=True`; without
        # it every process silently trains alone on the whole data set.
        logger.info("Distributed launch on a machine without an accelerator: setting `use_cpu=True` (gloo DDP).")
        args.use_cpu = True
    if args.dataloader_pin_memory and (args.use_cpu or not has_accelerator()):
        args.dataloader_pin_memory = False  # nothing to pin for; torch warns on every data loader otherwise
