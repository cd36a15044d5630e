"""GE2E speaker encoder (the pretrained "voice encoder" of resemblyzer / FreeVC) as a transformers model.

Architecture (Wan et al. 2018, as trained in Real-Time-Voice-Cloning and shipped in `resemblyzer`): 40-band power mel
frames -> 3-layer LSTM (hidden 256) -> last hidden state of the top layer -> Linear(256, 256) -> ReLU -> L2
normalisation. An utterance is embedded by cutting it into overlapping 1.6 s partial utterances and taking the
L2-normalised mean of their L2-normalised embeddings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from transformers import PreTrainedModel
from transformers.utils import ModelOutput, logging

from ...hub import CheckedFolderLoadingMixin
from ...modeling_utils import init_linear_and_layer_norm
from .configuration_ge2e import Ge2eSpeakerEncoderConfig
from .feature_extraction_ge2e import Ge2eFeatureExtractor

try:  # transformers >= 5: init helpers that respect already-loaded weights
    from transformers import initialization as init
except ImportError:  # transformers 4.x
    from torch.nn import init

logger = logging.get_logger(__name__)


def l2_normalize(vectors: torch.Tensor) -> torch.Tensor:
    """Divide by the L2 norm over the last axis, as resemblyzer does (no epsilon that would shrink tiny vectors);
    all-zero vectors (possible after the ReLU) stay zero instead of becoming NaN."""
    norms = torch.linalg.vector_norm(vectors, dim=-1, keepdim=True)
    return vectors / norms.clamp_min(torch.finfo(vectors.dtype).tiny)


@dataclass
class Ge2eSpeakerEncoderOutput(ModelOutput):
    """
    Output of [`Ge2eSpeakerEncoderModel`].

    Args:
        embeddings (`torch.FloatTensor` of shape `(num_utterances, embedding_size)`):
            L2-normalised, non-negative speaker embeddings. One per input sequence, or one per utterance (mean of its
            partial embeddings, re-normalised) when `partial_to_utterance` was given.
        partial_embeddings (`torch.FloatTensor` of shape `(num_partials, embedding_size)`, *optional*):
            L2-normalised embedding of every input sequence (partial utterance); returned with `partial_to_utterance`.
        last_hidden_state (`torch.FloatTensor` of shape `(batch_size, num_frames, hidden_size)`, *optional*):
            Outputs of the top LSTM layer for every frame (zeros on padded frames); returned with
            `output_hidden_states=True`.
    """

    embeddings: torch.FloatTensor | None = None
    partial_embeddings: torch.FloatTensor | None = None
    last_hidden_state: torch.FloatTensor | None = None


class Ge2eSpeakerEncoderPreTrainedModel(CheckedFolderLoadingMixin, PreTrainedModel):
    """Base class: config class, weight initialisation and the `from_pretrained` plumbing."""

    config_class = Ge2eSpeakerEncoderConfig
    base_model_prefix = "ge2e"
    main_input_name = "input_features"
    supports_gradient_checkpointing = False

    @torch.no_grad()
    def _init_weights(self, module):
        if isinstance(module, nn.LSTM):
            for name, param in module.named_parameters():
                if "weight" in name:
                    init.xavier_uniform_(param)
                else:
                    init.zeros_(param)
        elif init_linear_and_layer_norm(module):
            pass
        elif isinstance(module, Ge2eSpeakerEncoderModel):
            init.constant_(module.similarity_weight, self.config.similarity_weight_init)
            init.constant_(module.similarity_bias, self.config.similarity_bias_init)


class Ge2eSpeakerEncoderModel(Ge2eSpeakerEncoderPreTrainedModel):
    r"""
    The GE2E speaker encoder f_s. `forward` embeds mel feature sequences; [`~Ge2eSpeakerEncoderModel.embed_utterance`]
    and [`~Ge2eSpeakerEncoderModel.embed_utterances`] go from 16 kHz waveforms to utterance embeddings, using a
    [`Ge2eFeatureExtractor`] built from the config.

    Parameter names match the `model_state` of resemblyzer's `pretrained.pt` (`lstm.*`, `linear.*`,
    `similarity_weight`, `similarity_bias`); use `hf_cser.encoders.convert_resemblyzer_checkpoint` to get the
    pretrained weights.

    Example:

    ```python
    >>> import numpy as np
    >>> from hf_cser.encoders import convert_resemblyzer_checkpoint

    >>> model = convert_resemblyzer_checkpoint()  # cached after the first call
    >>> embedding = model.embed_utterance(np.zeros(32000, dtype=np.float32), sampling_rate=16000)
    >>> embedding.shape
    torch.Size([256])
    ```
    """

    def __init__(self, config: Ge2eSpeakerEncoderConfig):
        super().__init__(config)
        self.lstm = nn.LSTM(config.mel_n_channels, config.hidden_size, config.num_layers, batch_first=True)
        self.linear = nn.Linear(config.hidden_size, config.embedding_size)
        self.relu = nn.ReLU()
        # GE2E similarity scale w and bias b (training only; kept so the conversion loses nothing)
        self.similarity_weight = nn.Parameter(torch.tensor([config.similarity_weight_init]))
        self.similarity_bias = nn.Parameter(torch.tensor([config.similarity_bias_init]))
        self.post_init()

    def forward(
        self,
        input_features: torch.FloatTensor,
        attention_mask: torch.LongTensor | None = None,
        partial_to_utterance: torch.LongTensor | None = None,
        num_utterances: int | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> Ge2eSpeakerEncoderOutput | tuple:
        r"""
        Args:
            input_features (`torch.FloatTensor` of shape `(batch_size, num_frames, mel_n_channels)`):
                Power mel frames from [`Ge2eFeatureExtractor`] (partial utterances of `partial_frames` frames, or
                whole utterances).
            attention_mask (`torch.LongTensor` of shape `(batch_size, num_frames)`, *optional*):
                1 for real frames, 0 for right padding; the embedding then uses the LSTM state at the last real frame.
            partial_to_utterance (`torch.LongTensor` of shape `(batch_size,)`, *optional*):
                Utterance index of every row of `input_features`. When given, `embeddings` are per utterance
                (L2-normalised mean of the partial embeddings) and `partial_embeddings` holds the per-row ones.
            num_utterances (`int`, *optional*):
                Number of utterances, `partial_to_utterance.max() + 1` when `None`.
            output_hidden_states (`bool`, *optional*):
                Whether to return the top LSTM layer's outputs as `last_hidden_state`.
            return_dict (`bool`, *optional*):
                Whether to return a [`Ge2eSpeakerEncoderOutput`] instead of a tuple.
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        if input_features.dim() != 3 or input_features.shape[-1] != self.config.mel_n_channels:
            raise ValueError(
                f"`input_features` must have shape (batch, frames, {self.config.mel_n_channels}), got "
                f"{tuple(input_features.shape)}."
            )
        num_frames = input_features.shape[1]
        if attention_mask is not None:
            lengths = attention_mask.sum(dim=1).to("cpu", torch.int64)
            if bool((lengths == 0).any()):
                raise ValueError("Every row of `attention_mask` needs at least one real frame.")
            packed = nn.utils.rnn.pack_padded_sequence(input_features, lengths, batch_first=True, enforce_sorted=False)
            outputs, (hidden, _) = self.lstm(packed)
            if output_hidden_states:
                outputs, _ = nn.utils.rnn.pad_packed_sequence(outputs, batch_first=True, total_length=num_frames)
        else:
            outputs, (hidden, _) = self.lstm(input_features)
        # hidden: (num_layers, batch, hidden_size); the top layer's state after the last real frame
        raw = self.relu(self.linear(hidden[-1]))  # (batch, embedding_size)
        embeddings = l2_normalize(raw)
        partial_embeddings = None
        if partial_to_utterance is not None:
            partial_embeddings = embeddings
            embeddings = self.pool_partial_embeddings(partial_embeddings, partial_to_utterance, num_utterances)
        last_hidden_state = outputs if output_hidden_states else None
        if not return_dict:
            return tuple(v for v in (embeddings, partial_embeddings, last_hidden_state) if v is not None)
        return Ge2eSpeakerEncoderOutput(
            embeddings=embeddings, partial_embeddings=partial_embeddings, last_hidden_state=last_hidden_state
        )

    @staticmethod
    def pool_partial_embeddings(
        partial_embeddings: torch.Tensor, partial_to_utterance: torch.Tensor, num_utterances: int | None = None
    ) -> torch.Tensor:
        """L2-normalised mean of every utterance's partial embeddings, shape `(num_utterances, embedding_size)`."""
        index = partial_to_utterance.to(partial_embeddings.device, torch.int64)
        if index.shape != partial_embeddings.shape[:1]:
            raise ValueError(
                f"`partial_to_utterance` must have shape ({partial_embeddings.shape[0]},), got {tuple(index.shape)}."
            )
        num_utterances = int(index.max()) + 1 if num_utterances is None else int(num_utterances)
        counts = torch.bincount(index, minlength=num_utterances)
        if bool((counts == 0).any()):
            empty = torch.nonzero(counts == 0).flatten().tolist()
            raise ValueError(f"Utterances {empty} have no partial utterance in `partial_to_utterance`.")
        sums = partial_embeddings.new_zeros(num_utterances, partial_embeddings.shape[-1])
        sums.index_add_(0, index, partial_embeddings)
        means = sums / counts.unsqueeze(-1).to(sums.dtype)
        return l2_normalize(means)

    @property
    def feature_extractor(self) -> Ge2eFeatureExtractor:
        """The [`Ge2eFeatureExtractor`] matching this model's config (built once)."""
        extractor = self.__dict__.get("_ge2e_feature_extractor")
        if extractor is None:
            extractor = Ge2eFeatureExtractor.from_speaker_encoder_config(self.config)
            self.__dict__["_ge2e_feature_extractor"] = extractor
        return extractor

    @torch.no_grad()
    def embed_utterances(
        self,
        waveforms: Sequence[np.ndarray] | np.ndarray,
        sampling_rate: int | None = None,
        return_partials: bool = False,
    ) -> torch.Tensor | Ge2eSpeakerEncoderOutput:
        """
        Embed a batch of waveforms: partial utterances of all of them go through the LSTM as one batch.

        Args:
            waveforms (`Sequence[np.ndarray]` or `np.ndarray`):
                Mono waveforms at `config.sampling_rate` (16 kHz); see `hf_cser.audio.prepare_waveform`.
            sampling_rate (`int`, *optional*):
                Their sampling rate; a mismatch raises instead of giving silently wrong embeddings.
            return_partials (`bool`, *optional*, defaults to `False`):
                Return the whole [`Ge2eSpeakerEncoderOutput`] (with `partial_embeddings`) instead of the embeddings.

        Returns:
            `torch.FloatTensor` of shape `(len(waveforms), embedding_size)` on the model's device, or the output.
        """
        if isinstance(waveforms, np.ndarray) and waveforms.ndim == 1:
            raise ValueError("`embed_utterances` takes a batch of waveforms; use `embed_utterance` for one.")
        waveforms = list(waveforms)
        if sampling_rate is None:
            sampling_rate = self.config.sampling_rate
        features = self.feature_extractor(waveforms, sampling_rate=sampling_rate, return_tensors="pt")
        output = self(
            input_features=features["input_features"].to(self.device, self.dtype),
            partial_to_utterance=features["partial_to_utterance"].to(self.device),
            num_utterances=len(waveforms),
            return_dict=True,
        )
        return output if return_partials else output.embeddings

    def embed_utterance(
        self, waveform: np.ndarray, sampling_rate: int | None = None, return_partials: bool = False
    ) -> torch.Tensor | Ge2eSpeakerEncoderOutput:
        """Embed one waveform, as resemblyzer's `VoiceEncoder.embed_utterance`; returns `(embedding_size,)` (or
        the whole output with `return_partials=True`). See [`~Ge2eSpeakerEncoderModel.embed_utterances`]."""
        waveform = np.asarray(waveform.detach().cpu() if hasattr(waveform, "detach") else waveform)
        output = self.embed_utterances([waveform], sampling_rate=sampling_rate, return_partials=True)
        return output if return_partials else output.embeddings[0]


__all__ = ["Ge2eSpeakerEncoderModel", "Ge2eSpeakerEncoderOutput", "Ge2eSpeakerEncoderPreTrainedModel"]
