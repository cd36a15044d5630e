"""Whisper's encoder on utterances of any length: log-mel features and frame outputs with a padding mask.

OpenAI's Whisper encoder was trained on 30 s windows, and transformers' `WhisperEncoder.forward` refuses anything
else. Emotion utterances last 1-10 s, so two ways of encoding them are offered (`WHISPER_POOLING_MODES`):

- ``"unpadded"`` (library default): the log-mel of the utterance's own samples only, through the encoder with the
  first n positional embeddings (n = the utterance's frame count); in a batch, shorter utterances are padded and
  masked (their padded mel frames are zeroed before each convolution and their keys masked in every attention), so a
  batched utterance gives the same frames as the utterance alone. Fastest (attention over n, not 1,500, frames).
- ``"pad_30s"``: Whisper's own input (padded with silence to 30 s, exactly what `WhisperFeatureExtractor` gives),
  through transformers' layers; only the utterance's own output frames are kept for pooling. This matches the
  training condition; it costs ~1,500 frames per utterance.

Utterances longer than 30 s are split into 30 s chunks (each encoded on its own, frames concatenated) in both modes.

Frame geometry: 10 ms mel hop (160 samples at 16 kHz), conv2 stride 2 -> one output frame per 20 ms; output frame j is
centred on mel frame 2j, i.e. at ``0.02 * j`` seconds (offset 0). An utterance of S samples has ``S // 160`` mel
frames and ``ceil((S // 160) / 2)`` output frames.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

WHISPER_POOLING_MODES = ("unpadded", "pad_30s")
WHISPER_SAMPLING_RATE = 16_000
WHISPER_HOP_LENGTH = 160
WHISPER_N_FFT = 400
WHISPER_FRAME_PERIOD = 0.02
WHISPER_FRAME_OFFSET = 0.0


def is_whisper_model(module: nn.Module) -> bool:
    """Whether `module` is a transformers Whisper model or encoder (by its config's `model_type`)."""
    return getattr(getattr(module, "config", None), "model_type", None) == "whisper"


def whisper_encoder_of(module: nn.Module) -> nn.Module:
    """The `WhisperEncoder` of a `WhisperModel` / `WhisperForConditionalGeneration` / `WhisperForAudioClassification`,
    or `module` itself when it already is an encoder."""
    if hasattr(module, "conv1") and hasattr(module, "embed_positions"):
        return module
    if hasattr(module, "get_encoder"):
        return module.get_encoder()
    if hasattr(module, "encoder"):
        return module.encoder
    raise ValueError(f"{type(module).__name__} has no Whisper encoder.")


def whisper_mel_filters(num_mel_bins: int = 80) -> torch.Tensor:
    """Whisper's mel filter bank `(n_fft // 2 + 1, num_mel_bins)`, the one of `WhisperFeatureExtractor` (slaney);
    computed once per size (a copy is returned)."""
    return _mel_filters(int(num_mel_bins)).clone()


@functools.lru_cache(maxsize=4)
def _mel_filters(num_mel_bins: int) -> torch.Tensor:
    from ..mel import mel_filters

    filters = mel_filters(WHISPER_SAMPLING_RATE, WHISPER_N_FFT, num_mel_bins, 0.0, 8000.0)  # (n_mels, n_freq)
    return torch.from_numpy(np.ascontiguousarray(filters.T, dtype=np.float32))


def num_mel_frames(num_samples: int | torch.Tensor) -> int | torch.Tensor:
    """Mel frames `WhisperFeatureExtractor` keeps for `num_samples` samples (centred STFT minus the last frame)."""
    return num_samples // WHISPER_HOP_LENGTH


def num_output_frames(num_samples: int | torch.Tensor) -> int | torch.Tensor:
    """Encoder output frames (20 ms) for `num_samples` samples: `ceil(mel_frames / 2)`."""
    mel = num_mel_frames(num_samples)
    return (mel + 1) // 2


def log_mel_spectrogram(
    waveform: torch.Tensor, mel_filters: torch.Tensor, pad_to_samples: int | None = None
) -> torch.Tensor:
    """Whisper's log-mel of ONE waveform, as `WhisperFeatureExtractor` computes it (clamped 8 dB below its maximum,
    then (x + 4) / 4).

    Args:
        waveform (`torch.Tensor` of shape `(num_samples,)`): 16 kHz mono.
        mel_filters (`torch.Tensor`): from [`whisper_mel_filters`].
        pad_to_samples (`int`, *optional*): right-pad with zeros to this many samples first (480,000 = 30 s).

    Returns:
        `torch.Tensor` of shape `(num_mel_bins, num_samples // 160)`.
    """
    waveform = waveform.to(torch.float32)
    if pad_to_samples is not None and waveform.shape[-1] < pad_to_samples:
        waveform = nn.functional.pad(waveform, (0, pad_to_samples - waveform.shape[-1]))
    if waveform.shape[-1] <= WHISPER_N_FFT // 2:  # reflect padding needs more than n_fft / 2 samples
        waveform = nn.functional.pad(waveform, (0, WHISPER_N_FFT // 2 + 1 - waveform.shape[-1]))
    window = torch.hann_window(WHISPER_N_FFT, device=waveform.device)
    stft = torch.stft(waveform, WHISPER_N_FFT, WHISPER_HOP_LENGTH, window=window, return_complex=True)
    magnitudes = (stft[..., :-1].abs() ** 2).contiguous()
    mel = mel_filters.to(waveform.device).T @ magnitudes
    log_spec = torch.clamp(mel, min=1e-10).log10()
    log_spec = torch.maximum(log_spec, log_spec.max() - 8.0)
    return (log_spec + 4.0) / 4.0


def split_long_waveforms(waveforms: Sequence[torch.Tensor], max_samples: int) -> tuple[list[torch.Tensor], list[int]]:
    """Split waveforms longer than `max_samples` into consecutive chunks; returns the chunks and each chunk's
    utterance index."""
    chunks, owners = [], []
    for index, waveform in enumerate(waveforms):
        count = max(1, math.ceil(waveform.shape[-1] / max_samples))
        for start in range(count):
            chunks.append(waveform[start * max_samples : (start + 1) * max_samples])
            owners.append(index)
    return chunks, owners


def _run_layers(encoder: nn.Module, hidden: torch.Tensor, attention_mask, num_layers: int) -> list[torch.Tensor]:
    """Hidden states 0..num_layers (0 = input embeddings; the last encoder layer's output gets the final layer norm,
    as transformers reports it)."""
    states = [hidden]
    total = len(encoder.layers)
    for index, layer in enumerate(encoder.layers[:num_layers]):
        out = layer(hidden, attention_mask)
        hidden = out[0] if isinstance(out, tuple) else out
        if index == total - 1:
            hidden = encoder.layer_norm(hidden)
        states.append(hidden)
    return states


def encode_whisper_frames(
    encoder: nn.Module,
    waveforms: Sequence[torch.Tensor],
    *,
    mode: str = "unpadded",
    num_layers: int | None = None,
    mel_filters: torch.Tensor | None = None,
) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Hidden states of Whisper's encoder for a batch of waveforms of any length.

    Args:
        encoder (`WhisperEncoder`): e.g. `WhisperModel.from_pretrained(folder).get_encoder()`.
        waveforms (sequence of `torch.Tensor` of shape `(num_samples,)`): 16 kHz mono, unpadded.
        mode (`str`, *optional*, defaults to `"unpadded"`): one of `WHISPER_POOLING_MODES`.
        num_layers (`int`, *optional*): run only the first `num_layers` encoder layers (a middle layer costs
            proportionally less); `None`: all.
        mel_filters (`torch.Tensor`, *optional*): cached [`whisper_mel_filters`].

    Returns:
        `(hidden_states, frame_mask)`: `num_layers + 1` tensors of shape `(batch, frames, d_model)` (index 0 = the
        input embeddings, index k = the output of layer k, the last layer with the final layer norm), and the bool
        mask `(batch, frames)` of each utterance's own frames (frames of chunks of a long utterance concatenated).
    """
    if mode not in WHISPER_POOLING_MODES:
        raise ValueError(f"`mode` must be one of {WHISPER_POOLING_MODES}, got {mode!r}.")
    config = encoder.config
    total_layers = len(encoder.layers)
    num_layers = total_layers if num_layers is None else int(num_layers)
    if not 0 <= num_layers <= total_layers:
        raise ValueError(f"`num_layers` must be in [0, {total_layers}], got {num_layers}.")
    if mel_filters is None:
        mel_filters = _mel_filters(int(config.num_mel_bins))
    max_positions = int(config.max_source_positions)
    max_samples = max_positions * 2 * WHISPER_HOP_LENGTH  # 480,000 = 30 s
    chunks, owners = split_long_waveforms(list(waveforms), max_samples)
    device = encoder.conv1.weight.device
    dtype = encoder.conv1.weight.dtype
    pad_to = max_samples if mode == "pad_30s" else None
    mels = [log_mel_spectrogram(c.to(device), mel_filters, pad_to_samples=pad_to) for c in chunks]
    own_mel = torch.tensor([int(num_mel_frames(c.shape[-1])) for c in chunks], device=device)
    own_frames = (own_mel + 1) // 2
    mel_len = max(m.shape[-1] for m in mels)
    mel = torch.zeros(len(mels), mels[0].shape[0], mel_len, device=device, dtype=dtype)
    for index, m in enumerate(mels):
        mel[index, :, : m.shape[-1]] = m.to(dtype)

    # unpadded: padded mel frames are zeroed before each convolution (as the convolutions' own zero padding would see
    # an utterance alone) and padded keys are masked in every attention; pad_30s is Whisper's input as it is
    mel_mask = None
    if mode == "unpadded":
        mel_mask = (torch.arange(mel_len, device=device).unsqueeze(0) < own_mel.unsqueeze(1)).unsqueeze(1)
    embeds = nn.functional.gelu(encoder.conv1(mel if mel_mask is None else mel * mel_mask))
    embeds = nn.functional.gelu(encoder.conv2(embeds if mel_mask is None else embeds * mel_mask)).permute(0, 2, 1)
    frames = embeds.shape[1]
    hidden = embeds + encoder.embed_positions.weight[:frames].to(embeds.dtype)
    hidden = nn.functional.dropout(hidden, p=encoder.dropout, training=encoder.training)
    attention_mask = None
    if mel_mask is not None:
        frame_mask = torch.arange(frames, device=device).unsqueeze(0) < own_frames.unsqueeze(1)
        if not bool(frame_mask.all()):
            blocked = torch.finfo(hidden.dtype).min
            attention_mask = torch.zeros(len(chunks), 1, frames, frames, device=device, dtype=hidden.dtype)
            attention_mask = attention_mask.masked_fill(~frame_mask[:, None, None, :], blocked)
    states = _run_layers(encoder, hidden, attention_mask, num_layers)

    # stitch the chunks of each utterance back together and keep only each utterance's own frames
    batch = len(waveforms)
    per_utterance: list[list[tuple[int, int]]] = [[] for _ in range(batch)]
    for chunk_index, owner in enumerate(owners):
        per_utterance[owner].append((chunk_index, int(own_frames[chunk_index])))
    lengths = [sum(n for _, n in parts) for parts in per_utterance]
    longest = max(max(lengths), 1)
    out_states = []
    for state in states:
        out = state.new_zeros(batch, longest, state.shape[-1])
        for owner, parts in enumerate(per_utterance):
            position = 0
            for chunk_index, count in parts:
                out[owner, position : position + count] = state[chunk_index, :count]
                position += count
        out_states.append(out)
    lengths_tensor = torch.tensor(lengths, device=device)
    frame_mask = torch.arange(longest, device=device).unsqueeze(0) < lengths_tensor.unsqueeze(1)
    return out_states, frame_mask


def encode_whisper_batch(
    encoder: nn.Module,
    input_values: torch.Tensor,
    attention_mask: torch.Tensor | None = None,
    *,
    mode: str = "unpadded",
    num_layers: int | None = None,
) -> tuple[list[torch.Tensor], torch.Tensor]:
    """[`encode_whisper_frames`] for a right-padded batch of waveforms `(batch, samples)` with its sample mask (1 for
    real samples; `None`: every sample is real), as the wav2vec 2.0-style collators of the library produce it."""
    if attention_mask is None:
        lengths = [input_values.shape[-1]] * input_values.shape[0]
    else:
        lengths = [int(n) for n in attention_mask.sum(dim=-1).tolist()]
    waveforms = [input_values[i, :n] for i, n in enumerate(lengths)]
    return encode_whisper_frames(encoder, waveforms, mode=mode, num_layers=num_layers)


__all__ = [
    "encode_whisper_batch",
    "WHISPER_FRAME_OFFSET",
    "WHISPER_FRAME_PERIOD",
    "WHISPER_POOLING_MODES",
    "encode_whisper_frames",
    "is_whisper_model",
    "log_mel_spectrogram",
    "num_mel_frames",
    "num_output_frames",
    "split_long_waveforms",
    "whisper_encoder_of",
    "whisper_mel_filters",
]
