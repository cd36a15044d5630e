"""Audio loading for hf_cser: any sample rate and channel count in, 16 kHz mono float32 out.

Decoding uses ``soundfile`` (datasets' ``Audio()`` decoding needs torchcodec + FFmpeg, which we avoid); resampling
uses a polyphase filter from scipy. Bad audio raises :class:`BadAudioError` naming the file and the fix, or, when the
caller opts in, is skipped and counted in a :class:`BadAudioCounter`.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from math import gcd

import numpy as np

TARGET_SAMPLING_RATE = 16_000

MIN_DURATION_MS = 240.0
"""Shortest audio the models take: one phoneme window (SAPA section 3.1). Shorter audio is zero-padded to it by
:func:`pad_to_min_duration` (with a warning) in the pipeline, ``hf_cser.inference.predict`` and the SAPA, CTL-MTNet
and log-mel feature extractors, instead of crashing the backbone's convolutions or poolings."""


class BadAudioError(ValueError):
    """Raised for audio that cannot be used: unreadable, empty, non-finite or silent.

    Attributes:
        path (`str`): the file (or ``"<array>"`` for in-memory input).
        reason (`str`): a short machine-readable reason (``missing``, ``unreadable``, ``empty``, ``non_finite``,
            ``silent``, ``bad_shape``).
    """

    def __init__(self, path: str, reason: str, message: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(message)


@dataclass
class BadAudioCounter:
    """Counts audio skipped with ``skip_bad_audio=True``, by reason, and keeps the first few paths per reason."""

    counts: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)
    max_examples: int = 5

    def add(self, error: BadAudioError) -> None:
        self.counts[error.reason] += 1
        paths = self.examples.setdefault(error.reason, [])
        if len(paths) < self.max_examples:
            paths.append(error.path)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def summary(self) -> str:
        if not self.total:
            return "no bad audio skipped"
        parts = [
            f"{n} {reason} (e.g. {', '.join(self.examples[reason])})" for reason, n in sorted(self.counts.items())
        ]
        return f"skipped {self.total} bad audio file(s): " + "; ".join(parts)


