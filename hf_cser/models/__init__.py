"""hf_cser methods, one sub-package per paper (config, model, feature extractor).

Importing `hf_cser.models` registers every model with the transformers auto classes.
"""

from . import sapa  # noqa: F401  (registers the Auto classes)
from . import zero_shot  # noqa: F401  (registers the Auto classes)
from .sapa import SapaConfig, SapaFeatureExtractor, SapaForEmotionClassification, SapaOutput
from .zero_shot import ZeroShotSerConfig, ZeroShotSerForEmotionClassification, ZeroShotSerOutput

__all__ = [
    "SapaConfig",
    "SapaFeatureExtractor",
    "SapaForEmotionClassification",
    "SapaOutput",
    "ZeroShotSerConfig",
    "ZeroShotSerForEmotionClassification",
    "ZeroShotSerOutput",
    "sapa",
    "zero_shot",
]
