"""The base of the hf_cser trainers: what SapaTrainer, ZeroShotTrainer and CtlMtNetTrainer share, so that each keeps
only its losses, data and schedules.

- the type of `args` is checked (a method's `TrainingArguments` subclass; a default one when `args` is `None`);
- the objective's settings resolve in one order: a training argument overrides the model config, which overrides the
  library default (:meth:`HfCserTrainer.resolve_objective`), and the saved config records what training used
  (:meth:`HfCserTrainer.record_objective`);
- the default `compute_metrics` (UAR / WAR / macro-F1), an `EarlyStoppingCallback` from
  `args.early_stopping_patience` when the arguments have that field;
- the loss is the trainer's own per-batch mean (the model never gets `num_items_in_batch`, the Trainer neither
  rescales it by the number of processes nor skips the gradient-accumulation division);
- every loss term logged (:class:`~hf_cser.trainers.loss_logging.LossComponentLoggingMixin`) and the model tagged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn
from transformers import EarlyStoppingCallback, PreTrainedModel, Trainer, TrainerCallback, TrainingArguments
from transformers.utils import logging

from ..losses import GrlScheduler
from ..metrics import make_compute_metrics
from .loss_logging import LossComponentLoggingMixin

logger = logging.get_logger(__name__)


class HfCserTrainer(LossComponentLoggingMixin, Trainer):
    """`transformers.Trainer` with the hf_cser conventions (see the module docstring). Subclasses set
    :attr:`args_class`, :attr:`default_output_dir` and `_tag_names`, build their losses in `__init__` (after
    ``args = self.resolve_args(args)``) and call ``super().__init__``."""

    args_class: type[TrainingArguments] = TrainingArguments
    """The `TrainingArguments` subclass `args` must be."""
    default_output_dir: str = "hf-cser-trainer"
    """`output_dir` of the default arguments (when `args` is `None`)."""
    args_fields: str = ""
    """What the method's arguments add (named in the error for a plain `TrainingArguments`)."""
    _tag_names = ["hf_cser"]
    # compute_loss returns a per-batch mean: the Trainer divides it by the gradient-accumulation steps.
    loss_is_scaled_for_ga = False

    @classmethod
    def resolve_args(cls, args: TrainingArguments | None) -> TrainingArguments:
        """`args`, checked to be a :attr:`args_class`; a default one (`output_dir=default_output_dir`) when `None`."""
        if args is None:
            return cls.args_class(output_dir=cls.default_output_dir)
        if not isinstance(args, cls.args_class):
            adds = f" (it adds the {cls.args_fields} fields)" if cls.args_fields else ""
            raise TypeError(
                f"`args` must be a `{cls.args_class.__name__}`, got {type(args).__name__}; build one with the same "
                f"values{adds}."
            )
        return args

    @staticmethod
    def resolve_objective(args: TrainingArguments, config: Any, defaults: Mapping[str, Any]) -> dict[str, Any]:
        """Each objective setting in `defaults`: the training argument when set (not `None`), else the model
        config's value, else the default."""
        resolved = {}
        for name, default in defaults.items():
            value = getattr(args, name)
            resolved[name] = value if value is not None else getattr(config, name, default)
        return resolved

    def record_objective(self, config: Any, resolved: Mapping[str, Any]) -> None:
        """Write the settings training uses into the model config (the saved config records them), logging each
        change of a value the config already had."""
        if config is None:
            return
        for name, value in resolved.items():
            if getattr(config, name, None) != value:
                if hasattr(config, name):
                    logger.info(
                        f"{type(self).__name__}: `{name}` {getattr(config, name)!r} -> {value!r} (training args)."
                    )
                setattr(config, name, value)

    def __init__(
        self,
        model: PreTrainedModel | nn.Module,
        args: TrainingArguments,
        data_collator: Callable | None = None,
        train_dataset: Any | None = None,
        eval_dataset: Any | None = None,
        processing_class: Any | None = None,
        compute_metrics: Callable | None = None,
        callbacks: list[TrainerCallback] | None = None,
        optimizers: tuple = (None, None),
        optimizer_cls_and_kwargs: tuple[type[torch.optim.Optimizer], dict[str, Any]] | None = None,
        preprocess_logits_for_metrics: Callable | None = None,
    ) -> None:
        if compute_metrics is None:
            compute_metrics = make_compute_metrics()
        callbacks = list(callbacks or [])
        patience = getattr(args, "early_stopping_patience", None)
        if patience is not None and not any(
            isinstance(cb, EarlyStoppingCallback) or cb is EarlyStoppingCallback for cb in callbacks
        ):
            callbacks.append(
                EarlyStoppingCallback(
                    early_stopping_patience=patience,
                    early_stopping_threshold=getattr(args, "early_stopping_threshold", 0.0),
                )
            )
        super().__init__(
            model=model,
            args=args,
            data_collator=data_collator,
            train_dataset=train_dataset,
            eval_dataset=eval_dataset,
            processing_class=processing_class,
            compute_metrics=compute_metrics,
            callbacks=callbacks,
            optimizers=optimizers,
            optimizer_cls_and_kwargs=optimizer_cls_and_kwargs,
            preprocess_logits_for_metrics=preprocess_logits_for_metrics,
        )
        # our own per-batch mean loss: no `num_items_in_batch` to the model, no rescaling by the world size
        self.model_accepts_loss_kwargs = False
        self._init_loss_component_logs()
        if hasattr(self.model, "add_model_tags"):
            self.model.add_model_tags(self._tag_names)


