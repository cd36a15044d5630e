"""Mel features of the GE2E speaker encoder: a librosa-compatible power mel spectrogram without librosa.

The pretrained GE2E voice encoder (`resemblyzer`) computes its input with ``librosa.feature.melspectrogram(y, sr=16000,
n_fft=400, hop_length=160, n_mels=40)``: a centred STFT with a periodic Hann window, the *power* spectrum (not log,
not dB) and a Slaney-style mel filterbank (Slaney mel scale, area normalisation). This module re-implements exactly
that in numpy so that librosa is not needed. Differences from resemblyzer, all our choices:

* No voice-activity trimming. resemblyzer's ``preprocess_wav`` shortens silences longer than ~60 ms with
  ``webrtcvad``, a C extension that does not build on every platform and whose import breaks in the packaged
  version. Emotion corpora are studio recordings with short leading/trailing silence, and the partial averaging
  dilutes silent partials, so we skip it; trim long silences yourself if your audio has them.
* The STFT and the filterbank product run in float64 and are returned as float32 (librosa works in float32 when
  given float32 audio); this changes values by float32 rounding only.
* The STFT padding is ``stft_pad_mode="constant"`` (zeros), librosa's default since 0.10, which is what a current
  ``pip install resemblyzer`` uses. Older librosa (< 0.10) padded with ``"reflect"``; this only changes the first
  and last two frames of an utterance, and ``stft_pad_mode="reflect"`` reproduces it.
* Volume normalisation of silent (all-zero) audio leaves it unchanged instead of producing NaN.
"""

from __future__ import annotations

import numpy as np
from transformers.feature_extraction_sequence_utils import SequenceFeatureExtractor
from transformers.feature_extraction_utils import BatchFeature
from transformers.utils import logging

from ...audio import split_waveform_batch
from ..mel import mel_filters

logger = logging.get_logger(__name__)

INT16_MAX = 2**15 - 1


def slaney_mel_filter_bank(
    sampling_rate: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None
) -> np.ndarray:
    """Triangular mel filters as ``librosa.filters.mel(sr, n_fft, n_mels, fmin, fmax, htk=False, norm="slaney")``
    (`hf_cser.encoders.mel.mel_filters`), `(n_mels, 1 + n_fft // 2)` float32: computed in float64 and cast, as
    librosa does."""
    return mel_filters(sampling_rate, n_fft, n_mels, fmin, fmax).astype(np.float32)


def periodic_hann_window(length: int) -> np.ndarray:
    """``scipy.signal.get_window("hann", length, fftbins=True)``, the window librosa uses, in float64."""
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(length) / length)


def power_mel_spectrogram(
    waveform: np.ndarray,
    mel_filters: np.ndarray,
    n_fft: int,
    hop_length: int,
    window: np.ndarray | None = None,
    pad_mode: str = "constant",
) -> np.ndarray:
    """Power mel spectrogram as ``librosa.feature.melspectrogram(y, n_fft, hop_length, center=True, power=2)``.

    Args:
        waveform (`np.ndarray`): 1-D audio.
        mel_filters (`np.ndarray`): `(n_mels, 1 + n_fft // 2)` filterbank, see :func:`slaney_mel_filter_bank`.
        n_fft (`int`): FFT and window size.
        hop_length (`int`): hop between frames in samples.
        window (`np.ndarray`, *optional*): analysis window of length `n_fft`, a periodic Hann window when `None`.
        pad_mode (`str`, *optional*, defaults to `"constant"`): `np.pad` mode of the `n_fft // 2` centring pad.

    Returns:
        `np.ndarray` of shape `(1 + len(waveform) // hop_length, n_mels)`, float32, frames first.
    """
    waveform = np.asarray(waveform, dtype=np.float64)
    if waveform.ndim != 1:
        raise ValueError(f"`waveform` must be 1-D, got shape {waveform.shape}.")
    window = periodic_hann_window(n_fft) if window is None else np.asarray(window, dtype=np.float64)
    if pad_mode == "reflect" and len(waveform) <= n_fft // 2:
        raise ValueError(f"`pad_mode='reflect'` needs more than {n_fft // 2} samples, got {len(waveform)}.")
    padded = np.pad(waveform, n_fft // 2, mode=pad_mode)
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop_length]  # (T, n_fft)
    power = np.abs(np.fft.rfft(frames * window, n=n_fft, axis=-1)) ** 2  # (T, 1 + n_fft // 2)
    return (power @ mel_filters.astype(np.float64).T).astype(np.float32)  # (T, n_mels)


