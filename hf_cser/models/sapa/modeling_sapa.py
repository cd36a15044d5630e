"""SAPA: speaker-style aware phoneme anchoring for cross-lingual speech emotion recognition (``papers/000``).

Every utterance is cut into phoneme-centred 240 ms windows (section 3.1). For each window two frozen encoders give a
content feature (a self-supervised backbone's frames pooled over the window: FreeVC's content encoder f_c) and a
speaker feature (the GE2E embedding of the window: FreeVC's speaker encoder f_s). Trainable projections turn them into
the phonetic embedding z_c and the speaker embedding z_s, on which the SAPA trainer puts the phoneme-space and
speaker-space triplet losses (eqs. 4, 5). For classification the two are concatenated per window, a transformer
encoder runs over the window tokens, a masked mean pools them and four fully connected layers give the logits
(section 3.2, eq. 6).

Our reading of eq. 6 (``z_fused = Concat(Pool(z_c), Pool(z_s))`` followed by "a transformer-based encoder"): the
concatenation is done per window and the transformer attends over the windows before pooling, so that it has a
sequence to work on; `content_embeddings` / `speaker_embeddings` in the output are the pooled Pool(z_c), Pool(z_s).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from transformers import PreTrainedModel
from transformers.utils import ModelOutput, logging

from ...encoders.backbones import build_speech_backbone, resolve_backbone_path
from ...encoders.content_encoder import ContentEncoder
from ...encoders.ge2e import Ge2eSpeakerEncoderModel
from ...hub import CheckedFolderLoadingMixin
from ...modeling_utils import init_linear_and_layer_norm
from .configuration_sapa import SapaConfig
from .feature_extraction_sapa import select_window_centers

try:  # transformers >= 5: init helpers that respect already-loaded weights
    from transformers import initialization as init
except ImportError:  # transformers 4.x
    from torch.nn import init

logger = logging.get_logger(__name__)


@dataclass
class SapaOutput(ModelOutput):
    """
    Output of [`SapaForEmotionClassification`].

    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*):
            Cross-entropy L_SER (eq. 7) when `labels` are given; the SAPA trainer adds the anchoring losses.
        logits (`torch.FloatTensor` of shape `(batch_size, num_labels)`):
            Emotion scores before the softmax.
        content_embeddings (`torch.FloatTensor` of shape `(batch_size, content_projection_size)`, *optional*):
            Pool(z_c): masked mean of the window phonetic embeddings (`None` for `variant="only_s"`).
        speaker_embeddings (`torch.FloatTensor` of shape `(batch_size, speaker_projection_size)`, *optional*):
            Pool(z_s): masked mean of the window speaker embeddings (`None` for `variant="only_p"`).
        window_content_embeddings (`torch.FloatTensor` of shape `(batch_size, num_windows, content_projection_size)`):
            z_c of every window (zeros on padded windows); the phoneme-space triplet loss works on these.
        window_speaker_embeddings (`torch.FloatTensor` of shape `(batch_size, num_windows, speaker_projection_size)`):
            z_s of every window (zeros on padded windows).
        window_mask (`torch.LongTensor` of shape `(batch_size, num_windows)`):
            1 for real windows, 0 for padding.
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    content_embeddings: torch.FloatTensor | None = None
    speaker_embeddings: torch.FloatTensor | None = None
    window_content_embeddings: torch.FloatTensor | None = None
    window_speaker_embeddings: torch.FloatTensor | None = None
    window_mask: torch.LongTensor | None = None


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of `values` `(B, N, H)` over the windows where `mask` `(B, N)` is set; `(B, H)`."""
    weights = mask.to(values.dtype).unsqueeze(-1)
    return (values * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1.0)


class SapaPreTrainedModel(CheckedFolderLoadingMixin, PreTrainedModel):
    """Base class: config class, weight initialisation of the SAPA head and the `from_pretrained` plumbing."""

    config_class = SapaConfig
    base_model_prefix = "sapa"
    main_input_name = "input_values"
    supports_gradient_checkpointing = False

    @torch.no_grad()
    def _init_weights(self, module):
        if init_linear_and_layer_norm(module):
            return
        if isinstance(module, nn.MultiheadAttention):
            if module.in_proj_weight is not None:
                init.xavier_uniform_(module.in_proj_weight)
            if module.in_proj_bias is not None:
                init.zeros_(module.in_proj_bias)
        elif isinstance(module, ContentEncoder) and module.layer_weights is not None:
            init.zeros_(module.layer_weights)  # softmax -> uniform mean of the layers


class SapaForEmotionClassification(SapaPreTrainedModel):
    r"""
    SAPA emotion classifier (SAPA section 3, Fig. 2).

    Submodules: `content_encoder` ([`~hf_cser.encoders.content_encoder.ContentEncoder`] around a backbone built with
    `hf_cser.encoders.build_speech_backbone(config.content_encoder_config)`: WavLM / HuBERT / wav2vec2, or Whisper's
    encoder), `speaker_encoder` ([`Ge2eSpeakerEncoderModel`]), both
    frozen when `config.freeze_encoders`; trainable `content_projection` (frozen features -> z_c, FreeVC's bottleneck)
    and `speaker_projection` (GE2E embedding -> z_s); `fusion_projection`, `transformer`, `classifier`.

    `forward` takes either raw audio (`input_values`, with window centres from [`SapaFeatureExtractor`] or found here)
    or the precomputed frozen window features of [`~SapaForEmotionClassification.extract_window_features`]
    (`content_features`, `speaker_features`: the cached path used for training, see
    `hf_cser.models.sapa.feature_cache`).

    Example:

    ```python
    >>> from hf_cser.models.sapa import SapaFeatureExtractor, SapaForEmotionClassification

    >>> model = SapaForEmotionClassification.from_encoders("microsoft/wavlm-base-plus", "path/to/ge2e")
    >>> extractor = SapaFeatureExtractor.from_sapa_arguments(model.config)
    >>> inputs = extractor(waveform, sampling_rate=16000, return_tensors="pt")
    >>> logits = model(**{k: inputs[k] for k in extractor.model_input_names}).logits
    ```
    """

    accepts_loss_kwargs = False

    def __init__(self, config: SapaConfig):
        super().__init__(config)
        backbone = build_speech_backbone(config.build_content_encoder_config())
        self.content_encoder = ContentEncoder(
            backbone,
            config.content_layer,
            freeze=config.freeze_encoders,
            normalize_inputs=config.content_input_normalize,
            sampling_rate=int(config.speaker_encoder_config.get("sampling_rate", 16000)),
            whisper_mode=config.content_whisper_mode,
        )
        self.speaker_encoder = Ge2eSpeakerEncoderModel(config.build_speaker_encoder_config())
        content_size = self.content_encoder.output_size
        speaker_size = self.speaker_encoder.config.embedding_size

        self.content_projection = (
            nn.Linear(content_size, config.content_projection_size) if config.uses_content else None
        )
        self.speaker_projection = (
            nn.Linear(speaker_size, config.speaker_projection_size) if config.uses_speaker else None
        )
        fused_size = (config.content_projection_size if config.uses_content else 0) + (
            config.speaker_projection_size if config.uses_speaker else 0
        )
        self.fusion_projection = nn.Linear(fused_size, config.hidden_size)
        layer = nn.TransformerEncoderLayer(
            d_model=config.hidden_size,
            nhead=config.num_attention_heads,
            dim_feedforward=config.intermediate_size or 4 * config.hidden_size,
            dropout=config.dropout,
            activation="gelu",
            batch_first=True,
        )
        self.transformer = nn.TransformerEncoder(
            layer, num_layers=config.num_transformer_layers, enable_nested_tensor=False
        )
        sizes = [config.hidden_size, *config.classifier_hidden_sizes]
        layers: list[nn.Module] = []
        for size_in, size_out in zip(sizes[:-1], sizes[1:], strict=True):
            layers += [nn.Linear(size_in, size_out), nn.ReLU(), nn.Dropout(config.dropout)]
        layers.append(nn.Linear(sizes[-1], config.num_labels))
        self.classifier = nn.Sequential(*layers)
        self.post_init()
        if config.freeze_encoders:
            self.freeze_encoders()

    # ------------------------------------------------------------------ encoders

    def freeze_encoders(self) -> None:
        """Freeze both encoders (including the content layer weights, so cached features stay valid)."""
        self.content_encoder.requires_grad_(False)
        self.content_encoder.frozen = True
        self.speaker_encoder.requires_grad_(False)
        self.content_encoder.eval()
        self.speaker_encoder.eval()

    def train(self, mode: bool = True):
        super().train(mode)
        if self.config.freeze_encoders:  # frozen encoders never run dropout
            self.content_encoder.eval()
            self.speaker_encoder.eval()
        return self

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        # loading replaces the parameters (requires_grad back to True): freeze the encoders again
        model = super().from_pretrained(*args, **kwargs)
        if isinstance(model, tuple):  # output_loading_info=True
            if model[0].config.freeze_encoders:
                model[0].freeze_encoders()
        elif model.config.freeze_encoders:
            model.freeze_encoders()
        return model

    @classmethod
    def from_encoders(
        cls,
        content_encoder_name_or_path: str | os.PathLike,
        speaker_encoder_name_or_path: str | os.PathLike,
        **config_kwargs,
    ) -> SapaForEmotionClassification:
        """Build a SAPA model around two pretrained encoders and load their weights.

        Args:
            content_encoder_name_or_path (`str` or `os.PathLike`):
                A speech backbone loadable with `AutoModel.from_pretrained` (WavLM, HuBERT, wav2vec2, Whisper; Hub
                id or folder), or `"whisper-base-offline"` (the installed Whisper base, converted once and cached).
                `content_input_normalize` is taken from its feature extractor unless given.
            speaker_encoder_name_or_path (`str` or `os.PathLike`):
                A folder with a [`Ge2eSpeakerEncoderModel`] (e.g. from `convert_resemblyzer_checkpoint`).
            config_kwargs:
                Any other [`SapaConfig`] field (`variant`, `content_layer`, `hidden_size`, ...).

        The returned model is self-contained: `save_pretrained` writes both encoders' weights, and
        `AutoModelForAudioClassification.from_pretrained(folder)` reloads everything.
        """
        from transformers import AutoConfig

        normalize = config_kwargs.pop("content_input_normalize", None)
        content_encoder_name_or_path = resolve_backbone_path(content_encoder_name_or_path)
        content = ContentEncoder.from_pretrained(
            content_encoder_name_or_path,
            config_kwargs.get("content_layer"),
            normalize_inputs=normalize,
            whisper_mode=config_kwargs.get("content_whisper_mode", "unpadded"),
        )
        speaker = Ge2eSpeakerEncoderModel.from_pretrained(speaker_encoder_name_or_path)
        backbone_config = AutoConfig.from_pretrained(content_encoder_name_or_path)
        config = SapaConfig(
            content_encoder_config=backbone_config.to_dict(),
            speaker_encoder_config=speaker.config.to_dict(),
            content_input_normalize=content.normalize_inputs,
            **config_kwargs,
        )
        model = cls(config)
        model.content_encoder.backbone.load_state_dict(content.backbone.state_dict())
        model.speaker_encoder.load_state_dict(speaker.state_dict())
        if config.freeze_encoders:
            model.freeze_encoders()
        return model

    # ------------------------------------------------------------------ frozen window features

    @torch.no_grad()
    def extract_window_features(
        self,
        input_values: torch.Tensor,
        attention_mask: torch.Tensor | None,
        window_centers: torch.Tensor,
        window_mask: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Frozen encoder features of every window (SAPA section 3.1), no gradients.

        Content: the backbone's frames (layer `config.content_layer`) averaged over the frames whose centre lies in
        the `window_ms` window (`pool_windows`). Speaker: the L2-normalised GE2E embedding of the window's own mel
        frames (`window_ms / 10 ms` = 24 frames at the paper's 240 ms), cut from the utterance's mel spectrogram
        (volume-normalised over the whole utterance as resemblyzer does); frames past the ends of the utterance are
        left out (library choice, as for the content pooling).

        Args:
            input_values (`torch.FloatTensor` of shape `(batch_size, num_samples)`): raw 16 kHz waveforms.
            attention_mask (`torch.LongTensor` of shape `(batch_size, num_samples)`, *optional*): 1 for real samples.
            window_centers (`torch.FloatTensor` of shape `(batch_size, num_windows)`): centres in seconds.
            window_mask (`torch.LongTensor` of shape `(batch_size, num_windows)`, *optional*): 1 for real windows.

        Returns:
            `tuple(torch.FloatTensor, torch.FloatTensor)`: `content_features` `(batch_size, num_windows, H_c)` and
            `speaker_features` `(batch_size, num_windows, embedding_size)`, zeros on padded windows.
        """
        if input_values.dim() != 2:
            raise ValueError(f"`input_values` must be (batch_size, num_samples), got {tuple(input_values.shape)}.")
        device = input_values.device
        batch_size = input_values.shape[0]
        if window_centers.dim() != 2 or window_centers.shape[0] != batch_size:
            raise ValueError(
                f"`window_centers` must be (batch_size={batch_size}, num_windows), got {tuple(window_centers.shape)}."
            )
        if window_mask is None:
            window_mask = torch.ones(window_centers.shape, dtype=torch.long, device=device)
        window_mask = window_mask.to(device)
        frames, frame_mask = self.content_encoder(input_values, attention_mask)
        content = self.content_encoder.pool_windows(
            frames, frame_mask, window_centers.to(device), window_mask, window_ms=self.config.window_ms
        )
        content = content * window_mask.unsqueeze(-1).to(content.dtype)
        speaker = self._speaker_window_embeddings(input_values, attention_mask, window_centers, window_mask)
        return content, speaker.to(content.dtype)

    def apply_fallback_normalization(
        self, content: torch.Tensor, speaker: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """z-normalise raw-audio window features with the global training statistics of
        `config.feature_normalization` (identity without it). Datasets are normalised per speaker / corpus outside
        the model (`normalize_window_feature_datasets`); one file of an unknown speaker gets these statistics."""
        settings = self.config.feature_normalization
        if not settings or settings.get("group_by", "none") == "none":
            return content, speaker
        out = []
        for tensor, branch in ((content, "content"), (speaker, "speaker")):
            stats = settings[branch]
            if stats.get("mean") is None:
                out.append(tensor)
                continue
            mean = torch.tensor(stats["mean"], dtype=tensor.dtype, device=tensor.device)
            std = torch.tensor(stats["std"], dtype=tensor.dtype, device=tensor.device)
            out.append((tensor - mean) / (std + float(stats.get("eps", 1e-5))))
        return out[0], out[1]

    def _speaker_window_embeddings(
        self,
        input_values: torch.Tensor,
        attention_mask: torch.Tensor | None,
        window_centers: torch.Tensor,
        window_mask: torch.Tensor,
    ) -> torch.Tensor:
        extractor = self.speaker_encoder.feature_extractor
        hop_s = extractor.hop_length / extractor.sampling_rate
        num_frames = max(1, int(round(self.config.window_ms / 1000.0 / hop_s)))
        half = num_frames // 2
        waveforms = input_values.detach().float().cpu().numpy()
        lengths = (
            attention_mask.sum(dim=-1).cpu().numpy()
            if attention_mask is not None
            else np.full(len(waveforms), waveforms.shape[1])
        )
        centers = window_centers.detach().double().cpu().numpy()
        valid = window_mask.bool().cpu().numpy()
        segments, seg_lengths, slots = [], [], []
        for i, waveform in enumerate(waveforms):
            if not valid[i].any():
                continue
            mel = extractor.mel_spectrogram(waveform[: int(lengths[i])])  # (T_mel, n_mels)
            for j in np.flatnonzero(valid[i]):
                center = int(np.clip(np.rint(centers[i, j] / hop_s), 0, len(mel) - 1))
                start, stop = max(0, center - half), min(len(mel), center - half + num_frames)
                segment = np.zeros((num_frames, mel.shape[1]), dtype=np.float32)
                segment[: stop - start] = mel[start:stop]
                segments.append(segment)
                seg_lengths.append(stop - start)
                slots.append((i, j))
        embedding_size = self.speaker_encoder.config.embedding_size
        out = torch.zeros(*window_centers.shape, embedding_size, device=input_values.device)
        if not segments:
            return out
        features = torch.from_numpy(np.stack(segments)).to(input_values.device, self.speaker_encoder.dtype)
        mask = (torch.arange(num_frames).unsqueeze(0) < torch.tensor(seg_lengths).unsqueeze(1)).long()
        embeddings = self.speaker_encoder(
            input_features=features, attention_mask=mask.to(input_values.device), return_dict=True
        ).embeddings
        rows = torch.tensor([s[0] for s in slots], device=input_values.device)
        cols = torch.tensor([s[1] for s in slots], device=input_values.device)
        out[rows, cols] = embeddings.to(out.dtype)
        return out

    def _window_centers_from_audio(
        self, input_values: torch.Tensor, attention_mask: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Energy-peak window centres, as [`SapaFeatureExtractor`] finds them without an alignment."""
        sampling_rate = self.content_encoder.sampling_rate
        waveforms = input_values.detach().float().cpu().numpy()
        lengths = (
            attention_mask.sum(dim=-1).tolist()
            if attention_mask is not None
            else [waveforms.shape[1]] * len(waveforms)
        )
        found = [
            select_window_centers(w[: int(n)], sampling_rate, max_windows=self.config.max_windows)[0]
            for w, n in zip(waveforms, lengths, strict=True)
        ]
        max_n = max(1, max(len(c) for c in found))
        centers = torch.zeros(len(found), max_n, dtype=torch.float32)
        mask = torch.zeros(len(found), max_n, dtype=torch.long)
        for i, c in enumerate(found):
            centers[i, : len(c)] = torch.from_numpy(c.astype(np.float32))
            mask[i, : len(c)] = 1
        return centers.to(input_values.device), mask.to(input_values.device)

    # ------------------------------------------------------------------ forward

    def forward(
        self,
        input_values: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        window_centers: torch.Tensor | None = None,
        window_mask: torch.Tensor | None = None,
        content_features: torch.Tensor | None = None,
        speaker_features: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        return_dict: bool | None = None,
    ) -> SapaOutput | tuple:
        r"""
        Args:
            input_values (`torch.FloatTensor` of shape `(batch_size, num_samples)`, *optional*):
                Raw 16 kHz waveforms from [`SapaFeatureExtractor`]. Give either these or the two feature tensors.
            attention_mask (`torch.LongTensor` of shape `(batch_size, num_samples)`, *optional*):
                1 for real samples, 0 for padding.
            window_centers (`torch.FloatTensor` of shape `(batch_size, num_windows)`, *optional*):
                Window centres in seconds; found from voiced-energy peaks when `None`.
            window_mask (`torch.LongTensor` of shape `(batch_size, num_windows)`, *optional*):
                1 for real windows, 0 for padding; every utterance needs at least one real window.
            content_features (`torch.FloatTensor` of shape `(batch_size, num_windows, H_c)`, *optional*):
                Precomputed frozen content features ([`~SapaForEmotionClassification.extract_window_features`]).
            speaker_features (`torch.FloatTensor` of shape `(batch_size, num_windows, H_s)`, *optional*):
                Precomputed frozen speaker features.
            labels (`torch.LongTensor` of shape `(batch_size,)`, *optional*):
                Emotion ids; gives the cross-entropy `loss`.
            return_dict (`bool`, *optional*):
                Whether to return a [`SapaOutput`] instead of a tuple.
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        if content_features is not None or speaker_features is not None:
            if input_values is not None:
                raise ValueError("Pass either `input_values` (raw audio) or `content_features`/`speaker_features`.")
            if content_features is None or speaker_features is None:
                raise ValueError("The cached path needs both `content_features` and `speaker_features`.")
            if content_features.shape[:2] != speaker_features.shape[:2]:
                raise ValueError(
                    f"`content_features` {tuple(content_features.shape)} and `speaker_features` "
                    f"{tuple(speaker_features.shape)} must agree on (batch_size, num_windows)."
                )
        elif input_values is not None:
            if window_centers is None:
                window_centers, window_mask = self._window_centers_from_audio(input_values, attention_mask)
            content_features, speaker_features = self.extract_window_features(
                input_values, attention_mask, window_centers, window_mask
            )
            content_features, speaker_features = self.apply_fallback_normalization(content_features, speaker_features)
        else:
            raise ValueError("Pass `input_values` (raw audio) or `content_features` and `speaker_features`.")

        if window_mask is None:
            window_mask = torch.ones(content_features.shape[:2], dtype=torch.long, device=content_features.device)
        window_mask = window_mask.to(content_features.device)
        if window_mask.shape != content_features.shape[:2]:
            raise ValueError(
                f"`window_mask` must have shape {tuple(content_features.shape[:2])}, got {tuple(window_mask.shape)}."
            )
        valid = window_mask.bool()
        if not bool(valid.any(dim=1).all()):
            empty = torch.nonzero(~valid.any(dim=1)).flatten().tolist()
            raise ValueError(f"Utterances {empty} have no real window in `window_mask`; every one needs at least one.")
        keep = valid.unsqueeze(-1).to(content_features.dtype)
        # zero the padded windows first so that garbage (even NaN-free huge values) there cannot leak anywhere
        content_features = torch.where(valid.unsqueeze(-1), content_features, torch.zeros_like(content_features))
        speaker_features = torch.where(valid.unsqueeze(-1), speaker_features, torch.zeros_like(speaker_features))

        tokens = []
        window_content = window_speaker = pooled_content = pooled_speaker = None
        if self.content_projection is not None:
            window_content = self.content_projection(content_features) * keep  # z_c: (B, N, d_c)
            pooled_content = masked_mean(window_content, valid)  # Pool(z_c): (B, d_c)
            tokens.append(window_content)
        if self.speaker_projection is not None:
            window_speaker = self.speaker_projection(speaker_features) * keep  # z_s: (B, N, d_s)
            pooled_speaker = masked_mean(window_speaker, valid)
            tokens.append(window_speaker)
        fused = self.fusion_projection(torch.cat(tokens, dim=-1))  # eq. 6, per window: (B, N, hidden)
        hidden = self.transformer(fused, src_key_padding_mask=~valid)
        pooled = masked_mean(hidden, valid)  # (B, hidden)
        logits = self.classifier(pooled)  # (B, num_labels)

        loss = None
        if labels is not None:
            loss = nn.functional.cross_entropy(logits, labels.to(logits.device).long())  # eq. 7
        if not return_dict:
            output = (logits, pooled_content, pooled_speaker, window_content, window_speaker, window_mask)
            return ((loss,) + output) if loss is not None else output
        return SapaOutput(
            loss=loss,
            logits=logits,
            content_embeddings=pooled_content,
            speaker_embeddings=pooled_speaker,
            window_content_embeddings=window_content,
            window_speaker_embeddings=window_speaker,
            window_mask=window_mask,
        )


__all__ = ["SapaForEmotionClassification", "SapaOutput", "SapaPreTrainedModel", "masked_mean"]
