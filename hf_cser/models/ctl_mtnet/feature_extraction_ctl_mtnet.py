"""Feature extractor of CTL-MTNet: 39-dimensional MFCCs (13 + deltas + delta-deltas), librosa-style, in numpy.

The paper (``papers/002``, section 3.1) extracts "39-dimensional MFCCs from the Librosa toolbox with a frame shift of
0.0125 s and a frame length of 0.05 s". This module reproduces librosa's defaults without depending on librosa:

- STFT: ``n_fft = win_length = 50 ms`` (800 samples at 16 kHz), ``hop_length = 12.5 ms`` (200 samples), periodic Hann
  window, ``center=True`` with zero padding of ``n_fft // 2`` on both sides (librosa >= 0.10's
  ``pad_mode="constant"``); ``1 + len(waveform) // hop_length`` frames.
- Power spectrogram through a Slaney-style mel filter bank (``librosa.filters.mel(htk=False, norm="slaney")``, 128
  bands from 0 Hz to Nyquist; `hf_cser.encoders.mel.mel_filters`, i.e. transformers' `mel_filter_bank`),
  ``power_to_db`` (``ref=1.0``, ``amin=1e-10``, ``top_db=80`` below the utterance's maximum), DCT-II (orthonormal),
  first 13 coefficients:
  ``librosa.feature.mfcc(y, sr, n_mfcc=13, n_fft=800, hop_length=200)``.
- Deltas: ``librosa.feature.delta(mfcc, width=9, order=1)`` and ``delta(mfcc, order=2)``, i.e. Savitzky-Golay
  derivatives (polynomial order = derivative order) with ``mode="interp"`` at the edges. librosa refuses utterances
  shorter than ``width`` frames; here the fit then uses every frame there is (library choice).

Output: ``input_features`` `(batch_size, num_frames, 39)` (13 MFCC, 13 deltas, 13 delta-deltas per frame) right-padded
with `padding_value`, and an ``attention_mask`` `(batch_size, num_frames)` of valid frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from transformers import BatchFeature, SequenceFeatureExtractor
from transformers.utils import logging

from ...audio import pad_to_min_duration, split_waveform_batch
from ...encoders.mel import mel_filters

logger = logging.get_logger(__name__)


@lru_cache(maxsize=8)
def dct_ii_matrix(num_coefficients: int, size: int) -> np.ndarray:
    """Orthonormal DCT-II basis `(num_coefficients, size)` (``scipy.fft.dct(type=2, norm="ortho")`` rows)."""
    n = np.arange(size)
    k = np.arange(num_coefficients)[:, None]
    basis = np.cos(np.pi * k * (2 * n + 1) / (2 * size)) * np.sqrt(2.0 / size)
    basis[0] /= np.sqrt(2.0)
    basis.setflags(write=False)
    return basis


@lru_cache(maxsize=32)
def _savgol_edge_filters(window: int, order: int, deriv: int) -> np.ndarray:
    """`(window, window)`: row ``k`` gives the ``deriv``-th derivative at point ``k`` of the least-squares polynomial
    of degree ``order`` through ``window`` equally spaced points (unit spacing)."""
    x = np.arange(window, dtype=np.float64)
    vander = np.vander(x, order + 1, increasing=True)  # (window, order + 1): value = vander @ coefs
    fit = np.linalg.pinv(vander)  # (order + 1, window): coefs = fit @ y
    factor = np.zeros((window, order + 1))
    for p in range(deriv, order + 1):
        factor[:, p] = np.prod(np.arange(p - deriv + 1, p + 1)) * x ** (p - deriv)
    filters = factor @ fit  # (window, window)
    filters.setflags(write=False)
    return filters


def savgol_derivative(features: np.ndarray, width: int = 9, order: int = 1) -> np.ndarray:
    """``librosa.feature.delta(features, width, order, axis=-1, mode="interp")`` in numpy.

    The ``order``-th derivative of a degree-``order`` Savitzky-Golay fit over ``width`` frames along the last axis; the
    first and last ``width // 2`` frames use the fit over the first / last ``width`` frames (scipy's
    ``mode="interp"``).
    Fewer frames than ``width``: one fit over all of them (degree capped at ``num_frames - 1``; library choice).
    """
    if width < 3 or width % 2 == 0:
        raise ValueError(f"`width` must be an odd integer >= 3, got {width!r}.")
    if order < 1:
        raise ValueError(f"`order` must be >= 1, got {order!r}.")
    num_frames = features.shape[-1]
    if num_frames == 0:
        return np.zeros_like(features)
    window = min(width, num_frames)
    degree = min(order, window - 1)
    if degree < order:  # too few frames to fit a polynomial of that degree: its derivative is 0
        return np.zeros_like(features)
    filters = _savgol_edge_filters(window, degree, order)  # (window, window)
    half = window // 2
    t = np.arange(num_frames)
    start = np.clip(t - half, 0, num_frames - window)  # (T,) first frame of each fit
    offset = t - start  # (T,) where in its window each frame sits
    frames = features[..., start[:, None] + np.arange(window)[None, :]]  # (..., T, window)
    return np.einsum("...tw,tw->...t", frames, filters[offset]).astype(features.dtype, copy=False)


def mfcc_features(
    waveform: np.ndarray,
    sampling_rate: int = 16000,
    *,
    n_mfcc: int = 13,
    frame_length_ms: float = 50.0,
    frame_shift_ms: float = 12.5,
    n_mels: int = 128,
    fmin: float = 0.0,
    fmax: float | None = None,
    top_db: float | None = 80.0,
    delta_width: int = 9,
    use_deltas: bool = True,
) -> np.ndarray:
    """MFCCs (+ deltas and delta-deltas) of one mono waveform, `(num_frames, n_mfcc * 3)` float32 (see the module
    docstring for the librosa call it reproduces)."""
    wav = np.asarray(waveform, dtype=np.float64)
    if wav.ndim != 1:
        raise ValueError(f"`waveform` must be mono (1-D), got shape {wav.shape}.")
    n_fft = int(round(frame_length_ms * sampling_rate / 1000.0))
    hop = int(round(frame_shift_ms * sampling_rate / 1000.0))
    padded = np.pad(wav, n_fft // 2, mode="constant")
    num_frames = 1 + (len(padded) - n_fft) // hop
    index = np.arange(n_fft)[None, :] + hop * np.arange(num_frames)[:, None]  # (T, n_fft)
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n_fft) / n_fft)  # periodic Hann
    power = np.abs(np.fft.rfft(padded[index] * window, n=n_fft, axis=-1)) ** 2  # (T, 1 + n_fft // 2)
    mel = power @ mel_filters(int(sampling_rate), n_fft, n_mels, float(fmin), fmax).T  # (T, n_mels)
    log_mel = 10.0 * np.log10(np.maximum(mel, 1e-10))
    if top_db is not None:
        log_mel = np.maximum(log_mel, log_mel.max() - float(top_db))
    mfcc = (log_mel @ dct_ii_matrix(n_mfcc, n_mels).T).T  # (n_mfcc, T)
    if not use_deltas:
        return mfcc.T.astype(np.float32)
    delta = savgol_derivative(mfcc, delta_width, order=1)
    delta2 = savgol_derivative(mfcc, delta_width, order=2)
    return np.concatenate([mfcc, delta, delta2], axis=0).T.astype(np.float32)  # (T, 3 * n_mfcc)


def pad_frame_features(
    features: Sequence[np.ndarray], min_length: int | None = None, padding_value: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad `(num_frames_i, feature_size)` arrays into `(B, T, feature_size)` float32 and a `(B, T)` int64 mask
    (1 on real frames); ``T`` is the longest utterance, at least ``min_length`` (and 1)."""
    longest = max(min_length or 1, max(len(f) for f in features))
    batch = np.full((len(features), longest, features[0].shape[1]), padding_value, dtype=np.float32)
    mask = np.zeros((len(features), longest), dtype=np.int64)
    for i, array in enumerate(features):
        batch[i, : len(array)] = array
        mask[i, : len(array)] = 1
    return batch, mask


