"""Frozen-backbone fast path of the zero-shot trainer: backbone frames computed once, then read from a cache.

When no backbone weight trains (no PEFT, ``freeze_backbone=True``), the backbone's output frames of an utterance are
the same at every step, so :func:`encode_backbone_frames` computes them once per utterance and
:class:`ZeroShotFrameCollator` batches them as ``backbone_hidden_states`` + ``frame_mask`` for
``ZeroShotForEmotionClassification.forward``. What still trains (the model's ``top_adapter``, the heads, the
objective) sees exactly what it would see from waveforms, at a fraction of the cost. :func:`frame_statistics` gives
the per-dimension mean / std of the frames of the **training** utterances for ``model.set_frame_normalization``.

The frames are also written to disk (``<cache_dir>/<fingerprint>.safetensors``, no pickle), keyed by
:func:`backbone_frame_fingerprint`: a hash of the backbone's weights and config, the encoding settings, the audio
files (path, size, modification time) and :data:`FRAME_CACHE_FORMAT_VERSION`. A later run with the same backbone,
settings and files reads them back without running the backbone; any change gives another fingerprint, so the frames
are recomputed.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.nn.utils.rnn import pad_sequence
from transformers.utils import logging

from hf_cser.console import progress_bar

from ..cache import default_cache_root, file_identities, hash_json, hash_module_weights, settings_of, write_atomically
from .zero_shot_trainer import ZeroShotDataCollator

logger = logging.get_logger(__name__)

FRAME_CACHE_FORMAT_VERSION = "zero-shot-backbone-frames-v1"
"""Bumped whenever the way frames are computed or stored changes, which invalidates every frame cache."""


def default_frame_cache_dir() -> str:
    """``$HF_DATASETS_CACHE/hf_cser_zero_shot_frames`` (the root of the SAPA window-feature cache's sibling)."""
    return default_cache_root("hf_cser_zero_shot_frames")


def _unique_paths(paths: Iterable[str]) -> list[str]:
    """The distinct paths, sorted: the cache content depends on the set of files, not on their order."""
    return sorted(set(str(p) for p in paths))


def backbone_frame_fingerprint(
    model,
    paths: Iterable[str],
    *,
    max_length: int | None = None,
    batch_size: int = 8,
    dtype: torch.dtype = torch.float32,
) -> str:
    """Fingerprint of the cached backbone frames of `paths` (what :func:`encode_backbone_frames` keys its cache by).

    A SHA-256 over :data:`FRAME_CACHE_FORMAT_VERSION`, the backbone's weights (every tensor of its `state_dict`) and
    config, the encoding settings (16 kHz input, `max_length`, `batch_size`, which decides the padding of a batch,
    `dtype`) and each distinct file's path, size and modification time. The head, adapter and frame normalisation of
    the model are not part of it (the frames are the backbone's output). The device is not part of it either: frames
    computed on a GPU are reused on the CPU and vice versa.
    """
    from ..audio import TARGET_SAMPLING_RATE

    digest = hashlib.sha256(FRAME_CACHE_FORMAT_VERSION.encode())
    hash_module_weights(digest, model.backbone)
    settings = {
        "backbone_config": settings_of(model.backbone.config),
        "backbone_layer": getattr(model.config, "backbone_layer", None),
        "whisper_mode": getattr(model.config, "whisper_mode", None) if getattr(model, "is_whisper", False) else None,
        "sampling_rate": TARGET_SAMPLING_RATE,
        "max_length": max_length,
        "batch_size": batch_size,
        "dtype": str(dtype),
        "files": file_identities(_unique_paths(paths)),
    }
    hash_json(digest, settings)
    return digest.hexdigest()[:32]


def _read_frame_cache(path: str, fingerprint: str, paths: Sequence[str], dtype: torch.dtype):
    """The frames stored in `path`, or `None` (with a warning naming the file) when it is unreadable or does not hold
    exactly the frames of `paths` under `fingerprint`."""
    from safetensors import safe_open

    try:
        with safe_open(path, framework="pt") as f:
            metadata = f.metadata() or {}
            if metadata.get("fingerprint") != fingerprint or metadata.get("format") != FRAME_CACHE_FORMAT_VERSION:
                raise ValueError("its header names another fingerprint or format")
            if json.loads(metadata.get("paths", "null")) != list(paths):
                raise ValueError("its header lists other audio files")
            frames = {p: f.get_tensor(str(i)) for i, p in enumerate(paths)}
        if any(t.dim() != 2 or t.dtype != dtype for t in frames.values()):
            raise ValueError(f"a tensor is not a 2-D {dtype} (frames x hidden)")
        return frames
    except Exception as error:  # a truncated / garbled file, a foreign file: recompute rather than crash
        logger.warning(f"Ignoring the frame cache {path} ({type(error).__name__}: {error}); recomputing the frames.")
        return None


def _write_frame_cache(path: str, frames: Mapping[str, torch.Tensor], paths: Sequence[str], fingerprint: str):
    """Write `frames` to `path` atomically (a temporary file in the same folder, then `os.replace`)."""
    from safetensors.torch import save_file

    metadata = {"format": FRAME_CACHE_FORMAT_VERSION, "fingerprint": fingerprint, "paths": json.dumps(list(paths))}
    tensors = {str(i): frames[p].contiguous() for i, p in enumerate(paths)}
    write_atomically(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))


