"""Training arguments of the CTL-MTNet trainer (``papers/002``, METHODS.md section 3), modelled on trl's configs."""

from __future__ import annotations

from dataclasses import dataclass, field

from transformers import TrainingArguments

from ..losses.grl import GRL_SCHEDULES
from .launch import apply_device_launch_rules


@dataclass
class CtlMtNetTrainingArguments(TrainingArguments):
    r"""
    Configuration class for the [`~hf_cser.trainers.CtlMtNetTrainer`].

    Only the parameters specific to CTL-MTNet training, or whose default differs from
    [`~transformers.TrainingArguments`], are listed. The paper trains with Adam; its other optimisation values are in
    supplementary material we do not have, so those defaults are **library defaults** (ours).

    Parameters:
        learning_rate (`float`, *optional*, defaults to `1e-3`):
            Adam learning rate (library default).
        weight_decay (`float`, *optional*, defaults to `0.0`):
            0 makes the default AdamW plain Adam (the paper's optimiser).
        num_train_epochs (`float`, *optional*, defaults to `5`):
            Epochs over the labelled source data (library default, sized so that a real-corpus fold of 5,000
            utterances trains in about half an hour on 2 CPU cores, `benchmarks/real_scale.py`).
        per_device_train_batch_size (`int`, *optional*, defaults to `32`):
            Source utterances per batch; each source batch comes with as many unlabelled target utterances.
        max_train_frames (`int` or `None`, *optional*, defaults to `300`):
            Train on a random window of at most this many MFCC frames (300 = 3.75 s) of each utterance (source and
            target; a crop per utterance and step): a batch costs the same whatever the corpus's longest utterance
            (real corpora reach 14 s; whole utterances padded to the longest cost about 4x more per step). `None` or
            0 trains on whole utterances (the paper does not say which it used). Evaluation always sees whole
            utterances.
        mdd_weight (`float` or `None`, *optional*, defaults to `None`):
            eta of ``L_CE - eta * D_gamma``; `None` takes the model config's `mdd_weight` (paper value 1). 0, or no
            target dataset, trains without MDD (the paper's "Algorithm 4" ablation).
        mdd_margin (`float` or `None`, *optional*, defaults to `None`):
            gamma of D_gamma; `None` takes the model config's `mdd_margin` (paper value 1.5).
        grl_schedule (`str` or `None`, *optional*, defaults to `None`):
            `"warm_start"` (TLlib's ramp from 0 to `grl_coefficient`) or `"constant"`; `None`: the model config's.
        grl_coefficient (`float` or `None`, *optional*, defaults to `None`):
            The GRL coefficient (warm-start limit or constant); `None`: the model config's (TLlib's MDD `hi = 0.1`).
        grl_warm_start_alpha (`float`, *optional*, defaults to `10.0`):
            Steepness of the warm-start ramp (DANN's 10; TLlib's MDD uses 1 over 1000 iterations; library default).
        grl_warm_start_steps (`int` or `None`, *optional*, defaults to `None`):
            Ramp length in optimiser steps; `None` uses the run's total optimiser steps.
        eval_strategy, save_strategy (`str`, *optional*, default to `"epoch"`), metric_for_best_model
        (defaults to `"uar"`), load_best_model_at_end (defaults to `True`), save_total_limit (defaults to `2`):
            Model selection on the **source** validation UAR (the target is never used for selection).
        logging_steps (`float`, *optional*, defaults to `10`), report_to (defaults to `"none"`):
            Every loss term is logged, averaged over the interval.
        remove_unused_columns (`bool`, *optional*, defaults to `False`):
            Must stay `False`: the collator reads the `emotion` column.
    """

    learning_rate: float = field(default=1e-3, metadata={"help": "Adam learning rate (library default)."})
    weight_decay: float = field(default=0.0, metadata={"help": "0: AdamW is plain Adam (the paper's optimiser)."})
    num_train_epochs: float = field(default=5.0, metadata={"help": "Epochs over the source data (ours)."})
    per_device_train_batch_size: int = field(
        default=32, metadata={"help": "Source utterances per batch (plus as many target utterances)."}
    )
    per_device_eval_batch_size: int = field(default=32, metadata={"help": "Batch size for evaluation."})
    eval_strategy: str = field(default="epoch", metadata={"help": "Evaluate on the source validation set."})
    save_strategy: str = field(default="epoch", metadata={"help": "Save a checkpoint every epoch."})
    metric_for_best_model: str | None = field(default="uar", metadata={"help": "Source validation UAR."})
    greater_is_better: bool | None = field(default=True, metadata={"help": "Higher UAR is better."})
    load_best_model_at_end: bool = field(default=True, metadata={"help": "Reload the best checkpoint at the end."})
    save_total_limit: int | None = field(default=2, metadata={"help": "Checkpoints to keep."})
    logging_steps: float = field(default=10, metadata={"help": "Log every X optimisation steps."})
    report_to: None | str | list[str] = field(default="none", metadata={"help": "Integrations to report to."})
    remove_unused_columns: bool = field(
        default=False, metadata={"help": "Must stay False: the collator reads the `emotion` column."}
    )

    max_train_frames: int | None = field(
        default=300,
        metadata={"help": "Random crop of at most this many frames per training utterance (0: whole utterances)."},
    )
    mdd_weight: float | None = field(default=None, metadata={"help": "eta (None: model config; 0: no MDD)."})
    mdd_margin: float | None = field(default=None, metadata={"help": "gamma of MDD (None: model config)."})
    grl_schedule: str | None = field(
        default=None, metadata={"help": "GRL schedule (None: model config).", "choices": list(GRL_SCHEDULES)}
    )
    grl_coefficient: float | None = field(
        default=None, metadata={"help": "GRL coefficient, constant or warm-start limit (None: model config)."}
    )
    grl_warm_start_alpha: float = field(default=10.0, metadata={"help": "Warm-start steepness (library default)."})
    grl_warm_start_steps: int | None = field(
        default=None, metadata={"help": "Warm-start ramp length in optimiser steps (None: the run's total)."}
    )

    def __post_init__(self):
        apply_device_launch_rules(self)
        if self.max_train_frames == 0:
            self.max_train_frames = None  # whole utterances
        if self.max_train_frames is not None and self.max_train_frames < 8:
            raise ValueError(
                f"`max_train_frames` must be >= 8, or 0 / None (whole utterances), got {self.max_train_frames!r}."
            )
        for name in ("mdd_weight", "grl_coefficient"):
            value = getattr(self, name)
            if value is not None and not value >= 0:
                raise ValueError(f"`{name}` must be >= 0 (or None to use the model config), got {value!r}.")
        if self.mdd_margin is not None and not self.mdd_margin > 0:
            raise ValueError(f"`mdd_margin` must be > 0 (or None to use the model config), got {self.mdd_margin!r}.")
        if self.grl_schedule is not None and self.grl_schedule not in GRL_SCHEDULES:
            raise ValueError(
                f"`grl_schedule` must be one of {list(GRL_SCHEDULES)} or None, got {self.grl_schedule!r}."
            )
        if self.grl_warm_start_steps is not None and self.grl_warm_start_steps < 1:
            raise ValueError(f"`grl_warm_start_steps` must be >= 1 or None, got {self.grl_warm_start_steps!r}.")
        if self.remove_unused_columns:
            raise ValueError(
                "`remove_unused_columns` must be False for CTL-MTNet training: the collator reads the `emotion` "
                "column, which the model's forward does not take."
            )
        super().__post_init__()
