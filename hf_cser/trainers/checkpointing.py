"""Run safety shared by the training scripts: a usable output folder before any work starts, which checkpoint to
resume from (explicit ``--resume_from_checkpoint`` or the last ``checkpoint-*`` found in ``output_dir``), and the
sampler epoch of a resumed epoch (:class:`SamplerEpochCallback`)."""

from __future__ import annotations

import errno
import json
import logging
import math
import os
import shutil
import tempfile
from typing import Any

from transformers import TrainerCallback

logger = logging.getLogger(__name__)

#: free space required in an output folder before training starts (override with ``HF_CSER_MIN_FREE_MB``)
DEFAULT_MIN_FREE_MB = 200


class OutputDirError(OSError):
    """The output folder cannot be created, is not writable or has too little free space."""


#: what transformers' `TrainingArguments` puts in `output_dir` when none is given
TRANSFORMERS_DEFAULT_OUTPUT_DIR = "trainer_output"


def default_output_dir(training_args, default: str) -> str:
    """Set ``training_args.output_dir`` to the script's ``default`` when the user gave none (transformers fills in
    ``"trainer_output"``), and return it."""
    if training_args.output_dir in (None, TRANSFORMERS_DEFAULT_OUTPUT_DIR):
        training_args.output_dir = default
    return training_args.output_dir


def check_output_dir(path: str, *, min_free_mb: float | None = None) -> str:
    """
    Create ``path`` if needed, write and delete a probe file in it and check the free disk space, so that an unusable
    output folder fails before data loading and training instead of at the first checkpoint.

    Args:
        path (`str`): the output folder.
        min_free_mb (`float`, *optional*): free space required, in MiB; defaults to the ``HF_CSER_MIN_FREE_MB``
            environment variable or `DEFAULT_MIN_FREE_MB` (200). ``0`` disables the check.

    Returns:
        `str`: the absolute path.

    Raises:
        `OutputDirError`: naming the path, the reason and the fix.
    """
    if min_free_mb is None:
        min_free_mb = float(os.environ.get("HF_CSER_MIN_FREE_MB", DEFAULT_MIN_FREE_MB))
    path = os.path.abspath(path)
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise OutputDirError(
            e.errno, f"cannot create the output folder '{path}' ({e.strerror or e}); choose another `--output_dir`."
        ) from e
    if not os.path.isdir(path):
        raise OutputDirError(errno.ENOTDIR, f"`--output_dir` '{path}' exists and is not a folder; choose another.")
    try:
        with tempfile.NamedTemporaryFile(dir=path, prefix=".hf_cser_write_probe_") as probe:
            probe.write(b"0" * 4096)
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as e:
        if e.errno == errno.ENOSPC:
            reason = "the disk is full"
        else:
            reason = f"it is not writable ({e.strerror or e})"
        raise OutputDirError(
            e.errno,
            f"cannot write to the output folder '{path}': {reason}; free space, fix the permissions or "
            "choose another `--output_dir`.",
        ) from e
    free_mb = shutil.disk_usage(path).free / 2**20
    if min_free_mb and free_mb < min_free_mb:
        raise OutputDirError(
            errno.ENOSPC,
            f"only {free_mb:.0f} MiB free on the disk of the output folder '{path}' (at least "
            f"{min_free_mb:.0f} MiB needed for checkpoints and results); free space, choose another `--output_dir` "
            "or lower the requirement with HF_CSER_MIN_FREE_MB.",
        )
    return path


def _missing_rng_states(folder: str, world_size: int | None) -> list[str]:
    """RNG-state files of a multi-process checkpoint that are missing (none expected without any RNG file at all:
    ``save_only_model``)."""
    if not world_size or world_size < 2:
        return []
    names = set(os.listdir(folder))
    if not any(n.startswith("rng_state") for n in names):
        return []
    return [f"rng_state_{rank}.pth" for rank in range(world_size) if f"rng_state_{rank}.pth" not in names]


def last_checkpoint(output_dir: str, *, world_size: int | None = None) -> str | None:
    """
    The ``checkpoint-<step>`` folder with the highest step in ``output_dir`` that holds a complete checkpoint, or
    ``None``.

    Complete = ``trainer_state.json`` present (process 0 writes it after the weights, optimizer, scheduler and its RNG
    state) and, for a run of ``world_size`` > 1 processes, one ``rng_state_<rank>.pth`` per process: the other
    processes save their RNG state without waiting for process 0, so a run killed during a save can leave a
    ``trainer_state.json`` without them.
    """
    if not os.path.isdir(output_dir):
        return None
    found = []
    for name in os.listdir(output_dir):
        full = os.path.join(output_dir, name)
        if name.startswith("checkpoint-") and name[len("checkpoint-") :].isdigit() and os.path.isdir(full):
            missing = _missing_rng_states(full, world_size)
            if not os.path.isfile(os.path.join(full, "trainer_state.json")):
                logger.warning(
                    f"ignoring the incomplete checkpoint '{full}' (no trainer_state.json: interrupted save)"
                )
            elif missing:
                logger.warning(
                    f"ignoring the incomplete checkpoint '{full}' (no {', '.join(missing)}: interrupted save)"
                )
            else:
                found.append((int(name[len("checkpoint-") :]), full))
    return max(found)[1] if found else None


