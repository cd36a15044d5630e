"""Zero-shot cross-lingual SER with supervised contrastive learning and speaker-adversarial training (``papers/001``,
METHODS.md section 2).

A wav2vec 2.0 / HuBERT / WavLM backbone, fine-tuned with LoRA, bottleneck adapters and/or weight gating
(`hf_cser.encoders.peft_adapters`), is mean pooled over its valid frames into the utterance embedding
h = mean_t H_t. A linear classifier predicts the emotion from h; a speaker head behind a gradient reversal layer
(GRL -> Linear -> ReLU -> Dropout -> Linear) predicts the speaker, so that minimising its cross-entropy pushes the
backbone (through the reversed gradient) towards speaker-invariant embeddings. The language-aware supervised
contrastive loss on `embeddings` and the weighted sum L = L_CE + lambda1 L_SCL + lambda2 L_adv are the trainer's job.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers.utils import ModelOutput, logging

from ...encoders.backbones import build_speech_backbone, load_speech_backbone
from ...encoders.peft_adapters import (
    ADAPTER_MODULE_NAME,
    RowWeightGate,
    configure_peft,
    is_peft_parameter_name,
    load_peft_state_dict,
    peft_state_dict,
)
from ...encoders.whisper.encoding import (
    encode_whisper_batch,
    is_whisper_model,
    num_output_frames,
    whisper_encoder_of,
)
from ...hub import CheckedFolderLoadingMixin
from ...losses.grl import GradientReversalLayer
from ...modeling_utils import init_linear_and_layer_norm
from .configuration_zero_shot import ZeroShotConfig

try:  # transformers >= 5: init helpers that respect already-loaded weights
    from transformers import initialization as init
except ImportError:  # transformers 4.x
    from torch.nn import init

logger = logging.get_logger(__name__)

ADAPTER_WEIGHTS_NAME = "adapter_model.safetensors"
"""File written by [`~ZeroShotForEmotionClassification.save_adapter_weights`]: PEFT and head weights only."""

HEAD_PREFIXES = ("classifier.", "speaker_head.", "top_adapter.", "frame_mean", "frame_std")
"""State-dict prefixes of everything outside the backbone (saved by the adapter-only checkpoint)."""


@dataclass
class ZeroShotOutput(ModelOutput):
    """
    Output of [`ZeroShotForEmotionClassification`].

    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*):
            Emotion cross-entropy L_CE when `labels` are given (the trainer adds lambda1 L_SCL + lambda2 L_adv).
        logits (`torch.FloatTensor` of shape `(batch_size, num_labels)`):
            Emotion scores before the softmax.
        embeddings (`torch.FloatTensor` of shape `(batch_size, hidden_size)`):
            h, the backbone's last hidden state averaged over the valid frames; the contrastive loss works on these.
        speaker_logits (`torch.FloatTensor` of shape `(batch_size, num_speakers)`, *optional*):
            Scores of the speaker head (through the gradient reversal layer); `None` when `num_speakers == 0`.
        speaker_loss (`torch.FloatTensor` of shape `()`, *optional*):
            Speaker cross-entropy L_adv (ignore index -100) when `speaker_labels` are given and the head exists. Not
            part of `loss`: its gradient already reaches the backbone reversed, so the trainer adds
            `adversarial_weight * speaker_loss`.
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    embeddings: torch.FloatTensor | None = None
    speaker_logits: torch.FloatTensor | None = None
    speaker_loss: torch.FloatTensor | None = None


def masked_mean_pool(hidden_states: torch.Tensor, frame_mask: torch.Tensor | None) -> torch.Tensor:
    """Mean of `hidden_states` `(B, T, H)` over the frames where `frame_mask` `(B, T)` is set (all when `None`);
    `(B, H)`. A row without valid frames gives zeros, never NaN."""
    if frame_mask is None:
        return hidden_states.mean(dim=1)
    weights = frame_mask.to(hidden_states.dtype).unsqueeze(-1)  # (B, T, 1)
    return (hidden_states * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1.0)