class CtlMtNetFeatureExtractor(SequenceFeatureExtractor):
    r"""
    Feature extractor of [`CtlMtNetForEmotionClassification`]: librosa-style MFCCs with deltas and delta-deltas
    (39 per frame by default), 50 ms frames every 12.5 ms (paper values), right-padded to the longest utterance.

    Args:
        feature_size (`int`, *optional*, defaults to 39):
            Values per frame; must equal `n_mfcc * 3` with deltas, `n_mfcc` without.
        sampling_rate (`int`, *optional*, defaults to 16000):
            Expected sampling rate in Hz; resample first with `hf_cser.audio.prepare_waveform`.
        padding_value (`float`, *optional*, defaults to 0.0):
            Value of padded frames (the model masks them out).
        n_mfcc (`int`, *optional*, defaults to 13):
            Cepstral coefficients per frame (13 + 13 deltas + 13 delta-deltas = the paper's 39).
        frame_length_ms (`float`, *optional*, defaults to 50.0):
            Frame (and FFT) length in ms (paper value).
        frame_shift_ms (`float`, *optional*, defaults to 12.5):
            Frame shift in ms (paper value).
        n_mels (`int`, *optional*, defaults to 128):
            Mel bands (librosa default).
        fmin (`float`, *optional*, defaults to 0.0) and fmax (`float`, *optional*):
            Frequency range of the mel filters (librosa defaults: 0 Hz to Nyquist).
        top_db (`float`, *optional*, defaults to 80.0):
            Dynamic range kept below the utterance's maximum log-mel energy (librosa default; `None` keeps all).
        delta_width (`int`, *optional*, defaults to 9):
            Frames of the Savitzky-Golay delta filters (librosa default).
        use_deltas (`bool`, *optional*, defaults to `True`):
            Append deltas and delta-deltas.
        max_frames (`int`, *optional*):
            Keep at most this many frames per utterance (the first ones); `None` keeps all (library default).
        return_attention_mask (`bool`, *optional*, defaults to `True`):
            Return the frame-level `attention_mask`.

    Example:

    ```python
    >>> import numpy as np
    >>> from hf_cser.models.ctl_mtnet import CtlMtNetFeatureExtractor

    >>> extractor = CtlMtNetFeatureExtractor()
    >>> batch = extractor([np.zeros(16000), np.zeros(8000)], sampling_rate=16000, return_tensors="pt")
    >>> batch["input_features"].shape, batch["attention_mask"].sum(-1).tolist()
    (torch.Size([2, 81, 39]), [81, 41])
    ```
    """

    model_input_names = ["input_features", "attention_mask"]

    def __init__(
        self,
        feature_size: int = 39,
        sampling_rate: int = 16000,
        padding_value: float = 0.0,
        n_mfcc: int = 13,
        frame_length_ms: float = 50.0,
        frame_shift_ms: float = 12.5,
        n_mels: int = 128,
        fmin: float = 0.0,
        fmax: float | None = None,
        top_db: float | None = 80.0,
        delta_width: int = 9,
        use_deltas: bool = True,
        max_frames: int | None = None,
        return_attention_mask: bool = True,
        **kwargs,
    ):
        super().__init__(
            feature_size=feature_size,
            sampling_rate=sampling_rate,
            padding_value=padding_value,
            return_attention_mask=return_attention_mask,
            **kwargs,
        )
        expected = n_mfcc * (3 if use_deltas else 1)
        if feature_size != expected:
            raise ValueError(
                f"`feature_size` ({feature_size}) must be `n_mfcc` x {3 if use_deltas else 1} = {expected} "
                f"(`use_deltas={use_deltas}`)."
            )
        if not 0 < frame_shift_ms <= frame_length_ms:
            raise ValueError(
                f"Need 0 < `frame_shift_ms` <= `frame_length_ms`, got {frame_shift_ms!r} and {frame_length_ms!r}."
            )
        if max_frames is not None and int(max_frames) < 1:
            raise ValueError(f"`max_frames` must be a positive integer or None, got {max_frames!r}.")
        self.n_mfcc = int(n_mfcc)
        self.frame_length_ms = float(frame_length_ms)
        self.frame_shift_ms = float(frame_shift_ms)
        self.n_mels = int(n_mels)
        self.fmin = float(fmin)
        self.fmax = None if fmax is None else float(fmax)
        self.top_db = None if top_db is None else float(top_db)
        self.delta_width = int(delta_width)
        self.use_deltas = bool(use_deltas)
        self.max_frames = None if max_frames is None else int(max_frames)

    def extract(self, waveform: np.ndarray) -> np.ndarray:
        """Features of one waveform at `self.sampling_rate`: `(num_frames, feature_size)` float32.

        Audio shorter than one 240 ms phoneme window is zero-padded to it first, with a warning
        (`hf_cser.audio.pad_to_min_duration`): the model's three poolings need at least 8 frames.
        """
        waveform = pad_to_min_duration(waveform, self.sampling_rate, source=f"{type(self).__name__} input")
        features = mfcc_features(
            waveform,
            self.sampling_rate,
            n_mfcc=self.n_mfcc,
            frame_length_ms=self.frame_length_ms,
            frame_shift_ms=self.frame_shift_ms,
            n_mels=self.n_mels,
            fmin=self.fmin,
            fmax=self.fmax,
            top_db=self.top_db,
            delta_width=self.delta_width,
            use_deltas=self.use_deltas,
        )
        return features if self.max_frames is None else features[: self.max_frames]

    def pad_features(
        self, features: Sequence[np.ndarray], return_tensors: str | None = None, max_frames: int | None = None
    ) -> BatchFeature:
        """Right-pad precomputed `(num_frames, feature_size)` arrays into `input_features` `(B, T, F)` and an
        `attention_mask` `(B, T)` (1 on real frames); `max_frames` crops each utterance first."""
        limit = max_frames if max_frames is not None else self.max_frames
        arrays = [
            np.asarray(f, dtype=np.float32)[:limit] if limit else np.asarray(f, dtype=np.float32) for f in features
        ]
        for array in arrays:
            if array.ndim != 2 or array.shape[1] != self.feature_size:
                raise ValueError(
                    f"Each feature array must have shape (num_frames, {self.feature_size}), got {array.shape}."
                )
        batch, mask = pad_frame_features(arrays, padding_value=self.padding_value)
        data = {"input_features": batch}
        if self.return_attention_mask:
            data["attention_mask"] = mask
        return BatchFeature(data, tensor_type=return_tensors)

    def __call__(
        self,
        raw_speech: np.ndarray | Sequence[float] | Sequence[np.ndarray],
        sampling_rate: int | None = None,
        return_tensors: str | None = None,
        max_frames: int | None = None,
        **kwargs,
    ) -> BatchFeature:
        """MFCC features of one waveform or a batch.

        Args:
            raw_speech (`np.ndarray`, `list[float]` or `list[np.ndarray]`):
                One mono waveform or a batch of them, at `sampling_rate`.
            sampling_rate (`int`, *optional*):
                The rate of `raw_speech`; a mismatch with `self.sampling_rate` raises (resample first).
            return_tensors (`str`, *optional*):
                `"pt"` or `"np"`.
            max_frames (`int`, *optional*):
                Crop to this many frames (overrides `self.max_frames`).
        """
        if sampling_rate is not None and sampling_rate != self.sampling_rate:
            raise ValueError(
                f"{type(self).__name__} expects {self.sampling_rate} Hz audio, got {sampling_rate} Hz; resample "
                "first (e.g. `hf_cser.audio.prepare_waveform`)."
            )
        if sampling_rate is None:
            logger.warning_once(
                f"No `sampling_rate` passed to {type(self).__name__}; assuming {self.sampling_rate} Hz. Pass it to "
                "catch silent errors."
            )
        waveforms, _ = split_waveform_batch(raw_speech)
        features = [self.extract(w) for w in waveforms]
        return self.pad_features(features, return_tensors=return_tensors, max_frames=max_frames)


__all__ = [
    "CtlMtNetFeatureExtractor",
    "dct_ii_matrix",
    "mfcc_features",
    "pad_frame_features",
    "savgol_derivative",
]