def normalize_volume(waveform: np.ndarray, target_dbfs: float, increase_only: bool = True) -> np.ndarray:
    """Scale `waveform` to `target_dbfs` RMS loudness (resemblyzer ``normalize_volume``); silent audio is returned
    unchanged. With `increase_only`, audio already louder than the target is not touched."""
    waveform = np.asarray(waveform, dtype=np.float64)
    rms = np.sqrt(np.mean(waveform**2)) if waveform.size else 0.0
    if rms == 0.0:
        return waveform.astype(np.float32)
    change_db = target_dbfs - 20.0 * np.log10(rms)
    if change_db < 0 and increase_only:
        return waveform.astype(np.float32)
    return (waveform * 10.0 ** (change_db / 20.0)).astype(np.float32)


def compute_partial_slices(
    num_samples: int,
    partial_frames: int = 160,
    hop_length: int = 160,
    sampling_rate: int = 16000,
    partial_rate: float = 1.3,
    min_coverage: float = 0.75,
) -> list[tuple[int, int]]:
    """Mel-frame ranges of the partial utterances of a waveform (resemblyzer ``compute_partial_slices``).

    Partials of `partial_frames` frames start every ``round(sampling_rate / partial_rate / hop_length)`` frames and
    together cover the utterance; the last one is dropped when less than `min_coverage` of it holds audio, unless it
    is the only one. The matching waveform range of a partial is ``(start * hop_length, stop * hop_length)``; ranges
    may run past the end of the waveform, which is then zero-padded.

    Returns:
        `list[tuple[int, int]]`: `(start_frame, stop_frame)` per partial, at least one.
    """
    if not 0 < min_coverage <= 1:
        raise ValueError(f"`min_coverage` must be in (0, 1], got {min_coverage!r}.")
    num_frames = int(np.ceil((num_samples + 1) / hop_length))
    frame_step = int(np.round((sampling_rate / partial_rate) / hop_length))
    if not 0 < frame_step <= partial_frames:
        raise ValueError(
            f"`partial_rate` {partial_rate!r} gives a step of {frame_step} frames; it must be between 1 and "
            f"`partial_frames` ({partial_frames})."
        )
    steps = max(1, num_frames - partial_frames + frame_step + 1)
    slices = [(start, start + partial_frames) for start in range(0, steps, frame_step)]
    last_start, last_stop = slices[-1]
    coverage = (num_samples - last_start * hop_length) / ((last_stop - last_start) * hop_length)
    if coverage < min_coverage and len(slices) > 1:
        slices = slices[:-1]
    return slices


