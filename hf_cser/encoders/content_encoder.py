"""The SAPA / FreeVC content encoder f_c: frame features of any Hugging Face self-supervised speech backbone.

FreeVC's content encoder is WavLM features followed by a bottleneck. Here the two halves are split:

- [`ContentEncoder`] wraps a *frozen* backbone loaded with `AutoModel.from_pretrained` (WavLM as in FreeVC, HuBERT,
  wav2vec 2.0, or the project's own phonetic encoder from
  [`~hf_cser.encoders.phonetic_pretraining.default_phonetic_encoder`]) and returns its frame features: the last hidden
  state, one chosen hidden layer, or a learnable softmax-weighted sum of all layers (SUPERB style).
- the bottleneck projection is *not* part of this module: it is a trainable layer of the SAPA model, which projects
  the (pooled) backbone features to z_c and so plays FreeVC's bottleneck.

The backbone's convolutional feature encoder fixes the frame geometry (for the wav2vec 2.0 family: 320-sample hop =
20 ms, 400-sample receptive field), exposed as [`ContentEncoder.frame_period`] and
[`ContentEncoder.frames_to_seconds`], so phoneme-centred windows given in seconds can be pooled with
[`pool_windows`] (SAPA section 3.1: 240 ms windows around phoneme midpoints for training, 120 ms for analysis).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
from torch import nn
from transformers.utils import logging

logger = logging.get_logger(__name__)

DEFAULT_SAMPLING_RATE = 16_000
DEFAULT_FRAME_PERIOD = 0.02
"""Frame hop of the wav2vec 2.0 family in seconds (conv strides 5*2*2*2*2*2*2 = 320 samples at 16 kHz)."""
DEFAULT_FRAME_OFFSET = 0.0125
"""Centre of frame 0 in seconds for the wav2vec 2.0 family (receptive field 400 samples, centre at 200 samples)."""
LayerSpec = int | str | None


def conv_frame_geometry(conv_kernel: Sequence[int], conv_stride: Sequence[int]) -> tuple[int, int]:
    """Hop and receptive field (in samples) of a stack of 1-D convolutions without padding.

    Args:
        conv_kernel (`Sequence[int]`): kernel size of every layer (e.g. `config.conv_kernel`).
        conv_stride (`Sequence[int]`): stride of every layer (e.g. `config.conv_stride`).

    Returns:
        `tuple[int, int]`: `(hop, receptive_field)`; frame `t` covers samples `[t * hop, t * hop + receptive_field)`.
    """
    if len(conv_kernel) != len(conv_stride):
        raise ValueError(
            "`conv_kernel` and `conv_stride` must have the same length, got "
            f"{len(conv_kernel)} and {len(conv_stride)}."
        )
    hop, receptive_field = 1, 1
    for kernel, stride in zip(conv_kernel, conv_stride, strict=True):
        receptive_field += (int(kernel) - 1) * hop
        hop *= int(stride)
    return hop, receptive_field


def conv_output_lengths(
    input_lengths: torch.Tensor, conv_kernel: Sequence[int], conv_stride: Sequence[int]
) -> torch.Tensor:
    """Number of output frames of an unpadded conv stack for each input length (floor division, as in wav2vec 2.0)."""
    lengths = input_lengths.long()
    for kernel, stride in zip(conv_kernel, conv_stride, strict=True):
        lengths = torch.div(lengths - int(kernel), int(stride), rounding_mode="floor") + 1
    return lengths.clamp_min(0)


def frame_centers(
    num_frames: int,
    frame_period: float = DEFAULT_FRAME_PERIOD,
    frame_offset: float = DEFAULT_FRAME_OFFSET,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Centre time in seconds of frames `0 .. num_frames - 1`: `frame_offset + t * frame_period`."""
    return frame_offset + frame_period * torch.arange(num_frames, device=device, dtype=torch.float64)


