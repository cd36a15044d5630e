"""Frozen encoders shared by the methods: the GE2E speaker encoder f_s and the content encoder f_c (SAPA / FreeVC).

Importing `hf_cser.encoders` registers every encoder with the transformers auto classes.
"""

from .content_encoder import ContentEncoder, pool_windows
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
from .peft_adapters import (
    BottleneckAdapter,
    RowWeightGate,
    add_bottleneck_adapters,
    add_weight_gating,
    apply_lora,
    configure_peft,
    load_peft_state_dict,
    peft_state_dict,
)
from .phonetic_pretraining import (
    PHONETIC_LABELS,
    default_phonetic_encoder,
    evaluate_phonetic_encoder,
    frame_labels,
    tiny_wavlm_config,
    train_phonetic_encoder,
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
    "ContentEncoder",
    "PHONETIC_LABELS",
    "default_phonetic_encoder",
    "evaluate_phonetic_encoder",
    "frame_labels",
    "pool_windows",
    "tiny_wavlm_config",
    "train_phonetic_encoder",
    "BottleneckAdapter",
    "RowWeightGate",
    "add_bottleneck_adapters",
    "add_weight_gating",
    "apply_lora",
    "configure_peft",
    "load_peft_state_dict",
    "peft_state_dict",
]
