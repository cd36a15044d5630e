"""Tests of hf_cser/hub.py with a mocked HfApi (no network)."""

from __future__ import annotations

from unittest import mock

import pytest
from huggingface_hub import CommitOperationAdd, HfApi

from hf_cser.hub import IncompleteModelFolderError, files_to_upload, push_to_hub


@pytest.fixture
def model_folder(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    for name in (
        "config.json",
        "model.safetensors",
        "preprocessor_config.json",
        "README.md",
        "eval_results.json",
        "training_args.bin",
        "optimizer.pt",
        "pytorch_model.bin",
        "scheduler.pth",
        "rng_state.ckpt",
    ):
        (folder / name).write_bytes(b"{}")
    for sub in ("checkpoint-10", "runs/Jan01"):
        (folder / sub).mkdir(parents=True)
        (folder / sub / "model.safetensors").write_bytes(b"x")
        (folder / sub / "config.json").write_bytes(b"{}")
    return folder


def test_push_uploads_only_what_a_user_needs(model_folder):
    with mock.patch.object(HfApi, "create_repo") as create_repo, mock.patch.object(HfApi, "create_commit") as commit:
        commit.return_value = "commit-info"
        out = push_to_hub(model_folder, "me/sapa", token="hf_x", private=True, commit_message="msg", create_pr=True)
    assert out == "commit-info"
    create_repo.assert_called_once()
    assert create_repo.call_args.args == ("me/sapa",)
    assert create_repo.call_args.kwargs["exist_ok"] is True and create_repo.call_args.kwargs["private"] is True
    kwargs = commit.call_args.kwargs
    assert kwargs["repo_id"] == "me/sapa" and kwargs["commit_message"] == "msg" and kwargs["create_pr"] is True
    operations = kwargs["operations"]
    assert all(isinstance(op, CommitOperationAdd) for op in operations)
    uploaded = sorted(op.path_in_repo for op in operations)
    assert uploaded == [
        "README.md",
        "config.json",
        "eval_results.json",
        "model.safetensors",
        "preprocessor_config.json",
    ]
    assert not any(
        p.endswith((".bin", ".pt", ".pth", ".ckpt")) or "checkpoint-" in p or p.startswith("runs/") for p in uploaded
    )
    assert uploaded == files_to_upload(model_folder)


@pytest.mark.parametrize("missing", ["config.json", "model.safetensors", "README.md", "preprocessor_config.json"])
def test_refuses_incomplete_folder(model_folder, missing):
    (model_folder / missing).unlink()
    with mock.patch.object(HfApi, "create_repo") as create_repo, mock.patch.object(HfApi, "create_commit") as commit:
        with pytest.raises(IncompleteModelFolderError, match=missing.replace(".", r"\.")):
            push_to_hub(model_folder, "me/sapa")
    create_repo.assert_not_called()
    commit.assert_not_called()


def test_sharded_weights_and_bad_arguments(model_folder, tmp_path):
    (model_folder / "model.safetensors").unlink()
    for name in (
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
        "model.safetensors.index.json",
    ):
        (model_folder / name).write_bytes(b"{}")
    with mock.patch.object(HfApi, "create_repo"), mock.patch.object(HfApi, "create_commit") as commit:
        push_to_hub(model_folder, "me/sapa")
    uploaded = {op.path_in_repo for op in commit.call_args.kwargs["operations"]}
    assert {"model-00001-of-00002.safetensors", "model.safetensors.index.json"} <= uploaded
    with pytest.raises(IncompleteModelFolderError, match="not a folder"):
        push_to_hub(tmp_path / "nope", "me/sapa")
    with pytest.raises(ValueError, match="repo_id"):
        push_to_hub(model_folder, "a/b/c")