@torch.no_grad()
def encode_backbone_frames(
    model,
    paths: Iterable[str],
    *,
    max_length: int | None = None,
    batch_size: int = 8,
    progress: bool = True,
    dtype: torch.dtype = torch.float32,
    cache_dir: str | os.PathLike | None = None,
    use_cache: bool = True,
) -> dict[str, torch.Tensor]:
    """Backbone output frames of each audio file, `{path: (num_frames, hidden_size)}` (valid frames only).

    The model runs in `eval()` mode (no dropout) and is put back in its previous mode. Files are read with
    :func:`hf_cser.audio.load_audio` (16 kHz mono) and cropped to `max_length` samples like the waveform collator.
    Utterances are batched by length (less padding); the frames of each one are those of its valid samples.

    With `use_cache` (default) the frames are also stored in `<cache_dir>/<fingerprint>.safetensors`
    (:func:`backbone_frame_fingerprint`) and read back, without running the backbone, by a later call with the same
    backbone weights and config, settings and audio files (same paths, sizes and modification times). A cache file
    that cannot be read is ignored with a warning and rewritten.

    Args:
        model (`ZeroShotForEmotionClassification`): a model whose backbone is frozen (`backbone_is_frozen`).
        paths (`Iterable[str]`): audio files; duplicates are encoded once.
        max_length (`int`, *optional*): crop waveforms to this many samples.
        batch_size (`int`, *optional*, defaults to 8): utterances per backbone call.
        progress (`bool`, *optional*, defaults to `True`): a tqdm progress bar.
        dtype (`torch.dtype`, *optional*, defaults to `torch.float32`): storage type of the frames.
        cache_dir (`str` or `os.PathLike`, *optional*): folder of the frame caches; [`default_frame_cache_dir`]
            (`$HF_DATASETS_CACHE/hf_cser_zero_shot_frames`) when `None`.
        use_cache (`bool`, *optional*, defaults to `True`): read and write the on-disk cache; `False` keeps the
            frames in memory only.

    Raises:
        ValueError: when backbone weights train (their frames would change during training).
    """
    from ..audio import load_audio

    if not model.backbone_is_frozen:
        raise ValueError(
            "The backbone has trainable weights (PEFT or `freeze_backbone=False`), so its frames change during "
            "training and cannot be cached; train from waveforms instead."
        )
    unique = _unique_paths(paths)
    cache_file = None
    if use_cache:
        fingerprint = backbone_frame_fingerprint(
            model, unique, max_length=max_length, batch_size=batch_size, dtype=dtype
        )
        root = os.fspath(cache_dir) if cache_dir is not None else default_frame_cache_dir()
        cache_file = os.path.join(root, f"{fingerprint}.safetensors")
        if os.path.exists(cache_file):
            frames = _read_frame_cache(cache_file, fingerprint, unique, dtype)
            if frames is not None:
                logger.info(f"Loaded the backbone frames of {len(unique)} files from {cache_file}.")
                return frames
    waves = {}
    for path in progress_bar(unique, desc="Reading audio", disable=not progress, unit="file"):
        wav = load_audio(path)
        waves[path] = wav[:max_length] if max_length is not None else wav
    order = sorted(unique, key=lambda p: len(waves[p]))  # stable: equal lengths stay in path order
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    frames: dict[str, torch.Tensor] = {}
    try:
        batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
        for batch in progress_bar(batches, desc="Backbone frames", disable=not progress, unit="batch"):
            lengths = [len(waves[p]) for p in batch]
            input_values = torch.zeros(len(batch), max(lengths))  # (B, T)
            attention_mask = torch.zeros(len(batch), max(lengths), dtype=torch.long)  # (B, T)
            for i, path in enumerate(batch):
                input_values[i, : lengths[i]] = torch.from_numpy(np.asarray(waves[path], dtype=np.float32))
                attention_mask[i, : lengths[i]] = 1
            hidden, mask = model.encode_frames(input_values.to(device), attention_mask.to(device))  # (B, F, H)
            for i, path in enumerate(batch):
                valid = hidden[i] if mask is None else hidden[i, mask[i].bool()]
                frames[path] = valid.to("cpu", dtype).clone()
    finally:
        model.train(was_training)
    if cache_file is not None:
        try:
            _write_frame_cache(cache_file, frames, unique, fingerprint)
            logger.info(f"Wrote the backbone frames of {len(unique)} files to {cache_file}.")
        except OSError as error:  # a full or read-only disk costs the reuse, not the run
            logger.warning(f"Could not write the frame cache {cache_file} ({error}); the frames stay in memory.")
    return frames