def resolve_resume_checkpoint(
    output_dir: str,
    resume_from_checkpoint: str | bool | None,
    *,
    auto_resume: bool = True,
    world_size: int | None = None,
) -> str | None:
    """
    Which checkpoint ``Trainer.train`` should resume from.

    - an explicit folder: it must exist and hold ``trainer_state.json`` (else a `FileNotFoundError` naming it);
    - ``True`` / ``"true"`` / ``"last"``: the last complete checkpoint in ``output_dir`` (error if there is none);
    - ``None`` with ``auto_resume``: the last complete checkpoint in ``output_dir`` if any (logged), else ``None``;
    - ``"none"`` / ``"false"`` / ``False``: start from scratch.

    ``world_size`` (the run's number of processes) makes "complete" also require every process's RNG state (see
    `last_checkpoint`).
    """
    value = resume_from_checkpoint
    if isinstance(value, str) and value.lower() in ("none", "false", "no", ""):
        return None
    if value is False:
        return None
    if value is True or (isinstance(value, str) and value.lower() in ("true", "last", "yes")):
        found = last_checkpoint(output_dir, world_size=world_size)
        if found is None:
            raise FileNotFoundError(
                f"`--resume_from_checkpoint {value}` asked for the last checkpoint, but '{output_dir}' holds no "
                "complete `checkpoint-*` folder; drop the flag to start from scratch."
            )
        return found
    if value is None:
        found = last_checkpoint(output_dir, world_size=world_size) if auto_resume else None
        if found is not None:
            logger.warning(
                f"resuming from '{found}', the last checkpoint in the output folder (pass "
                "`--resume_from_checkpoint none` or another `--output_dir` to start from scratch)"
            )
        return found
    if not os.path.isfile(os.path.join(value, "trainer_state.json")):
        raise FileNotFoundError(
            f"`--resume_from_checkpoint` '{value}' is not a complete checkpoint folder (no trainer_state.json); "
            f"pass a `checkpoint-<step>` folder written by training, or `last`."
        )
    return value


def resolve_run_resume(
    run_dir: str, resume_from_checkpoint: str | None, *, run_dirs=None, world_size: int | None = None
) -> str | None:
    """
    Which checkpoint one run resumes from when a script trains several runs (stages, seeds, folds, grid cells), each
    with its checkpoints in its own folder ``run_dir``.

    - ``"none"`` / ``"false"``: from scratch;
    - a ``checkpoint-*`` folder inside ``run_dir``: that one (it must be complete);
    - a checkpoint of another run: this run resumes automatically; with ``run_dirs`` (every run folder of the
      script), a checkpoint that belongs to no run is refused with a `ValueError` before any work starts;
    - ``None`` / ``"last"`` / ``"true"``: the last complete checkpoint in ``run_dir``, if any (a run without one
      starts from scratch).
    """
    value = resume_from_checkpoint
    if value is None or value is False or value is True:
        value = None if value is not False else "none"
    if isinstance(value, str) and value.lower() in ("none", "false", "no", ""):
        return None
    owner = check_resume_owner(value, run_dirs) if run_dirs is not None else _owner(value)
    if owner is not None and owner == os.path.abspath(run_dir):
        return resolve_resume_checkpoint(run_dir, value, world_size=world_size)
    return resolve_resume_checkpoint(run_dir, None, world_size=world_size)


def _owner(value) -> str | None:
    if not isinstance(value, str) or value.lower() in ("none", "false", "no", "", "true", "last", "yes"):
        return None
    return os.path.dirname(os.path.abspath(os.path.normpath(value)))


def check_resume_owner(resume_from_checkpoint, run_dirs) -> str | None:
    """For a command that trains several runs: the run folder an explicit ``--resume_from_checkpoint`` folder belongs
    to (``None`` for a keyword), or a `ValueError` before any work starts if it belongs to none of ``run_dirs``."""
    owner = _owner(resume_from_checkpoint)
    if owner is not None and owner not in {os.path.abspath(d) for d in run_dirs}:
        raise ValueError(
            f"`--resume_from_checkpoint` '{resume_from_checkpoint}' is not a checkpoint of a run of this command "
            f"(expected '<run folder>/checkpoint-<step>' with a run folder among {sorted(run_dirs)[:3]}...); drop it "
            "to resume every run from its own last checkpoint."
        )
    return owner


def training_finished(checkpoint: str | None) -> bool:
    """
    Whether ``checkpoint`` is the last checkpoint of a training that already ended: ``max_steps`` reached, or stopped
    by a callback (early stopping). Resuming such a checkpoint with ``Trainer.train`` would train on past the end
    (transformers resets ``should_training_stop`` when training begins), so a restarted finished run would not give
    the uninterrupted run's model: use `train_or_restore`.
    """
    if checkpoint is None:
        return False
    with open(os.path.join(checkpoint, "trainer_state.json"), encoding="utf-8") as f:
        state = json.load(f)
    control = state.get("stateful_callbacks", {}).get("TrainerControl", {})
    if isinstance(control, list):
        control = control[0] if control else {}
    stopped = bool(control.get("args", {}).get("should_training_stop", False))
    max_steps = state.get("max_steps") or 0
    return stopped or (max_steps > 0 and state.get("global_step", 0) >= max_steps)


