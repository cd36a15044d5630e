"""Frame labels and model configuration of the phonetic encoder (split out of
[`~hf_cser.encoders.phonetic_pretraining`]).

Holds the shared cross-lingual frame classes [`PHONETIC_LABELS`] (the six shared vowels + `"consonant"` +
`"silence"`) and their indices, the mapping from one aligned phone to its class ([`phone_class`]) and from a phoneme
alignment to frame-level classes ([`frame_labels`]), plus the `WavLMConfig` ([`tiny_wavlm_config`]) and feature
extractor ([`phonetic_feature_extractor`]) of the tiny WavLM that the project pretrains.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..audio import TARGET_SAMPLING_RATE
from ..data.phones import SHARED_VOWELS, strip_phone_marks, to_shared_phone
from .content_encoder import DEFAULT_FRAME_OFFSET, DEFAULT_FRAME_PERIOD

PHONETIC_LABELS: tuple[str, ...] = (*SHARED_VOWELS, "consonant", "silence")
"""Frame classes of the phonetic pretraining: the six shared vowels, then any other phone, then no phone / pause."""
CONSONANT_LABEL = PHONETIC_LABELS.index("consonant")
SILENCE_LABEL = PHONETIC_LABELS.index("silence")
IGNORE_INDEX = -100
SILENCE_PHONES = frozenset({"", "sil", "sp", "spn", "pau", "<eps>", "<sil>", "h#", "epi"})
"""Phone names that mean silence in common aligners (MFA, TIMIT, Kaldi); espeak pauses start with `_`."""


# ---------------------------------------------------------------------------------------------------- labels


def phone_class(phone: str, language: str, scheme: str = "espeak") -> int:
    """Index in [`PHONETIC_LABELS`] of one aligned phone: its shared vowel, else `"silence"` for pauses (espeak `_`,
    `_:`, `_!`, language-switch markers, aligner silence symbols), else `"consonant"` (any other phone, including
    vowels outside the shared inventory)."""
    vowel = to_shared_phone(phone, scheme=scheme, language=language)
    if vowel is not None:
        return SHARED_VOWELS.index(vowel)
    stripped = strip_phone_marks(phone, scheme)
    if stripped.lower() in SILENCE_PHONES or stripped.startswith(("_", "(")):
        return SILENCE_LABEL
    return CONSONANT_LABEL


def frame_labels(
    phonemes: Sequence[Mapping[str, Any]],
    num_frames: int,
    language: str,
    *,
    scheme: str = "espeak",
    frame_period: float = DEFAULT_FRAME_PERIOD,
    frame_offset: float = DEFAULT_FRAME_OFFSET,
    start_time: float = 0.0,
) -> np.ndarray:
    """Frame-level phone classes from a phoneme alignment.

    Frame `t` is centred at `start_time + frame_offset + t * frame_period` seconds; it gets the class
    ([`phone_class`]) of the phone whose interval `[start, end)` covers that centre, or `"silence"` when none does.

    Args:
        phonemes (`Sequence[Mapping]`): `{"phone", "start", "end"}` dicts, times in seconds (the hf_cser schema).
        num_frames (`int`): number of frames to label.
        language (`str`): language code for the phone mapping.
        scheme (`str`, *optional*, defaults to `"espeak"`): phone scheme, see [`~hf_cser.data.phones.to_shared_phone`].
        frame_period (`float`, *optional*, defaults to 0.02): frame hop in seconds.
        frame_offset (`float`, *optional*, defaults to 0.0125): centre of frame 0 in seconds.
        start_time (`float`, *optional*, defaults to 0.0): time of the first sample (for cropped audio).

    Returns:
        `np.ndarray` of shape `(num_frames,)`, dtype int64, values in `range(len(PHONETIC_LABELS))`.
    """
    labels = np.full(num_frames, SILENCE_LABEL, dtype=np.int64)
    if num_frames <= 0 or not phonemes:
        return labels
    order = sorted(range(len(phonemes)), key=lambda i: float(phonemes[i]["start"]))
    starts = np.array([float(phonemes[i]["start"]) for i in order])
    ends = np.array([float(phonemes[i]["end"]) for i in order])
    classes = np.array([phone_class(str(phonemes[i]["phone"]), language, scheme) for i in order], dtype=np.int64)
    centers = start_time + frame_offset + frame_period * np.arange(num_frames)
    index = np.searchsorted(starts, centers, side="right") - 1  # last phone starting at or before the centre
    valid = index >= 0
    covered = np.zeros(num_frames, dtype=bool)
    covered[valid] = centers[valid] < ends[index[valid]]
    labels[covered] = classes[index[covered]]
    return labels


# ---------------------------------------------------------------------------------------------------- model


def tiny_wavlm_config(**overrides: Any):
    """The `WavLMConfig` of the default phonetic encoder (library choice, sized for fast CPU training).

    WavLM's conv kernels `(10, 3, 3, 3, 3, 2, 2)` and strides `(5, 2, 2, 2, 2, 2, 2)` (20 ms frames, 25 ms receptive
    field) with narrow channels `(32, 32, 32, 64, 64, 64, 64)` and layer norm (so padded batches need an attention
    mask and give the same frames as unpadded ones); hidden size 96, 2 layers, 4 heads, feed-forward 256, a 32-tap
    positional convolution in 8 groups, 64 relative-position buckets; no dropout, layer drop or SpecAugment masking
    (all three draw from numpy's global generator, which would break seeded determinism). Any field can be
    overridden.
    """
    from transformers import WavLMConfig

    settings: dict[str, Any] = {
        "conv_dim": (32, 32, 32, 64, 64, 64, 64),
        "conv_kernel": (10, 3, 3, 3, 3, 2, 2),
        "conv_stride": (5, 2, 2, 2, 2, 2, 2),
        "feat_extract_norm": "layer",
        "hidden_size": 96,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "intermediate_size": 256,
        "num_conv_pos_embeddings": 32,
        "num_conv_pos_embedding_groups": 8,
        "num_buckets": 64,
        "max_bucket_distance": 200,
        "hidden_dropout": 0.0,
        "attention_dropout": 0.0,
        "activation_dropout": 0.0,
        "feat_proj_dropout": 0.0,
        "final_dropout": 0.0,
        "layerdrop": 0.0,
        "mask_time_prob": 0.0,
        "mask_feature_prob": 0.0,
        "id2label": dict(enumerate(PHONETIC_LABELS)),
        "label2id": {label: i for i, label in enumerate(PHONETIC_LABELS)},
    }
    settings.update(overrides)
    return WavLMConfig(**settings)


def phonetic_feature_extractor():
    """`Wav2Vec2FeatureExtractor` of the phonetic encoder: 16 kHz, per-utterance normalisation, attention mask."""
    from transformers import Wav2Vec2FeatureExtractor

    return Wav2Vec2FeatureExtractor(
        feature_size=1,
        sampling_rate=TARGET_SAMPLING_RATE,
        padding_value=0.0,
        do_normalize=True,
        return_attention_mask=True,
    )
