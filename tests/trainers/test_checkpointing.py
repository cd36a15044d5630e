"""`hf_cser.trainers.checkpointing`: output-folder checks, which checkpoint to resume from, sampler epoch on resume."""

import errno
import json
import tempfile
from unittest import mock

import pytest

from hf_cser.trainers.checkpointing import (
    OutputDirError,
    SamplerEpochCallback,
    check_output_dir,
    last_checkpoint,
    resolve_resume_checkpoint,
    set_sampler_epoch,
)


def make_checkpoint(output_dir, step, *, complete=True, ranks=(0,)):
    folder = output_dir / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"")
    for rank in ranks:
        (folder / f"rng_state_{rank}.pth").write_bytes(b"")
    if complete:
        (folder / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    return folder


# ---- check_output_dir ----


def test_creates_the_folder_and_leaves_no_probe_file(tmp_path):
    out = tmp_path / "a" / "b"
    assert check_output_dir(str(out), min_free_mb=0) == str(out)
    assert out.is_dir() and list(out.iterdir()) == []


def test_a_folder_below_a_regular_file_fails_naming_the_path(tmp_path):
    blocker = tmp_path / "plain_file"
    blocker.write_text("not a folder")
    with pytest.raises(OutputDirError, match="cannot create the output folder") as info:
        check_output_dir(str(blocker / "out"), min_free_mb=0)
    assert str(blocker / "out") in str(info.value) and "--output_dir" in str(info.value)
    with pytest.raises(OutputDirError) as info:  # the path itself is a file
        check_output_dir(str(blocker), min_free_mb=0)
    assert str(blocker) in str(info.value)


def test_full_disk_on_the_probe_write_fails_naming_the_path(tmp_path):
    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    with mock.patch.object(tempfile, "NamedTemporaryFile", disk_full):
        with pytest.raises(OutputDirError, match="the disk is full") as info:
            check_output_dir(str(tmp_path / "out"), min_free_mb=0)
    assert str(tmp_path / "out") in str(info.value) and info.value.errno == errno.ENOSPC


def test_unwritable_folder_fails_naming_the_path(tmp_path):
    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    with mock.patch.object(tempfile, "NamedTemporaryFile", denied):
        with pytest.raises(OutputDirError, match="it is not writable") as info:
            check_output_dir(str(tmp_path), min_free_mb=0)
    assert str(tmp_path) in str(info.value)


def test_too_little_free_space_fails_and_the_requirement_comes_from_the_environment(tmp_path, monkeypatch):
    import shutil

    free_mb = shutil.disk_usage(tmp_path).free / 2**20
    monkeypatch.setenv("HF_CSER_MIN_FREE_MB", str(free_mb * 1000))
    with pytest.raises(OutputDirError, match="MiB free") as info:
        check_output_dir(str(tmp_path))
    assert str(tmp_path) in str(info.value) and info.value.errno == errno.ENOSPC
    monkeypatch.setenv("HF_CSER_MIN_FREE_MB", "0")  # 0 disables the check
    assert check_output_dir(str(tmp_path)) == str(tmp_path)


# ---- last_checkpoint / resolve_resume_checkpoint ----


def test_last_checkpoint_is_the_highest_complete_step(tmp_path):
    assert last_checkpoint(str(tmp_path / "missing")) is None
    assert last_checkpoint(str(tmp_path)) is None
    make_checkpoint(tmp_path, 5)
    make_checkpoint(tmp_path, 20)  # numeric order, not string order ("checkpoint-5" > "checkpoint-20")
    make_checkpoint(tmp_path, 30, complete=False)  # killed while saving: no trainer_state.json
    (tmp_path / "checkpoint-best").mkdir()
    (tmp_path / "checkpoint-99.json").write_text("{}")
    assert last_checkpoint(str(tmp_path)) == str(tmp_path / "checkpoint-20")


def test_a_multi_process_checkpoint_needs_every_rng_state(tmp_path):
    make_checkpoint(tmp_path, 2, ranks=(0, 1))
    make_checkpoint(tmp_path, 4, ranks=(0,))  # rank 1 was killed before writing its RNG state
    assert last_checkpoint(str(tmp_path)) == str(tmp_path / "checkpoint-4")  # world size unknown: not checked
    assert last_checkpoint(str(tmp_path), world_size=2) == str(tmp_path / "checkpoint-2")
    make_checkpoint(tmp_path, 6, ranks=())  # save_only_model: no RNG state at all is complete
    assert last_checkpoint(str(tmp_path), world_size=2) == str(tmp_path / "checkpoint-6")
    assert resolve_resume_checkpoint(str(tmp_path), None, world_size=2) == str(tmp_path / "checkpoint-6")


@pytest.mark.parametrize("value", [None, "last", "true", True])
def test_automatic_and_last_resume_pick_the_last_checkpoint(tmp_path, value):
    make_checkpoint(tmp_path, 3)
    make_checkpoint(tmp_path, 6)
    assert resolve_resume_checkpoint(str(tmp_path), value) == str(tmp_path / "checkpoint-6")


@pytest.mark.parametrize("value", ["none", "False", "", False])
def test_none_starts_from_scratch(tmp_path, value):
    make_checkpoint(tmp_path, 3)
    assert resolve_resume_checkpoint(str(tmp_path), value) is None


def test_without_auto_resume_or_checkpoints_nothing_is_resumed(tmp_path):
    assert resolve_resume_checkpoint(str(tmp_path), None) is None
    make_checkpoint(tmp_path, 3)
    assert resolve_resume_checkpoint(str(tmp_path), None, auto_resume=False) is None


def test_explicit_checkpoint_must_be_complete(tmp_path):
    chosen = make_checkpoint(tmp_path, 3)
    make_checkpoint(tmp_path, 6)
    assert resolve_resume_checkpoint(str(tmp_path), str(chosen)) == str(chosen)  # not the last one
    broken = make_checkpoint(tmp_path, 9, complete=False)
    with pytest.raises(FileNotFoundError, match="not a complete checkpoint") as info:
        resolve_resume_checkpoint(str(tmp_path), str(broken))
    assert str(broken) in str(info.value)
    with pytest.raises(FileNotFoundError, match="holds no complete"):
        resolve_resume_checkpoint(str(tmp_path / "empty"), "last")


# ---- SamplerEpochCallback ----


class EpochBatchSampler:
    """A batch sampler whose batches depend on the epoch (like `HierarchicalLanguageEmotionSampler`)."""

    batch_size, drop_last = 2, False

    def __init__(self):
        self.epoch = 0

    def set_epoch(self, epoch):
        self.epoch = epoch

    def __iter__(self):
        return iter([[self.epoch, i] for i in range(4)])

    def __len__(self):
        return 4


def test_sampler_epoch_reaches_a_batch_sampler_below_accelerate_resume_wrappers():
    """With 2 processes, Accelerate's resume wrapper hides our batch sampler from `set_epoch`; the callback sets it."""
    from accelerate.data_loader import prepare_data_loader, skip_first_batches
    from torch.utils.data import DataLoader

    batch_sampler = EpochBatchSampler()
    shard = prepare_data_loader(
        DataLoader(list(range(8)), batch_sampler=batch_sampler), num_processes=2, process_index=0, put_on_device=False
    )
    resumed = skip_first_batches(shard, 1)  # what the Trainer iterates in a resumed epoch
    resumed.set_epoch(2)  # what the Trainer calls
    assert batch_sampler.epoch == 0  # the gap this callback closes (if accelerate fixes it, this line can go)

    SamplerEpochCallback().on_epoch_begin(None, mock.Mock(epoch=2.5), None, train_dataloader=shard)
    assert batch_sampler.epoch == 2  # resumed in the middle of epoch 2
    assert [batch[0] for batch in resumed] == [2]  # rank 0's remaining batch comes from epoch 2's plan
    SamplerEpochCallback().on_epoch_begin(None, mock.Mock(epoch=3.0), None, train_dataloader=shard)
    assert batch_sampler.epoch == 3  # the start of epoch 3 of an uninterrupted run


def test_set_sampler_epoch_finds_accelerates_seedable_sampler():
    import torch
    from accelerate.data_loader import prepare_data_loader
    from torch.utils.data import DataLoader, RandomSampler

    data = list(range(8))
    loader = prepare_data_loader(
        DataLoader(data, batch_size=2, sampler=RandomSampler(data)),
        num_processes=2,
        process_index=0,
        put_on_device=False,
        use_seedable_sampler=True,
        data_seed=7,
    )
    (sampler,) = set_sampler_epoch(loader, 3)
    assert sampler.epoch == 3
    assert list(sampler) == torch.randperm(8, generator=torch.Generator().manual_seed(7 + 3)).tolist()


# ---- resolve_run_resume: scripts that train several runs, each in its own folder ----


def _complete_checkpoint(folder, step):
    ckpt = folder / f"checkpoint-{step}"
    ckpt.mkdir(parents=True)
    (ckpt / "trainer_state.json").write_text("{}")
    return str(ckpt)


def test_run_resume_routes_an_explicit_checkpoint_to_its_own_run(tmp_path):
    from hf_cser.trainers.checkpointing import resolve_run_resume

    run_a, run_b = tmp_path / "seed0", tmp_path / "seed1"
    a2, a4 = _complete_checkpoint(run_a, 2), _complete_checkpoint(run_a, 4)
    b3 = _complete_checkpoint(run_b, 3)
    runs = [str(run_a), str(run_b)]
    # an explicit checkpoint is used by the run that owns it, the other runs resume from their own last one
    assert resolve_run_resume(str(run_a), a2, run_dirs=runs) == a2
    assert resolve_run_resume(str(run_b), a2, run_dirs=runs) == b3
    for value in (None, "last", "true", True):
        assert resolve_run_resume(str(run_a), value, run_dirs=runs) == a4
    # a run without checkpoints starts from scratch even with "last" (unlike a single-run script)
    assert resolve_run_resume(str(tmp_path / "seed2"), "last") is None
    for value in ("none", "false", False):
        assert resolve_run_resume(str(run_a), value) is None
    with pytest.raises(ValueError, match="not a checkpoint of a run of this command"):
        resolve_run_resume(str(run_a), str(tmp_path / "elsewhere" / "checkpoint-1"), run_dirs=runs)
    with pytest.raises(FileNotFoundError, match="not a complete checkpoint folder"):
        resolve_run_resume(str(run_a), str(run_a / "checkpoint-9"))


def _state(folder, **state):
    folder.mkdir(parents=True)
    (folder / "trainer_state.json").write_text(json.dumps(state))
    return str(folder)


def test_training_finished_reads_the_stop_flag_and_the_step_budget(tmp_path):
    from hf_cser.trainers.checkpointing import training_finished

    stop = {"TrainerControl": {"args": {"should_training_stop": True}, "attributes": {}}}
    go = {"TrainerControl": {"args": {"should_training_stop": False}, "attributes": {}}}
    assert training_finished(_state(tmp_path / "early", global_step=4, max_steps=20, stateful_callbacks=stop))
    assert training_finished(_state(tmp_path / "budget", global_step=20, max_steps=20, stateful_callbacks=go))
    assert not training_finished(_state(tmp_path / "middle", global_step=4, max_steps=20, stateful_callbacks=go))
    assert not training_finished(_state(tmp_path / "old", global_step=4, max_steps=20))  # no control state saved
    assert not training_finished(None)
