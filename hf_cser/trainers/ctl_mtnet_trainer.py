"""Trainer for CTL-MTNet (METHODS.md section 3, ``papers/002_b507426a4b60015b.txt``).

Single-corpus task (CPAC, ``head="capsule"``): the margin loss on the capsule lengths (eq. 4).

Cross-corpus task (CAAM, ``head="linear"``, ``use_mdd=True``): every step draws a labelled source batch and an
unlabelled target batch together, runs them through the model in one forward (shared batch-norm statistics, as TLlib
does), and descends on

    L = L_CE(f on the source) - eta * D_gamma,      D_gamma = gamma E_s[log p_s] + E_t[log(1 - p_t)]

(:class:`~hf_cser.losses.MarginDisparityDiscrepancyLoss`). f' sits behind the model's gradient reversal layer, so the
same step makes f' maximise D_gamma and the features minimise it (eq. 7). Target labels are never read: the trainer
drops every label column of the target data before training, and the collator reads only features from target rows.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import Dataset
from transformers import PreTrainedModel, TrainerCallback
from transformers.utils import logging

from ..losses import MarginDisparityDiscrepancyLoss, MarginLoss
from ..models.ctl_mtnet.feature_extraction_ctl_mtnet import pad_frame_features
from .base import GradientReversalMixin, GrlScheduleCallback, HfCserTrainer
from .ctl_mtnet_arguments import CtlMtNetTrainingArguments

logger = logging.get_logger(__name__)

LABEL_COLUMNS: tuple[str, ...] = ("labels", "label", "emotion")
"""Columns that may hold emotion labels; all of them are removed from the target data."""
CTL_MTNET_AUXILIARY_KEYS = ("target_input_features", "target_attention_mask")
CROP_RNG_NAME = "crop_rng_state.safetensors"
"""File of a checkpoint holding the random-crop generator's state (one per process: ``crop_rng_state_<rank>``)."""

# Used when neither the training arguments nor the model config set a value (CtlMtNetConfig's defaults).
_OBJECTIVE_DEFAULTS = {"mdd_weight": 1.0, "mdd_margin": 1.5, "grl_coefficient": 0.1, "grl_schedule": "warm_start"}


def strip_label_columns(dataset: Any) -> Any:
    """``dataset`` without any of :data:`LABEL_COLUMNS`: a `datasets.Dataset` loses the columns, a sequence of dict
    rows becomes a list of copies without those keys."""
    if hasattr(dataset, "remove_columns") and hasattr(dataset, "column_names"):
        present = [c for c in LABEL_COLUMNS if c in dataset.column_names]
        return dataset.remove_columns(present) if present else dataset
    return [{k: v for k, v in row.items() if k not in LABEL_COLUMNS} for row in dataset]


class SourceTargetPairs(Dataset):
    """Item ``i`` = ``{"source": source[i], "target": target[order[i % len(target)]]}``: each labelled source row comes
    with an unlabelled target row; ``order`` is a fresh seeded permutation of the target rows every epoch
    (:meth:`set_epoch`). Its length is the source's, so an epoch is one pass over the source.
    """

    def __init__(self, source: Any, target: Any, seed: int = 0) -> None:
        if len(source) == 0 or len(target) == 0:
            raise ValueError(f"Both domains need rows, got {len(source)} source and {len(target)} target rows.")
        self.source = source
        self.target = target
        self.seed = int(seed)
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        self.order = np.random.default_rng([self.seed, int(epoch)]).permutation(len(self.target))

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {"source": self.source[index], "target": self.target[int(self.order[index % len(self.order)])]}


def _pad(features: Sequence[np.ndarray], length: int) -> tuple[torch.Tensor, torch.Tensor]:
    batch, mask = pad_frame_features(features, min_length=length)  # (B, T, F), (B, T)
    return torch.from_numpy(batch), torch.from_numpy(mask)


