"""GE2E speaker encoder (resemblyzer / FreeVC voice encoder): config, model, feature extractor, converter.

Importing this package registers the model with `AutoConfig`, `AutoModel` and `AutoFeatureExtractor`, so a folder
written by `convert_resemblyzer_checkpoint` loads with `AutoModel.from_pretrained(folder)`.
"""

from transformers import AutoConfig, AutoFeatureExtractor, AutoModel

from .configuration_ge2e import Ge2eSpeakerEncoderConfig
from .convert_ge2e_resemblyzer import (
    RESEMBLYZER_INSTALL_HINT,
    Ge2eCheckpointError,
    convert_resemblyzer_checkpoint,
    default_cache_dir,
    find_resemblyzer_checkpoint,
    load_resemblyzer_state_dict,
)
from .feature_extraction_ge2e import Ge2eFeatureExtractor, compute_partial_slices, slaney_mel_filter_bank
from .modeling_ge2e import Ge2eSpeakerEncoderModel, Ge2eSpeakerEncoderOutput, Ge2eSpeakerEncoderPreTrainedModel


def register_ge2e_auto_classes() -> None:
    """Register the GE2E classes with the transformers auto classes; calling it again is a no-op."""
    model_type = Ge2eSpeakerEncoderConfig.model_type
    AutoConfig.register(model_type, Ge2eSpeakerEncoderConfig, exist_ok=True)
    AutoModel.register(Ge2eSpeakerEncoderConfig, Ge2eSpeakerEncoderModel, exist_ok=True)
    AutoFeatureExtractor.register(Ge2eSpeakerEncoderConfig, Ge2eFeatureExtractor, exist_ok=True)


register_ge2e_auto_classes()

__all__ = [
    "RESEMBLYZER_INSTALL_HINT",
    "Ge2eCheckpointError",
    "Ge2eFeatureExtractor",
    "Ge2eSpeakerEncoderConfig",
    "Ge2eSpeakerEncoderModel",
    "Ge2eSpeakerEncoderOutput",
    "Ge2eSpeakerEncoderPreTrainedModel",
    "compute_partial_slices",
    "convert_resemblyzer_checkpoint",
    "default_cache_dir",
    "find_resemblyzer_checkpoint",
    "load_resemblyzer_state_dict",
    "register_ge2e_auto_classes",
    "slaney_mel_filter_bank",
]
