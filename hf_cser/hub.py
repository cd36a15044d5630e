"""Push a trained hf_cser model folder to the Hugging Face Hub, and check that a model folder can be loaded.

The folder written by a training script (``save_pretrained`` of the model and the feature extractor plus the
README.md of :func:`hf_cser.model_card.save_model_card`) is uploaded in one commit. Only what a user of the model
needs is sent (weights as safetensors, JSON configs, the card, text files); training leftovers such as
``training_args.bin``, ``optimizer.pt``, ``checkpoint-*/`` folders and TensorBoard ``runs/`` stay local.

Example:

:func:`check_model_folder` turns a missing weight file or weights whose shapes do not match ``config.json`` into an
error naming the folder, the file and the fix (``hf_cser.inference.load_audio_classifier`` runs it first).

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
    "checkpoint-*",
    "runs",
    "wandb",
    ".git",
    ".cache",
    "__pycache__",
    ".ipynb_checkpoints",
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
        missing.append(("README.md", "`hf_cser.model_card.save_model_card(render_model_card(...), output_dir)`"))
    return missing


class ModelWeightsMismatchError(ValueError):
    """The weight file of a model folder does not fit the model its ``config.json`` describes."""


WEIGHTS_FILES: tuple[str, ...] = ("model.safetensors", "model.safetensors.index.json")


def _weight_shapes(folder: str) -> tuple[str, dict[str, tuple[int, ...]]]:
    """(the weight file name, ``{tensor name: shape}``) read from the safetensors headers only (no tensor data)."""
    import json

    from safetensors import safe_open

    index = os.path.join(folder, WEIGHTS_FILES[1])
    if os.path.isfile(index):
        with open(index, encoding="utf-8") as f:
            shards = sorted(set(json.load(f)["weight_map"].values()))
        name = WEIGHTS_FILES[1]
    else:
        shards, name = [WEIGHTS_FILES[0]], WEIGHTS_FILES[0]
    shapes = {}
    for shard in shards:
        with safe_open(os.path.join(folder, shard), framework="pt") as f:
            for key in f.keys():
                shapes[key] = tuple(f.get_slice(key).get_shape())
    return name, shapes


def check_model_folder(folder: str | os.PathLike, model_class=None, max_listed: int = 5) -> None:
    """Check that a saved model folder can be loaded: ``config.json`` and the safetensors weights exist, and every
    weight has the shape the config implies.

    transformers reports a missing weight file without saying how to write it, and a shape mismatch as
    ``RuntimeError: You set ignore_mismatched_sizes to False`` after a long table; this check names the folder, the
    file, the first mismatched tensors and the fix. The model is built on the ``meta`` device (no memory, no
    weights read): only the safetensors headers are compared.

    Args:
        folder (`str` or `os.PathLike`): the model folder.
        model_class (*optional*): the class whose ``from_config`` builds the model; defaults to
            `AutoModelForAudioClassification`.
        max_listed (`int`, *optional*, defaults to 5): mismatched tensors named in the message.

    Raises:
        IncompleteModelFolderError: ``config.json`` or the weight file is missing.
        ModelWeightsMismatchError: a tensor of the weight file has another shape than the config's model.
    """
    import torch
    from transformers import AutoConfig

    folder = os.fspath(folder)
    if not os.path.isfile(os.path.join(folder, "config.json")):
        raise IncompleteModelFolderError(
            f"'{folder}' has no config.json; it is not a saved model. Write it with `model.save_pretrained(folder)`, "
            "or give the `--output_dir` of a finished training run."
        )
    if not any(os.path.isfile(os.path.join(folder, name)) for name in WEIGHTS_FILES):
        adapter_only = os.path.isfile(os.path.join(folder, "adapter_model.safetensors"))
        hint = (
            " It holds adapter_model.safetensors only: build the model from its pretrained backbone and call "
            "`load_adapter_weights(folder)`."
            if adapter_only
            else ""
        )
        raise IncompleteModelFolderError(
            f"'{folder}' has config.json but no weights (model.safetensors); the run that wrote it did not finish "
            "or the file was deleted. Save the model with `model.save_pretrained(folder)`, or resume training from "
            f"the folder's last `checkpoint-*`.{hint}"
        )
    if model_class is None:
        from transformers import AutoModelForAudioClassification as model_class
    config = AutoConfig.from_pretrained(folder)
    build = getattr(model_class, "from_config", None) or model_class._from_config  # Auto class or model class
    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in build(config).state_dict().items()}
    file_name, found = _weight_shapes(folder)
    mismatched = [(k, shape, expected[k]) for k, shape in found.items() if k in expected and expected[k] != shape]
    if mismatched:
        listed = "; ".join(f"{k}: file {list(a)} vs config {list(b)}" for k, a, b in mismatched[:max_listed])
        raise ModelWeightsMismatchError(
            f"'{os.path.join(folder, file_name)}' does not match '{os.path.join(folder, 'config.json')}': "
            f"{len(mismatched)} tensor(s) have another shape ({listed}). The config.json was edited or belongs to "
            "another model: restore the config.json saved with these weights, or re-save the model with "
            "`model.save_pretrained(folder)`."
        )


def should_check_folder(name, kwargs: dict) -> bool:
    """Whether ``from_pretrained(name, **kwargs)`` loads a whole local folder that `check_model_folder` can check
    (not a Hub id, a `subfolder`, an explicit `state_dict`, or `ignore_mismatched_sizes=True`). The weights are
    compared with the folder's own ``config.json`` (what ``AutoModel*`` passes on as ``config``)."""
    return (
        isinstance(name, (str, os.PathLike))
        and os.path.isdir(name)
        and not any(kwargs.get(k) for k in ("subfolder", "ignore_mismatched_sizes", "state_dict"))
    )


class CheckedFolderLoadingMixin:
    """Mixed into hf_cser's `PreTrainedModel` classes: ``from_pretrained(folder)`` (directly or through
    ``AutoModel*``) first runs `check_model_folder`, so a folder without ``model.safetensors`` or whose weights do not
    have the shapes of its ``config.json`` fails with an error naming the folder, the file and the fix."""

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, **kwargs):
        if should_check_folder(pretrained_model_name_or_path, kwargs):
            check_model_folder(pretrained_model_name_or_path, cls)
        return super().from_pretrained(pretrained_model_name_or_path, *model_args, **kwargs)


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


__all__ = [
    "SKIPPED_DIRS",
    "UPLOAD_PATTERNS",
    "IncompleteModelFolderError",
    "ModelWeightsMismatchError",
    "check_model_folder",
    "files_to_upload",
    "push_to_hub",
]
