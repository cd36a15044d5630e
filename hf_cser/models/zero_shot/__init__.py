"""Zero-shot cross-lingual SER with supervised contrastive learning and speaker-adversarial training (``papers/001``,
METHODS.md section 2): config and model.

Importing this package registers the model with `AutoConfig`, `AutoModel` and `AutoModelForAudioClassification`, so a
folder written by `save_pretrained` loads with `AutoModelForAudioClassification.from_pretrained(folder)`. The model
takes raw waveforms: save a `Wav2Vec2FeatureExtractor` next to it (the backbone's own) for
`AutoFeatureExtractor.from_pretrained(folder)` and `pipeline("audio-classification", model=folder)`.
"""

from transformers import AutoConfig, AutoModel, AutoModelForAudioClassification

from .configuration_zero_shot import GRL_SCHEDULES, SUPPORTED_BACKBONES, ZeroShotConfig, default_backbone_config
from .modeling_zero_shot import (
    ADAPTER_WEIGHTS_NAME,
    SpeakerAdversarialHead,
    ZeroShotForEmotionClassification,
    ZeroShotOutput,
    ZeroShotPreTrainedModel,
    masked_mean_pool,
)


def register_zero_shot_auto_classes() -> None:
    """Register the zero-shot SER classes with the transformers auto classes; calling it again is a no-op."""
    AutoConfig.register(ZeroShotConfig.model_type, ZeroShotConfig, exist_ok=True)
    AutoModel.register(ZeroShotConfig, ZeroShotForEmotionClassification, exist_ok=True)
    AutoModelForAudioClassification.register(ZeroShotConfig, ZeroShotForEmotionClassification, exist_ok=True)


register_zero_shot_auto_classes()

__all__ = [
    "ADAPTER_WEIGHTS_NAME",
    "GRL_SCHEDULES",
    "SUPPORTED_BACKBONES",
    "SpeakerAdversarialHead",
    "ZeroShotConfig",
    "ZeroShotForEmotionClassification",
    "ZeroShotOutput",
    "ZeroShotPreTrainedModel",
    "default_backbone_config",
    "masked_mean_pool",
    "register_zero_shot_auto_classes",
]

# The names before the rename (they said "SER" twice: `ZeroShotSerForEmotionClassification`), kept so code written
# against them still runs; saved folders load by their `model_type` ("zero_shot_ser"), which did not change.
ZeroShotSerConfig = ZeroShotConfig
ZeroShotSerForEmotionClassification = ZeroShotForEmotionClassification
ZeroShotSerOutput = ZeroShotOutput
