"""Trainers of hf_cser: `transformers.Trainer` subclasses that add each method's losses and log every term."""

from .sapa_config import SAPA_VARIANTS, SapaTrainingArguments
from .sapa_trainer import SapaDataCollator, SapaTrainer, VARIANT_LOSSES, check_no_target_language_leak


__all__ = [
    "SAPA_VARIANTS",
    "SapaDataCollator",
    "SapaTrainer",
    "SapaTrainingArguments",
    "VARIANT_LOSSES",
    "check_no_target_language_leak",
]
