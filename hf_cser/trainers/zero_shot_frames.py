"""Frozen-backbone fast path of the zero-shot trainer: backbone frames computed once, then read from memory.

When no backbone weight trains (no PEFT, ``freeze_backbone=True``), the backbone's output frames of an utterance are
the same at every step, so :func:`encode_backbone_frames` computes them once per utterance and
:class:`ZeroShotFrameCollator` batches them as ``backbone_hidden_states`` + ``frame_mask`` for
``ZeroShotSerForEmotionClassification.forward``. What still trains (the model's ``top_adapter``, the heads, the
objective) sees exactly what it would see from waveforms, at a fraction of the cost. :func:`frame_statistics` gives
the per-dimension mean / std of the frames of the **training** utterances for ``model.set_frame_normalization``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.nn.utils.rnn import pad_sequence
from tqdm.auto import tqdm

from .zero_shot_trainer import ZeroShotDataCollator


@torch.no_grad()
def encode_backbone_frames(
    model,
    paths: Iterable[str],
    *,
    max_length: int | None = None,
    batch_size: int = 8,
    progress: bool = True,
    dtype: torch.dtype = torch.float32,
) -> dict[str, torch.Tensor]:
    """Backbone output frames of each audio file, `{path: (num_frames, hidden_size)}` (valid frames only).

    The model runs in `eval()` mode (no dropout) and is put back in its previous mode. Files are read with
    :func:`hf_cser.audio.load_audio` (16 kHz mono) and cropped to `max_length` samples like the waveform collator.
    Utterances are batched by length (less padding); the frames of each one are those of its valid samples.

    Args:
        model (`ZeroShotSerForEmotionClassification`): a model whose backbone is frozen (`backbone_is_frozen`).
        paths (`Iterable[str]`): audio files; duplicates are encoded once.
        max_length (`int`, *optional*): crop waveforms to this many samples.
        batch_size (`int`, *optional*, defaults to 8): utterances per backbone call.
        progress (`bool`, *optional*, defaults to `True`): a tqdm progress bar.
        dtype (`torch.dtype`, *optional*, defaults to `torch.float32`): storage type of the frames.

    Raises:
        ValueError: when backbone weights train (their frames would change during training).
    """
    from ..audio import load_audio

    if not model.backbone_is_frozen:
        raise ValueError(
            "The backbone has trainable weights (PEFT or `freeze_backbone=False`), so its frames change during "
            "training and cannot be cached; train from waveforms instead."
        )
    unique = list(dict.fromkeys(str(p) for p in paths))
    waves = {}
    for path in tqdm(unique, desc="Reading audio", disable=not progress, unit="file"):
        wav = load_audio(path)
        waves[path] = wav[:max_length] if max_length is not None else wav
    order = sorted(unique, key=lambda p: len(waves[p]))
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    frames: dict[str, torch.Tensor] = {}
    try:
        batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
        for batch in tqdm(batches, desc="Backbone frames", disable=not progress, unit="batch"):
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


__all__ = ["ZeroShotFrameCollator", "encode_backbone_frames", "frame_statistics"]