class GrlScheduleCallback(TrainerCallback):
    """Steps the trainer's :class:`~hf_cser.losses.GrlScheduler` after every optimiser step and pushes the coefficient
    into the model (``model.set_grl_coefficient``). On (re)start the schedule resumes at ``state.global_step``."""

    def __init__(self, trainer: GradientReversalMixin) -> None:
        self.trainer = trainer

    def on_train_begin(self, args, state, control, **kwargs):
        scheduler = self.trainer.grl_scheduler
        scheduler.max_steps = int(args.grl_warm_start_steps or max(state.max_steps, 1))
        scheduler.num_steps = int(state.global_step)
        self.trainer._push_grl_coefficient()

    def on_step_end(self, args, state, control, **kwargs):
        self.trainer.grl_scheduler.step()
        self.trainer._push_grl_coefficient()


class GradientReversalMixin:
    """For trainers whose model has a gradient-reversal layer (zero-shot's speaker adversary, CTL-MTNet's MDD): a
    :class:`~hf_cser.losses.GrlScheduler` from the resolved objective (``grl_schedule``, ``grl_coefficient``) and the
    arguments' warm start, stepped by :class:`GrlScheduleCallback`, its coefficient pushed into the model."""

    def build_grl_scheduler(self, resolved: Mapping[str, Any], args: TrainingArguments) -> None:
        self.grl_scheduler = GrlScheduler(
            schedule=resolved["grl_schedule"],
            hi=float(resolved["grl_coefficient"]),
            lo=0.0,
            alpha=args.grl_warm_start_alpha,
            max_steps=args.grl_warm_start_steps or 1000,  # replaced by the run's steps at train begin
        )

    def grl_missing_message(self) -> str | None:
        """Why training cannot go on with a model that has no ``set_grl_coefficient`` (`None`: it can)."""
        return None

    def _push_grl_coefficient(self) -> None:
        model = self.model
        if not hasattr(model, "set_grl_coefficient") and hasattr(self, "accelerator"):
            # unwrap only a wrapper (DDP, ...): `unwrap_model` costs about a millisecond, and this runs every step
            model = self.accelerator.unwrap_model(model)
        setter = getattr(model, "set_grl_coefficient", None)
        if setter is not None:
            setter(self.grl_scheduler.coeff)
        elif (message := self.grl_missing_message()) is not None:
            raise AttributeError(f"{type(model).__name__} has no `set_grl_coefficient`; {message}")