def pool_windows(
    frames: torch.Tensor,
    frame_mask: torch.Tensor | None,
    window_centers: torch.Tensor,
    window_mask: torch.Tensor | None = None,
    window_ms: float = 240.0,
    *,
    frame_period: float = DEFAULT_FRAME_PERIOD,
    frame_offset: float = DEFAULT_FRAME_OFFSET,
) -> torch.Tensor:
    """Mean of the frames whose centre lies inside a window centred on each given time (phoneme-centred pooling).

    A frame `t` belongs to the window around centre `c` when `|frame_offset + t * frame_period - c| <= window / 2`.
    A valid window that contains no valid frame (very short windows, or centres near or past the end of the
    utterance) takes the valid frame nearest to its centre, so every valid window gets at least one frame. Invalid
    windows (`window_mask` false) and utterances without valid frames give zero vectors.

    Args:
        frames (`torch.Tensor` of shape `(batch_size, num_frames, hidden_size)`):
            Frame features, e.g. the first output of [`ContentEncoder`].
        frame_mask (`torch.Tensor` of shape `(batch_size, num_frames)`, *optional*):
            1 / `True` for real frames, 0 / `False` for padding. `None`: all frames are real.
        window_centers (`torch.Tensor` of shape `(batch_size, num_windows)`):
            Window centres in seconds from the start of each utterance (e.g. phoneme midpoints).
        window_mask (`torch.Tensor` of shape `(batch_size, num_windows)`, *optional*):
            1 / `True` for real windows, 0 / `False` for padding. `None`: all windows are real.
        window_ms (`float`, *optional*, defaults to 240.0):
            Window length in milliseconds (paper value for training, SAPA section 3.1; 120 ms for the analysis).
        frame_period (`float`, *optional*, defaults to 0.02):
            Frame hop in seconds ([`ContentEncoder.frame_period`]).
        frame_offset (`float`, *optional*, defaults to 0.0125):
            Centre of frame 0 in seconds ([`ContentEncoder.frame_offset`]).

    Returns:
        `torch.Tensor` of shape `(batch_size, num_windows, hidden_size)`: one pooled vector per window.

    Example:

    ```python
    >>> frames, frame_mask = content_encoder(input_values, attention_mask)
    >>> pooled = content_encoder.pool_windows(frames, frame_mask, phoneme_midpoints, phoneme_mask, window_ms=240)
    ```
    """
    if frames.dim() != 3:
        raise ValueError(f"`frames` must be (batch_size, num_frames, hidden_size), got shape {tuple(frames.shape)}.")
    batch_size, num_frames, _ = frames.shape
    if window_centers.dim() != 2 or window_centers.shape[0] != batch_size:
        raise ValueError(
            f"`window_centers` must be (batch_size={batch_size}, num_windows), got shape "
            f"{tuple(window_centers.shape)}."
        )
    if window_ms <= 0:
        raise ValueError(f"`window_ms` must be positive, got {window_ms}.")
    device = frames.device
    if frame_mask is None:
        frame_mask = torch.ones(batch_size, num_frames, dtype=torch.bool, device=device)
    frame_mask = frame_mask.to(device=device).bool()
    if window_mask is None:
        window_mask = torch.ones(window_centers.shape, dtype=torch.bool, device=device)
    window_mask = window_mask.to(device=device).bool()

    times = frame_centers(num_frames, frame_period, frame_offset, device)  # (T,) float64
    distance = (times.view(1, 1, -1) - window_centers.to(device=device, dtype=torch.float64).unsqueeze(-1)).abs()
    # distance: (B, N, T); a tiny tolerance keeps frames exactly on the window edge inside despite rounding
    inside = (distance <= window_ms / 2000.0 + 1e-9) & frame_mask.unsqueeze(1)
    nearest = distance.masked_fill(~frame_mask.unsqueeze(1), float("inf")).argmin(dim=-1)  # (B, N)
    fallback = torch.zeros_like(inside).scatter_(-1, nearest.unsqueeze(-1), True) & frame_mask.unsqueeze(1)
    empty = ~inside.any(dim=-1, keepdim=True)
    weights = torch.where(empty, fallback, inside) & window_mask.unsqueeze(-1)  # (B, N, T)
    weights = weights.to(frames.dtype)
    counts = weights.sum(dim=-1, keepdim=True).clamp_min(1.0)
    return torch.bmm(weights, frames) / counts  # (B, N, H)


