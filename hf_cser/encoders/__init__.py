"""Encoders shared by the methods: the GE2E speaker encoder f_s, the content encoder f_c (SAPA / FreeVC) over any
speech backbone (wav2vec 2.0 family or Whisper's encoder), and the cached pooled-feature front end.

Importing `hf_cser.encoders` registers every encoder with the transformers auto classes.
"""

from .backbones import WHISPER_OFFLINE, build_speech_backbone, load_speech_backbone, resolve_backbone_path
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
from .speech_frontend import SpeechFrontEnd

__all__ = [
    "WHISPER_OFFLINE",
    "SpeechFrontEnd",
    "build_speech_backbone",
    "load_speech_backbone",
    "resolve_backbone_path",
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
