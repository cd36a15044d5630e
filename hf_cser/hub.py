"""Push a trained hf_cser model folder to the Hugging Face Hub.

The folder written by a training script (``save_pretrained`` of the model and the feature extractor plus the
README.md of :func:`hf_cser.model_card.save_model_card`) is uploaded in one commit. Only what a user of the model
needs is sent (weights as safetensors, JSON configs, the card, text files); training leftovers such as
``training_args.bin``, ``optimizer.pt``, ``checkpoint-*/`` folders and TensorBoard ``runs/`` stay local.

Example:

```python
>>> from hf_cser.hub import push_to_hub
>>> push_to_hub("outputs/sapa", "me/sapa-synthetic-en-zh", private=True)
```
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Sequence

from transformers.utils import logging

logger = logging.get_logger(__name__)

UPLOAD_PATTERNS: tuple[str, ...] = ("*.safetensors", "*.json", "*.md", "*.txt", "*.yaml", "*.yml")
"""File names uploaded (at any depth); anything else (``*.bin``, ``*.pt``, ``*.pth``, ``*.ckpt``...) is not."""

SKIPPED_DIRS: tuple[str, ...] = (
    "checkpoint-*", "runs", "wandb", ".git", ".cache", "__pycache__", ".ipynb_checkpoints"
)
"""Sub-folders never uploaded (Trainer checkpoints, TensorBoard and wandb logs, caches)."""


class IncompleteModelFolderError(FileNotFoundError):
    """The folder lacks a file every hf_cser model on the Hub needs."""


def _required_files(output_dir: str) -> list[tuple[str, str]]:
    """(missing file, how to create it) for each file the folder lacks."""
    missing = []
    if not os.path.isfile(os.path.join(output_dir, "config.json")):
        missing.append(("config.json", "`model.save_pretrained(output_dir)`"))
    if not (
        os.path.isfile(os.path.join(output_dir, "model.safetensors"))
        or os.path.isfile(os.path.join(output_dir, "model.safetensors.index.json"))
    ):
        missing.append(
            ("model.safetensors", "`model.save_pretrained(output_dir)` (safetensors is the default; never `.bin`)")
        )
    if not os.path.isfile(os.path.join(output_dir, "preprocessor_config.json")):
        missing.append(("preprocessor_config.json", "`feature_extractor.save_pretrained(output_dir)`"))
    if not os.path.isfile(os.path.join(output_dir, "README.md")):
        missing.append(
            ("README.md", "`hf_cser.model_card.save_model_card(render_model_card(...), output_dir)`")
        )
    return missing


def files_to_upload(
    output_dir: str | os.PathLike,
    patterns: Sequence[str] = UPLOAD_PATTERNS,
    skipped_dirs: Sequence[str] = SKIPPED_DIRS,
) -> list[str]:
    """The paths (relative to ``output_dir``, ``/``-separated, sorted) that :func:`push_to_hub` uploads."""
    output_dir = os.fspath(output_dir)
    found = []
    for dirpath, dirnames, filenames in os.walk(output_dir):
        dirnames[:] = sorted(d for d in dirnames if not any(fnmatch.fnmatch(d, p) for p in skipped_dirs))
        for name in filenames:
            if any(fnmatch.fnmatch(name, p) for p in patterns):
                found.append(os.path.relpath(os.path.join(dirpath, name), output_dir).replace(os.sep, "/"))
    return sorted(found)


def push_to_hub(
    output_dir: str | os.PathLike,
    repo_id: str,
    *,
    token: str | None = None,
    private: bool | None = None,
    commit_message: str = "Upload hf_cser model",
    create_pr: bool = False,
    revision: str | None = None,
):
    """Create (or reuse) a model repo and upload a saved model folder to it in one commit.

    Args:
        output_dir (`str` or `os.PathLike`): the folder with ``config.json``, ``model.safetensors`` (or a sharded
            ``model.safetensors.index.json``), ``preprocessor_config.json`` and ``README.md``.
        repo_id (`str`): ``user/name`` or ``org/name``.
        token (`str`, *optional*): a Hub token; defaults to the cached login (``hf auth login``) or ``HF_TOKEN``.
        private (`bool`, *optional*): visibility of a newly created repo (``None``: the Hub's default).
        commit_message (`str`, *optional*): the commit message.
        create_pr (`bool`, *optional*, defaults to `False`): open a pull request instead of committing to ``main``.
        revision (`str`, *optional*): the branch to commit to.

    Returns:
        `huggingface_hub.CommitInfo`: ``commit_url``, ``oid`` and, with ``create_pr``, ``pr_url``.

    Raises:
        IncompleteModelFolderError: a required file is missing (the message names it and how to write it).
    """
    from huggingface_hub import CommitOperationAdd, HfApi

    output_dir = os.path.abspath(os.path.expanduser(os.fspath(output_dir)))
    if not os.path.isdir(output_dir):
        raise IncompleteModelFolderError(
            f"`output_dir` '{output_dir}' is not a folder; give the `--output_dir` of a finished training run."
        )
    if not isinstance(repo_id, str) or not repo_id.strip() or repo_id.count("/") > 1:
        raise ValueError(f"`repo_id` must be 'name' or 'namespace/name', got {repo_id!r}.")
    missing = _required_files(output_dir)
    if missing:
        lines = "\n".join(f"  - {name}: write it with {fix}" for name, fix in missing)
        raise IncompleteModelFolderError(
            f"Refusing to push '{output_dir}' to {repo_id}: it lacks\n{lines}\nA model on the Hub needs all of them "
            "to load with `pipeline('audio-classification', model=...)`."
        )
    paths = files_to_upload(output_dir)
    left_out = sorted(
        os.path.relpath(os.path.join(d, f), output_dir)
        for d, _, names in os.walk(output_dir)
        for f in names
        if os.path.relpath(os.path.join(d, f), output_dir).replace(os.sep, "/") not in paths
    )
    if left_out:
        logger.info(f"Not uploading {len(left_out)} file(s) (training state, logs): {left_out[:10]}")
    api = HfApi(token=token)
    api.create_repo(repo_id, token=token, private=private, repo_type="model", exist_ok=True)
    operations = [
        CommitOperationAdd(path_in_repo=path, path_or_fileobj=os.path.join(output_dir, *path.split("/")))
        for path in paths
    ]
    logger.info(f"Uploading {len(operations)} file(s) to {repo_id}: {paths}")
    return api.create_commit(
        repo_id=repo_id,
        operations=operations,
        commit_message=commit_message,
        token=token,
        repo_type="model",
        revision=revision,
        create_pr=create_pr,
    )


__all__ = ["SKIPPED_DIRS", "UPLOAD_PATTERNS", "IncompleteModelFolderError", "files_to_upload", "push_to_hub"]
