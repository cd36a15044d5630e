"""Configuration of the GE2E speaker encoder (the "voice encoder" used as FreeVC's and SAPA's speaker encoder f_s)."""

from __future__ import annotations

from transformers import PretrainedConfig
from transformers.utils import logging

logger = logging.get_logger(__name__)


class Ge2eSpeakerEncoderConfig(PretrainedConfig):
    r"""
    Configuration of a [`Ge2eSpeakerEncoderModel`]: the speaker encoder trained with the generalized end-to-end (GE2E)
    loss of Wan et al. (2018), in the form shipped by the `resemblyzer` package (Real-Time-Voice-Cloning encoder) and
    used by FreeVC as its pretrained speaker encoder. The defaults are the values of that pretrained checkpoint
    (`resemblyzer/hparams.py`), so `Ge2eSpeakerEncoderConfig()` describes the converted `pretrained.pt`.

    Args:
        mel_n_channels (`int`, *optional*, defaults to 40):
            Number of mel bands of the input features (paper value: 40).
        hidden_size (`int`, *optional*, defaults to 256):
            Hidden size of every LSTM layer (paper value: 256; Wan et al. use 768 with a projection).
        num_layers (`int`, *optional*, defaults to 3):
            Number of stacked LSTM layers (paper value: 3).
        embedding_size (`int`, *optional*, defaults to 256):
            Size of the speaker embedding produced by the linear layer after the last LSTM state (paper value: 256).
        sampling_rate (`int`, *optional*, defaults to 16000):
            Sampling rate, in Hz, the encoder was trained at (paper value: 16 kHz).
        mel_window_length_ms (`float`, *optional*, defaults to 25.0):
            STFT window length in milliseconds (paper value: 25 ms, i.e. `n_fft = 400` at 16 kHz).
        mel_window_step_ms (`float`, *optional*, defaults to 10.0):
            STFT hop in milliseconds (paper value: 10 ms, i.e. `hop_length = 160` at 16 kHz).
        partial_frames (`int`, *optional*, defaults to 160):
            Number of mel frames in one partial utterance (paper value: 160 frames = 1.6 s).
        partial_rate (`float`, *optional*, defaults to 1.3):
            Partial utterances per second of audio when embedding an utterance (resemblyzer value: 1.3). Must be at
            least `sampling_rate / (hop_length * partial_frames)` (0.625 with the defaults) so that the partials
            cover the whole utterance.
        min_coverage (`float`, *optional*, defaults to 0.75):
            The last partial utterance is kept (zero-padded) only if at least this fraction of it holds real audio
            (resemblyzer value: 0.75). A single partial is always kept.
        audio_norm_target_dbfs (`float`, *optional*, defaults to -30.0):
            Target loudness of the volume normalisation applied before the mel spectrogram, in dBFS; only quiet
            audio is made louder (resemblyzer value: -30 dBFS, `increase_only=True`).
        similarity_weight_init (`float`, *optional*, defaults to 10.0):
            Initial value of the GE2E similarity scale `w` (paper value: 10). Training-only parameter, kept so that
            the conversion is lossless and GE2E fine-tuning stays possible; unused by `forward`.
        similarity_bias_init (`float`, *optional*, defaults to -5.0):
            Initial value of the GE2E similarity bias `b` (paper value: -5). Training-only, unused by `forward`.

    Example:

    ```python
    >>> from hf_cser.encoders import Ge2eSpeakerEncoderConfig, Ge2eSpeakerEncoderModel

    >>> configuration = Ge2eSpeakerEncoderConfig()
    >>> model = Ge2eSpeakerEncoderModel(configuration)  # random weights; see `convert_resemblyzer_checkpoint`
    ```

    References:
        Wan, Wang, Papir, Lopez Moreno, "Generalized End-to-End Loss for Speaker Verification", ICASSP 2018.
        Li, Han, Mesgarani, "FreeVC: Towards High-Quality Text-Free One-Shot Voice Conversion", ICASSP 2023.
    """

    model_type = "ge2e_speaker_encoder"

    def __init__(
        self,
        mel_n_channels: int = 40,
        hidden_size: int = 256,
        num_layers: int = 3,
        embedding_size: int = 256,
        sampling_rate: int = 16000,
        mel_window_length_ms: float = 25.0,
        mel_window_step_ms: float = 10.0,
        partial_frames: int = 160,
        partial_rate: float = 1.3,
        min_coverage: float = 0.75,
        audio_norm_target_dbfs: float = -30.0,
        similarity_weight_init: float = 10.0,
        similarity_bias_init: float = -5.0,
        **kwargs,
    ):
        for name, value in (
            ("mel_n_channels", mel_n_channels),
            ("hidden_size", hidden_size),
            ("num_layers", num_layers),
            ("embedding_size", embedding_size),
            ("sampling_rate", sampling_rate),
            ("partial_frames", partial_frames),
        ):
            if int(value) != value or value <= 0:
                raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
        if not mel_window_length_ms > 0 or not mel_window_step_ms > 0:
            raise ValueError(
                "`mel_window_length_ms` and `mel_window_step_ms` must be positive, got "
                f"{mel_window_length_ms!r} and {mel_window_step_ms!r}."
            )
        if not 0 < min_coverage <= 1:
            raise ValueError(f"`min_coverage` must be in (0, 1], got {min_coverage!r}.")
        hop_length = int(sampling_rate * mel_window_step_ms / 1000)
        min_rate = sampling_rate / (hop_length * partial_frames)
        if not partial_rate > 0 or round(sampling_rate / partial_rate / hop_length) > partial_frames:
            raise ValueError(
                f"`partial_rate` must be at least {min_rate:.4g} partials per second so that partials of "
                f"{partial_frames} frames cover the utterance, got {partial_rate!r}."
            )
        if round(sampling_rate / partial_rate / hop_length) < 1:
            raise ValueError(f"`partial_rate` {partial_rate!r} is too high: two partials would start on one frame.")
        self.mel_n_channels = int(mel_n_channels)
        self.hidden_size = int(hidden_size)
        self.num_layers = int(num_layers)
        self.embedding_size = int(embedding_size)
        self.sampling_rate = int(sampling_rate)
        self.mel_window_length_ms = float(mel_window_length_ms)
        self.mel_window_step_ms = float(mel_window_step_ms)
        self.partial_frames = int(partial_frames)
        self.partial_rate = float(partial_rate)
        self.min_coverage = float(min_coverage)
        self.audio_norm_target_dbfs = float(audio_norm_target_dbfs)
        self.similarity_weight_init = float(similarity_weight_init)
        self.similarity_bias_init = float(similarity_bias_init)
        super().__init__(**kwargs)


__all__ = ["Ge2eSpeakerEncoderConfig"]
