"""CTL-MTNet (``papers/002``, METHODS.md section 3): the CPAC capsule network on MFCCs for the single-corpus task and
CAAM (classifier f + auxiliary classifier f' behind a gradient reversal layer, margin disparity discrepancy) for the
cross-corpus task: config, model and the 39-dim MFCC feature extractor.

Importing this package registers CTL-MTNet with `AutoConfig`, `AutoModel`, `AutoModelForAudioClassification` and
`AutoFeatureExtractor`, so a saved folder loads with `AutoModelForAudioClassification.from_pretrained(folder)` and
works in `pipeline("audio-classification", model=folder)`.
"""

from transformers import AutoConfig, AutoFeatureExtractor, AutoModel, AutoModelForAudioClassification

from .configuration_ctl_mtnet import CTL_MTNET_HEADS, CtlMtNetConfig
from .feature_extraction_ctl_mtnet import CtlMtNetFeatureExtractor, mfcc_features, savgol_derivative
from .modeling_ctl_mtnet import (
    CapsuleSelfAttention,
    CnnPoolingBlock,
    CtlMtNetForEmotionClassification,
    CtlMtNetOutput,
    CtlMtNetPreTrainedModel,
    DigitCapsules,
    PrimaryCapsules,
)


def register_ctl_mtnet_auto_classes() -> None:
    """Register the CTL-MTNet classes with the transformers auto classes; calling it again is a no-op."""
    AutoConfig.register(CtlMtNetConfig.model_type, CtlMtNetConfig, exist_ok=True)
    AutoModel.register(CtlMtNetConfig, CtlMtNetForEmotionClassification, exist_ok=True)
    AutoModelForAudioClassification.register(CtlMtNetConfig, CtlMtNetForEmotionClassification, exist_ok=True)
    AutoFeatureExtractor.register(CtlMtNetConfig, CtlMtNetFeatureExtractor, exist_ok=True)


register_ctl_mtnet_auto_classes()

__all__ = [
    "CTL_MTNET_HEADS",
    "CapsuleSelfAttention",
    "CnnPoolingBlock",
    "CtlMtNetConfig",
    "CtlMtNetFeatureExtractor",
    "CtlMtNetForEmotionClassification",
    "CtlMtNetOutput",
    "CtlMtNetPreTrainedModel",
    "DigitCapsules",
    "PrimaryCapsules",
    "mfcc_features",
    "register_ctl_mtnet_auto_classes",
    "savgol_derivative",
]