def resample(waveform: np.ndarray, orig_sr: int, target_sr: int = TARGET_SAMPLING_RATE) -> np.ndarray:
    """Resample a 1-D waveform with a polyphase anti-aliasing filter (``scipy.signal.resample_poly``)."""
    if orig_sr <= 0 or target_sr <= 0:
        raise ValueError(f"`sampling_rate` must be positive, got orig_sr={orig_sr}, target_sr={target_sr}.")
    if orig_sr == target_sr:
        return waveform
    from scipy.signal import resample_poly

    g = gcd(int(orig_sr), int(target_sr))
    return resample_poly(waveform, int(target_sr) // g, int(orig_sr) // g).astype(np.float32, copy=False)


def prepare_waveform(
    waveform: np.ndarray,
    sampling_rate: int,
    target_sampling_rate: int = TARGET_SAMPLING_RATE,
    source: str = "<array>",
) -> np.ndarray:
    """Turn an array of any dtype, channel layout and rate into validated mono float32 at ``target_sampling_rate``.

    Args:
        waveform (`np.ndarray`): 1-D ``(time,)`` or 2-D ``(time, channels)`` (soundfile's layout); a 2-D array with
            fewer rows than columns is taken as ``(channels, time)``. Integer arrays are scaled to [-1, 1].
        sampling_rate (`int`): rate of ``waveform`` in Hz.
        target_sampling_rate (`int`, *optional*, defaults to 16000): output rate.
        source (`str`, *optional*): name used in error messages (a file path).

    Raises:
        BadAudioError: empty, NaN/inf, all-zero or more than 2-D input.
    """
    x = np.asarray(waveform)
    if np.issubdtype(x.dtype, np.integer):
        x = x.astype(np.float32) / float(np.iinfo(x.dtype).max)
    x = x.astype(np.float32, copy=False)
    if x.ndim == 2:
        if x.shape[0] < x.shape[1] and x.shape[0] <= 8:  # (channels, time)
            x = x.T
        x = x.mean(axis=1)
    elif x.ndim != 1:
        raise BadAudioError(
            source, "bad_shape", f"{source}: expected 1-D (time,) or 2-D (time, channels) audio, got shape {x.shape}."
        )
    if x.size == 0:
        raise BadAudioError(source, "empty", f"{source}: the audio has zero samples; remove it or re-export it.")
    if not np.isfinite(x).all():
        bad = int((~np.isfinite(x)).sum())
        raise BadAudioError(
            source, "non_finite", f"{source}: {bad} sample(s) are NaN or inf; the file is corrupt, re-export it."
        )
    if not np.any(x):
        raise BadAudioError(
            source, "silent", f"{source}: the audio is all zeros (digital silence); remove it from the data."
        )
    return np.ascontiguousarray(resample(x, int(sampling_rate), int(target_sampling_rate)), dtype=np.float32)


def pad_to_min_duration(
    waveform: np.ndarray,
    sampling_rate: int = TARGET_SAMPLING_RATE,
    min_duration_ms: float = MIN_DURATION_MS,
    source: str = "<array>",
) -> np.ndarray:
    """Right-pad a 1-D waveform with zeros (silence) to at least ``min_duration_ms``, with a warning naming it.

    Audio shorter than one phoneme window (240 ms) carries at most one syllable: it is accepted (a short "yes" is a
    valid utterance) but padded, so that every backbone gets enough samples for its convolutions, and the warning
    says that a prediction on it is unreliable. Longer audio is returned unchanged.

    Args:
        waveform (`np.ndarray` of shape `(time,)`): mono audio.
        sampling_rate (`int`, *optional*, defaults to 16000): rate of ``waveform``.
        min_duration_ms (`float`, *optional*, defaults to 240): the shortest duration returned.
        source (`str`, *optional*): name used in the warning (a file path or an utterance index).

    Raises:
        BadAudioError: empty audio (zero samples) is an error, never padded into pure silence.
    """
    x = np.asarray(waveform)
    min_samples = int(round(min_duration_ms * sampling_rate / 1000.0))
    if x.ndim != 1 or x.shape[0] >= min_samples:
        return waveform
    if x.shape[0] == 0:
        raise BadAudioError(source, "empty", f"{source}: the audio has zero samples; remove it or re-export it.")
    from transformers.utils import logging

    logging.get_logger(__name__).warning(
        f"{source}: the audio lasts {1000.0 * x.shape[0] / sampling_rate:.1f} ms, shorter than one "
        f"{min_duration_ms:.0f} ms phoneme window; it is zero-padded to {min_duration_ms:.0f} ms. Predictions on "
        "such short audio are unreliable: drop it or pass longer segments."
    )
    return np.pad(x, (0, min_samples - x.shape[0]))


def split_waveform_batch(raw_speech) -> tuple[list[np.ndarray], bool]:
    """Normalise a feature extractor's ``raw_speech`` into a list of float32 waveforms.

    Accepts one waveform (1-D array, list of floats, tensor) or a batch (2-D array, list of arrays / tensors / lists).
    Returns ``(waveforms, is_batched)``. Raises `ValueError` for arrays with more than 2 dimensions.
    """
    if hasattr(raw_speech, "detach"):  # torch tensor
        raw_speech = raw_speech.detach().cpu().numpy()
    if isinstance(raw_speech, np.ndarray) and raw_speech.ndim > 2:
        raise ValueError(f"`raw_speech` must be 1-D or a 2-D batch, got shape {raw_speech.shape}.")
    is_batched = (isinstance(raw_speech, np.ndarray) and raw_speech.ndim == 2) or (
        isinstance(raw_speech, (list, tuple))
        and len(raw_speech) > 0
        and (hasattr(raw_speech[0], "__len__") or hasattr(raw_speech[0], "detach"))
    )
    if not is_batched:
        return [np.asarray(raw_speech, dtype=np.float32)], False
    waveforms = [
        np.asarray(w.detach().cpu().numpy() if hasattr(w, "detach") else w, dtype=np.float32) for w in raw_speech
    ]
    return waveforms, True


def load_audio(
    path: str | os.PathLike,
    target_sampling_rate: int = TARGET_SAMPLING_RATE,
    *,
    skip_bad_audio: bool = False,
    counter: BadAudioCounter | None = None,
) -> np.ndarray | None:
    """Read an audio file with soundfile and return validated mono float32 at ``target_sampling_rate``.

    Args:
        path (`str` or `os.PathLike`): the file.
        target_sampling_rate (`int`, *optional*, defaults to 16000): output rate.
        skip_bad_audio (`bool`, *optional*, defaults to `False`): return ``None`` (and count the file in
            ``counter``) instead of raising :class:`BadAudioError`.
        counter (:class:`BadAudioCounter`, *optional*): where skipped files are counted.
    """
    import soundfile as sf

    path = os.fspath(path)
    try:
        if not os.path.exists(path):
            raise BadAudioError(path, "missing", f"{path}: file not found; check the path or the corpus folder.")
        try:
            data, sr = sf.read(path, dtype="float32", always_2d=False)
        except Exception as err:  # soundfile raises LibsndfileError, RuntimeError, TypeError... for bad files
            raise BadAudioError(
                path,
                "unreadable",
                f"{path}: soundfile cannot decode it ({err}); convert it to WAV/FLAC or remove it.",
            ) from err
        return prepare_waveform(data, sr, target_sampling_rate, source=path)
    except BadAudioError as err:
        if not skip_bad_audio:
            raise
        if counter is not None:
            counter.add(err)
        return None
