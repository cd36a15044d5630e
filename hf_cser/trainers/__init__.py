"""Trainers of hf_cser: `transformers.Trainer` subclasses that add each method's losses and log every term."""

from .ctl_mtnet_arguments import CtlMtNetTrainingArguments
from .ctl_mtnet_trainer import CtlMtNetDataCollator, CtlMtNetTrainer, SourceTargetPairs
from .feature_gan import (
    FeatureGanBaselineTrainer,
    FeatureGanClassifierTrainer,
    FeatureGanClassifierTrainingArguments,
    FeatureGanTrainingArguments,
    FeatureInfoGanTrainer,
    FeatureInfoGanTrainingArguments,
)
from .sapa_arguments import SAPA_VARIANTS, SapaTrainingArguments
from .sapa_trainer import VARIANT_LOSSES, SapaDataCollator, SapaTrainer, check_no_target_language_leak
from .zero_shot_arguments import ZeroShotTrainingArguments
from .zero_shot_frames import ZeroShotFrameCollator, encode_backbone_frames, frame_statistics
from .zero_shot_trainer import ZeroShotDataCollator, ZeroShotTrainer, build_speaker_map, check_no_target_rows

__all__ = [
    "CtlMtNetDataCollator",
    "CtlMtNetTrainer",
    "CtlMtNetTrainingArguments",
    "SourceTargetPairs",
    "FeatureGanBaselineTrainer",
    "FeatureGanClassifierTrainer",
    "FeatureGanClassifierTrainingArguments",
    "FeatureGanTrainingArguments",
    "FeatureInfoGanTrainer",
    "FeatureInfoGanTrainingArguments",
    "SAPA_VARIANTS",
    "SapaDataCollator",
    "SapaTrainer",
    "SapaTrainingArguments",
    "VARIANT_LOSSES",
    "ZeroShotDataCollator",
    "ZeroShotFrameCollator",
    "ZeroShotTrainer",
    "ZeroShotTrainingArguments",
    "build_speaker_map",
    "check_no_target_language_leak",
    "check_no_target_rows",
    "encode_backbone_frames",
    "frame_statistics",
]