@dataclass
class CtlMtNetDataCollator:
    """Pads MFCC features; for paired rows (:class:`SourceTargetPairs`) also the target features.

    Each row holds ``input_features`` (`(num_frames, feature_size)`, precomputed with a
    :class:`~hf_cser.models.ctl_mtnet.CtlMtNetFeatureExtractor`) or a decoded ``audio`` dict (then `feature_extractor`
    computes them), and, for labelled rows, an emotion id (``labels``, ``label`` or ``emotion``). The batch has
    ``input_features`` `(B, T, F)`, ``attention_mask`` `(B, T)`, ``labels`` `(B,)` when every row has one, and for
    paired rows ``target_input_features`` / ``target_attention_mask`` (padded to the same ``T``). Only the features of
    target rows are read.

    Args:
        feature_extractor (`CtlMtNetFeatureExtractor`, *optional*): computes features of rows that only have audio.
    """

    feature_extractor: Any = None

    def _features(self, row: Mapping[str, Any]) -> np.ndarray:
        if "input_features" in row:
            return np.asarray(row["input_features"], dtype=np.float32)
        audio = row.get("audio")
        if isinstance(audio, Mapping) and "array" in audio and self.feature_extractor is not None:
            return self.feature_extractor.extract(np.asarray(audio["array"], dtype=np.float32))
        raise ValueError(
            f"A row has no `input_features` (keys: {sorted(row)}); precompute them with `CtlMtNetFeatureExtractor`, "
            "or give the collator a `feature_extractor` and decoded `audio`."
        )

    def __call__(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        rows = list(rows)
        paired = all("source" in row and "target" in row for row in rows)
        sources = [row["source"] for row in rows] if paired else rows
        features = [self._features(row) for row in sources]
        targets = [self._features(row["target"]) for row in rows] if paired else []
        longest = max(len(f) for f in features + targets)
        batch: dict[str, torch.Tensor] = {}
        batch["input_features"], batch["attention_mask"] = _pad(features, longest)
        if paired:
            batch["target_input_features"], batch["target_attention_mask"] = _pad(targets, longest)
        for key in LABEL_COLUMNS:
            if all(key in row and row[key] is not None for row in sources):
                batch["labels"] = torch.tensor([int(row[key]) for row in sources], dtype=torch.long)  # (B,)
                break
        return batch


def random_crop(
    features: torch.Tensor, mask: torch.Tensor, max_frames: int, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """A random window of at most ``max_frames`` valid frames of each row of right-padded ``features`` `(B, T, F)`
    with ``mask`` `(B, T)`; returns `(B, min(T, max_frames), F)` features and their mask."""
    lengths = mask.long().sum(dim=1)  # (B,)
    width = min(features.shape[1], max_frames)
    slack = (lengths - width).clamp_min(0)  # (B,)
    offsets = (torch.rand(lengths.shape, generator=generator) * (slack + 1).float()).long().clamp_max(slack)
    index = offsets.to(features.device)[:, None] + torch.arange(width, device=features.device)[None, :]  # (B, W)
    index = index.clamp_max(features.shape[1] - 1)
    cropped = features.gather(1, index[:, :, None].expand(-1, -1, features.shape[2]))
    new_lengths = torch.minimum(lengths, torch.full_like(lengths, width)).to(features.device)
    new_mask = (torch.arange(width, device=features.device)[None, :] < new_lengths[:, None]).to(mask.dtype)
    return cropped * new_mask[:, :, None], new_mask


class _PairEpochCallback(TrainerCallback):
    """Re-draws the target order of :class:`SourceTargetPairs` at the start of every epoch."""

    def __init__(self, pairs: SourceTargetPairs) -> None:
        self.pairs = pairs

    def on_epoch_begin(self, args, state, control, **kwargs):
        self.pairs.set_epoch(int(state.epoch or 0))


class CtlMtNetTrainer(GradientReversalMixin, HfCserTrainer):
    """
    Trainer for [`~hf_cser.models.ctl_mtnet.CtlMtNetForEmotionClassification`], single- and cross-corpus.

    - **Single-corpus** (no `target_dataset`): the model's task loss on each batch: the margin loss for
      ``head="capsule"``, the cross-entropy of f for ``head="linear"`` (the latter without a target is the paper's
      "Algorithm 4", CAAM without MDD).
    - **Cross-corpus** (`target_dataset` given): :class:`SourceTargetPairs` draws labelled source and unlabelled
      target batches together; the loss is ``L_CE - eta * D_gamma`` (module docstring). The target data loses its label
      columns (:func:`strip_label_columns`) before anything else sees it.
    - **GRL**: a :class:`~hf_cser.losses.GrlScheduler` (``warm_start`` from 0 to `grl_coefficient`, or ``constant``)
      is stepped after every optimiser step and pushed into the model's f' (``set_grl_coefficient``).
    - **Logging**: ``margin_loss`` or ``ce_loss``; with MDD also ``mdd_discrepancy`` (D_gamma),
      ``mdd_source_disparity`` (E_s[-log p_s]), ``mdd_target_disparity`` (E_t[log(1 - p_t)]); ``total_loss`` and
      ``grl_coeff``; interval means, ``eval_``-prefixed during evaluation.
    - **Model selection**: on `eval_dataset`, which must be labelled **source** data (the target is never used).
    - **Crops**: `args.max_train_frames` trains on random windows of the utterances (source and target).
    - **Checkpoints**: besides the Trainer's model / optimizer / scheduler / RNG state, each checkpoint holds the
      random-crop generator's state (``crop_rng_state.safetensors``), so a resumed run crops as an uninterrupted one
      and ends with the same weights.

    Args:
        model (`CtlMtNetForEmotionClassification`): with ``use_mdd=True`` when a target dataset is given.
        args (`CtlMtNetTrainingArguments`, *optional*): defaults to ``CtlMtNetTrainingArguments("ctl-mtnet")``.
        train_dataset: labelled source rows (``input_features`` + ``emotion``).
        target_dataset (*optional*): unlabelled target rows (``input_features``; any label column is dropped).
        eval_dataset (*optional*): labelled source validation rows.
        data_collator (`Callable`, *optional*): defaults to :class:`CtlMtNetDataCollator`.
        compute_metrics (`Callable`, *optional*): defaults to :func:`hf_cser.metrics.make_compute_metrics`.
        Other arguments: as [`~transformers.Trainer`].
    """

    _tag_names = ["hf_cser", "ctl-mtnet"]
    auxiliary_keys = CTL_MTNET_AUXILIARY_KEYS
    args_class = CtlMtNetTrainingArguments
    default_output_dir = "ctl-mtnet"
    args_fields = "MDD, GRL and MFCC-crop"

    def __init__(
        self,
        model: PreTrainedModel | nn.Module,
        args: CtlMtNetTrainingArguments | None = None,
        data_collator: Callable | None = None,
        train_dataset: Any | None = None,
        target_dataset: Any | None = None,
        eval_dataset: Any | None = None,
        processing_class: Any | None = None,
        compute_metrics: Callable | None = None,
        callbacks: list[TrainerCallback] | None = None,
        optimizers: tuple = (None, None),
        preprocess_logits_for_metrics: Callable | None = None,
    ) -> None:
        args = self.resolve_args(args)
        config = model.config
        resolved = self.resolve_objective(args, config, _OBJECTIVE_DEFAULTS)
        self.mdd_weight = float(resolved["mdd_weight"])
        self.mdd_loss_fct = MarginDisparityDiscrepancyLoss(margin=float(resolved["mdd_margin"]))
        self.margin_loss_fct = MarginLoss(config.margin_positive, config.margin_negative, config.margin_downweight)
        self.head = config.head
        self.build_grl_scheduler(resolved, args)
        self.uses_target = target_dataset is not None and self.mdd_weight > 0
        if target_dataset is not None and self.mdd_weight > 0 and not getattr(config, "use_mdd", False):
            raise ValueError(
                "A `target_dataset` was given but the model has no auxiliary classifier f': build it with "
                "`CtlMtNetConfig(head='linear', use_mdd=True)`, or train without a target (`--no_mdd` ablation)."
            )
        if target_dataset is not None and not self.uses_target:
            logger.info("CtlMtNetTrainer: `mdd_weight` is 0, so the target dataset is not used.")
        if self.uses_target:
            for name, value in resolved.items():  # the saved config records what training used
                setattr(config, name, value)
            train_dataset = SourceTargetPairs(train_dataset, strip_label_columns(target_dataset), seed=args.seed)
        self._crop_generator = torch.Generator().manual_seed(int(args.seed))
        if data_collator is None:
            data_collator = CtlMtNetDataCollator()
        callbacks = [*(callbacks or []), GrlScheduleCallback(self)]
        if self.uses_target:
            callbacks.append(_PairEpochCallback(train_dataset))
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
            preprocess_logits_for_metrics=preprocess_logits_for_metrics,
        )
        self._push_grl_coefficient()

    def _crop_rng_file(self, checkpoint: str) -> str:
        suffix = f"_{self.args.process_index}" if self.args.world_size > 1 else ""
        return os.path.join(checkpoint, CROP_RNG_NAME.replace(".safetensors", f"{suffix}.safetensors"))

    def _save_rng_state(self, output_dir: str) -> None:
        from safetensors.torch import save_file

        super()._save_rng_state(output_dir)
        save_file({"crop_generator": self._crop_generator.get_state()}, self._crop_rng_file(output_dir))

    def _load_rng_state(self, checkpoint: str | None) -> None:
        from safetensors.torch import load_file

        super()._load_rng_state(checkpoint)
        if checkpoint is not None and os.path.isfile(self._crop_rng_file(checkpoint)):
            self._crop_generator.set_state(load_file(self._crop_rng_file(checkpoint))["crop_generator"])

    def _task_loss(self, outputs: Mapping[str, torch.Tensor], labels: torch.Tensor) -> tuple[str, torch.Tensor]:
        if self.head == "capsule":
            return "margin_loss", self.margin_loss_fct(outputs["capsule_lengths"].float(), labels)
        return "ce_loss", F.cross_entropy(outputs["logits"].float(), labels)

    def compute_loss(
        self,
        model: nn.Module,
        inputs: dict[str, torch.Tensor | Any],
        return_outputs: bool = False,
        num_items_in_batch: torch.Tensor | int | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, Any]:
        """The task loss on the source batch, minus ``eta * D_gamma`` when a target batch comes with it."""
        mode = "train" if self.model.training else "eval"
        inputs = dict(inputs)
        target_features = inputs.pop("target_input_features", None)  # (B_t, T, F)
        target_mask = inputs.pop("target_attention_mask", None)  # (B_t, T)
        labels = inputs.pop("labels", None)  # (B_s,)
        if labels is None:
            raise ValueError("CtlMtNetTrainer.compute_loss needs `labels` (source emotion ids) in the batch.")
        features, mask = inputs["input_features"], inputs["attention_mask"]
        if mode == "train" and self.args.max_train_frames:
            features, mask = random_crop(features, mask, self.args.max_train_frames, self._crop_generator)
            if target_features is not None:
                target_features, target_mask = random_crop(
                    target_features, target_mask, self.args.max_train_frames, self._crop_generator
                )
        with_mdd = mode == "train" and self.uses_target and target_features is not None
        num_source = features.shape[0]
        if with_mdd:
            width = max(features.shape[1], target_features.shape[1])
            features = F.pad(features, (0, 0, 0, width - features.shape[1]))
            mask = F.pad(mask, (0, width - mask.shape[1]))
            target_features = F.pad(target_features, (0, 0, 0, width - target_features.shape[1]))
            target_mask = F.pad(target_mask, (0, width - target_mask.shape[1]))
            joint = model(
                input_features=torch.cat([features, target_features]), attention_mask=torch.cat([mask, target_mask])
            )  # one forward: source and target share the batch-norm statistics
            outputs = {key: value[:num_source] for key, value in joint.items() if torch.is_tensor(value)}
        else:
            outputs = model(input_features=features, attention_mask=mask)
        name, task_loss = self._task_loss(outputs, labels)
        loss = task_loss
        logged: dict[str, torch.Tensor | float] = {name: task_loss.detach()}
        if with_mdd:
            # eq. 7: min_{f, psi} max_{f'} L_CE + eta D_gamma; f' is behind the GRL, so descending on
            # L_CE - eta D_gamma makes f' ascend D_gamma and the features descend it
            mdd = self.mdd_loss_fct(
                joint["logits"][:num_source],
                joint["auxiliary_logits"][:num_source],
                joint["logits"][num_source:],
                joint["auxiliary_logits"][num_source:],
            )
            loss = loss - self.mdd_weight * mdd.discrepancy
            logged["mdd_discrepancy"] = mdd.discrepancy.detach()
            logged["mdd_source_disparity"] = mdd.source_disparity.detach()
            logged["mdd_target_disparity"] = mdd.target_disparity.detach()
        logged["total_loss"] = loss.detach()
        if with_mdd:
            logged["grl_coeff"] = self.grl_scheduler.coeff  # the coefficient this forward used
        self._record_loss_components(mode, logged)
        return (loss, outputs) if return_outputs else loss


__all__ = [
    "CTL_MTNET_AUXILIARY_KEYS",
    "CtlMtNetDataCollator",
    "CtlMtNetTrainer",
    "LABEL_COLUMNS",
    "SourceTargetPairs",
    "random_crop",
    "strip_label_columns",
]