class TopFrameAdapter(nn.Module):
    """Residual bottleneck adapter on the backbone's output frames: x + Up(GELU(Down(LayerNorm(x)))).

    `Up` starts at zero, so a new adapter is the identity. Shapes: `(B, T, H)` -> `(B, T, H)`.

    Args:
        hidden_size (`int`): width H of the frames.
        bottleneck_size (`int`): width of `Down`'s output.
    """

    def __init__(self, hidden_size: int, bottleneck_size: int):
        super().__init__()
        self.layer_norm = nn.LayerNorm(hidden_size)
        self.down = nn.Linear(hidden_size, bottleneck_size)
        self.activation = nn.GELU()
        self.up = nn.Linear(bottleneck_size, hidden_size)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)
        self.up._is_hf_initialized = True  # keep `post_init` from re-drawing it

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return hidden_states + self.up(self.activation(self.down(self.layer_norm(hidden_states))))


class SpeakerAdversarialHead(nn.Module):
    """GRL -> Linear -> ReLU -> Dropout -> Linear(num_speakers) (METHODS.md section 2).

    Args:
        hidden_size (`int`): width of the pooled embedding it reads.
        speaker_hidden_size (`int`): width of the hidden layer.
        num_speakers (`int`): number of speaker classes.
        dropout (`float`): dropout after the ReLU.
        grl_coefficient (`float`): initial reversal coefficient (set later with `grl.coeff = ...`).
    """

    def __init__(
        self, hidden_size: int, speaker_hidden_size: int, num_speakers: int, dropout: float, grl_coefficient: float
    ):
        super().__init__()
        self.grl = GradientReversalLayer(grl_coefficient)
        self.dense = nn.Linear(hidden_size, speaker_hidden_size)
        self.activation = nn.ReLU()
        self.dropout = nn.Dropout(dropout)
        self.out_proj = nn.Linear(speaker_hidden_size, num_speakers)

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        # embeddings: (B, H) -> speaker logits (B, num_speakers)
        return self.out_proj(self.dropout(self.activation(self.dense(self.grl(embeddings)))))


def _mark_peft_modules_initialized(backbone: nn.Module) -> None:
    """PEFT modules come initialised from their constructors (LoRA B = 0, adapter Up = 0, gates = 0): keep
    `post_init` (which dispatches the backbone's own `_init_weights`) from re-drawing them."""
    for name, module in backbone.named_modules():
        if (
            ".lora_" in f".{name}"
            or name.endswith(ADAPTER_MODULE_NAME)
            or f"{ADAPTER_MODULE_NAME}." in name
            or isinstance(module, RowWeightGate)
        ):
            module._is_hf_initialized = True
            for child in module.modules():
                child._is_hf_initialized = True


class ZeroShotPreTrainedModel(CheckedFolderLoadingMixin, PreTrainedModel):
    """Base class: config class and weight initialisation of the heads (the backbone initialises itself)."""

    config_class = ZeroShotConfig
    base_model_prefix = "zero_shot_ser"
    main_input_name = "input_values"
    supports_gradient_checkpointing = False

    @torch.no_grad()
    def _init_weights(self, module):
        init_linear_and_layer_norm(module)
        if getattr(module, "frame_mean", None) is not None:  # normalisation buffers start as the identity
            init.zeros_(module.frame_mean)
            init.ones_(module.frame_std)


