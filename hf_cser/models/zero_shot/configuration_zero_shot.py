"""Configuration of the zero-shot cross-lingual SER model of ``papers/001`` (METHODS.md section 2)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from transformers import PretrainedConfig
from transformers.utils import logging

from ...labels import ID2LABEL, LABEL2ID
from ..config_utils import nested_config_to_dict

logger = logging.get_logger(__name__)

SUPPORTED_BACKBONES: tuple[str, ...] = ("wav2vec2", "hubert", "wavlm", "whisper")
"""Backbone `model_type`s whose encoder layers the PEFT helpers of `hf_cser.encoders.peft_adapters` know."""

GRL_SCHEDULES: tuple[str, ...] = ("constant", "warm_start")


def default_backbone_config() -> dict[str, Any]:
    """The default backbone: the wav2vec 2.0 Base architecture (random weights; use
    [`ZeroShotForEmotionClassification.from_backbone`] to load pretrained ones)."""
    from transformers import Wav2Vec2Config

    return nested_config_to_dict(Wav2Vec2Config(), "backbone_config")


def _peft_options(value: Any, field: str) -> dict[str, Any] | None:
    if value is None or value is False:
        return None
    if value is True:
        return {}
    if isinstance(value, Mapping):
        return json.loads(json.dumps(dict(value)))
    raise ValueError(
        f"`{field}` must be None (off), True (defaults) or a dict of keyword arguments for `configure_peft`, got "
        f"{value!r}."
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class ZeroShotConfig(PretrainedConfig):
    r"""
    Configuration of a [`ZeroShotForEmotionClassification`]: a self-supervised speech backbone (wav2vec 2.0 in the
    paper) fine-tuned with LoRA, bottleneck adapters and/or weight gating, mean pooled over time into the utterance
    embedding h, a linear emotion classifier, and a speaker-adversarial head behind a gradient reversal layer. The
    training objective L = L_CE + lambda1 L_SCL + lambda2 L_adv (METHODS.md section 2) is assembled by the trainer;
    its hyperparameters live here so that a saved model records how it was trained. The paper's values of gamma, tau
    and the lambdas were lost: every default below marked "ours" is a library choice.

    Args:
        backbone_config (`dict` or `PretrainedConfig`, *optional*):
            Config of the speech backbone including its `model_type` (`"wav2vec2"`, `"hubert"`, `"wavlm"` or
            `"whisper"`, of which only the encoder is built), built with `hf_cser.encoders.build_speech_backbone`.
            Defaults to the wav2vec 2.0 Base architecture (random weights).
        backbone_layer (`int`, *optional*):
            Which hidden state of the backbone is pooled: `None` (the paper) the last one, an `int` k the output of
            transformer layer k (0 = the input embeddings; Whisper runs only its first k layers). Library addition:
            middle layers of Whisper carry more emotion than its last layer (about 9 UAR points on real corpora).
        whisper_mode (`str`, *optional*, defaults to `"unpadded"`):
            Whisper backbones only: `"unpadded"` or `"pad_30s"` (see `hf_cser.encoders.whisper.encoding`).
        backbone_name_or_path (`str`, *optional*):
            Hub id or folder the backbone weights came from; recorded by
            [`~ZeroShotForEmotionClassification.from_backbone`], informational only.
        language_backbones (`dict[str, str]`, *optional*):
            Language code -> Hub id or folder of a language-matched base model. The paper uses a wav2vec 2.0 base
            model matched to each source language; only
            [`~ZeroShotForEmotionClassification.from_backbone_for_language`] reads this map.
        num_speakers (`int`, *optional*, defaults to 0):
            Number of training speakers of the adversarial head; 0 builds no speaker head (the "w/o adversarial"
            ablation, or inference).
        speaker_hidden_size (`int`, *optional*, defaults to 256):
            Hidden width of the speaker head GRL -> Linear -> ReLU -> Dropout -> Linear (ours).
        speaker_dropout (`float`, *optional*, defaults to 0.1):
            Dropout of the speaker head (ours).
        grl_coefficient (`float`, *optional*, defaults to 1.0):
            Initial coefficient of the gradient reversal layer (the backbone receives `-grl_coefficient` times the
            speaker-loss gradient); with `grl_schedule="warm_start"` the trainer ramps it up to this value.
        grl_schedule (`str`, *optional*, defaults to `"constant"`):
            `"constant"` or `"warm_start"` (TLlib / DANN ramp, see `hf_cser.losses.grl`); read by the trainer (ours).
        lora (`dict`, *optional*):
            Keyword arguments of `hf_cser.encoders.peft_adapters.apply_lora` (`r`, `alpha`, `dropout`,
            `target_modules`), `{}` for its defaults, `None` for no LoRA.
        adapters (`dict`, *optional*):
            Keyword arguments of `add_bottleneck_adapters` (`bottleneck_size`, `activation`), or `None`.
        gating (`dict`, *optional*):
            Keyword arguments of `add_weight_gating` (`targets`), or `None`. Weight gating is our definition
            (W_eff = W * 2 sigmoid(g) per output row, see `hf_cser.encoders.peft_adapters`).
        freeze_backbone (`bool`, *optional*, defaults to `True`):
            Freeze the backbone's own weights. With any PEFT option set, only the PEFT weights and the heads train
            (the paper's setting); `False` then also trains the base weights. With no PEFT option, `True` trains the
            heads only and `False` is full fine-tuning.
        freeze_feature_encoder (`bool`, *optional*, defaults to `True`):
            Keep the convolutional feature encoder frozen even when the backbone is fine-tuned (the usual wav2vec 2.0
            recipe, as `Wav2Vec2ForSequenceClassification.freeze_feature_encoder`; ours).
        scl_temperature (`float`, *optional*, defaults to 0.07):
            tau of the language-aware supervised contrastive loss (ours; SupCon's value).
        scl_gamma (`float`, *optional*, defaults to 0.5):
            gamma, extra weight 1 + gamma of cross-lingual positive pairs (ours); 0 gives standard SupCon.
        scl_weight (`float`, *optional*, defaults to 1.0):
            lambda1 of L = L_CE + lambda1 L_SCL + lambda2 L_adv (ours); 0 is the "w/o SCL" ablation.
        adversarial_weight (`float`, *optional*, defaults to 0.1):
            lambda2 (ours); 0 is the "w/o adversarial" ablation.
        top_adapter_size (`int`, *optional*, defaults to 0):
            Bottleneck width of a residual adapter on the backbone's output frames, before pooling
            (x + Up(GELU(Down(LayerNorm(x)))), Up initialised to 0); 0 = none. Unlike `adapters` (inside the backbone's
            layers) it sits after the frozen backbone, so a frozen backbone's frames can be computed once and cached
            (`backbone_hidden_states`) while the adapter, the heads and the objective still train: our CPU-speed
            variant of the paper's PEFT.
        normalize_frames (`bool`, *optional*, defaults to `False`):
            Standardise the backbone's output frames per dimension, (x - mean) / std, with statistics stored in the
            model (buffers `frame_mean`, `frame_std`) and set from the **training** data with
            `set_frame_normalization` (never from target data).
        classifier_dropout (`float`, *optional*, defaults to 0.0):
            Dropout on the pooled embedding before the linear emotion classifier (ours; the paper uses one linear
            layer).

    Example:

    ```python
    >>> from hf_cser.models.zero_shot import ZeroShotConfig, ZeroShotForEmotionClassification

    >>> config = ZeroShotConfig(num_speakers=24, lora={"r": 8}, adapters={"bottleneck_size": 64}, gating={})
    >>> model = ZeroShotForEmotionClassification(config)  # random backbone; see `from_backbone`
    ```
    """

    model_type = "zero_shot_ser"

    def __init__(
        self,
        backbone_config: dict[str, Any] | PretrainedConfig | None = None,
        backbone_name_or_path: str | None = None,
        language_backbones: Mapping[str, str] | None = None,
        num_speakers: int = 0,
        speaker_hidden_size: int = 256,
        speaker_dropout: float = 0.1,
        grl_coefficient: float = 1.0,
        grl_schedule: str = "constant",
        lora: Mapping[str, Any] | bool | None = None,
        adapters: Mapping[str, Any] | bool | None = None,
        gating: Mapping[str, Any] | bool | None = None,
        freeze_backbone: bool = True,
        freeze_feature_encoder: bool = True,
        scl_temperature: float = 0.07,
        scl_gamma: float = 0.5,
        scl_weight: float = 1.0,
        adversarial_weight: float = 0.1,
        classifier_dropout: float = 0.0,
        top_adapter_size: int = 0,
        normalize_frames: bool = False,
        backbone_layer: int | None = None,
        whisper_mode: str = "unpadded",
        **kwargs,
    ):
        backbone = nested_config_to_dict(backbone_config, "backbone_config") or default_backbone_config()
        model_type = backbone.get("model_type")
        if model_type not in SUPPORTED_BACKBONES:
            raise ValueError(
                f"`backbone_config` must describe one of {list(SUPPORTED_BACKBONES)} (its `model_type`), got "
                f"{model_type!r}; pass `AutoConfig.from_pretrained(name).to_dict()`."
            )
        if backbone_name_or_path is not None and not isinstance(backbone_name_or_path, str):
            raise ValueError(f"`backbone_name_or_path` must be a string or None, got {backbone_name_or_path!r}.")
        if language_backbones is not None:
            if not isinstance(language_backbones, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) and v for k, v in language_backbones.items()
            ):
                raise ValueError(
                    "`language_backbones` must map language codes to Hub ids or folders (both strings), got "
                    f"{language_backbones!r}."
                )
            language_backbones = dict(language_backbones)
        if not _is_int(num_speakers) or num_speakers < 0:
            raise ValueError(f"`num_speakers` must be an integer >= 0 (0: no adversarial head), got {num_speakers!r}.")
        if not _is_int(top_adapter_size) or top_adapter_size < 0:
            raise ValueError(f"`top_adapter_size` must be an integer >= 0 (0: none), got {top_adapter_size!r}.")
        if not _is_int(speaker_hidden_size) or speaker_hidden_size <= 0:
            raise ValueError(f"`speaker_hidden_size` must be a positive integer, got {speaker_hidden_size!r}.")
        for name, value in (("speaker_dropout", speaker_dropout), ("classifier_dropout", classifier_dropout)):
            if not 0 <= value < 1:
                raise ValueError(f"`{name}` must be in [0, 1), got {value!r}.")
        if not grl_coefficient >= 0:
            raise ValueError(
                f"`grl_coefficient` must be >= 0 (0 blocks the speaker gradient), got {grl_coefficient!r}."
            )
        if grl_schedule not in GRL_SCHEDULES:
            raise ValueError(f"`grl_schedule` must be one of {list(GRL_SCHEDULES)}, got {grl_schedule!r}.")
        lora, adapters, gating = (
            _peft_options(lora, "lora"),
            _peft_options(adapters, "adapters"),
            _peft_options(gating, "gating"),
        )
        if not scl_temperature > 0:
            raise ValueError(f"`scl_temperature` (tau) must be > 0, got {scl_temperature!r}.")
        for name, value in (
            ("scl_gamma", scl_gamma),
            ("scl_weight", scl_weight),
            ("adversarial_weight", adversarial_weight),
        ):
            if not value >= 0:
                raise ValueError(f"`{name}` must be >= 0 (0 switches the term off), got {value!r}.")

        num_layers = backbone.get("num_hidden_layers", backbone.get("encoder_layers"))
        too_deep = num_layers is not None and _is_int(backbone_layer) and backbone_layer > num_layers
        if backbone_layer is not None and (not _is_int(backbone_layer) or backbone_layer < 0 or too_deep):
            raise ValueError(
                f"`backbone_layer` must be None (last) or an int in [0, {num_layers}] (the backbone's layers), got "
                f"{backbone_layer!r}."
            )
        from ...encoders.whisper.encoding import WHISPER_POOLING_MODES

        if whisper_mode not in WHISPER_POOLING_MODES:
            raise ValueError(f"`whisper_mode` must be one of {WHISPER_POOLING_MODES}, got {whisper_mode!r}.")
        kwargs.setdefault("id2label", dict(ID2LABEL))
        kwargs.setdefault("label2id", dict(LABEL2ID))
        self.backbone_config = backbone
        self.backbone_name_or_path = backbone_name_or_path
        self.language_backbones = language_backbones
        self.num_speakers = int(num_speakers)
        self.speaker_hidden_size = int(speaker_hidden_size)
        self.speaker_dropout = float(speaker_dropout)
        self.grl_coefficient = float(grl_coefficient)
        self.grl_schedule = grl_schedule
        self.lora = lora
        self.adapters = adapters
        self.gating = gating
        self.freeze_backbone = bool(freeze_backbone)
        self.freeze_feature_encoder = bool(freeze_feature_encoder)
        self.scl_temperature = float(scl_temperature)
        self.scl_gamma = float(scl_gamma)
        self.scl_weight = float(scl_weight)
        self.adversarial_weight = float(adversarial_weight)
        self.classifier_dropout = float(classifier_dropout)
        self.top_adapter_size = int(top_adapter_size)
        self.normalize_frames = bool(normalize_frames)
        self.backbone_layer = backbone_layer
        self.whisper_mode = whisper_mode
        super().__init__(**kwargs)

    @property
    def uses_peft(self) -> bool:
        """Whether any of LoRA, bottleneck adapters or weight gating is configured."""
        return self.lora is not None or self.adapters is not None or self.gating is not None

    @property
    def hidden_size(self) -> int:
        """Width H of the backbone output and of the pooled embedding h."""
        return int(self.backbone_config.get("hidden_size", self.backbone_config.get("d_model")))

    def build_backbone_config(self) -> PretrainedConfig:
        """The backbone's config as a `PretrainedConfig` (via `AutoConfig.for_model`)."""
        from transformers import AutoConfig

        values = dict(self.backbone_config)
        model_type = values.pop("model_type")
        return AutoConfig.for_model(model_type, **values)


__all__ = ["GRL_SCHEDULES", "SUPPORTED_BACKBONES", "ZeroShotConfig", "default_backbone_config"]
