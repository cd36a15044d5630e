"""Shared helpers of the on-disk caches of frozen-encoder outputs (SAPA window features, zero-shot backbone frames).

A cache entry is keyed by a fingerprint: a SHA-256 over everything its content is a pure function of (the frozen
weights, the settings, the data, and a format version). These helpers build such fingerprints
(:func:`hash_module_weights`, :func:`hash_json`, :func:`file_identities`) and choose the default root of the caches
(:func:`default_cache_root`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import torch

CONFIG_KEYS_WITHOUT_EFFECT = ("transformers_version", "_name_or_path", "architectures", "processor_class")
"""Config / feature-extractor keys that name or version an object without changing what it computes."""


def default_cache_root(name: str) -> str:
    """``$HF_DATASETS_CACHE/<name>``: where the library's frozen-feature caches live unless a `cache_dir` is given.

    ``HF_DATASETS_CACHE`` defaults to ``$HF_HOME/datasets`` (``~/.cache/huggingface/datasets``), as in `datasets`.
    """
    import datasets

    return os.path.join(str(datasets.config.HF_DATASETS_CACHE), name)


def hash_module_weights(digest, module: torch.nn.Module) -> None:
    """Feed every tensor of `module.state_dict()` (name, dtype, shape and raw bytes, in name order) to `digest`."""
    for name, tensor in sorted(module.state_dict().items()):
        flat = tensor.detach().to("cpu").contiguous().reshape(-1)
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}".encode())
        digest.update(flat.view(torch.uint8).numpy().data)  # the raw bytes, without a copy


def settings_of(obj: Any) -> dict[str, Any]:
    """The settings of a config or feature extractor (its `to_dict()`), without :data:`CONFIG_KEYS_WITHOUT_EFFECT`."""
    values = obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)
    return {key: value for key, value in values.items() if key not in CONFIG_KEYS_WITHOUT_EFFECT}


def hash_json(digest, value: Any) -> None:
    """Feed a canonical JSON form of `value` (sorted keys; non-JSON values as `str`) to `digest`."""
    digest.update(json.dumps(value, sort_keys=True, default=str).encode())


def file_identities(paths: Iterable[str]) -> list[list[Any]]:
    """`[path, size in bytes, modification time in ns]` of each file: a cheap identity of its content.

    Raises:
        FileNotFoundError: a missing file (named).
    """
    out = []
    for path in paths:
        try:
            stat = os.stat(path)
        except FileNotFoundError as error:
            raise FileNotFoundError(f"Audio file {path} does not exist; check the dataset's `audio` paths.") from error
        out.append([str(path), int(stat.st_size), int(stat.st_mtime_ns)])
    return out


def _umask() -> int:
    """The process's file-mode creation mask. Read from ``/proc/self/status`` where there is one: setting and
    restoring it (the portable way) leaves a moment in which another thread's new files get mode 0666."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomically(path: str | os.PathLike, write: Callable[[str], None]) -> None:
    """Call ``write(tmp)`` on a temporary file in `path`'s folder (created if needed), then ``os.replace`` it onto
    `path`: readers see the old file or the whole new one, never a partial one. The temporary file is removed on any
    error, which is re-raised.

    Example:

    ```python
    >>> write_atomically(out, lambda tmp: safetensors.numpy.save_file({"x": array}, tmp))
    ```
    """
    path = os.fspath(path)
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    suffix = os.path.splitext(path)[1]
    handle, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=folder)
    os.close(handle)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # as open() would create it (mkstemp makes it private: 0600)
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


@contextlib.contextmanager
def staged_folder(target: str | os.PathLike, marker_name: str) -> Iterator[Path]:
    """Write a folder's files into a sibling staging folder, then move them into `target`, the file `marker_name`
    last (after removing an old marker), so an interrupted write is never mistaken for a finished one. The staging
    folder is removed in any case.

    Example:

    ```python
    >>> with staged_folder(out, "hf_cser_conversion.json") as staging:
    ...     model.save_pretrained(staging)
    ...     (staging / "hf_cser_conversion.json").write_text("{}")
    ```
    """
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=target.parent))
    try:
        yield staging
        (target / marker_name).unlink(missing_ok=True)
        for item in sorted(staging.iterdir(), key=lambda p: p.name == marker_name):
            os.replace(item, target / item.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


__all__ = [
    "write_atomically",
    "staged_folder",
    "default_cache_root",
    "file_identities",
    "hash_json",
    "hash_module_weights",
    "settings_of",
]