class Ge2eFeatureExtractor(SequenceFeatureExtractor):
    r"""
    Feature extractor of the GE2E speaker encoder: volume normalisation, then a 40-band power mel spectrogram (25 ms
    Hann window, 10 ms hop, Slaney mel filterbank), optionally cut into the fixed-length partial utterances that
    [`Ge2eSpeakerEncoderModel`] averages into one utterance embedding. Matches resemblyzer's `preprocess_wav` +
    `wav_to_mel_spectrogram` + `embed_utterance` slicing, minus the webrtcvad silence trimming (see the module
    docstring for every difference).

    Args:
        feature_size (`int`, *optional*, defaults to 40):
            Number of mel bands (paper value: 40).
        sampling_rate (`int`, *optional*, defaults to 16000):
            Expected sampling rate of the audio in Hz (paper value: 16 kHz). Resample first, e.g. with
            `hf_cser.audio.prepare_waveform`.
        padding_value (`float`, *optional*, defaults to 0.0):
            Value of padded frames when `split_into_partials=False` and utterances differ in length.
        window_length_ms (`float`, *optional*, defaults to 25.0):
            STFT window length in ms (paper value: 25 ms).
        hop_length_ms (`float`, *optional*, defaults to 10.0):
            STFT hop in ms (paper value: 10 ms).
        mel_fmin (`float`, *optional*, defaults to 0.0):
            Lowest mel band edge in Hz (librosa default).
        mel_fmax (`float`, *optional*):
            Highest mel band edge in Hz; `sampling_rate / 2` when `None` (librosa default).
        stft_pad_mode (`str`, *optional*, defaults to `"constant"`):
            Padding of the centred STFT. Library default `"constant"` = librosa >= 0.10; `"reflect"` = older librosa.
        do_normalize_volume (`bool`, *optional*, defaults to `True`):
            Whether to normalise loudness to `target_dbfs` first (resemblyzer value: `True`).
        target_dbfs (`float`, *optional*, defaults to -30.0):
            Loudness target in dBFS (resemblyzer value: -30).
        increase_volume_only (`bool`, *optional*, defaults to `True`):
            Only make quiet audio louder, never loud audio quieter (resemblyzer value: `True`).
        partial_frames (`int`, *optional*, defaults to 160):
            Frames per partial utterance (paper value: 160 = 1.6 s).
        partial_rate (`float`, *optional*, defaults to 1.3):
            Partial utterances per second (resemblyzer value: 1.3).
        min_coverage (`float`, *optional*, defaults to 0.75):
            Minimum share of real audio in the last partial for it to be kept (resemblyzer value: 0.75).
        return_attention_mask (`bool`, *optional*, defaults to `True`):
            Whether to return an `attention_mask` for padded full-length features (`split_into_partials=False`).
    """

    model_input_names = ["input_features"]

    def __init__(
        self,
        feature_size: int = 40,
        sampling_rate: int = 16000,
        padding_value: float = 0.0,
        window_length_ms: float = 25.0,
        hop_length_ms: float = 10.0,
        mel_fmin: float = 0.0,
        mel_fmax: float | None = None,
        stft_pad_mode: str = "constant",
        do_normalize_volume: bool = True,
        target_dbfs: float = -30.0,
        increase_volume_only: bool = True,
        partial_frames: int = 160,
        partial_rate: float = 1.3,
        min_coverage: float = 0.75,
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
        if stft_pad_mode not in ("constant", "reflect"):
            raise ValueError(f"`stft_pad_mode` must be 'constant' or 'reflect', got {stft_pad_mode!r}.")
        self.window_length_ms = float(window_length_ms)
        self.hop_length_ms = float(hop_length_ms)
        self.n_fft = int(sampling_rate * window_length_ms / 1000)
        self.hop_length = int(sampling_rate * hop_length_ms / 1000)
        self.mel_fmin = float(mel_fmin)
        self.mel_fmax = None if mel_fmax is None else float(mel_fmax)
        self.stft_pad_mode = stft_pad_mode
        self.do_normalize_volume = bool(do_normalize_volume)
        self.target_dbfs = float(target_dbfs)
        self.increase_volume_only = bool(increase_volume_only)
        self.partial_frames = int(partial_frames)
        self.partial_rate = float(partial_rate)
        self.min_coverage = float(min_coverage)
        # derived arrays; `to_dict` drops attributes named `mel_filters` and `window`
        self.mel_filters = slaney_mel_filter_bank(sampling_rate, self.n_fft, feature_size, mel_fmin, mel_fmax)
        self.window = periodic_hann_window(self.n_fft)

    @classmethod
    def from_speaker_encoder_config(cls, config, **kwargs) -> Ge2eFeatureExtractor:
        """Build the feature extractor matching a [`Ge2eSpeakerEncoderConfig`] (keyword arguments override)."""
        values = {
            "feature_size": config.mel_n_channels,
            "sampling_rate": config.sampling_rate,
            "window_length_ms": config.mel_window_length_ms,
            "hop_length_ms": config.mel_window_step_ms,
            "target_dbfs": config.audio_norm_target_dbfs,
            "partial_frames": config.partial_frames,
            "partial_rate": config.partial_rate,
            "min_coverage": config.min_coverage,
        }
        values.update(kwargs)
        return cls(**values)

    def mel_spectrogram(self, waveform: np.ndarray) -> np.ndarray:
        """Volume-normalised power mel spectrogram of one 1-D waveform, shape `(num_frames, feature_size)`."""
        waveform = np.asarray(waveform, dtype=np.float32)
        if self.do_normalize_volume:
            waveform = normalize_volume(waveform, self.target_dbfs, self.increase_volume_only)
        return power_mel_spectrogram(
            waveform, self.mel_filters, self.n_fft, self.hop_length, self.window, self.stft_pad_mode
        )

    def partial_mel_spectrograms(self, waveform: np.ndarray) -> np.ndarray:
        """Partial-utterance mel spectrograms of one waveform, shape `(num_partials, partial_frames, feature_size)`.

        As resemblyzer's `embed_utterance`: the waveform is zero-padded to the end of the last partial *before*
        the spectrogram is computed, then the spectrogram is sliced.
        """
        waveform = np.asarray(waveform, dtype=np.float32)
        if self.do_normalize_volume:
            waveform = normalize_volume(waveform, self.target_dbfs, self.increase_volume_only)
        slices = compute_partial_slices(
            len(waveform),
            partial_frames=self.partial_frames,
            hop_length=self.hop_length,
            sampling_rate=self.sampling_rate,
            partial_rate=self.partial_rate,
            min_coverage=self.min_coverage,
        )
        end = slices[-1][1] * self.hop_length
        if end >= len(waveform):
            waveform = np.pad(waveform, (0, end - len(waveform)))
        mel = power_mel_spectrogram(
            waveform, self.mel_filters, self.n_fft, self.hop_length, self.window, self.stft_pad_mode
        )
        return np.stack([mel[start:stop] for start, stop in slices])

    def __call__(
        self,
        raw_speech: np.ndarray | list[float] | list[np.ndarray] | list[list[float]],
        sampling_rate: int | None = None,
        split_into_partials: bool = True,
        return_attention_mask: bool | None = None,
        return_tensors: str | None = None,
        **kwargs,
    ) -> BatchFeature:
        """
        Featurize one or several utterances.

        Args:
            raw_speech (`np.ndarray`, `list[float]`, `list[np.ndarray]`, `list[list[float]]`):
                One 1-D waveform or a batch of them, at `sampling_rate` Hz.
            sampling_rate (`int`, *optional*):
                Sampling rate of `raw_speech`; must equal the extractor's. Pass it to catch silent mismatches.
            split_into_partials (`bool`, *optional*, defaults to `True`):
                If `True`, return every utterance's partial utterances stacked in `input_features` of shape
                `(total_partials, partial_frames, feature_size)` and `partial_to_utterance` (utterance index of each
                partial), ready for [`Ge2eSpeakerEncoderModel.forward`]. If `False`, return whole-utterance
                features `(batch, max_frames, feature_size)`, right-padded, with `attention_mask`.
            return_attention_mask (`bool`, *optional*):
                Overrides `self.return_attention_mask` for `split_into_partials=False`.
            return_tensors (`str`, *optional*):
                `"pt"` or `"np"`.

        Returns:
            [`BatchFeature`] with `input_features` and `partial_to_utterance` or `attention_mask`.
        """
        if sampling_rate is None:
            logger.warning(
                f"No `sampling_rate` passed to {self.__class__.__name__}; assuming {self.sampling_rate} Hz. Pass it "
                "to catch silently wrong features."
            )
        elif sampling_rate != self.sampling_rate:
            raise ValueError(
                f"{self.__class__.__name__} expects audio at {self.sampling_rate} Hz, got {sampling_rate} Hz. "
                "Resample first, e.g. `hf_cser.audio.prepare_waveform(array, sampling_rate)`."
            )
        waveforms, _ = split_waveform_batch(raw_speech)
        for index, waveform in enumerate(waveforms):
            if waveform.ndim != 1 or waveform.size == 0:
                raise ValueError(
                    f"Utterance {index} must be a non-empty mono 1-D waveform, got shape {waveform.shape}."
                )

        if split_into_partials:
            partials = [self.partial_mel_spectrograms(w) for w in waveforms]
            features = np.concatenate(partials, axis=0)
            owner = np.concatenate([np.full(len(p), i, dtype=np.int64) for i, p in enumerate(partials)])
            data = {"input_features": features, "partial_to_utterance": owner}
        else:
            mels = [self.mel_spectrogram(w) for w in waveforms]
            max_frames = max(len(m) for m in mels)
            features = np.full((len(mels), max_frames, self.feature_size), self.padding_value, dtype=np.float32)
            mask = np.zeros((len(mels), max_frames), dtype=np.int64)
            for i, mel in enumerate(mels):
                features[i, : len(mel)] = mel
                mask[i, : len(mel)] = 1
            data = {"input_features": features}
            if self.return_attention_mask if return_attention_mask is None else return_attention_mask:
                data["attention_mask"] = mask
        return BatchFeature(data, tensor_type=return_tensors)


__all__ = [
    "Ge2eFeatureExtractor",
    "compute_partial_slices",
    "normalize_volume",
    "periodic_hann_window",
    "power_mel_spectrogram",
    "slaney_mel_filter_bank",
]
