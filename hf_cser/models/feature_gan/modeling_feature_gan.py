"""Models of the mutual-information regularised feature generation method (``papers/004``, METHODS.md section 5).

- [`LogMelConvEncoderModel`]: the small default audio backbone (1-D convolutions over log-mel frames).
- [`FeatureGanForEmotionClassification`]: stage 1 (aligned baseline) and stage 3 (augmented classifier): any audio
  backbone mean pooled into h, the emotion head W_y, the text projection W_t (t_hat = W_t h + b_t), the CLAP audio
  projection and, for `modality="audio_text"`, a classifier over [h; t].
- [`FeatureGanGeneratorModel`]: stage 2, the InfoGAN: G(z, c, t), D(h) and frozen copies of W_y and W_t.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers.modeling_outputs import BaseModelOutput
from transformers.utils import ModelOutput, logging

from ...encoders.backbones import build_speech_backbone, load_speech_backbone
from ...encoders.whisper.encoding import encode_whisper_batch, is_whisper_model, whisper_encoder_of
from ...hub import CheckedFolderLoadingMixin
from .configuration_feature_gan import FeatureGanConfig, FeatureGanGeneratorConfig, LogMelConvEncoderConfig

try:  # transformers >= 5: init helpers that respect already-loaded weights
    from transformers import initialization as init
except ImportError:  # transformers 4.x
    from torch.nn import init

logger = logging.get_logger(__name__)


def masked_mean_pool(hidden_states: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean over time of `(B, T, H)` hidden states, over the frames where `mask` `(B, T)` is 1 (all without one)."""
    if mask is None:
        return hidden_states.mean(dim=1)
    weights = mask.to(hidden_states.dtype).unsqueeze(-1)  # (B, T, 1)
    return (hidden_states * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


def _mlp(in_size: int, hidden_sizes: list[int], out_size: int, slope: float | None = None) -> nn.Sequential:
    """Linear layers `in -> hidden... -> out`; LeakyReLU(slope) (ReLU when `slope` is None) between them only."""
    layers: list[nn.Module] = []
    size = in_size
    for hidden in hidden_sizes:
        layers += [nn.Linear(size, hidden), nn.ReLU() if slope is None else nn.LeakyReLU(slope)]
        size = hidden
    layers.append(nn.Linear(size, out_size))
    return nn.Sequential(*layers)


# ---------------------------------------------------------------------------------------------- default backbone


class LogMelConvEncoderModel(CheckedFolderLoadingMixin, PreTrainedModel):
    r"""
    Small convolutional audio encoder over log-mel frames (the default backbone on the synthetic corpus, trained from
    scratch in stage 1). Input: `input_values` `(batch_size, num_frames, num_mel_bins)` from
    [`LogMelFeatureExtractor`] and its frame `attention_mask`; output: `last_hidden_state`
    `(batch_size, num_output_frames, hidden_size)`. Padded frames are zeroed before every convolution so that the
    valid outputs do not depend on the padding.
    """

    config_class = LogMelConvEncoderConfig
    base_model_prefix = "log_mel_conv_encoder"
    main_input_name = "input_values"

    def __init__(self, config: LogMelConvEncoderConfig):
        super().__init__(config)
        sizes = [config.num_mel_bins, *config.conv_dim]
        self.convs = nn.ModuleList(
            nn.Conv1d(sizes[i], sizes[i + 1], kernel, stride=stride, padding=kernel // 2)
            for i, (kernel, stride) in enumerate(zip(config.conv_kernel, config.conv_stride, strict=True))
        )
        self.activation = nn.GELU()
        self.dropout = nn.Dropout(config.dropout)
        self.layer_norm = nn.LayerNorm(config.hidden_size)
        self.post_init()

    @torch.no_grad()
    def _init_weights(self, module):
        if isinstance(module, (nn.Conv1d, nn.Linear)):
            init.kaiming_normal_(module.weight, nonlinearity="relu")
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)

    def _get_feat_extract_output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        for kernel, stride in zip(self.config.conv_kernel, self.config.conv_stride, strict=True):
            lengths = torch.div(lengths + 2 * (kernel // 2) - kernel, stride, rounding_mode="floor") + 1
        return lengths

    def _get_feature_vector_attention_mask(self, num_frames: int, attention_mask: torch.Tensor) -> torch.Tensor:
        """`(B, num_frames)` mask of the output frames computed from the valid input frames only."""
        lengths = self._get_feat_extract_output_lengths(attention_mask.sum(-1).long())
        positions = torch.arange(num_frames, device=attention_mask.device)
        return (positions.unsqueeze(0) < lengths.unsqueeze(1)).long()

    def forward(
        self,
        input_values: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> BaseModelOutput | tuple:
        x = input_values.transpose(1, 2)  # (B, n_mels, T)
        lengths = attention_mask.sum(-1).long() if attention_mask is not None else None
        for conv in self.convs:
            if lengths is not None:
                valid = torch.arange(x.shape[-1], device=x.device).unsqueeze(0) < lengths.unsqueeze(1)  # (B, T)
                x = x * valid.unsqueeze(1).to(x.dtype)
            x = self.dropout(self.activation(conv(x)))
            if lengths is not None:
                kernel, stride = conv.kernel_size[0], conv.stride[0]
                lengths = torch.div(lengths + 2 * (kernel // 2) - kernel, stride, rounding_mode="floor") + 1
        hidden = self.layer_norm(x.transpose(1, 2))  # (B, T', H)
        if return_dict is False:
            return (hidden,)
        return BaseModelOutput(last_hidden_state=hidden)


# ---------------------------------------------------------------------------------------------- SER model


@dataclass
class FeatureGanOutput(ModelOutput):
    """
    Output of [`FeatureGanForEmotionClassification`].

    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*):
            The (class-weighted) emotion cross-entropy L_SER when `labels` are given; the trainer adds
            alpha L_CL + beta L_MI in stage 1.
        logits (`torch.FloatTensor` of shape `(batch_size, num_labels)`):
            Emotion scores: W_y h + b_y for `modality="audio"`, the multimodal head for `"audio_text"`.
        embeddings (`torch.FloatTensor` of shape `(batch_size, hidden_size)`): h.
        projected_text (`torch.FloatTensor` of shape `(batch_size, text_hidden_size)`): t_hat = W_t h + b_t.
        audio_text_embeds (`torch.FloatTensor` of shape `(batch_size, text_hidden_size)`):
            h in the text width for the CLAP loss (the audio projection; h itself when the widths match).
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    embeddings: torch.FloatTensor | None = None
    projected_text: torch.FloatTensor | None = None
    audio_text_embeds: torch.FloatTensor | None = None


class FeatureGanPreTrainedModel(CheckedFolderLoadingMixin, PreTrainedModel):
    """Base class: config class and initialisation of the heads (the backbone initialises itself)."""

    config_class = FeatureGanConfig
    base_model_prefix = "feature_gan"
    main_input_name = "input_values"
    supports_gradient_checkpointing = False

    @torch.no_grad()
    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            init.xavier_uniform_(module.weight)
            if module.bias is not None:
                init.zeros_(module.bias)


class FeatureGanForEmotionClassification(FeatureGanPreTrainedModel):
    r"""
    SER model of ``papers/004`` stages 1 and 3.

    Submodules: `backbone` (`build_speech_backbone(config.backbone_config)`: AST, wav2vec2, WavLM, HuBERT, Whisper, or
    [`LogMelConvEncoderModel`]), `classifier` (W_y, b_y), `text_projection` (W_t, b_t), `audio_projection` (the CLAP
    projection of h to the text width; an identity when the widths match) and, for `modality="audio_text"`,
    `multimodal_classifier` over [h; t].

    The model takes what the backbone's feature extractor gives (`input_values`, `attention_mask`), so a saved folder
    with that extractor loads with `AutoModelForAudioClassification` and runs in `pipeline("audio-classification")`.
    For the multimodal classifier a transcript embedding can be passed as `text_embeds`; without one (the pipeline)
    the text side is t_hat = W_t h + b_t, the text embedding generated from the audio (paper section 3.3).

    Example:

    ```python
    >>> from hf_cser.models.feature_gan import FeatureGanConfig, FeatureGanForEmotionClassification

    >>> model = FeatureGanForEmotionClassification(FeatureGanConfig(text_hidden_size=384))
    >>> out = model(input_values, attention_mask=attention_mask, labels=labels)
    >>> out.embeddings.shape, out.projected_text.shape
    ```
    """

    accepts_loss_kwargs = False

    def __init__(self, config: FeatureGanConfig, backbone: PreTrainedModel | None = None):
        super().__init__(config)
        if backbone is None:
            backbone = build_speech_backbone(config.build_backbone_config())
        elif is_whisper_model(backbone):
            backbone = whisper_encoder_of(backbone)
        self.backbone = backbone
        self.is_whisper = is_whisper_model(backbone)
        hidden, text = config.hidden_size, config.text_hidden_size
        self.dropout = nn.Dropout(config.classifier_dropout)
        self.classifier = nn.Linear(hidden, config.num_labels)
        self.text_projection = nn.Linear(hidden, text)
        self.audio_projection = nn.Linear(hidden, text) if hidden != text else nn.Identity()
        self.multimodal_classifier = (
            _mlp(hidden + text, config.multimodal_hidden_sizes, config.num_labels)
            if config.modality == "audio_text"
            else None
        )
        weights = torch.tensor(config.class_weights or [1.0] * config.num_labels, dtype=torch.float32)
        self.register_buffer("class_weights", weights, persistent=False)
        self._backbone_takes_mask = "attention_mask" in inspect.signature(self.backbone.forward).parameters
        self.post_init()
        self.apply_trainability()

    def apply_trainability(self) -> None:
        """`requires_grad` from the config: the heads always train; the backbone unless `freeze_backbone`; a
        wav2vec2-style convolutional feature encoder never when `freeze_feature_encoder`."""
        self.backbone.requires_grad_(not self.config.freeze_backbone)
        if self.config.freeze_feature_encoder and hasattr(self.backbone, "feature_extractor"):
            self.backbone.feature_extractor.requires_grad_(False)

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        model = super().from_pretrained(*args, **kwargs)
        (model[0] if isinstance(model, tuple) else model).apply_trainability()
        return model

    @classmethod
    def from_backbone(cls, name_or_path, **config_kwargs) -> FeatureGanForEmotionClassification:
        """A new model around a pretrained backbone (`AutoModel.from_pretrained(name_or_path)`), fresh heads.

        Args:
            name_or_path (`str` or `os.PathLike`): Hub id or folder of an audio model (AST, wav2vec2, WavLM, ...).
            config_kwargs: any other [`FeatureGanConfig`] field (`text_hidden_size`, `pooling`, ...).
        """
        backbone = load_speech_backbone(name_or_path)
        config_kwargs.pop("backbone_config", None)
        config = FeatureGanConfig(
            backbone_config=backbone.config.to_dict(), backbone_name_or_path=str(name_or_path), **config_kwargs
        )
        return cls(config, backbone=backbone)

    def set_class_weights(self, weights) -> None:
        """Use `weights` (one per label) in the cross-entropy and record them in the config."""
        weights = [float(w) for w in weights]
        if len(weights) != self.config.num_labels or not all(w > 0 for w in weights):
            raise ValueError(f"`weights` must hold {self.config.num_labels} positive values, got {weights}.")
        self.config.class_weights = weights
        self.class_weights = torch.tensor(weights, dtype=torch.float32, device=self.classifier.weight.device)

    # ------------------------------------------------------------------ features and heads

    def pool(self, input_values: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """h: the backbone output pooled over time `(B, hidden_size)`."""
        layer = self.config.backbone_layer
        if self.is_whisper:  # raw 16 kHz waveforms in; Whisper's log-mel is computed here
            states, mask = encode_whisper_batch(
                self.backbone, input_values, attention_mask, mode=self.config.whisper_mode, num_layers=layer
            )
            return masked_mean_pool(states[-1], mask)
        kwargs = {"attention_mask": attention_mask} if self._backbone_takes_mask and attention_mask is not None else {}
        if layer is not None:
            kwargs["output_hidden_states"] = True
        outputs = self.backbone(input_values, return_dict=True, **kwargs)
        if self.config.pooling == "pooler":
            if getattr(outputs, "pooler_output", None) is None:
                raise ValueError(f"`pooling='pooler'` but {type(self.backbone).__name__} returns no `pooler_output`.")
            return outputs.pooler_output
        hidden = outputs.last_hidden_state if layer is None else outputs.hidden_states[layer]  # (B, T, H)
        mask = None
        if attention_mask is not None:
            if hasattr(self.backbone, "_get_feature_vector_attention_mask"):
                mask = self.backbone._get_feature_vector_attention_mask(hidden.shape[1], attention_mask)
            elif attention_mask.shape[1] == hidden.shape[1]:
                mask = attention_mask
        return masked_mean_pool(hidden, mask)

    def project_text(self, embeddings: torch.Tensor) -> torch.Tensor:
        """t_hat = W_t h + b_t."""
        return self.text_projection(embeddings)

    def classify_features(self, embeddings: torch.Tensor, text_embeds: torch.Tensor | None = None) -> torch.Tensor:
        """Emotion logits from (real or generated) features h, and for `"audio_text"` a text embedding (t_hat of h
        when `text_embeds` is None). Stage 3 trains this on cached and generated features."""
        h = self.dropout(embeddings)
        if self.multimodal_classifier is None:
            return self.classifier(h)
        if text_embeds is None:
            text_embeds = self.project_text(embeddings)
        return self.multimodal_classifier(torch.cat([h, text_embeds.to(h.dtype)], dim=-1))

    def loss_fn(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """(Class-weighted) cross-entropy L_SER."""
        return nn.functional.cross_entropy(logits, labels.to(logits.device).long(), weight=self.class_weights)

    def forward(
        self,
        input_values: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        text_embeds: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        return_dict: bool | None = None,
    ) -> FeatureGanOutput | tuple:
        r"""
        Args:
            input_values (`torch.FloatTensor`): the backbone's input (waveforms `(B, samples)` for wav2vec2-style
                models, log-mel frames `(B, frames, bins)` for AST and [`LogMelConvEncoderModel`]).
            attention_mask (`torch.LongTensor`, *optional*): 1 for real samples / frames.
            text_embeds (`torch.FloatTensor` of shape `(batch_size, text_hidden_size)`, *optional*): t, the frozen
                text encoder's embedding of the transcript (used by the multimodal classifier; the CLAP and InfoNCE
                terms are the trainer's).
            labels (`torch.LongTensor` of shape `(batch_size,)`, *optional*): emotion ids; gives `loss`.
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        embeddings = self.pool(input_values, attention_mask)  # h: (B, H)
        projected_text = self.project_text(embeddings)  # t_hat: (B, D_t)
        audio_text_embeds = self.audio_projection(embeddings)  # (B, D_t)
        logits = self.classify_features(embeddings, text_embeds)  # (B, C)
        loss = self.loss_fn(logits, labels) if labels is not None else None
        if not return_dict:
            output = (logits, embeddings, projected_text, audio_text_embeds)
            return ((loss,) + output) if loss is not None else output
        return FeatureGanOutput(
            loss=loss,
            logits=logits,
            embeddings=embeddings,
            projected_text=projected_text,
            audio_text_embeds=audio_text_embeds,
        )


# ---------------------------------------------------------------------------------------------- InfoGAN


@dataclass
class FeatureGanGeneratorOutput(ModelOutput):
    """
    Output of [`FeatureGanGeneratorModel.forward`].

    Args:
        generated (`torch.FloatTensor` of shape `(batch_size, feature_size)`): h_hat = G(z, c, t).
        label_logits (`torch.FloatTensor` of shape `(batch_size, num_labels)`): W_y h_hat + b_y (frozen W_y).
        projected_text (`torch.FloatTensor` of shape `(batch_size, text_hidden_size)`): W_t h_hat + b_t (frozen W_t).
        discriminator_logits (`torch.FloatTensor` of shape `(batch_size,)`): D(h_hat) before the sigmoid.
    """

    generated: torch.FloatTensor | None = None
    label_logits: torch.FloatTensor | None = None
    projected_text: torch.FloatTensor | None = None
    discriminator_logits: torch.FloatTensor | None = None


class FeatureGanGeneratorModel(CheckedFolderLoadingMixin, PreTrainedModel):
    r"""
    InfoGAN feature generator of ``papers/004`` stage 2.

    Submodules: `generator` G: [z; onehot(c); t] -> h_hat (one linear layer without activation by default),
    `discriminator` D: h -> logit (one linear layer by default), and the frozen mutual-information heads
    `emotion_head` (a copy of stage 1's W_y, b_y) and `text_projection` (W_t, b_t), so that a saved generator folder
    is self-contained. Training (alternating D and G steps, mixup, the MI terms) is
    `hf_cser.trainers.feature_gan.FeatureInfoGanTrainer`.

    Example:

    ```python
    >>> from hf_cser.models.feature_gan import FeatureGanGeneratorModel

    >>> gan = FeatureGanGeneratorModel.from_baseline(stage1_model)   # copies and freezes W_y and W_t
    >>> fake = gan.generate(labels, text_embeds)                     # (B, hidden_size)
    ```
    """

    config_class = FeatureGanGeneratorConfig
    base_model_prefix = "feature_gan_generator"
    main_input_name = "labels"

    def __init__(self, config: FeatureGanGeneratorConfig):
        super().__init__(config)
        slope = config.leaky_relu_slope
        self.generator = _mlp(config.condition_size, config.generator_hidden_sizes, config.feature_size, slope)
        self.discriminator = _mlp(config.feature_size, config.discriminator_hidden_sizes, 1, slope)
        self.emotion_head = nn.Linear(config.feature_size, config.num_labels)
        self.text_projection = nn.Linear(config.feature_size, config.text_hidden_size)
        # per-dimension statistics of the real features: G and D work on standardised features (an affine map, so a
        # linear G stays one linear layer); set by `set_feature_statistics` (the stage-2 trainer does it)
        self.register_buffer("feature_mean", torch.zeros(config.feature_size))
        self.register_buffer("feature_std", torch.ones(config.feature_size))
        self.post_init()
        self.freeze_mutual_information_heads()

    @torch.no_grad()
    def set_feature_statistics(self, features: torch.Tensor) -> None:
        """Standardise G's output and D's input with the mean / std of real `features` `(N, feature_size)`."""
        if not self.config.normalize_features:
            return
        features = features.float()
        self.feature_mean.copy_(features.mean(0).to(self.feature_mean.device))
        self.feature_std.copy_(features.std(0).clamp(min=1e-5).to(self.feature_std.device))
        self.config.feature_statistics_set = True

    @torch.no_grad()
    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            init.xavier_uniform_(module.weight)
            if module.bias is not None:
                init.zeros_(module.bias)

    def freeze_mutual_information_heads(self) -> None:
        """W_y and W_t stay as stage 1 left them (paper section 3.2)."""
        self.emotion_head.requires_grad_(False)
        self.text_projection.requires_grad_(False)

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        model = super().from_pretrained(*args, **kwargs)
        (model[0] if isinstance(model, tuple) else model).freeze_mutual_information_heads()
        return model

    @classmethod
    def from_baseline(cls, baseline: FeatureGanForEmotionClassification, **config_kwargs) -> FeatureGanGeneratorModel:
        """A generator for the feature space of a stage-1 model, with copies of its W_y and W_t (frozen).

        Args:
            baseline ([`FeatureGanForEmotionClassification`]): the stage-1 model.
            config_kwargs: any other [`FeatureGanGeneratorConfig`] field.
        """
        config = FeatureGanGeneratorConfig(
            feature_size=baseline.config.hidden_size,
            text_hidden_size=baseline.config.text_hidden_size,
            id2label=dict(baseline.config.id2label),
            label2id=dict(baseline.config.label2id),
            **config_kwargs,
        )
        model = cls(config)
        model.emotion_head.load_state_dict(baseline.classifier.state_dict())
        model.text_projection.load_state_dict(baseline.text_projection.state_dict())
        model.freeze_mutual_information_heads()
        return model.to(baseline.classifier.weight.device)

    def sample_noise(self, batch_size: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """z ~ N(0, I) of shape `(batch_size, noise_size)`."""
        device = self.emotion_head.weight.device
        return torch.randn(batch_size, self.config.noise_size, generator=generator, device=device)

    def generate(
        self,
        labels: torch.Tensor,
        text_embeds: torch.Tensor | None = None,
        noise: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """h_hat = G(z, c, t) (eq. 8).

        Args:
            labels (`torch.LongTensor` of shape `(batch_size,)`): the emotion code c.
            text_embeds (`torch.FloatTensor` of shape `(batch_size, text_hidden_size)`, *optional*): t; required
                when `use_text_condition`.
            noise (`torch.FloatTensor` of shape `(batch_size, noise_size)`, *optional*): z (sampled when omitted).
            generator (`torch.Generator`, *optional*): RNG for z.
        """
        labels = labels.long().to(self.emotion_head.weight.device)
        if noise is None:
            noise = self.sample_noise(labels.shape[0], generator)
        parts = [noise, nn.functional.one_hot(labels, self.config.num_labels).to(noise.dtype)]
        if self.config.use_text_condition:
            if text_embeds is None:
                raise ValueError(
                    "This generator is conditioned on text (`use_text_condition=True`): pass `text_embeds`."
                )
            parts.append(text_embeds.to(noise.device, noise.dtype))
        return self.generator(torch.cat(parts, dim=-1)) * self.feature_std + self.feature_mean

    def discriminate(self, features: torch.Tensor) -> torch.Tensor:
        """D logits `(batch_size,)` (real = 1)."""
        return self.discriminator((features - self.feature_mean) / self.feature_std).squeeze(-1)

    def forward(
        self,
        labels: torch.Tensor,
        text_embeds: torch.Tensor | None = None,
        noise: torch.Tensor | None = None,
        return_dict: bool | None = None,
    ) -> FeatureGanGeneratorOutput | tuple:
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        generated = self.generate(labels, text_embeds, noise)
        out = FeatureGanGeneratorOutput(
            generated=generated,
            label_logits=self.emotion_head(generated),
            projected_text=self.text_projection(generated),
            discriminator_logits=self.discriminate(generated),
        )
        return out if return_dict else out.to_tuple()


__all__ = [
    "FeatureGanForEmotionClassification",
    "FeatureGanGeneratorModel",
    "FeatureGanGeneratorOutput",
    "FeatureGanOutput",
    "FeatureGanPreTrainedModel",
    "LogMelConvEncoderModel",
    "masked_mean_pool",
]
