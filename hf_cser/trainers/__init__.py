"""Trainers of hf_cser: `transformers.Trainer` subclasses that add each method's losses and log every term."""

from .sapa_config import SAPA_VARIANTS, SapaTrainingArguments
from .sapa_trainer import SapaDataCollator, SapaTrainer, VARIANT_LOSSES, check_no_target_language_leak
from .zero_shot_config import ZeroShotTrainingArguments
from .zero_shot_trainer import ZeroShotDataCollator, ZeroShotTrainer, build_speaker_map, check_no_target_rows


__all__ = [
    "SAPA_VARIANTS",
    "SapaDataCollator",
    "SapaTrainer",
    "SapaTrainingArguments",
    "VARIANT_LOSSES",
    "ZeroShotDataCollator",
    "ZeroShotTrainer",
    "ZeroShotTrainingArguments",
    "build_speaker_map",
    "check_no_target_language_leak",
    "check_no_target_rows",
]
