"""Training arguments of the zero-shot cross-lingual SER trainer (METHODS.md section 2, ``papers/001``), modelled on
trl's ``RewardConfig``."""

from __future__ import annotations

from dataclasses import dataclass, field

from transformers import TrainingArguments
from transformers.utils import logging

from ..losses.grl import GRL_SCHEDULES
from .launch import apply_device_launch_rules

logger = logging.get_logger(__name__)


@dataclass
class ZeroShotTrainingArguments(TrainingArguments):
    r"""
    Configuration class for the [`~hf_cser.trainers.ZeroShotTrainer`].

    This class includes only the parameters that are specific to zero-shot cross-lingual SER training (or whose
    default differs from [`~transformers.TrainingArguments`]). The paper's optimisation values were lost, so every
    default here is a **library default** (ours).

    Parameters:
        > Parameters that control the optimisation

        learning_rate (`float`, *optional*, defaults to `5e-5`):
            Learning rate of the PEFT parameters (LoRA, adapters, gates) and heads (library default).
        num_train_epochs (`float`, *optional*, defaults to `20`):
            Epochs (library default). An epoch is one pass of the hierarchical sampler (see its docstring).

        > Parameters that control the batch (hierarchical cross-lingual sampler)

        languages_per_batch (`int`, *optional*, defaults to `2`):
            ``L``, distinct languages per batch (library default).
        emotions_per_batch (`int`, *optional*, defaults to `4`):
            ``E``, emotion classes per batch (library default: all four).
        samples_per_cell (`int`, *optional*, defaults to `4`):
            ``K``, samples per (language, emotion) cell (library default). The per-device train batch size is set to
            ``L * E * K`` (32 by default); `per_device_train_batch_size` is overwritten with it.

        > Parameters that control the objective ``L = L_CE + lambda1 L_SCL + lambda2 L_adv``

        scl_weight (`float` or `None`, *optional*, defaults to `None`):
            lambda1. `None` takes the model config's `scl_weight`; `0` trains without the contrastive term
            ("w/o SCL" ablation; the term is then not computed).
        adversarial_weight (`float` or `None`, *optional*, defaults to `None`):
            lambda2. `None` takes the model config's `adversarial_weight`; `0` trains without the speaker-adversarial
            term ("w/o adversarial" ablation; the term is then not computed).
        scl_temperature (`float` or `None`, *optional*, defaults to `None`):
            tau of the language-aware SupCon loss; `None` takes the model config's value.
        scl_gamma (`float` or `None`, *optional*, defaults to `None`):
            gamma (cross-language positive weight) of the SupCon loss; `None` takes the model config's value.
        grl_schedule (`str` or `None`, *optional*, defaults to `None`):
            `"constant"` or `"warm_start"` (TLlib's ramp from 0 to `grl_coefficient`); `None` takes the model
            config's value.
        grl_coefficient (`float` or `None`, *optional*, defaults to `None`):
            The GRL coefficient (the constant value, or the warm-start limit); `None` takes the model config's value.
        grl_warm_start_alpha (`float`, *optional*, defaults to `10.0`):
            Steepness of the warm-start ramp (DANN's value; library default).
        grl_warm_start_steps (`int` or `None`, *optional*, defaults to `None`):
            Ramp length ``N`` in optimiser steps; `None` uses the run's total optimiser steps.

        > Parameters that guard the zero-shot protocol

        target_languages (`list[str]` or `None`, *optional*, defaults to `None`):
            Target language codes. The trainer raises `TargetLeakageError` when the train or eval dataset holds rows
            of one of them.
        upper_bound (`bool`, *optional*, defaults to `False`):
            Set for the "Upper bound" system only (trained on the target language, explicitly not zero-shot): turns
            the leak guard off.

        > Parameters whose default differs from [`~transformers.TrainingArguments`]

        eval_strategy, save_strategy (`str`, *optional*, default to `"epoch"`):
            Evaluate and checkpoint once per epoch.
        metric_for_best_model (`str`, *optional*, defaults to `"uar"`):
            Model selection on the validation UAR of the training languages (never the target).
        load_best_model_at_end (`bool`, *optional*, defaults to `True`):
            Reload the checkpoint with the best validation UAR when training ends.
        save_total_limit (`int`, *optional*, defaults to `2`):
            Keep the latest and the best checkpoint only.
        logging_steps (`float`, *optional*, defaults to `10`):
            Log every 10 optimiser steps; every loss term is averaged over the interval.
        report_to (`str` or `list[str]`, *optional*, defaults to `"none"`):
            No experiment tracker unless asked for.
        remove_unused_columns (`bool`, *optional*, defaults to `False`):
            Must stay `False`: the collator needs the `language`, `emotion` and `speaker` columns.
    """

    learning_rate: float = field(default=5e-5, metadata={"help": "Learning rate of the PEFT parameters (ours)."})
    num_train_epochs: float = field(default=20.0, metadata={"help": "Training epochs (library default)."})
    per_device_train_batch_size: int = field(
        default=32, metadata={"help": "Overwritten with languages_per_batch * emotions_per_batch * samples_per_cell."}
    )
    per_device_eval_batch_size: int = field(default=32, metadata={"help": "Batch size per device for evaluation."})
    eval_strategy: str = field(default="epoch", metadata={"help": "Evaluate on the validation set every epoch."})
    save_strategy: str = field(default="epoch", metadata={"help": "Save a checkpoint every epoch."})
    metric_for_best_model: str | None = field(
        default="uar", metadata={"help": "Model selection metric: validation UAR of the training languages."}
    )
    greater_is_better: bool | None = field(default=True, metadata={"help": "Higher UAR is better."})
    load_best_model_at_end: bool = field(
        default=True, metadata={"help": "Reload the checkpoint with the best validation UAR at the end of training."}
    )
    save_total_limit: int | None = field(default=2, metadata={"help": "Checkpoints to keep (library default 2)."})
    logging_steps: float = field(default=10, metadata={"help": "Log every X optimisation steps."})
    report_to: None | str | list[str] = field(
        default="none", metadata={"help": "Integrations to report to; 'none' (library default) for none."}
    )
    remove_unused_columns: bool = field(
        default=False,
        metadata={"help": "Must stay False: the collator needs the `language`, `emotion` and `speaker` columns."},
    )

    # Hierarchical cross-lingual batch: L languages x E emotions x K samples
    languages_per_batch: int = field(default=2, metadata={"help": "L, distinct languages per batch (ours)."})
    emotions_per_batch: int = field(default=4, metadata={"help": "E, emotion classes per batch (ours: all four)."})
    samples_per_cell: int = field(default=4, metadata={"help": "K, samples per (language, emotion) cell (ours)."})

    # Objective overrides (None: the model config's value)
    scl_weight: float | None = field(
        default=None, metadata={"help": "lambda1, SupCon weight (None: model config; 0: w/o SCL ablation)."}
    )
    adversarial_weight: float | None = field(
        default=None,
        metadata={"help": "lambda2, speaker-adversarial weight (None: model config; 0: w/o adversarial ablation)."},
    )
    scl_temperature: float | None = field(default=None, metadata={"help": "tau of SupCon (None: model config)."})
    scl_gamma: float | None = field(
        default=None, metadata={"help": "gamma, cross-language positive weight of SupCon (None: model config)."}
    )
    grl_schedule: str | None = field(
        default=None,
        metadata={"help": "GRL coefficient schedule (None: model config).", "choices": list(GRL_SCHEDULES)},
    )
    grl_coefficient: float | None = field(
        default=None, metadata={"help": "GRL coefficient, constant value or warm-start limit (None: model config)."}
    )
    grl_warm_start_alpha: float = field(
        default=10.0, metadata={"help": "Steepness of the warm-start GRL ramp (DANN's 10; library default)."}
    )
    grl_warm_start_steps: int | None = field(
        default=None, metadata={"help": "Warm-start ramp length in optimiser steps (None: total training steps)."}
    )

    # Zero-shot protocol guard
    target_languages: list[str] | None = field(
        default=None, metadata={"help": "Target language codes; train/eval rows of these raise TargetLeakageError."}
    )
    upper_bound: bool = field(
        default=False,
        metadata={"help": "Upper-bound system (trained on the target, not zero-shot): disables the leak guard."},
    )

    def __post_init__(self):
        apply_device_launch_rules(self)  # shared with SapaTrainingArguments
        for name in ("languages_per_batch", "emotions_per_batch", "samples_per_cell"):
            value = getattr(self, name)
            if int(value) != value or value < 1:
                raise ValueError(f"`{name}` must be an integer >= 1, got {value!r}.")
        batch_size = self.languages_per_batch * self.emotions_per_batch * self.samples_per_cell
        if self.per_device_train_batch_size != batch_size:
            logger.info(
                f"`per_device_train_batch_size` {self.per_device_train_batch_size} -> {batch_size} "
                "(languages_per_batch x emotions_per_batch x samples_per_cell): the hierarchical sampler sets the "
                "batch."
            )
            self.per_device_train_batch_size = batch_size
        for name in ("scl_weight", "adversarial_weight", "grl_coefficient"):
            value = getattr(self, name)
            if value is not None and not value >= 0:
                raise ValueError(f"`{name}` must be >= 0 (or None to use the model config), got {value!r}.")
        if self.scl_temperature is not None and not self.scl_temperature > 0:
            raise ValueError(
                f"`scl_temperature` must be > 0 (or None to use the model config), got {self.scl_temperature!r}."
            )
        if self.scl_gamma is not None and not self.scl_gamma > -1:
            raise ValueError(f"`scl_gamma` must be > -1 (or None to use the model config), got {self.scl_gamma!r}.")
        if self.grl_schedule is not None and self.grl_schedule not in GRL_SCHEDULES:
            raise ValueError(
                f"`grl_schedule` must be one of {list(GRL_SCHEDULES)} or None, got {self.grl_schedule!r}."
            )
        if self.grl_warm_start_steps is not None and self.grl_warm_start_steps < 1:
            raise ValueError(f"`grl_warm_start_steps` must be >= 1 or None, got {self.grl_warm_start_steps!r}.")
        if isinstance(self.target_languages, str):
            self.target_languages = [self.target_languages]
        if self.remove_unused_columns:
            raise ValueError(
                "`remove_unused_columns` must be False for zero-shot training: the collator needs the `language`, "
                "`emotion` and `speaker` columns, which the model's forward does not take."
            )
        super().__post_init__()
