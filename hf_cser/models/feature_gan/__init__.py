"""Mutual-information regularised feature generation for SER data augmentation (``papers/004``, METHODS.md section
5): configs and models of the three stages, the small default log-mel audio encoder and the frozen text encoder.

Importing this package registers

- [`FeatureGanConfig`] / [`FeatureGanForEmotionClassification`] (stages 1 and 3) with `AutoConfig`, `AutoModel` and
  `AutoModelForAudioClassification`, and [`LogMelFeatureExtractor`] with `AutoFeatureExtractor` for it, so a saved
  stage folder loads with `AutoModelForAudioClassification.from_pretrained(folder)` and runs in
  `pipeline("audio-classification", model=folder)`;
- [`LogMelConvEncoderConfig`] / [`LogMelConvEncoderModel`] (the default backbone) with `AutoConfig`, `AutoModel` and
  `AutoFeatureExtractor`;
- [`FeatureGanGeneratorConfig`] / [`FeatureGanGeneratorModel`] (stage 2) with `AutoConfig` and `AutoModel`.
"""

from transformers import AutoConfig, AutoFeatureExtractor, AutoModel, AutoModelForAudioClassification

from .configuration_feature_gan import (
    MODALITIES,
    POOLING_MODES,
    FeatureGanConfig,
    FeatureGanGeneratorConfig,
    LogMelConvEncoderConfig,
    default_backbone_config,
)
from .feature_extraction_log_mel import LogMelFeatureExtractor
from .modeling_feature_gan import (
    FeatureGanForEmotionClassification,
    FeatureGanGeneratorModel,
    FeatureGanGeneratorOutput,
    FeatureGanOutput,
    FeatureGanPreTrainedModel,
    LogMelConvEncoderModel,
    masked_mean_pool,
)
from .text_encoding import (
    DEFAULT_TEXT_ENCODER_PACKAGE,
    SentenceTextEncoder,
    build_tiny_text_encoder,
    default_text_encoder_path,
)


def register_feature_gan_auto_classes() -> None:
    """Register the feature-generation classes with the transformers auto classes; calling it again is a no-op."""
    AutoConfig.register(LogMelConvEncoderConfig.model_type, LogMelConvEncoderConfig, exist_ok=True)
    AutoModel.register(LogMelConvEncoderConfig, LogMelConvEncoderModel, exist_ok=True)
    AutoFeatureExtractor.register(LogMelConvEncoderConfig, LogMelFeatureExtractor, exist_ok=True)
    AutoConfig.register(FeatureGanConfig.model_type, FeatureGanConfig, exist_ok=True)
    AutoModel.register(FeatureGanConfig, FeatureGanForEmotionClassification, exist_ok=True)
    AutoModelForAudioClassification.register(FeatureGanConfig, FeatureGanForEmotionClassification, exist_ok=True)
    AutoFeatureExtractor.register(FeatureGanConfig, LogMelFeatureExtractor, exist_ok=True)
    AutoConfig.register(FeatureGanGeneratorConfig.model_type, FeatureGanGeneratorConfig, exist_ok=True)
    AutoModel.register(FeatureGanGeneratorConfig, FeatureGanGeneratorModel, exist_ok=True)


register_feature_gan_auto_classes()

__all__ = [
    "DEFAULT_TEXT_ENCODER_PACKAGE",
    "FeatureGanConfig",
    "FeatureGanForEmotionClassification",
    "FeatureGanGeneratorConfig",
    "FeatureGanGeneratorModel",
    "FeatureGanGeneratorOutput",
    "FeatureGanOutput",
    "FeatureGanPreTrainedModel",
    "LogMelConvEncoderConfig",
    "LogMelConvEncoderModel",
    "LogMelFeatureExtractor",
    "MODALITIES",
    "POOLING_MODES",
    "SentenceTextEncoder",
    "build_tiny_text_encoder",
    "default_backbone_config",
    "default_text_encoder_path",
    "masked_mean_pool",
    "register_feature_gan_auto_classes",
]
