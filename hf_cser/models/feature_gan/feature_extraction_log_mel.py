"""Log-mel feature extractor of the small default audio encoder of the feature-generation method (``papers/004``).

The paper fine-tunes AST or wav2vec 2.0; no pretrained speech model is reachable here, so on the embedded default the
audio encoder is a small convolutional network over log-mel frames trained from scratch
([`LogMelConvEncoderModel`]). This extractor turns 16 kHz waveforms into the frames it reads, the way
`ASTFeatureExtractor` does for AST: `input_values` of shape `(batch_size, num_frames, num_mel_bins)` plus a frame-level
`attention_mask`. Per-band normalisation statistics are fitted on training data ([`fit_normalization`]) and saved in
`preprocessor_config.json`, so the pipeline normalises exactly as training did.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from transformers import BatchFeature
from transformers.feature_extraction_sequence_utils import SequenceFeatureExtractor
from transformers.utils import logging

from ...audio import pad_to_min_duration, split_waveform_batch
from ...encoders.mel import mel_filters

logger = logging.get_logger(__name__)


class LogMelFeatureExtractor(SequenceFeatureExtractor):
    r"""
    Log-mel frames (25 ms Hann windows, 10 ms hop by default) of 16 kHz mono waveforms, right-padded per batch.

    Args:
        feature_size (`int`, *optional*, defaults to 40):
            Number of mel bands (40, as in the synthetic corpus's reference classifier; ours).
        sampling_rate (`int`, *optional*, defaults to 16000):
            Expected sampling rate in Hz; resample first with `hf_cser.audio.prepare_waveform`.
        padding_value (`float`, *optional*, defaults to 0.0):
            Value of padded frames (after normalisation).
        n_fft (`int`, *optional*, defaults to 400):
            FFT size and window length in samples (25 ms).
        hop_length (`int`, *optional*, defaults to 160):
            Hop in samples (10 ms).
        f_min (`float`, *optional*, defaults to 20.0) / f_max (`float`, *optional*): mel range in Hz (default up to
            the Nyquist frequency).
        mean (`list[float]`, *optional*) / std (`list[float]`, *optional*):
            Per-band normalisation statistics; `None` leaves the log-mel values as they are. Set by
            [`fit_normalization`].
        return_attention_mask (`bool`, *optional*, defaults to `True`):
            Return the frame-level `attention_mask` (1 for real frames).
    """

    model_input_names = ["input_values", "attention_mask"]

    def __init__(
        self,
        feature_size: int = 40,
        sampling_rate: int = 16000,
        padding_value: float = 0.0,
        n_fft: int = 400,
        hop_length: int = 160,
        f_min: float = 20.0,
        f_max: float | None = None,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
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
        if int(n_fft) != n_fft or n_fft <= 0 or int(hop_length) != hop_length or hop_length <= 0:
            raise ValueError(f"`n_fft` and `hop_length` must be positive integers, got {n_fft!r}, {hop_length!r}.")
        self.n_fft = int(n_fft)
        self.hop_length = int(hop_length)
        self.f_min = float(f_min)
        self.f_max = float(f_max) if f_max is not None else sampling_rate / 2.0
        for name, value in (("mean", mean), ("std", std)):
            if value is not None and len(value) != feature_size:
                raise ValueError(f"`{name}` must have {feature_size} values (one per mel band), got {len(value)}.")
        self.mean = [float(v) for v in mean] if mean is not None else None
        self.std = [float(v) for v in std] if std is not None else None

    def _mel_filters(self) -> torch.Tensor:
        filters = mel_filters(self.sampling_rate, self.n_fft, self.feature_size, self.f_min, self.f_max)
        return torch.from_numpy(np.ascontiguousarray(filters.T, dtype=np.float32))  # (n_freq, n_mels)

    def log_mel(self, waveform: np.ndarray) -> np.ndarray:
        """Un-normalised log-mel frames `(num_frames, feature_size)` of one waveform."""
        signal = torch.from_numpy(np.asarray(waveform, dtype=np.float32).reshape(-1))
        if signal.numel() < self.n_fft:
            signal = torch.nn.functional.pad(signal, (0, self.n_fft - signal.numel()))
        spectrum = torch.stft(
            signal,
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            window=torch.hann_window(self.n_fft),
            center=False,
            return_complex=True,
        )  # (n_freq, T)
        power = spectrum.abs().pow(2).t()  # (T, n_freq)
        return torch.log(power @ self._mel_filters() + 1e-6).numpy()

    def normalize(self, frames: np.ndarray) -> np.ndarray:
        if self.mean is None or self.std is None:
            return frames
        return (frames - np.asarray(self.mean, dtype=np.float32)) / np.maximum(np.asarray(self.std, np.float32), 1e-5)

    def fit_normalization(self, waveforms: Sequence[np.ndarray]) -> LogMelFeatureExtractor:
        """Set `mean` / `std` per mel band from the frames of `waveforms` (training data); returns `self`."""
        frames = np.concatenate([self.log_mel(w) for w in waveforms], axis=0)
        self.mean = frames.mean(axis=0).astype(float).tolist()
        self.std = frames.std(axis=0).astype(float).tolist()
        return self

    def __call__(
        self,
        raw_speech,
        sampling_rate: int | None = None,
        return_tensors: str | None = None,
        return_attention_mask: bool | None = None,
        **kwargs,
    ) -> BatchFeature:
        """Log-mel frames of one waveform or a batch.

        Args:
            raw_speech (`np.ndarray`, `list[np.ndarray]`, `torch.Tensor`, ...): 16 kHz mono audio.
            sampling_rate (`int`, *optional*): checked against `self.sampling_rate` when given.
            return_tensors (`str`, *optional*): `"pt"` or `"np"`.
            return_attention_mask (`bool`, *optional*): defaults to the constructor's value.
        """
        if sampling_rate is not None and sampling_rate != self.sampling_rate:
            raise ValueError(
                f"Audio must be sampled at {self.sampling_rate} Hz, got {sampling_rate} Hz; resample it first "
                "(`hf_cser.audio.prepare_waveform`)."
            )
        waveforms, _ = split_waveform_batch(raw_speech)
        # audio shorter than one 240 ms phoneme window: zero-padded to it, with a warning naming the utterance
        waveforms = [
            pad_to_min_duration(w, self.sampling_rate, source=f"{type(self).__name__}: utterance {i}")
            for i, w in enumerate(waveforms)
        ]
        frames = [self.normalize(self.log_mel(w)).astype(np.float32) for w in waveforms]
        longest = max(f.shape[0] for f in frames)
        values = np.full((len(frames), longest, self.feature_size), self.padding_value, dtype=np.float32)
        mask = np.zeros((len(frames), longest), dtype=np.int64)
        for i, f in enumerate(frames):
            values[i, : f.shape[0]] = f
            mask[i, : f.shape[0]] = 1
        data = {"input_values": values}
        if self.return_attention_mask if return_attention_mask is None else return_attention_mask:
            data["attention_mask"] = mask
        return BatchFeature(data, tensor_type=return_tensors)


__all__ = ["LogMelFeatureExtractor"]
