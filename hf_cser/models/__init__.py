"""hf_cser methods, one sub-package per paper (config, model, feature extractor).

Importing `hf_cser.models` registers every model with the transformers auto classes.
"""

from . import (
    ctl_mtnet,  # noqa: F401  (registers the Auto classes)
    feature_gan,  # noqa: F401  (registers the Auto classes)
    sapa,  # noqa: F401  (registers the Auto classes)
    zero_shot,  # noqa: F401  (registers the Auto classes)
)
from .ctl_mtnet import CtlMtNetConfig, CtlMtNetFeatureExtractor, CtlMtNetForEmotionClassification, CtlMtNetOutput
from .feature_gan import (
    FeatureGanConfig,
    FeatureGanForEmotionClassification,
    FeatureGanGeneratorConfig,
    FeatureGanGeneratorModel,
)
from .sapa import SapaConfig, SapaFeatureExtractor, SapaForEmotionClassification, SapaOutput
from .zero_shot import ZeroShotConfig, ZeroShotForEmotionClassification, ZeroShotOutput

__all__ = [
    "FeatureGanConfig",
    "FeatureGanForEmotionClassification",
    "FeatureGanGeneratorConfig",
    "FeatureGanGeneratorModel",
    "feature_gan",
    "CtlMtNetConfig",
    "CtlMtNetFeatureExtractor",
    "CtlMtNetForEmotionClassification",
    "CtlMtNetOutput",
    "SapaConfig",
    "SapaFeatureExtractor",
    "SapaForEmotionClassification",
    "SapaOutput",
    "ZeroShotConfig",
    "ZeroShotForEmotionClassification",
    "ZeroShotOutput",
    "ctl_mtnet",
    "sapa",
    "zero_shot",
]