class ZeroShotForEmotionClassification(ZeroShotPreTrainedModel):
    r"""
    Zero-shot cross-lingual emotion classifier of ``papers/001``.

    Submodules: `backbone` (`build_speech_backbone(config.backbone_config)`: the model, or Whisper's encoder, with
    the PEFT modules of `config.lora` / `config.adapters` / `config.gating` added in place and the base weights
    frozen), `classifier`
    (one `nn.Linear`, after an optional `classifier_dropout`) and, when `config.num_speakers > 0`, `speaker_head`
    ([`SpeakerAdversarialHead`]).

    Saving: `save_pretrained` writes everything (backbone, PEFT and heads) and
    `AutoModelForAudioClassification.from_pretrained(folder)` reloads it. The lightweight option is
    [`~ZeroShotForEmotionClassification.save_adapter_weights`]: only the PEFT and head weights (a few MB), to be
    loaded with [`~ZeroShotForEmotionClassification.load_adapter_weights`] into a model built from the same
    pretrained backbone and config.

    Inputs are raw 16 kHz waveforms from a `Wav2Vec2FeatureExtractor` (also for Whisper, whose log-mel is computed
    inside `encode_frames`: utterances of any length, padding-invariant). Padding invariance holds for backbones that
    honour the attention mask end to end (`feat_extract_norm="layer"`, e.g. wav2vec2-large-lv60, WavLM, HuBERT
    Large); group-norm backbones such as wav2vec2-base normalise over the padded waveform too, so for them batch
    utterances of similar length (their feature extractors return no attention mask).

    Example:

    ```python
    >>> from hf_cser.models.zero_shot import ZeroShotForEmotionClassification

    >>> model = ZeroShotForEmotionClassification.from_backbone(
    ...     "facebook/wav2vec2-base", num_speakers=24, lora={"r": 8}, adapters={}, gating={}
    ... )
    >>> out = model(input_values, attention_mask=attention_mask, labels=labels, speaker_labels=speakers)
    >>> out.loss, out.embeddings.shape, out.speaker_logits.shape
    ```
    """

    accepts_loss_kwargs = False

    def __init__(self, config: ZeroShotConfig, backbone: PreTrainedModel | None = None):
        super().__init__(config)
        if backbone is None:
            backbone = build_speech_backbone(config.build_backbone_config())
        elif is_whisper_model(backbone):
            backbone = whisper_encoder_of(backbone)
        self.backbone = backbone
        self.is_whisper = is_whisper_model(backbone)
        if config.uses_peft:
            configure_peft(self.backbone, lora=config.lora, adapters=config.adapters, gating=config.gating)
            _mark_peft_modules_initialized(self.backbone)
        hidden_size = config.hidden_size
        if config.normalize_frames:
            self.register_buffer("frame_mean", torch.zeros(hidden_size))
            self.register_buffer("frame_std", torch.ones(hidden_size))
        else:
            self.frame_mean = self.frame_std = None
        self.top_adapter = TopFrameAdapter(hidden_size, config.top_adapter_size) if config.top_adapter_size else None
        self.classifier_dropout = nn.Dropout(config.classifier_dropout)
        self.classifier = nn.Linear(hidden_size, config.num_labels)
        self.speaker_head = (
            SpeakerAdversarialHead(
                hidden_size,
                config.speaker_hidden_size,
                config.num_speakers,
                config.speaker_dropout,
                config.grl_coefficient,
            )
            if config.num_speakers > 0
            else None
        )
        self.post_init()
        self.apply_trainability()

    # ------------------------------------------------------------------ trainability

    def apply_trainability(self) -> None:
        """Set `requires_grad` from the config: heads always; PEFT weights when configured; the base backbone
        weights unless `freeze_backbone`; the convolutional feature encoder never when `freeze_feature_encoder`."""
        for name, parameter in self.backbone.named_parameters():
            if is_peft_parameter_name(name):
                parameter.requires_grad_(True)
            else:
                parameter.requires_grad_(not self.config.freeze_backbone)
        if self.config.freeze_feature_encoder and hasattr(self.backbone, "feature_extractor"):
            for parameter in self.backbone.feature_extractor.parameters():
                parameter.requires_grad_(False)
        for module in (self.classifier, self.speaker_head, self.top_adapter):
            if module is not None:
                module.requires_grad_(True)
        self._frozen_backbone = self.backbone_is_frozen  # forward's cheap check (refreshed here only)

    @property
    def backbone_is_frozen(self) -> bool:
        """Whether no backbone weight trains (no PEFT, `freeze_backbone`): its frames can then be computed once and
        passed as `backbone_hidden_states` (see [`encode_frames`])."""
        return not any(p.requires_grad for p in self.backbone.parameters())

    @torch.no_grad()
    def set_frame_normalization(self, mean: torch.Tensor, std: torch.Tensor, eps: float = 1e-5) -> None:
        """Store the per-dimension statistics of the backbone frames (from the **training** data only).

        Args:
            mean (`torch.Tensor` of shape `(hidden_size,)`): mean of the valid frames.
            std (`torch.Tensor` of shape `(hidden_size,)`): their standard deviation (clamped to `eps`).
        """
        if self.frame_mean is None:
            raise ValueError("This model has `normalize_frames=False`; build it with `normalize_frames=True`.")
        H = self.config.hidden_size
        mean, std = torch.as_tensor(mean).flatten(), torch.as_tensor(std).flatten()
        if mean.shape != (H,) or std.shape != (H,):
            raise ValueError(f"`mean` and `std` must have shape ({H},), got {tuple(mean.shape)}, {tuple(std.shape)}.")
        if not (torch.isfinite(mean).all() and torch.isfinite(std).all()):
            raise ValueError("`mean` and `std` must be finite (non-finite frames in the statistics' data?).")
        self.frame_mean.copy_(mean.to(self.frame_mean))
        self.frame_std.copy_(std.clamp_min(eps).to(self.frame_std))

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        # loading replaces the parameters (requires_grad back to True): freeze again as the config says
        model = super().from_pretrained(*args, **kwargs)
        (model[0] if isinstance(model, tuple) else model).apply_trainability()
        return model

    def set_grl_coefficient(self, value: float) -> None:
        """Set the gradient reversal coefficient (e.g. from a `GrlScheduler`); a no-op without a speaker head."""
        if self.speaker_head is not None:
            self.speaker_head.grl.coeff = value

    @property
    def grl(self) -> GradientReversalLayer | None:
        """The speaker head's gradient reversal layer (for `GrlScheduler(model.grl, ...)`), `None` without one."""
        return None if self.speaker_head is None else self.speaker_head.grl

    # ------------------------------------------------------------------ construction from pretrained backbones

    @classmethod
    def from_backbone(cls, name_or_path: str | os.PathLike, **config_kwargs) -> ZeroShotForEmotionClassification:
        """A new model around a pretrained backbone (`AutoModel.from_pretrained(name_or_path)`), fresh heads.

        Args:
            name_or_path (`str` or `os.PathLike`):
                Hub id or folder of a wav2vec 2.0, HuBERT, WavLM or Whisper model (Whisper: its encoder), or
                `"whisper-base-offline"` (the installed Whisper base, converted once and cached).
            config_kwargs:
                Any other [`ZeroShotConfig`] field (`num_speakers`, `lora`, `adapters`, `gating`, ...).
        """
        backbone = load_speech_backbone(name_or_path)
        config_kwargs.pop("backbone_config", None)
        config = ZeroShotConfig(
            backbone_config=backbone.config.to_dict(),
            backbone_name_or_path=str(name_or_path),
            **config_kwargs,
        )
        return cls(config, backbone=backbone)

    @classmethod
    def from_backbone_for_language(
        cls, language: str, language_backbones: dict[str, str], **config_kwargs
    ) -> ZeroShotForEmotionClassification:
        """[`from_backbone`] with the language-matched base model of the source `language` (the paper's setting).

        Args:
            language (`str`): the source language code (a key of `language_backbones`).
            language_backbones (`dict[str, str]`): language code -> Hub id or folder; recorded in the config.
        """
        if language not in language_backbones:
            raise ValueError(
                f"`language`={language!r} has no entry in `language_backbones` (known: {sorted(language_backbones)})."
            )
        return cls.from_backbone(language_backbones[language], language_backbones=language_backbones, **config_kwargs)

    # ------------------------------------------------------------------ lightweight save / load

    def adapter_state_dict(self) -> dict[str, torch.Tensor]:
        """Only the trainable additions: the backbone's PEFT weights (`backbone.` prefix) and the heads."""
        state = {f"backbone.{k}": v for k, v in peft_state_dict(self.backbone).items()}
        for prefix, module in (
            ("classifier.", self.classifier),
            ("speaker_head.", self.speaker_head),
            ("top_adapter.", self.top_adapter),
        ):
            if module is not None:
                state.update({prefix + k: v.detach().clone() for k, v in module.state_dict().items()})
        if self.frame_mean is not None:
            state.update(
                {"frame_mean": self.frame_mean.detach().clone(), "frame_std": self.frame_std.detach().clone()}
            )
        return state

    def save_adapter_weights(self, save_directory: str | os.PathLike) -> None:
        """Write the lightweight checkpoint: `adapter_model.safetensors` (PEFT + head weights only) and the config.

        The backbone weights are not written: reload with [`load_adapter_weights`] on a model built from the same
        pretrained backbone and config (`from_backbone(config.backbone_name_or_path, **same options)`). Raises
        when the backbone's own weights were trained (`freeze_backbone=False`): use `save_pretrained` then.
        """
        from safetensors.torch import save_file

        if not self.config.freeze_backbone:
            raise ValueError(
                "`freeze_backbone=False`: the backbone's own weights are trained, so the adapter-only checkpoint "
                "would lose them. Use `save_pretrained` instead."
            )
        os.makedirs(save_directory, exist_ok=True)
        state = {k: v.contiguous().cpu() for k, v in self.adapter_state_dict().items()}
        save_file(state, os.path.join(save_directory, ADAPTER_WEIGHTS_NAME), metadata={"format": "pt"})
        self.config.save_pretrained(save_directory)

    def load_adapter_weights(self, load_directory: str | os.PathLike) -> None:
        """Load a [`save_adapter_weights`] checkpoint into this model (same PEFT options and heads required).

        Raises:
            `FileNotFoundError`: when `adapter_model.safetensors` is missing.
            `KeyError` / `ValueError`: on missing or unexpected keys, or a shape mismatch (names listed).
        """
        from safetensors.torch import load_file

        path = os.path.join(load_directory, ADAPTER_WEIGHTS_NAME)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"No `{ADAPTER_WEIGHTS_NAME}` in {load_directory}.")
        state = load_file(path, device=str(self.classifier.weight.device))
        backbone_state = {k[len("backbone.") :]: v for k, v in state.items() if k.startswith("backbone.")}
        head_state = {k: v for k, v in state.items() if k.startswith(HEAD_PREFIXES)}
        unexpected = sorted(set(state) - set(head_state) - {f"backbone.{k}" for k in backbone_state})
        expected_heads = {k for k in self.adapter_state_dict() if k.startswith(HEAD_PREFIXES)}
        if unexpected or set(head_state) != expected_heads:
            raise KeyError(
                f"Adapter checkpoint heads do not match the model: missing "
                f"{sorted(expected_heads - set(head_state))}, "
                f"unexpected {sorted((set(head_state) - expected_heads) | set(unexpected))}. Build the model with the "
                "same `num_speakers` / `num_labels`."
            )
        load_peft_state_dict(self.backbone, backbone_state)
        self.classifier.load_state_dict(
            {k[len("classifier.") :]: v for k, v in head_state.items() if k.startswith("classifier.")}
        )
        for prefix, module in (("speaker_head.", self.speaker_head), ("top_adapter.", self.top_adapter)):
            if module is not None:
                module.load_state_dict({k[len(prefix) :]: v for k, v in head_state.items() if k.startswith(prefix)})
        if self.frame_mean is not None:
            with torch.no_grad():
                self.frame_mean.copy_(head_state["frame_mean"])
                self.frame_std.copy_(head_state["frame_std"])

    # ------------------------------------------------------------------ forward

    def frame_mask(self, num_frames: int, attention_mask: torch.Tensor | None) -> torch.Tensor | None:
        """`(B, num_frames)` mask of the backbone frames computed from valid samples only (`None` without a mask)."""
        if attention_mask is None:
            return None
        if self.is_whisper:
            lengths = num_output_frames(attention_mask.sum(dim=-1))
            return (torch.arange(num_frames, device=attention_mask.device).unsqueeze(0) < lengths.unsqueeze(1)).long()
        return self.backbone._get_feature_vector_attention_mask(num_frames, attention_mask)

    def encode_frames(
        self, input_values: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The backbone's output frames `(B, T, H)` and their validity mask `(B, T)` (`None` without a mask).

        With a frozen backbone ([`backbone_is_frozen`]) call it once per utterance (in `eval()` mode, under
        `torch.no_grad()`) and train on `forward(backbone_hidden_states=..., frame_mask=...)`: same result, no
        backbone cost per step.
        """
        layer = self.config.backbone_layer
        if self.is_whisper:
            states, mask = encode_whisper_batch(
                self.backbone, input_values, attention_mask, mode=self.config.whisper_mode, num_layers=layer
            )
            return states[-1], mask.long()
        outputs = self.backbone(
            input_values, attention_mask=attention_mask, output_hidden_states=layer is not None, return_dict=True
        )
        hidden_states = outputs.last_hidden_state if layer is None else outputs.hidden_states[layer]  # (B, T, H)
        return hidden_states, self.frame_mask(hidden_states.shape[1], attention_mask)

    def forward(
        self,
        input_values: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        speaker_labels: torch.Tensor | None = None,
        backbone_hidden_states: torch.Tensor | None = None,
        frame_mask: torch.Tensor | None = None,
        return_dict: bool | None = None,
    ) -> ZeroShotOutput | tuple:
        r"""
        Args:
            input_values (`torch.FloatTensor` of shape `(batch_size, num_samples)`):
                Raw 16 kHz waveforms (from a `Wav2Vec2FeatureExtractor`).
            attention_mask (`torch.LongTensor` of shape `(batch_size, num_samples)`, *optional*):
                1 for real samples, 0 for padding; the mean pooling uses only the frames of real samples.
            labels (`torch.LongTensor` of shape `(batch_size,)`, *optional*):
                Emotion ids; gives `loss` = L_CE.
            speaker_labels (`torch.LongTensor` of shape `(batch_size,)`, *optional*):
                Speaker ids in `[0, num_speakers)`, -100 to ignore; gives `speaker_loss` (not added to `loss`).
            backbone_hidden_states (`torch.FloatTensor` of shape `(batch_size, num_frames, hidden_size)`, *optional*):
                Precomputed backbone frames ([`encode_frames`]) instead of `input_values`; only valid while the
                backbone is frozen (checked in training mode against the trainability [`apply_trainability`] set;
                call it again after changing `requires_grad` by hand).
            frame_mask (`torch.LongTensor` of shape `(batch_size, num_frames)`, *optional*):
                Valid frames of `backbone_hidden_states` (all when `None`).
            return_dict (`bool`, *optional*):
                Whether to return a [`ZeroShotOutput`] instead of a tuple.
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        if (input_values is None) == (backbone_hidden_states is None):
            raise ValueError("Pass exactly one of `input_values` (waveforms) and `backbone_hidden_states` (frames).")
        if backbone_hidden_states is None:
            hidden_states, frame_mask = self.encode_frames(input_values, attention_mask)  # (B, T, H), (B, T)
        else:
            frozen = self.__dict__.get("_frozen_backbone")  # a getattr default would walk the backbone every step
            if self.training and not (self.backbone_is_frozen if frozen is None else frozen):
                raise ValueError(
                    "`backbone_hidden_states` skips the backbone, but some backbone weights train (PEFT or "
                    "`freeze_backbone=False`); pass `input_values` instead."
                )
            hidden_states = backbone_hidden_states
        if self.frame_mean is not None:
            hidden_states = (hidden_states - self.frame_mean) / self.frame_std
        if self.top_adapter is not None:
            hidden_states = self.top_adapter(hidden_states)
        embeddings = masked_mean_pool(hidden_states, frame_mask)  # h: (B, H)
        logits = self.classifier(self.classifier_dropout(embeddings))  # (B, num_labels)

        speaker_logits = speaker_loss = None
        if self.speaker_head is not None:
            speaker_logits = self.speaker_head(embeddings)  # (B, num_speakers), gradient reversed into h
            if speaker_labels is not None:
                speaker_loss = nn.functional.cross_entropy(
                    speaker_logits, speaker_labels.to(speaker_logits.device).long(), ignore_index=-100
                )
        loss = None
        if labels is not None:
            loss = nn.functional.cross_entropy(logits, labels.to(logits.device).long())

        if not return_dict:
            output = tuple(t for t in (logits, embeddings, speaker_logits, speaker_loss) if t is not None)
            return ((loss,) + output) if loss is not None else output
        return ZeroShotOutput(
            loss=loss, logits=logits, embeddings=embeddings, speaker_logits=speaker_logits, speaker_loss=speaker_loss
        )


__all__ = [
    "ADAPTER_WEIGHTS_NAME",
    "SpeakerAdversarialHead",
    "TopFrameAdapter",
    "ZeroShotForEmotionClassification",
    "ZeroShotOutput",
    "ZeroShotPreTrainedModel",
    "masked_mean_pool",
]
