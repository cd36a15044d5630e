"""Training arguments of SAPA (speaker-style aware phoneme anchoring), modelled on trl's ``RewardConfig``."""

from __future__ import annotations

from dataclasses import dataclass, field

from transformers import TrainingArguments
from transformers.utils import logging

from .launch import apply_device_launch_rules, cpu_only_distributed_launch  # noqa: F401 (re-exported)

logger = logging.get_logger(__name__)


SAPA_VARIANTS = ("sapa", "only_s", "only_p", "sapa_only_s", "sapa_only_p")
# Variants that share the fused (content + speaker) architecture and differ only in which anchoring losses are on.
FUSED_VARIANTS = ("sapa", "sapa_only_s", "sapa_only_p")
TRIPLET_MINING = ("batch_all", "batch_hard")


@dataclass
class SapaTrainingArguments(TrainingArguments):
    r"""
    Configuration class for the [`~hf_cser.trainers.SapaTrainer`].

    This class includes only the parameters that are specific to SAPA training (or whose default differs from
    [`~transformers.TrainingArguments`]). For a full list of training arguments, see
    [`~transformers.TrainingArguments`]. Paper values come from section 4.1 of the SAPA paper
    (``papers/000_969dc1c303db022e.txt``); our own choices are marked "library default".

    Using [`~transformers.HfArgumentParser`] we can turn this class into
    [argparse](https://docs.python.org/3/library/argparse#module-argparse) arguments that can be specified on the
    command line.

    Parameters:
        > Parameters that control the optimisation (paper section 4.1)

        learning_rate (`float`, *optional*, defaults to `1e-4`):
            Adam learning rate (paper value).
        weight_decay (`float`, *optional*, defaults to `1e-3`):
            The paper's "decay factor of 0.001". **Our reading**: an L2 penalty coupled into the Adam update, i.e.
            `torch.optim.Adam(weight_decay=1e-3)`, applied to every weight except biases and normalisation layers (the
            Trainer's usual exclusion). A Keras-style learning-rate decay (`lr / (1 + 1e-3 * step)`) is the other
            possible reading; it is not what this default does.
        coupled_weight_decay (`bool`, *optional*, defaults to `True`):
            `True` optimises with `torch.optim.Adam` (coupled L2 weight decay, the paper's "Adam"), ignoring `optim`.
            `False` uses the optimizer named by `optim` (e.g. `"adamw_torch"`, decoupled weight decay).
        lr_scheduler_type (`str`, *optional*, defaults to `"constant"`):
            The paper names no schedule, so the learning rate is constant (library default).
        num_train_epochs (`float`, *optional*, defaults to `70`):
            Upper bound on the epochs (paper: "up to 70 epochs"); early stopping usually ends training sooner.
        per_device_train_batch_size (`int`, *optional*, defaults to `64`):
            Paper batch size. Under data parallelism the triplets are mined inside each process's batch.

        > Parameters that control model selection and early stopping

        eval_strategy, save_strategy (`str`, *optional*, default to `"epoch"`):
            Evaluate and checkpoint once per epoch (library default).
        metric_for_best_model (`str`, *optional*, defaults to `"uar"`):
            Selection metric: validation UAR (paper: early stopping on validation UAR). The eval dataset must be the
            source-language validation split, never the target language (see `SapaTrainer`'s `target_languages`).
        greater_is_better (`bool`, *optional*, defaults to `True`):
            Higher UAR is better.
        load_best_model_at_end (`bool`, *optional*, defaults to `True`):
            Reload the checkpoint with the best validation UAR when training ends.
        save_total_limit (`int`, *optional*, defaults to `2`):
            Keep the latest and the best checkpoint only (library default).
        early_stopping_patience (`int` or `None`, *optional*, defaults to `10`):
            Stop after this many evaluations (epochs) without a validation-UAR improvement; `None` disables early
            stopping. The paper uses early stopping but gives no patience; 10 epochs is the library default.
        early_stopping_threshold (`float`, *optional*, defaults to `0.0`):
            Minimum UAR improvement that resets the patience counter.

        > Parameters that control the SAPA objective (paper section 3, equation 8)

        variant (`str` or `None`, *optional*, defaults to `None`):
            Override of the model config's `variant`. `None` trains the variant the model was built with. Among the
            fused variants (`"sapa"`, `"sapa_only_s"`, `"sapa_only_p"`) the override only changes which anchoring
            losses are on; `"only_s"` / `"only_p"` are different architectures and must match the model config.
        phoneme_loss_weight (`float` or `None`, *optional*, defaults to `None`):
            lambda1, weight of the phoneme-space triplet loss L_p. `None` takes the model config's value (paper 0.5).
        speaker_loss_weight (`float` or `None`, *optional*, defaults to `None`):
            lambda2, weight of the speaker-space triplet loss L_s. `None` takes the model config's value (paper 0.5).
        phoneme_margin (`float` or `None`, *optional*, defaults to `None`):
            alpha of L_p. `None` takes the model config's value (paper 0.4).
        speaker_margin (`float` or `None`, *optional*, defaults to `None`):
            beta of L_s. `None` takes the model config's value (paper 0.6).
        triplet_mining (`str`, *optional*, defaults to `"batch_all"`):
            Online mining of both triplet losses, `"batch_all"` or `"batch_hard"`. The paper does not say; batch_all
            is the library default.
        triplet_l2_normalize (`bool`, *optional*, defaults to `False`):
            L2-normalise z_c and z_s before the triplet distances (FaceNet's choice), so the squared distances lie
            in [0, 4] and the margins keep their meaning whatever the feature scale. Library option; the paper uses
            the raw embeddings (the default).

        > Parameters whose default differs from [`~transformers.TrainingArguments`]

        logging_steps (`float`, *optional*, defaults to `10`):
            Log every 10 optimisation steps; every loss term is averaged over the interval.
        report_to (`str` or `list[str]`, *optional*, defaults to `"none"`):
            No experiment tracker unless asked for.
        remove_unused_columns (`bool`, *optional*, defaults to `False`):
            Must stay `False`: SAPA batches carry keys the model's `forward` does not take (`cluster_ids`,
            `speaker_ids`, `window_phones`), which the trainer consumes itself.
    """

    # Parameters whose default values are overridden from TrainingArguments (paper section 4.1)
    learning_rate: float = field(default=1e-4, metadata={"help": "Adam learning rate (paper value 1e-4)."})
    weight_decay: float = field(
        default=1e-3,
        metadata={
            "help": "The paper's 'decay factor 0.001'. Our reading: L2 weight decay coupled into Adam "
            "(torch.optim.Adam(weight_decay=...)); see `coupled_weight_decay`."
        },
    )
    lr_scheduler_type: str = field(
        default="constant",
        metadata={"help": "Learning-rate schedule. The paper names none, so constant (library default)."},
    )
    num_train_epochs: float = field(
        default=70.0, metadata={"help": "Upper bound on training epochs (paper: up to 70, with early stopping)."}
    )
    per_device_train_batch_size: int = field(default=64, metadata={"help": "Batch size per device (paper: 64)."})
    per_device_eval_batch_size: int = field(default=64, metadata={"help": "Batch size per device for evaluation."})
    eval_strategy: str = field(default="epoch", metadata={"help": "Evaluate on the validation set every epoch."})
    save_strategy: str = field(default="epoch", metadata={"help": "Save a checkpoint every epoch."})
    metric_for_best_model: str | None = field(
        default="uar",
        metadata={"help": "Model selection metric: source-language validation UAR (paper: early stopping on UAR)."},
    )
    greater_is_better: bool | None = field(
        default=True, metadata={"help": "Higher `metric_for_best_model` is better."}
    )
    load_best_model_at_end: bool = field(
        default=True, metadata={"help": "Reload the checkpoint with the best validation UAR at the end of training."}
    )
    save_total_limit: int | None = field(
        default=2, metadata={"help": "Checkpoints to keep (the best one is always kept). Library default 2."}
    )
    logging_steps: float = field(default=10, metadata={"help": "Log every X optimisation steps."})
    report_to: None | str | list[str] = field(
        default="none", metadata={"help": "Integrations to report to; 'none' (library default) for none."}
    )
    remove_unused_columns: bool = field(
        default=False,
        metadata={
            "help": "Must stay False: SAPA batches carry `cluster_ids`, `speaker_ids` and `window_phones`, which the "
            "model's forward does not take."
        },
    )

    # Optimiser reading
    coupled_weight_decay: bool = field(
        default=True,
        metadata={
            "help": "True: torch.optim.Adam with coupled L2 weight decay (our reading of the paper's 'Adam ... decay "
            "0.001'), ignoring `optim`. False: use the optimizer named by `optim` (e.g. adamw_torch)."
        },
    )

    # Early stopping
    early_stopping_patience: int | None = field(
        default=10,
        metadata={
            "help": "Evaluations without a validation-UAR improvement before training stops; None disables early "
            "stopping. The paper gives no patience: 10 epochs is the library default."
        },
    )
    early_stopping_threshold: float = field(
        default=0.0, metadata={"help": "Minimum UAR improvement that resets the early-stopping patience."}
    )

    # SAPA objective: L_total = L_SER + lambda1 L_p + lambda2 L_s (equation 8)
    variant: str | None = field(
        default=None,
        metadata={
            "help": "Override of the model config's variant (None: keep it).",
            "choices": list(SAPA_VARIANTS),
        },
    )
    phoneme_loss_weight: float | None = field(
        default=None,
        metadata={"help": "lambda1, weight of the phoneme triplet loss L_p (None: model config value, paper 0.5)."},
    )
    speaker_loss_weight: float | None = field(
        default=None,
        metadata={"help": "lambda2, weight of the speaker triplet loss L_s (None: model config value, paper 0.5)."},
    )
    phoneme_margin: float | None = field(
        default=None, metadata={"help": "alpha, margin of L_p (None: model config value, paper 0.4)."}
    )
    speaker_margin: float | None = field(
        default=None, metadata={"help": "beta, margin of L_s (None: model config value, paper 0.6)."}
    )
    triplet_mining: str = field(
        default="batch_all",
        metadata={
            "help": "Online triplet mining of L_p and L_s (library default batch_all; the paper does not say).",
            "choices": list(TRIPLET_MINING),
        },
    )

    triplet_l2_normalize: bool = field(
        default=False,
        metadata={"help": "L2-normalise the embeddings before the triplet distances (library option; paper: raw)."},
    )

    def __post_init__(self):
        apply_device_launch_rules(self)  # CPU-only multi-process launch -> use_cpu; no pinned memory
        if self.variant is not None and self.variant not in SAPA_VARIANTS:
            raise ValueError(f"`variant` must be one of {SAPA_VARIANTS} or None, got {self.variant!r}.")
        for name in ("phoneme_loss_weight", "speaker_loss_weight", "phoneme_margin", "speaker_margin"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"`{name}` must be >= 0 (or None to use the model config), got {value}.")
        if self.triplet_mining not in TRIPLET_MINING:
            raise ValueError(f"`triplet_mining` must be one of {TRIPLET_MINING}, got {self.triplet_mining!r}.")
        if self.early_stopping_patience is not None and self.early_stopping_patience < 1:
            raise ValueError(
                f"`early_stopping_patience` must be a positive integer or None (no early stopping), got "
                f"{self.early_stopping_patience}."
            )
        if self.early_stopping_threshold < 0:
            raise ValueError(f"`early_stopping_threshold` must be >= 0, got {self.early_stopping_threshold}.")
        if self.remove_unused_columns:
            raise ValueError(
                "`remove_unused_columns` must be False for SAPA: batches carry `cluster_ids`, `speaker_ids` and "
                "`window_phones`, which the model's forward does not take but the trainer's losses need."
            )
        super().__post_init__()
        if self.early_stopping_patience is not None and self.eval_strategy == "no":
            raise ValueError(
                f"`early_stopping_patience={self.early_stopping_patience}` needs evaluations: set `eval_strategy` to "
                "'epoch' (or 'steps'), or set `early_stopping_patience=None`."
            )
        if self.early_stopping_patience is not None and not self.load_best_model_at_end:
            raise ValueError(
                "`early_stopping_patience` needs `load_best_model_at_end=True` (transformers' EarlyStoppingCallback "
                "requires it); set it, or set `early_stopping_patience=None`."
            )
