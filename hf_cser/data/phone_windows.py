"""Phoneme-centred and peak-centred audio windows (split out of :mod:`hf_cser.data.phones`).

Holds :func:`phoneme_windows` (one fixed-length window centred on each phone's midpoint: 120 ms for the analysis,
240 ms for training, SAPA sections 2.3 and 3.1, with :class:`PhonemeWindows` as its result),
:func:`centred_windows` (windows around any centre times) and :func:`voiced_energy_peaks` (syllable nuclei for audio
without alignments), plus the paper's window lengths :data:`WINDOW_MS_ANALYSIS` and :data:`WINDOW_MS_TRAINING`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .phone_mapping import to_shared_phone

WINDOW_MS_ANALYSIS = 120.0
"""Phoneme-centred window for the phoneme-commonality analysis (SAPA section 2.3, paper value)."""
WINDOW_MS_TRAINING = 240.0
"""Phoneme-centred window for training the phoneme anchoring loss (SAPA section 3.1, paper value)."""

# --------------------------------------------------------------------------------------------------------------------
# Windows
# --------------------------------------------------------------------------------------------------------------------

PADDING_MODES = ("zero", "reflect")


@dataclass
class PhonemeWindows:
    """Windows cut by :func:`phoneme_windows`.

    Attributes:
        windows (`np.ndarray` of shape `(num_windows, window_samples)`, float32): one row per kept phone.
        phones (`list[str]`): the phone label of each row, as in the alignment.
        shared (`list[str | None]`): its shared vowel class (``None`` for phones outside the inventory).
        centres (`np.ndarray` of shape `(num_windows,)`): the window centres in seconds (phone midpoints).
    """

    windows: np.ndarray
    phones: list[str]
    shared: list[str | None]
    centres: np.ndarray

    def __len__(self) -> int:
        return len(self.phones)


def _window_samples(window_ms: float, sampling_rate: int) -> int:
    if window_ms <= 0:
        raise ValueError(f"`window_ms` must be positive, got {window_ms}.")
    if sampling_rate <= 0:
        raise ValueError(f"`sampling_rate` must be positive, got {sampling_rate}.")
    return max(1, int(round(window_ms * sampling_rate / 1000.0)))


def centred_windows(
    waveform: np.ndarray,
    centres: Sequence[float] | np.ndarray,
    sampling_rate: int = 16_000,
    window_ms: float = WINDOW_MS_TRAINING,
    padding: str = "zero",
) -> np.ndarray:
    """Cut fixed-length windows centred on the given times.

    A centre at sample ``c = round(t * sampling_rate)`` becomes index ``window_samples // 2`` of its window, which
    spans samples ``[c - window_samples // 2, c - window_samples // 2 + window_samples)``; centres outside the
    audio are clamped to its first/last sample.

    Args:
        waveform (`np.ndarray` of shape `(time,)`): mono audio.
        centres (`Sequence[float]`): centre times in seconds.
        sampling_rate (`int`, *optional*, defaults to 16000): rate of ``waveform``.
        window_ms (`float`, *optional*, defaults to 240): window length (paper values: 120 for the analysis, 240 for
            training).
        padding (`str`, *optional*, defaults to `"zero"`): how windows that run past the audio are filled.
            ``"zero"`` (library default) adds silence, so a window never contains sound that was not there;
            ``"reflect"`` mirrors the audio at its edges (no energy drop, but repeats the edge phone).

    Returns:
        `np.ndarray` of shape `(len(centres), window_samples)`, float32.
    """
    if padding not in PADDING_MODES:
        raise ValueError(f"`padding` must be one of {list(PADDING_MODES)}, got {padding!r}.")
    x = np.asarray(waveform, dtype=np.float32)
    if x.ndim != 1:
        raise ValueError(f"`waveform` must be 1-D (time,), got shape {x.shape}.")
    width = _window_samples(window_ms, sampling_rate)
    centres = np.asarray(centres, dtype=np.float64).reshape(-1)
    if centres.size == 0 or x.size == 0:
        return np.zeros((centres.size, width), dtype=np.float32)
    mode = "reflect" if padding == "reflect" and x.size > 1 else "constant"
    padded = np.pad(x, (width, width), mode=mode)
    c = np.clip(np.rint(centres * sampling_rate).astype(np.int64), 0, x.size - 1)
    starts = c - width // 2 + width  # offset into `padded`
    return padded[starts[:, None] + np.arange(width)[None, :]]


def phoneme_windows(
    waveform: np.ndarray,
    phonemes: Sequence[Mapping[str, Any]],
    sampling_rate: int = 16_000,
    window_ms: float = WINDOW_MS_TRAINING,
    *,
    padding: str = "zero",
    shared_only: bool = False,
    scheme: str = "espeak",
    language: str = "en",
    diphthongs: bool = True,
) -> PhonemeWindows:
    """Cut one fixed-length window centred on the midpoint of each phone (SAPA section 2.3).

    Args:
        waveform (`np.ndarray` of shape `(time,)`): mono audio.
        phonemes (`Sequence[Mapping]`): ``{"phone", "start", "end"}`` items in seconds.
        sampling_rate (`int`, *optional*, defaults to 16000): rate of ``waveform``.
        window_ms (`float`, *optional*, defaults to 240): window length; paper values 120 (analysis) and 240
            (training).
        padding (`str`, *optional*, defaults to `"zero"`): see :func:`centred_windows`.
        shared_only (`bool`, *optional*, defaults to `False`): keep only phones that map to :data:`SHARED_VOWELS`.
        scheme, language, diphthongs: how phones are mapped, as in :func:`to_shared_phone`.

    Returns:
        :class:`PhonemeWindows`: ``windows`` of shape `(num_windows, window_samples)` plus labels and centres.
    """
    phones, shared, centres = [], [], []
    for p in phonemes:
        vowel = to_shared_phone(str(p["phone"]), scheme, language, diphthongs=diphthongs)
        if shared_only and vowel is None:
            continue
        phones.append(str(p["phone"]))
        shared.append(vowel)
        centres.append(0.5 * (float(p["start"]) + float(p["end"])))
    centres_arr = np.asarray(centres, dtype=np.float64)
    windows = centred_windows(waveform, centres_arr, sampling_rate, window_ms, padding)
    return PhonemeWindows(windows=windows, phones=phones, shared=shared, centres=centres_arr)


def voiced_energy_peaks(
    waveform: np.ndarray,
    sampling_rate: int = 16_000,
    *,
    frame_ms: float = 25.0,
    hop_ms: float = 10.0,
    smooth_ms: float = 50.0,
    min_distance_ms: float = 100.0,
    floor_db: float = -35.0,
    max_zero_crossing_rate: float = 0.25,
    min_prominence_db: float = 3.0,
) -> np.ndarray:
    """Find syllable nuclei as peaks of smoothed short-time energy in voiced frames (fallback without alignments).

    All values are library choices. A frame (``frame_ms`` long every ``hop_ms``, centred on its time) is voiced
    when its energy is within ``-floor_db`` dB of the loudest frame and its zero-crossing rate (crossings per
    sample) is below ``max_zero_crossing_rate`` (voiced speech has most energy below 1 kHz; fricatives and noise
    cross zero far more often). The RMS envelope is smoothed with a Hann window of ``smooth_ms``; peaks of it in
    voiced frames at least ``min_distance_ms`` apart and ``min_prominence_db`` prominent are returned.

    Args:
        waveform (`np.ndarray` of shape `(time,)`): mono audio.
        sampling_rate (`int`, *optional*, defaults to 16000): rate of ``waveform``.

    Returns:
        `np.ndarray` of shape `(num_peaks,)`: peak times in seconds, ascending; feed them to
        :func:`centred_windows`.
    """
    from scipy.signal import find_peaks

    x = np.asarray(waveform, dtype=np.float64).reshape(-1)
    frame = _window_samples(frame_ms, sampling_rate)
    hop = _window_samples(hop_ms, sampling_rate)
    if x.size == 0:
        return np.zeros(0, dtype=np.float64)
    padded = np.pad(x, (frame // 2, frame // 2))
    num_frames = 1 + max(0, (padded.size - frame) // hop)
    frames = np.lib.stride_tricks.sliding_window_view(padded, frame)[::hop][:num_frames]  # (num_frames, frame)
    rms = np.sqrt(np.mean(frames**2, axis=1))
    signs = np.signbit(frames)
    zcr = np.mean(signs[:, 1:] != signs[:, :-1], axis=1)
    smooth = max(1, int(round(smooth_ms / hop_ms)))
    kernel = np.hanning(smooth + 2)[1:-1] if smooth > 1 else np.ones(1)
    # `mode="same"` of the full convolution, cut to `len(rms)` even when the audio has fewer frames than the kernel
    offset = (kernel.size - 1) // 2
    envelope = np.convolve(rms, kernel / kernel.sum(), mode="full")[offset : offset + rms.size]
    eps = 1e-10
    db = 20 * np.log10(envelope + eps)
    frame_db = 20 * np.log10(rms + eps)
    voiced = (frame_db > frame_db.max() + floor_db) & (zcr < max_zero_crossing_rate)
    if not voiced.any():
        return np.zeros(0, dtype=np.float64)
    masked = np.where(voiced, db, db.min() - 3 * min_prominence_db)
    distance = max(1, int(round(min_distance_ms / hop_ms)))
    peaks, _ = find_peaks(masked, distance=distance, prominence=min_prominence_db)
    peaks = peaks[voiced[peaks]]
    return peaks * hop / float(sampling_rate)
