"""SAPA: speaker-style aware phoneme anchoring for cross-lingual SER (``papers/000``): config, model, feature
extractor and the frozen-feature cache.

Importing this package registers SAPA with `AutoConfig`, `AutoModel`, `AutoModelForAudioClassification` and
`AutoFeatureExtractor`, so a saved SAPA folder loads with `AutoModelForAudioClassification.from_pretrained(folder)`
and works in `pipeline("audio-classification", model=folder)`.
"""

from transformers import AutoConfig, AutoFeatureExtractor, AutoModel, AutoModelForAudioClassification

from .configuration_sapa import SAPA_VARIANTS, SapaConfig
from .feature_cache import (
    collate_window_features,
    compute_window_features,
    normalize_window_feature_datasets,
    window_feature_fingerprint,
)
from .feature_extraction_sapa import SapaFeatureExtractor, select_window_centers, uniform_subsample
from .modeling_sapa import SapaForEmotionClassification, SapaOutput, SapaPreTrainedModel, masked_mean


def register_sapa_auto_classes() -> None:
    """Register the SAPA classes with the transformers auto classes; calling it again is a no-op."""
    AutoConfig.register(SapaConfig.model_type, SapaConfig, exist_ok=True)
    AutoModel.register(SapaConfig, SapaForEmotionClassification, exist_ok=True)
    AutoModelForAudioClassification.register(SapaConfig, SapaForEmotionClassification, exist_ok=True)
    AutoFeatureExtractor.register(SapaConfig, SapaFeatureExtractor, exist_ok=True)


register_sapa_auto_classes()

__all__ = [
    "normalize_window_feature_datasets",
    "SAPA_VARIANTS",
    "SapaConfig",
    "SapaFeatureExtractor",
    "SapaForEmotionClassification",
    "SapaOutput",
    "SapaPreTrainedModel",
    "collate_window_features",
    "compute_window_features",
    "masked_mean",
    "register_sapa_auto_classes",
    "select_window_centers",
    "uniform_subsample",
    "window_feature_fingerprint",
]
