"""Configurations of the mutual-information regularised feature generation method (``papers/004``, METHODS.md
section 5): the small default log-mel audio encoder, the aligned SER model of stages 1 and 3, and the InfoGAN feature
generator of stage 2."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from transformers import PretrainedConfig
from transformers.utils import logging

from ...labels import ID2LABEL, LABEL2ID
from ..config_utils import check_backbone_model_type, nested_config_to_dict

logger = logging.get_logger(__name__)

POOLING_MODES: tuple[str, ...] = ("mean", "pooler")
MODALITIES: tuple[str, ...] = ("audio", "audio_text")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int_list(value: Sequence[int] | None, field: str) -> list[int]:
    values = list(value or [])
    if not all(_is_int(v) and v > 0 for v in values):
        raise ValueError(
            f"`{field}` must be a list of positive integers ([] for a single linear layer), got {value!r}."
        )
    return [int(v) for v in values]


def _non_negative(**values: float) -> None:
    for name, value in values.items():
        if not value >= 0:
            raise ValueError(f"`{name}` must be >= 0 (0 switches the term off), got {value!r}.")


class LogMelConvEncoderConfig(PretrainedConfig):
    r"""
    Configuration of [`LogMelConvEncoderModel`], the small default audio encoder trained on the synthetic corpus (ours:
    the paper fine-tunes AST / wav2vec 2.0, none of which is reachable offline). A stack of 1-D convolutions over
    log-mel frames (GELU, optional stride) with a final layer norm; its `last_hidden_state` is mean pooled into h by
    [`FeatureGanForEmotionClassification`].

    Args:
        num_mel_bins (`int`, *optional*, defaults to 40): input bands (the feature extractor's `feature_size`).
        conv_dim (`list[int]`, *optional*, defaults to `[64, 96, 128]`): output channels per convolution; the last is
            `hidden_size`.
        conv_kernel (`list[int]`, *optional*, defaults to `[5, 3, 3]`): kernel sizes.
        conv_stride (`list[int]`, *optional*, defaults to `[2, 2, 1]`): strides.
        dropout (`float`, *optional*, defaults to 0.1): dropout after each convolution.
    """

    model_type = "log_mel_conv_encoder"

    def __init__(
        self,
        num_mel_bins: int = 40,
        conv_dim: Sequence[int] = (64, 96, 128),
        conv_kernel: Sequence[int] = (5, 3, 3),
        conv_stride: Sequence[int] = (2, 2, 1),
        dropout: float = 0.1,
        **kwargs,
    ):
        conv_dim = _int_list(conv_dim, "conv_dim")
        conv_kernel = _int_list(conv_kernel, "conv_kernel")
        conv_stride = _int_list(conv_stride, "conv_stride")
        if not conv_dim or not len(conv_dim) == len(conv_kernel) == len(conv_stride):
            raise ValueError(
                "`conv_dim`, `conv_kernel` and `conv_stride` must be non-empty and of equal length, got "
                f"{conv_dim}, {conv_kernel}, {conv_stride}."
            )
        if not _is_int(num_mel_bins) or num_mel_bins <= 0:
            raise ValueError(f"`num_mel_bins` must be a positive integer, got {num_mel_bins!r}.")
        if not 0 <= dropout < 1:
            raise ValueError(f"`dropout` must be in [0, 1), got {dropout!r}.")
        self.num_mel_bins = int(num_mel_bins)
        self.conv_dim = conv_dim
        self.conv_kernel = conv_kernel
        self.conv_stride = conv_stride
        self.dropout = float(dropout)
        super().__init__(**kwargs)

    @property
    def hidden_size(self) -> int:
        return self.conv_dim[-1]


def default_backbone_config() -> dict[str, Any]:
    """The default audio encoder: [`LogMelConvEncoderConfig`] with its defaults."""
    return nested_config_to_dict(LogMelConvEncoderConfig(), "backbone_config")


class FeatureGanConfig(PretrainedConfig):
    r"""
    Configuration of [`FeatureGanForEmotionClassification`], the SER model of stage 1 (aligned baseline) and stage 3
    (augmented classifier) of ``papers/004``: any Hugging Face audio backbone pooled into h, the emotion head
    y = softmax(W_y h + b_y), the text projection t_hat = W_t h + b_t and, for the multimodal classifier, a head over
    the concatenation [h; t].

    Stage 1 minimises L = L_SER + alpha L_CL + beta L_MI (eq. 7): cross-entropy, the CLAP-style contrastive loss
    between the frozen text embedding t and h (eq. 5) and InfoNCE between t and t_hat (eq. 6); the trainer assembles
    it from the fields below.

    Args:
        backbone_config (`dict` or `PretrainedConfig`, *optional*):
            Config of the audio backbone with its `model_type` (AST, wav2vec2, WavLM, HuBERT, ... or
            `"log_mel_conv_encoder"`), built with `AutoModel.from_config`. Defaults to [`LogMelConvEncoderConfig`].
        backbone_name_or_path (`str`, *optional*): Hub id or folder the backbone came from (informational).
        text_encoder_name_or_path (`str`, *optional*): the frozen text encoder f_t (informational; the model itself
            holds no text encoder, see [`SentenceTextEncoder`]).
        text_hidden_size (`int`, *optional*, defaults to 384): width of t (384 for all-MiniLM-L6-v2, 768 for BERT
            base).
        pooling (`str`, *optional*, defaults to `"mean"`): `"mean"` (masked mean of `last_hidden_state`) or
            `"pooler"` (the backbone's `pooler_output`, AST's pooled output in the paper).
        classifier_dropout (`float`, *optional*, defaults to 0.0): dropout on h before the heads (ours).
        contrastive_weight (`float`, *optional*, defaults to 1.0): alpha (paper value).
        mi_weight (`float`, *optional*, defaults to 1.0): beta (paper value).
        contrastive_temperature (`float`, *optional*, defaults to 0.07): tau of L_CL and L_MI (ours; not in the
            paper).
        cross_modal_alignment (`bool`, *optional*, defaults to `True`):
            `False` is the "without cross-modal alignment" ablation (Table 3): the trainer computes L_CL and L_MI on
            h with its gradient stopped, so W_t (needed by stage 2) is still fitted but the audio space is not
            aligned to text (ours: the paper removes the text branch and does not say where W_t then comes from).
        class_weights (`list[float]`, *optional*): per-class weights of the cross-entropy (inverse class frequency,
            paper section 4.2.3; see `inverse_frequency_class_weights`); `None` for plain cross-entropy.
        modality (`str`, *optional*, defaults to `"audio"`): `"audio"` (logits from W_y) or `"audio_text"` (logits
            from the multimodal head over [h; t], with t = t_hat = W_t h + b_t when no text embedding is given).
        multimodal_hidden_sizes (`list[int]`, *optional*, defaults to `[]`): hidden layers of the multimodal head
            (paper: none for IEMOCAP, [256] for MSP-IMPROV, [256, 128] for MSP-Podcast).
        backbone_layer (`int`, *optional*): hidden state of the backbone that is pooled (`None`: the last one; an int
            k: the output of layer k, 0 = the input embeddings; Whisper runs only its first k layers). Library
            addition.
        whisper_mode (`str`, *optional*, defaults to `"unpadded"`): Whisper backbones only (see
            `hf_cser.encoders.whisper.encoding`).
        freeze_backbone (`bool`, *optional*, defaults to `False`): freeze the backbone (stage 3 freezes everything
            but the classifier).
        freeze_feature_encoder (`bool`, *optional*, defaults to `True`): keep a wav2vec2-style convolutional feature
            encoder frozen (ours).
    """

    model_type = "feature_gan"

    def __init__(
        self,
        backbone_config: dict[str, Any] | PretrainedConfig | None = None,
        backbone_name_or_path: str | None = None,
        text_encoder_name_or_path: str | None = None,
        text_hidden_size: int = 384,
        pooling: str = "mean",
        classifier_dropout: float = 0.0,
        contrastive_weight: float = 1.0,
        mi_weight: float = 1.0,
        contrastive_temperature: float = 0.07,
        cross_modal_alignment: bool = True,
        class_weights: Sequence[float] | None = None,
        modality: str = "audio",
        multimodal_hidden_sizes: Sequence[int] = (),
        freeze_backbone: bool = False,
        freeze_feature_encoder: bool = True,
        backbone_layer: int | None = None,
        whisper_mode: str = "unpadded",
        **kwargs,
    ):
        backbone = nested_config_to_dict(backbone_config, "backbone_config") or default_backbone_config()
        if "model_type" not in backbone or not {"hidden_size", "conv_dim", "d_model"} & set(backbone):
            raise ValueError(
                "`backbone_config` must carry `model_type` and `hidden_size` (pass "
                f"`AutoConfig.from_pretrained(name).to_dict()`), got keys {sorted(backbone)[:8]}..."
            )
        check_backbone_model_type(backbone, "backbone_config")
        if not _is_int(text_hidden_size) or text_hidden_size <= 0:
            raise ValueError(f"`text_hidden_size` must be a positive integer, got {text_hidden_size!r}.")
        if pooling not in POOLING_MODES:
            raise ValueError(f"`pooling` must be one of {list(POOLING_MODES)}, got {pooling!r}.")
        if modality not in MODALITIES:
            raise ValueError(f"`modality` must be one of {list(MODALITIES)}, got {modality!r}.")
        if not 0 <= classifier_dropout < 1:
            raise ValueError(f"`classifier_dropout` must be in [0, 1), got {classifier_dropout!r}.")
        if not contrastive_temperature > 0:
            raise ValueError(f"`contrastive_temperature` (tau) must be > 0, got {contrastive_temperature!r}.")
        _non_negative(contrastive_weight=contrastive_weight, mi_weight=mi_weight)
        kwargs.setdefault("id2label", dict(ID2LABEL))
        kwargs.setdefault("label2id", dict(LABEL2ID))
        super().__init__(**kwargs)
        if class_weights is not None:
            class_weights = [float(w) for w in class_weights]
            if len(class_weights) != self.num_labels or not all(w > 0 for w in class_weights):
                raise ValueError(
                    f"`class_weights` must hold {self.num_labels} positive values (one per label), got "
                    f"{class_weights}."
                )
        self.backbone_config = backbone
        self.backbone_name_or_path = backbone_name_or_path
        self.text_encoder_name_or_path = text_encoder_name_or_path
        self.text_hidden_size = int(text_hidden_size)
        self.pooling = pooling
        self.classifier_dropout = float(classifier_dropout)
        self.contrastive_weight = float(contrastive_weight)
        self.mi_weight = float(mi_weight)
        self.contrastive_temperature = float(contrastive_temperature)
        self.cross_modal_alignment = bool(cross_modal_alignment)
        self.class_weights = class_weights
        self.modality = modality
        self.multimodal_hidden_sizes = _int_list(multimodal_hidden_sizes, "multimodal_hidden_sizes")
        self.freeze_backbone = bool(freeze_backbone)
        self.freeze_feature_encoder = bool(freeze_feature_encoder)
        if backbone_layer is not None and (not _is_int(backbone_layer) or backbone_layer < 0):
            raise ValueError(f"`backbone_layer` must be None (last) or an int >= 0, got {backbone_layer!r}.")
        self.backbone_layer = backbone_layer
        self.whisper_mode = whisper_mode

    @property
    def hidden_size(self) -> int:
        """Width H of h."""
        if "hidden_size" in self.backbone_config:
            return int(self.backbone_config["hidden_size"])
        if "d_model" in self.backbone_config:  # Whisper
            return int(self.backbone_config["d_model"])
        return int(self.backbone_config["conv_dim"][-1])

    def build_backbone_config(self) -> PretrainedConfig:
        """The backbone's config as a `PretrainedConfig` (via `AutoConfig.for_model`)."""
        from transformers import AutoConfig

        values = dict(self.backbone_config)
        model_type = values.pop("model_type")
        return AutoConfig.for_model(model_type, **values)


class FeatureGanGeneratorConfig(PretrainedConfig):
    r"""
    Configuration of [`FeatureGanGeneratorModel`], the InfoGAN of stage 2 (``papers/004`` section 3.2): a generator
    h_hat = G(z, c, t) of audio features from noise z, the emotion code c (one-hot) and the text embedding t, a
    discriminator D(h), and the mutual-information terms that reuse the frozen W_y (cross-entropy to c, eq. 11) and W_t
    (InfoNCE to t, eq. 13) of stage 1.

    Args:
        feature_size (`int`): width H of h (the stage-1 `hidden_size`).
        text_hidden_size (`int`): width of t.
        num_labels (`int`, *optional*, defaults to 4): emotion classes (the code c).
        noise_size (`int`, *optional*, defaults to 64): width of z (ours).
        use_text_condition (`bool`, *optional*, defaults to `True`): condition G on t and add L_I_t; `False` is the
            "without text embedding" ablation (Table 3).
        generator_hidden_sizes (`list[int]`, *optional*, defaults to `[]`): hidden layers of G; `[]` is the paper's
            single linear layer without activation.
        discriminator_hidden_sizes (`list[int]`, *optional*, defaults to `[]`): hidden layers of D; `[]` is the paper's
            single linear layer.
        mi_label_weight (`float`, *optional*, defaults to 1.0): lambda_y (paper value); 0 with `mi_text_weight=0` is
            the "without MI" ablation.
        mi_text_weight (`float`, *optional*, defaults to 1.0): lambda_t (paper value).
        mi_temperature (`float`, *optional*, defaults to 0.07): tau of L_I_t (ours, as stage 1).
        mixup_alpha (`float`, *optional*, defaults to 0.2): Beta(alpha, alpha) of the real / generated mixup in the G
            and D steps (Zhang et al. 2018, cited by the paper; the value is ours); 0 turns mixup off.
        leaky_relu_slope (`float`, *optional*, defaults to 0.2): activation of hidden layers (ours).
        normalize_features (`bool`, *optional*, defaults to `True`): G generates and D reads features standardised
            with the real features' per-dimension mean and std (ours; an affine map, so a linear G is still one linear
            layer in the feature space, but Adam's step size no longer depends on the feature scale).
    """

    model_type = "feature_gan_generator"

    def __init__(
        self,
        feature_size: int = 128,
        text_hidden_size: int = 384,
        noise_size: int = 64,
        use_text_condition: bool = True,
        generator_hidden_sizes: Sequence[int] = (),
        discriminator_hidden_sizes: Sequence[int] = (),
        mi_label_weight: float = 1.0,
        mi_text_weight: float = 1.0,
        mi_temperature: float = 0.07,
        mixup_alpha: float = 0.2,
        leaky_relu_slope: float = 0.2,
        normalize_features: bool = True,
        feature_statistics_set: bool = False,
        **kwargs,
    ):
        for name, value in (
            ("feature_size", feature_size),
            ("text_hidden_size", text_hidden_size),
            ("noise_size", noise_size),
        ):
            if not _is_int(value) or value <= 0:
                raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
        _non_negative(mi_label_weight=mi_label_weight, mi_text_weight=mi_text_weight, mixup_alpha=mixup_alpha)
        if not mi_temperature > 0:
            raise ValueError(f"`mi_temperature` (tau) must be > 0, got {mi_temperature!r}.")
        kwargs.setdefault("id2label", dict(ID2LABEL))
        kwargs.setdefault("label2id", dict(LABEL2ID))
        super().__init__(**kwargs)
        self.feature_size = int(feature_size)
        self.text_hidden_size = int(text_hidden_size)
        self.noise_size = int(noise_size)
        self.use_text_condition = bool(use_text_condition)
        self.generator_hidden_sizes = _int_list(generator_hidden_sizes, "generator_hidden_sizes")
        self.discriminator_hidden_sizes = _int_list(discriminator_hidden_sizes, "discriminator_hidden_sizes")
        self.mi_label_weight = float(mi_label_weight)
        self.mi_text_weight = float(mi_text_weight)
        self.mi_temperature = float(mi_temperature)
        self.mixup_alpha = float(mixup_alpha)
        self.leaky_relu_slope = float(leaky_relu_slope)
        self.normalize_features = bool(normalize_features)
        self.feature_statistics_set = bool(feature_statistics_set)

    @property
    def condition_size(self) -> int:
        """Width of G's input [z; onehot(c); t]."""
        return self.noise_size + self.num_labels + (self.text_hidden_size if self.use_text_condition else 0)


__all__ = [
    "FeatureGanConfig",
    "FeatureGanGeneratorConfig",
    "LogMelConvEncoderConfig",
    "MODALITIES",
    "POOLING_MODES",
    "default_backbone_config",
]