def frame_statistics(frames: Mapping[str, torch.Tensor], paths: Iterable[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-dimension mean and standard deviation `(hidden_size,)` over all frames of `paths` (float64 sums).

    Pass the **training** utterances only: the statistics become part of the model.

    Raises:
        KeyError: a path without frames (named).
        ValueError: no frames at all.
    """
    total = total_sq = None
    count = 0
    for path in dict.fromkeys(str(p) for p in paths):
        if path not in frames:
            raise KeyError(f"No cached frames for {path}; encode it with `encode_backbone_frames` first.")
        x = frames[path].double()  # (T, H)
        total = x.sum(0) if total is None else total + x.sum(0)
        total_sq = (x * x).sum(0) if total_sq is None else total_sq + (x * x).sum(0)
        count += x.shape[0]
    if not count:
        raise ValueError("No frames to compute statistics from (empty training set?).")
    mean = total / count
    var = (total_sq / count - mean * mean).clamp_min(0.0)
    return mean.float(), var.sqrt().float()


@dataclass
class ZeroShotFrameCollator(ZeroShotDataCollator):
    """Batches cached backbone frames (from :func:`encode_backbone_frames`) instead of waveforms.

    Each row names its utterance in ``key`` (default ``audio``: the path column of the hf_cser schema, or a decoded
    ``audio`` dict with a ``path``). The batch holds ``backbone_hidden_states`` `(B, max_frames, H)` (zero padded),
    ``frame_mask`` `(B, max_frames)` and the ``labels`` / ``speaker_labels`` / ``language_ids`` of
    :class:`~hf_cser.trainers.ZeroShotDataCollator`.

    Args:
        frames (`Mapping[str, torch.Tensor]`): path -> `(num_frames, hidden_size)`.
        key (`str`, *optional*, defaults to `"audio"`): the row field with the path.
        speaker_map, languages: as :class:`~hf_cser.trainers.ZeroShotDataCollator`.
    """

    frames: Mapping[str, torch.Tensor] = field(default_factory=dict)
    key: str = "audio"

    def _path(self, row: Mapping[str, Any]) -> str:
        value = row.get(self.key)
        if isinstance(value, Mapping):
            value = value.get("path")
        if value is None:
            raise ValueError(f"A row has no `{self.key}` path (keys: {sorted(row)}); the frame cache is keyed by it.")
        if str(value) not in self.frames:
            raise KeyError(f"No cached backbone frames for {value}; encode every split's files before training.")
        return str(value)

    def __call__(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        rows = list(rows)
        feats = [self.frames[self._path(row)].float() for row in rows]
        lengths = torch.tensor([int(f.shape[0]) for f in feats])  # (B,)
        max_frames = max(int(lengths.max()), 1)
        if int(lengths.max()) > 0:  # one padding copy in C++ (no per-row Python slicing), zero padded
            hidden = pad_sequence(feats, batch_first=True)  # (B, F, H)
        else:
            hidden = torch.zeros(len(rows), max_frames, feats[0].shape[-1], dtype=torch.float32)  # (B, 1, H)
        frame_mask = (torch.arange(max_frames)[None, :] < lengths[:, None]).long()  # (B, F)
        return self._add_targets({"backbone_hidden_states": hidden, "frame_mask": frame_mask}, rows)


__all__ = [
    "FRAME_CACHE_FORMAT_VERSION",
    "ZeroShotFrameCollator",
    "backbone_frame_fingerprint",
    "default_frame_cache_dir",
    "encode_backbone_frames",
    "frame_statistics",
]