def train_or_restore(trainer, resume_from_checkpoint: str | None):
    """
    ``trainer.train(resume_from_checkpoint=...)``, except when that checkpoint ends a finished training
    (`training_finished`): then no step is trained, ``trainer.state`` is read from the checkpoint and the model the
    finished run ended with is restored (the best checkpoint with ``load_best_model_at_end``, else the checkpoint
    itself), so that a command started again after a crash in evaluation or in writing its outputs gives the same model
    and metrics as the uninterrupted run.

    Returns:
        `transformers.trainer_utils.TrainOutput`: ``trainer.train``'s, or one built from the restored state.
    """
    if not training_finished(resume_from_checkpoint):
        return trainer.train(resume_from_checkpoint=resume_from_checkpoint)
    from transformers.trainer_callback import TrainerState
    from transformers.trainer_utils import TrainOutput

    trainer.state = TrainerState.load_from_json(os.path.join(resume_from_checkpoint, "trainer_state.json"))
    best = trainer.state.best_model_checkpoint
    if best is not None and not os.path.isdir(best):  # recorded relative to another working folder
        best = os.path.join(os.path.dirname(os.path.abspath(resume_from_checkpoint)), os.path.basename(best))
        trainer.state.best_model_checkpoint = best
    if trainer.args.load_best_model_at_end and best is not None and os.path.isdir(best):
        trainer._load_best_model()
        restored = best
    else:
        trainer._load_from_checkpoint(resume_from_checkpoint)
        restored = resume_from_checkpoint
    logger.warning(
        f"'{resume_from_checkpoint}' is the last checkpoint of a finished training (step "
        f"{trainer.state.global_step}): nothing left to train, the final model is restored from "
        f"'{restored}' (pass `--resume_from_checkpoint none` or another `--output_dir` to train again)"
    )
    metrics = {
        "epoch": trainer.state.epoch,
        "global_step": trainer.state.global_step,
        "restored_finished_run": 1,
        **next((dict(h) for h in reversed(trainer.state.log_history) if "train_runtime" in h), {}),
    }
    return TrainOutput(trainer.state.global_step, metrics.get("train_loss", 0.0), metrics)


def finish_distributed() -> None:
    """At the end of a script launched with several processes: wait for every process, then tear the process group
    down, so that no process exits while gloo still has work in flight (which can abort it with "terminate called
    without an active exception"). Does nothing in a single process."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def set_sampler_epoch(dataloader: Any, epoch: int) -> list:
    """
    Call ``set_epoch(epoch)`` on every sampler reachable from ``dataloader`` through ``batch_sampler`` / ``sampler`` /
    ``base_dataloader`` attributes (Accelerate's `DataLoaderShard` -> `BatchSamplerShard` -> `BatchSampler` ->
    `SeedableRandomSampler`, or our batch samplers), and return those samplers.
    """
    found, seen, todo = [], set(), [dataloader]
    while todo:
        obj = todo.pop()
        if obj is None or id(obj) in seen:
            continue
        seen.add(id(obj))
        if obj is not dataloader and callable(getattr(obj, "set_epoch", None)):
            obj.set_epoch(epoch)
            found.append(obj)
        todo.extend(getattr(obj, name, None) for name in ("batch_sampler", "sampler", "base_dataloader"))
    return found


class SamplerEpochCallback(TrainerCallback):
    """
    Sets the sampler epoch at the start of every epoch, including an epoch resumed from a checkpoint.

    On resume in the middle of an epoch, the `Trainer` wraps the dataloader's batch sampler in Accelerate's
    ``SkipBatchSampler``. With more than one process, a *batch* sampler of our own (e.g.
    `HierarchicalLanguageEmotionSampler`, passed as ``batch_sampler`` and wrapped in ``BatchSamplerShard``) then sits
    below ``SkipBatchSampler -> BatchSamplerShard``, which neither ``DataLoaderShard.set_epoch`` nor the Trainer reach
    (transformers 5.x / accelerate 1.x): the resumed epoch would replay epoch 0's batches. (Accelerate's own
    ``SeedableRandomSampler`` is reached.) The skipped dataloader shares the original one's samplers, so setting the
    epoch on those (reached from ``train_dataloader``) before the epoch starts makes a resumed run draw the same
    batches as an uninterrupted one.
    """

    def on_epoch_begin(self, args, state, control, train_dataloader=None, **kwargs):
        if train_dataloader is not None:
            # state.epoch is a float (epochs done); the epoch starting now is its integer part
            set_sampler_epoch(train_dataloader, int(math.floor((state.epoch or 0.0) + 1e-6)))
