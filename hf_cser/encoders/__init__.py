"""Frozen encoders shared by the methods: the GE2E speaker encoder f_s (SAPA / FreeVC).

Importing `hf_cser.encoders` registers every encoder with the transformers auto classes.
"""

from .ge2e import (
    RESEMBLYZER_INSTALL_HINT,
    Ge2eCheckpointError,
    Ge2eFeatureExtractor,
    Ge2eSpeakerEncoderConfig,
    Ge2eSpeakerEncoderModel,
    Ge2eSpeakerEncoderOutput,
    Ge2eSpeakerEncoderPreTrainedModel,
    convert_resemblyzer_checkpoint,
    default_cache_dir,
    find_resemblyzer_checkpoint,
)

__all__ = [
    "RESEMBLYZER_INSTALL_HINT",
    "Ge2eCheckpointError",
    "Ge2eFeatureExtractor",
    "Ge2eSpeakerEncoderConfig",
    "Ge2eSpeakerEncoderModel",
    "Ge2eSpeakerEncoderOutput",
    "Ge2eSpeakerEncoderPreTrainedModel",
    "convert_resemblyzer_checkpoint",
    "default_cache_dir",
    "find_resemblyzer_checkpoint",
]
