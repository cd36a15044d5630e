"""Corpus identity and batch building of the phonetic pretraining (split out of
[`~hf_cser.encoders.phonetic_pretraining`]).

Holds [`corpus_fingerprint`] (the identity of a corpus for caching), [`Utterances`] (the paths, languages and
alignments of one split, audio decoded lazily) and the two batch builders shared by training and evaluation:
[`batch_inputs`] (padded input values and attention mask from waveforms) and [`labels_batch`] (padded frame labels,
[`~hf_cser.encoders.phonetic_labels.IGNORE_INDEX`] on padding, from the alignments of a batch).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import torch

from ..audio import TARGET_SAMPLING_RATE
from .content_encoder import conv_frame_geometry, conv_output_lengths
from .phonetic_labels import IGNORE_INDEX, frame_labels


def corpus_fingerprint(corpus) -> str:
    """Identity of a corpus for caching: the `fingerprint` in a synthetic corpus' `synthetic_config.json`, otherwise
    a sha256 of the splits' datasets fingerprints (or of the folder's `dataset_dict.json` and `state.json` files)."""
    if isinstance(corpus, (str, os.PathLike)):
        path = Path(corpus)
        state_file = path / "synthetic_config.json"
        if state_file.is_file():
            fingerprint = json.loads(state_file.read_text()).get("fingerprint")
            if fingerprint:
                return f"synthetic-{fingerprint}"
        digest = hashlib.sha256()
        for name in sorted(p for p in path.rglob("*.json") if p.name in ("dataset_dict.json", "state.json")):
            digest.update(str(name.relative_to(path)).encode())
            digest.update(name.read_bytes())
        return digest.hexdigest()[:16]
    digest = hashlib.sha256()
    for split in sorted(corpus):
        digest.update(f"{split}:{getattr(corpus[split], '_fingerprint', len(corpus[split]))}".encode())
    return digest.hexdigest()[:16]


class Utterances:
    """Paths, languages and alignments of one split (columns read once; audio decoded lazily with `load_audio`)."""

    def __init__(self, dataset):
        self.paths = list(dataset["audio"])
        self.languages = list(dataset["language"])
        self.phonemes = list(dataset["phonemes"])

    def __len__(self) -> int:
        return len(self.paths)


def batch_inputs(feature_extractor, waveforms: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Padded `input_values` and `attention_mask` of a batch of 16 kHz waveforms."""
    features = feature_extractor(
        waveforms, sampling_rate=TARGET_SAMPLING_RATE, padding=True, return_attention_mask=True, return_tensors="pt"
    )
    return features["input_values"], features["attention_mask"]


def labels_batch(
    config, phonemes: list, languages: list, lengths: list[int], starts: list[float], scheme: str
) -> torch.Tensor:
    """Frame labels of a batch ([`frame_labels`] per row), `IGNORE_INDEX` on the frames of padding."""
    hop, receptive_field = conv_frame_geometry(config.conv_kernel, config.conv_stride)
    period, offset = hop / TARGET_SAMPLING_RATE, receptive_field / 2 / TARGET_SAMPLING_RATE
    num_frames = conv_output_lengths(torch.tensor(lengths), config.conv_kernel, config.conv_stride).tolist()
    out = torch.full((len(lengths), max(num_frames)), IGNORE_INDEX, dtype=torch.long)
    for row, (alignment, language, n, start) in enumerate(zip(phonemes, languages, num_frames, starts, strict=True)):
        labels = frame_labels(
            alignment, n, language, scheme=scheme, frame_period=period, frame_offset=offset, start_time=start
        )
        out[row, :n] = torch.from_numpy(labels)
    return out