def _masked_normalize(input_values: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
    """Zero-mean unit-variance normalisation per utterance over real samples (as `Wav2Vec2FeatureExtractor` with
    `do_normalize=True`); padded samples are set to 0."""
    if attention_mask is None:
        mean = input_values.mean(dim=-1, keepdim=True)
        var = input_values.var(dim=-1, unbiased=False, keepdim=True)
        return (input_values - mean) / torch.sqrt(var + 1e-7)
    mask = attention_mask.to(input_values.dtype)
    count = mask.sum(dim=-1, keepdim=True).clamp_min(1.0)
    mean = (input_values * mask).sum(dim=-1, keepdim=True) / count
    var = (((input_values - mean) * mask) ** 2).sum(dim=-1, keepdim=True) / count
    return (input_values - mean) / torch.sqrt(var + 1e-7) * mask


class ContentEncoder(nn.Module):
    """Frozen self-supervised speech backbone that returns frame-level content features (SAPA's f_c, FreeVC style).

    Wraps any model whose config has `conv_kernel` / `conv_stride` and whose forward takes `input_values`,
    `attention_mask` and `output_hidden_states` (WavLM, HuBERT, wav2vec 2.0, Data2VecAudio, ...), or a Whisper model
    (only its encoder is kept; raw 16 kHz waveforms in, log-mel computed inside, utterances of any length, see
    `hf_cser.encoders.whisper.encoding`; an int `layer` runs only the encoder layers it needs). The backbone is
    frozen by default (SAPA: both encoders frozen); its features are the output. FreeVC's bottleneck is the trainable
    projection of the model that uses this encoder (the SAPA model), not part of this module.

    Args:
        backbone (`transformers.PreTrainedModel`):
            The speech backbone (a base model such as `WavLMModel`, as returned by `AutoModel`).
        layer (`int`, `str` or `None`, *optional*, defaults to `None`):
            `None`: the last hidden state. An `int` `k`: `hidden_states[k]` of the backbone (0 = the projected conv
            features before the transformer, `num_hidden_layers` = the last layer; negative values count from the
            end). `"weighted"`: a softmax-weighted sum of all `num_hidden_layers + 1` hidden states with learnable
            weights (SUPERB style, initialised uniform; trainable even when the backbone is frozen).
        freeze (`bool`, *optional*, defaults to `True`):
            Freeze the backbone: no gradients, and it stays in eval mode (no dropout) under `.train()`.
        normalize_inputs (`bool`, *optional*, defaults to `False`):
            Apply the zero-mean unit-variance normalisation of `Wav2Vec2FeatureExtractor(do_normalize=True)` to
            `input_values` (over real samples) inside `forward`, so callers can pass raw 16 kHz waveforms.
            [`ContentEncoder.from_pretrained`] reads it from the saved feature extractor.
        sampling_rate (`int`, *optional*, defaults to 16000):
            Sampling rate the backbone expects.
        whisper_mode (`str`, *optional*, defaults to `"unpadded"`):
            Whisper backbones only: `"unpadded"` (the utterance's own frames, first n positional embeddings; library
            default, chosen for speed, see `docs/real_speech.md`) or `"pad_30s"` (Whisper's 30 s training input; only
            the utterance's own output frames are kept).

    Example:

    ```python
    >>> from hf_cser.encoders import ContentEncoder
    >>> encoder = ContentEncoder.from_pretrained("microsoft/wavlm-base-plus", layer=6)  # or a local folder
    >>> frames, frame_mask = encoder(input_values, attention_mask)  # (B, T', H), (B, T')
    >>> pooled = encoder.pool_windows(frames, frame_mask, phoneme_midpoints, phoneme_mask, window_ms=240)
    ```
    """

    def __init__(
        self,
        backbone: nn.Module,
        layer: LayerSpec = None,
        *,
        freeze: bool = True,
        normalize_inputs: bool = False,
        sampling_rate: int = DEFAULT_SAMPLING_RATE,
        whisper_mode: str = "unpadded",
    ):
        super().__init__()
        from .whisper.encoding import WHISPER_POOLING_MODES, is_whisper_model, whisper_encoder_of

        config = getattr(backbone, "config", None)
        self.is_whisper = is_whisper_model(backbone)
        if self.is_whisper:
            # only the encoder of a Whisper model is a speech front end; its decoder is dropped
            backbone = whisper_encoder_of(backbone)
            if whisper_mode not in WHISPER_POOLING_MODES:
                raise ValueError(f"`whisper_mode` must be one of {WHISPER_POOLING_MODES}, got {whisper_mode!r}.")
            num_hidden_layers = int(config.encoder_layers)
            hidden_size = int(config.d_model)
        else:
            for field in ("conv_kernel", "conv_stride", "hidden_size", "num_hidden_layers"):
                if not hasattr(config, field):
                    raise ValueError(
                        f"`backbone` must be a Whisper model or a wav2vec 2.0-style speech model whose config has "
                        f"`{field}`; got {type(backbone).__name__}. Load it with `AutoModel.from_pretrained` "
                        "(Whisper, WavLM, HuBERT, wav2vec2)."
                    )
            num_hidden_layers = int(config.num_hidden_layers)
            hidden_size = int(config.hidden_size)
        self.whisper_mode = whisper_mode
        self.backbone = backbone
        self.num_layers = num_hidden_layers + 1  # embeddings output + every transformer layer
        self.layer = self._check_layer(layer)
        if self.layer == "weighted":
            self.layer_weights = nn.Parameter(torch.zeros(self.num_layers))  # softmax -> uniform at start
        else:
            self.register_parameter("layer_weights", None)
        self.frozen = bool(freeze)
        self.normalize_inputs = bool(normalize_inputs)
        self.sampling_rate = int(sampling_rate)
        if self.is_whisper:
            self.frame_hop, self.receptive_field = 320, 1  # 20 ms frames centred on their first sample (offset 0)
        else:
            self.frame_hop, self.receptive_field = conv_frame_geometry(config.conv_kernel, config.conv_stride)
        self.output_size = hidden_size
        if self.frozen:
            self.backbone.requires_grad_(False)
            self.backbone.eval()

    def _check_layer(self, layer: LayerSpec) -> LayerSpec:
        if layer is None or layer == "weighted":
            return layer
        if isinstance(layer, bool) or not isinstance(layer, int):
            raise ValueError(f"`layer` must be None, an int or 'weighted', got {layer!r}.")
        if not -self.num_layers <= layer < self.num_layers:
            raise ValueError(
                f"`layer` must be in [{-self.num_layers}, {self.num_layers - 1}] for a backbone with "
                f"{self.num_layers - 1} transformer layers (0 = conv features), got {layer}."
            )
        return layer % self.num_layers

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | os.PathLike,
        layer: LayerSpec = None,
        *,
        freeze: bool = True,
        normalize_inputs: bool | None = None,
        whisper_mode: str = "unpadded",
        **kwargs,
    ) -> ContentEncoder:
        """Load a backbone with `AutoModel.from_pretrained` (Hub id or local folder) and wrap it.

        Args:
            pretrained_model_name_or_path (`str` or `os.PathLike`):
                Hub id (`"microsoft/wavlm-large"`, `"facebook/hubert-base-ls960"`, `"facebook/wav2vec2-base"`) or a
                local folder, e.g. the one returned by
                [`~hf_cser.encoders.phonetic_pretraining.default_phonetic_encoder`].
            layer (`int`, `str` or `None`, *optional*, defaults to `None`): see [`ContentEncoder`].
            freeze (`bool`, *optional*, defaults to `True`): see [`ContentEncoder`].
            normalize_inputs (`bool`, *optional*):
                Normalise waveforms inside `forward`. `None` (default): the `do_normalize` of the saved feature
                extractor (`preprocessor_config.json`), `False` when there is none.
            whisper_mode (`str`, *optional*, defaults to `"unpadded"`):
                How a Whisper encoder sees an utterance (`"unpadded"` or `"pad_30s"`, see
                `hf_cser.encoders.whisper.encoding`); ignored for other backbones.
            kwargs: passed to `AutoModel.from_pretrained` (`revision`, `cache_dir`, `torch_dtype`, ...).
        """
        from .backbones import load_speech_backbone, resolve_backbone_path

        pretrained_model_name_or_path = resolve_backbone_path(pretrained_model_name_or_path)
        backbone = load_speech_backbone(pretrained_model_name_or_path, **kwargs)
        sampling_rate = DEFAULT_SAMPLING_RATE
        do_normalize = False
        try:
            from transformers import AutoFeatureExtractor

            feature_extractor = AutoFeatureExtractor.from_pretrained(
                pretrained_model_name_or_path,
                **{k: v for k, v in kwargs.items() if k in ("revision", "cache_dir", "local_files_only", "token")},
            )
            sampling_rate = int(getattr(feature_extractor, "sampling_rate", sampling_rate))
            do_normalize = bool(getattr(feature_extractor, "do_normalize", False))
        except (OSError, ValueError) as error:
            logger.info(f"No feature extractor for {pretrained_model_name_or_path} ({error}); assuming raw 16 kHz.")
        encoder = cls(
            backbone,
            layer,
            freeze=freeze,
            normalize_inputs=do_normalize if normalize_inputs is None else normalize_inputs,
            sampling_rate=sampling_rate,
            whisper_mode=whisper_mode,
        )
        encoder.name_or_path = str(pretrained_model_name_or_path)
        return encoder

    # ------------------------------------------------------------------ frame geometry

    @property
    def frame_period(self) -> float:
        """Frame hop in seconds (`prod(config.conv_stride) / sampling_rate`; 0.02 s for the wav2vec 2.0 family)."""
        return self.frame_hop / self.sampling_rate

    @property
    def frame_rate(self) -> float:
        """Frames per second (50 Hz for the wav2vec 2.0 family)."""
        return self.sampling_rate / self.frame_hop

    @property
    def frame_offset(self) -> float:
        """Centre of frame 0 in seconds: half the conv receptive field (0.0125 s for the wav2vec 2.0 family; 0 for
        Whisper, whose frame j is centred on mel frame 2j)."""
        if self.is_whisper:
            return 0.0
        return self.receptive_field / 2 / self.sampling_rate

    def frames_to_seconds(self, frame_indices: torch.Tensor | int) -> torch.Tensor | float:
        """Centre time in seconds of frame indices (`frame_offset + index * frame_period`)."""
        if isinstance(frame_indices, int):
            return self.frame_offset + frame_indices * self.frame_period
        return self.frame_offset + frame_indices.to(torch.float64) * self.frame_period

    def num_frames(self, num_samples: torch.Tensor | int) -> torch.Tensor | int:
        """Number of backbone frames for waveforms of `num_samples` samples."""
        if self.is_whisper:
            from .whisper.encoding import num_output_frames

            frames = num_output_frames(torch.as_tensor(num_samples))
            return int(frames) if isinstance(num_samples, int) else frames
        config = self.backbone.config
        lengths = conv_output_lengths(torch.as_tensor(num_samples), config.conv_kernel, config.conv_stride)
        return int(lengths) if isinstance(num_samples, int) else lengths

    def pool_windows(
        self,
        frames: torch.Tensor,
        frame_mask: torch.Tensor | None,
        window_centers: torch.Tensor,
        window_mask: torch.Tensor | None = None,
        window_ms: float = 240.0,
    ) -> torch.Tensor:
        """[`pool_windows`] with this backbone's frame geometry."""
        return pool_windows(
            frames,
            frame_mask,
            window_centers,
            window_mask,
            window_ms,
            frame_period=self.frame_period,
            frame_offset=self.frame_offset,
        )

    # ------------------------------------------------------------------ forward

    def train(self, mode: bool = True) -> ContentEncoder:
        super().train(mode)
        if self.frozen:
            self.backbone.eval()  # a frozen backbone never runs dropout
        return self

    def forward(
        self, input_values: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Frame features of a batch of 16 kHz waveforms.

        Args:
            input_values (`torch.Tensor` of shape `(batch_size, num_samples)`):
                Waveforms at `sampling_rate`, right-padded with zeros.
            attention_mask (`torch.Tensor` of shape `(batch_size, num_samples)`, *optional*):
                1 for real samples, 0 for padding. Passed to the backbone and used for `frame_mask`.

        Returns:
            `tuple(torch.Tensor, torch.Tensor)`: `frames` of shape `(batch_size, num_frames, output_size)` and
            `frame_mask` of shape `(batch_size, num_frames)` (bool, `True` for frames computed from real samples).
        """
        if input_values.dim() != 2:
            raise ValueError(f"`input_values` must be (batch_size, num_samples), got {tuple(input_values.shape)}.")
        # an int layer k needs hidden states 0..k only (Whisper then runs only k encoder layers); the last layer of a
        # wav2vec 2.0-style backbone needs no hidden states at all
        num_layers = self.layer if isinstance(self.layer, int) else None
        last_only = self.layer is None and not self.is_whisper
        states, frame_mask = self._backbone_states(input_values, attention_mask, num_layers, last_only)
        if self.layer == "weighted":
            stacked = torch.stack(states, dim=0)  # (L, B, T', H)
            weights = torch.softmax(self.layer_weights, dim=0).to(stacked.dtype)
            return torch.einsum("l,lbth->bth", weights, stacked), frame_mask
        return states[-1], frame_mask

    def hidden_states(
        self, input_values: torch.Tensor, attention_mask: torch.Tensor | None = None, num_layers: int | None = None
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Every hidden state of the backbone (0 = the input embeddings; only 0..`num_layers` when given) for a batch
        of 16 kHz waveforms, and the bool `frame_mask` `(batch_size, num_frames)` of frames computed from real
        samples. Same input handling as `forward` (normalisation, Whisper's log-mel)."""
        return self._backbone_states(input_values, attention_mask, num_layers, last_only=False)

    def _backbone_states(
        self,
        input_values: torch.Tensor,
        attention_mask: torch.Tensor | None,
        num_layers: int | None,
        last_only: bool,
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        if self.normalize_inputs:
            input_values = _masked_normalize(input_values, attention_mask)
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            if self.is_whisper:
                from .whisper.encoding import encode_whisper_batch

                return encode_whisper_batch(
                    self.backbone, input_values, attention_mask, mode=self.whisper_mode, num_layers=num_layers
                )
            outputs = self.backbone(
                input_values, attention_mask=attention_mask, output_hidden_states=not last_only, return_dict=True
            )
        if last_only:
            states = [outputs.last_hidden_state]
        else:
            states = list(outputs.hidden_states)
            states = states if num_layers is None else states[: num_layers + 1]
        num_frames = states[-1].shape[1]
        device = states[-1].device
        if attention_mask is None:
            frame_mask = torch.ones(states[-1].shape[:2], dtype=torch.bool, device=device)
        else:
            lengths = self.num_frames(attention_mask.sum(dim=-1)).to(device)
            frame_mask = torch.arange(num_frames, device=device).unsqueeze(0) < lengths.unsqueeze(1)
        return states, frame_mask

    def extra_repr(self) -> str:
        return (
            f"layer={self.layer!r}, output_size={self.output_size}, frozen={self.frozen}, "
            f"frame_period={self.frame_period:g}s"
        )


__all__ = [
    "ContentEncoder",
    "conv_frame_geometry",
    "conv_output_lengths",
    "frame_centers",
    "pool_windows",
]
