"""The one mel filter bank of hf_cser: `transformers.audio_utils.mel_filter_bank`, in the `(n_mels, 1 + n_fft // 2)`
layout the feature extractors multiply power spectra with.

Every log-mel / MFCC front end of the library takes its filters from here: CTL-MTNet's MFCCs and GE2E's log-mel
(Slaney scale and area normalisation, as ``librosa.filters.mel``), the CLTM / baseline log-mel statistics (HTK scale
from 20 Hz, unnormalised triangles); the feature-GAN log-mel encoder and Whisper's front end call transformers'
function the same way. Tests compare the filters against librosa (an independent implementation).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

MEL_SCALES: tuple[str, ...] = ("slaney", "htk", "kaldi")


@lru_cache(maxsize=16)
def mel_filters(
    sampling_rate: int,
    n_fft: int,
    n_mels: int,
    fmin: float = 0.0,
    fmax: float | None = None,
    *,
    mel_scale: str = "slaney",
    norm: str | None = "slaney",
) -> np.ndarray:
    """Triangular mel filters over the ``1 + n_fft // 2`` non-negative FFT bins, `(n_mels, 1 + n_fft // 2)` float64
    (read-only; cached).

    Args:
        sampling_rate (`int`): rate of the analysed audio in Hz.
        n_fft (`int`): FFT size.
        n_mels (`int`): number of mel bands.
        fmin (`float`, *optional*, defaults to 0.0) / fmax (`float`, *optional*): band edges in Hz (`None`: Nyquist).
        mel_scale (`str`, *optional*, defaults to `"slaney"`): `"slaney"` (librosa's default, `htk=False`), `"htk"`
            or `"kaldi"`.
        norm (`str`, *optional*, defaults to `"slaney"`): `"slaney"` (constant energy per band, librosa's
            default) or `None` (peak 1).
    """
    from transformers.audio_utils import mel_filter_bank

    if mel_scale not in MEL_SCALES:
        raise ValueError(f"`mel_scale` must be one of {list(MEL_SCALES)}, got {mel_scale!r}.")
    if n_fft < 2 or n_mels < 1:
        raise ValueError(f"Need `n_fft` >= 2 and `n_mels` >= 1, got {n_fft} and {n_mels}.")
    nyquist = sampling_rate / 2.0
    fmax = nyquist if fmax is None else float(fmax)
    if not 0.0 <= fmin < fmax <= nyquist:
        raise ValueError(f"Need 0 <= `fmin` < `fmax` <= {nyquist} Hz, got {fmin!r} and {fmax!r}.")
    filters = mel_filter_bank(
        num_frequency_bins=1 + n_fft // 2,
        num_mel_filters=n_mels,
        min_frequency=float(fmin),
        max_frequency=fmax,
        sampling_rate=int(sampling_rate),
        norm=norm,
        mel_scale=mel_scale,
    ).T.astype(np.float64)
    filters.setflags(write=False)
    return filters


__all__ = ["MEL_SCALES", "mel_filters"]
