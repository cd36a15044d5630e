"""Trainer for zero-shot cross-lingual SER with language-aware supervised contrastive learning and speaker
adversarial training (METHODS.md section 2, ``papers/001_c563226e57dc2b3b.txt``).

The objective (the paper's equations were lost; our reconstruction of the text) is

    L = L_CE + lambda1 * L_SCL + lambda2 * L_adv,

``L_CE`` the model's emotion cross-entropy, ``L_SCL`` the :class:`~hf_cser.losses.LanguageAwareSupConLoss` on the
pooled embeddings with emotion labels and language ids, and ``L_adv`` the speaker cross-entropy of the speaker head
behind the gradient reversal layer (the encoder gets the reversed gradient). Batches come from the
:class:`~hf_cser.data.HierarchicalLanguageEmotionSampler` (``L`` languages x ``E`` emotions x ``K`` samples).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader
from transformers import PreTrainedModel, TrainerCallback
from transformers.trainer_utils import seed_worker
from transformers.utils import logging

from ..data.leakage import check_no_target_rows, dataset_languages
from ..data.sampler import HierarchicalLanguageEmotionSampler
from ..losses import LanguageAwareSupConLoss
from .base import GradientReversalMixin, GrlScheduleCallback, HfCserTrainer
from .checkpointing import SamplerEpochCallback
from .zero_shot_arguments import ZeroShotTrainingArguments

logger = logging.get_logger(__name__)

# Batch keys the trainer consumes itself; they never reach the model's forward.
ZERO_SHOT_AUXILIARY_KEYS = ("speaker_labels", "language_ids")
IGNORE_INDEX = -100

# Used when neither the training arguments nor the model config set a value (same as ZeroShotConfig's defaults).
_OBJECTIVE_DEFAULTS = {
    "scl_weight": 1.0,
    "adversarial_weight": 0.1,
    "scl_temperature": 0.07,
    "scl_gamma": 0.5,
    "grl_coefficient": 1.0,
    "grl_schedule": "constant",
}


def build_speaker_map(train_dataset: Any, speaker_column: str = "speaker") -> dict[str, int]:
    """``{speaker: id}`` over the **train** rows only, sorted, so eval and target speakers never get an id."""
    column_names = getattr(train_dataset, "column_names", None)
    if column_names is not None and speaker_column not in column_names:
        raise ValueError(f"The train dataset has no {speaker_column!r} column; its columns are {column_names}.")
    if column_names is not None:
        speakers = train_dataset[speaker_column]
    else:
        speakers = [row[speaker_column] for row in train_dataset]
    return {speaker: i for i, speaker in enumerate(sorted({str(s) for s in speakers}))}


def _stable_language_id(language: str) -> int:
    return -1 - (zlib.crc32(language.encode("utf-8")) & 0x3FFFFFFF)  # negative: never a known language's id


@dataclass
class ZeroShotDataCollator:
    """Pads raw 16 kHz waveforms and adds the ids the zero-shot objective needs.

    Each row holds a waveform (``input_values``, or a decoded ``audio`` dict with an ``array``), an emotion
    (``labels``, ``label`` or ``emotion``, class id), a ``language`` and a ``speaker``. The batch has

    - ``input_values`` (`torch.FloatTensor` of shape `(batch_size, max_len)`), zero-padded on the right;
    - ``attention_mask`` (`torch.LongTensor` of shape `(batch_size, max_len)`), 1 on real samples;
    - ``labels`` (`torch.LongTensor` of shape `(batch_size,)`), absent when rows have no emotion;
    - ``speaker_labels`` (`torch.LongTensor` of shape `(batch_size,)`): ``speaker_map[speaker]``, ``-100`` (ignored by
      the adversarial loss) for speakers not in the map;
    - ``language_ids`` (`torch.LongTensor` of shape `(batch_size,)`): index in ``languages``; a language not listed
      gets a stable negative id (only equality matters to the contrastive loss).

    Args:
        speaker_map (`dict[str, int]`): speaker name -> id, built from the **train** split only
            (:func:`build_speaker_map`).
        languages (`Sequence[str]`, *optional*): known languages, in id order (the trainer passes the sorted train
            languages).
        max_length (`int`, *optional*): crop waveforms to this many samples (library option; `None` keeps them whole).
    """

    speaker_map: dict[str, int] = field(default_factory=dict)
    languages: Sequence[str] = ()
    max_length: int | None = None

    def __post_init__(self):
        self._language_index = {str(lang): i for i, lang in enumerate(self.languages)}

    @staticmethod
    def _waveform(row: Mapping[str, Any]) -> np.ndarray:
        if "input_values" in row:
            wav = row["input_values"]
        elif isinstance(row.get("audio"), Mapping) and "array" in row["audio"]:
            wav = row["audio"]["array"]
        else:
            raise ValueError(
                f"A row has neither `input_values` nor a decoded `audio` dict (keys: {sorted(row)}); decode the audio "
                "first, e.g. with `hf_cser.data.with_decoded_audio`."
            )
        wav = torch.as_tensor(np.asarray(wav, dtype=np.float32))
        if wav.ndim != 1:
            raise ValueError(f"`input_values` must be a mono waveform (1-D), got shape {tuple(wav.shape)}.")
        return wav

    def __call__(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        rows = list(rows)
        waves = [self._waveform(row) for row in rows]
        if self.max_length is not None:
            waves = [w[: self.max_length] for w in waves]
        max_len = max(int(w.shape[0]) for w in waves)
        input_values = torch.zeros(len(rows), max_len, dtype=torch.float32)  # (B, T)
        attention_mask = torch.zeros(len(rows), max_len, dtype=torch.long)  # (B, T)
        for i, wav in enumerate(waves):
            input_values[i, : wav.shape[0]] = wav
            attention_mask[i, : wav.shape[0]] = 1
        batch: dict[str, torch.Tensor] = {"input_values": input_values, "attention_mask": attention_mask}
        return self._add_targets(batch, rows)

    def _add_targets(self, batch: dict[str, torch.Tensor], rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """Add ``labels``, ``speaker_labels`` and ``language_ids`` from the rows (each when every row has it)."""
        for key in ("labels", "label", "emotion"):
            if all(key in row and row[key] is not None for row in rows):
                batch["labels"] = torch.tensor([int(row[key]) for row in rows], dtype=torch.long)  # (B,)
                break
        if all("speaker" in row for row in rows):
            batch["speaker_labels"] = torch.tensor(
                [self.speaker_map.get(str(row["speaker"]), IGNORE_INDEX) for row in rows], dtype=torch.long
            )  # (B,)
        if all("language" in row for row in rows):
            languages = [str(row["language"]) for row in rows]
            batch["language_ids"] = torch.tensor(
                [self._language_index.get(lang, _stable_language_id(lang)) for lang in languages], dtype=torch.long
            )  # (B,)
        return batch


class ZeroShotTrainer(GradientReversalMixin, HfCserTrainer):
    """
    Trainer for zero-shot cross-lingual SER (:class:`hf_cser.models.zero_shot.ZeroShotForEmotionClassification`).

    - **Batches**: the train dataloader draws batches with :class:`~hf_cser.data.HierarchicalLanguageEmotionSampler`
      over the train dataset's ``language`` and ``emotion`` columns (``L x E x K`` samples, seeded by ``args.seed``,
      ``set_epoch`` every epoch). The sampler is built with ``num_replicas=1, rank=0`` and Accelerate shards the global
      batches across processes (each rank gets distinct batches).
    - **Loss**: ``L_CE + lambda1 * L_SCL(embeddings, labels, language_ids) + lambda2 * CE(speaker_logits,
      speaker_labels, ignore_index=-100)``. A weight of 0 skips its term entirely (the "w/o SCL" and
      "w/o adversarial" ablations). Weights, tau, gamma and the GRL schedule come from the training arguments, or
      from the model config where those are `None`; the config is updated with what training used.
    - **GRL**: a :class:`~hf_cser.losses.GrlScheduler` (``constant`` or ``warm_start`` from 0 to ``grl_coefficient``
      over the run's optimiser steps) is stepped after every optimiser step and its coefficient is pushed into the
      model with ``set_grl_coefficient``.
    - **Logging**: ``ce_loss``, ``scl_loss``, ``adv_loss`` (active terms only), ``total_loss`` and ``grl_coeff`` (the
      coefficient the step's forward used), averaged over the logging interval and over processes;
      ``eval_``-prefixed during evaluation (no ``grl_coeff`` there).
    - **Speakers**: the speaker map is built from the **train** rows only (sorted); eval / unseen speakers get
      ``-100`` and are ignored by the adversarial loss. A batch with no known speaker has ``adv_loss = 0``.
    - **Leak guard**: with ``args.target_languages``, train or eval rows of a target language raise
      :class:`~hf_cser.data.TargetLeakageError` (unless ``args.upper_bound``).

    Args:
        model (`PreTrainedModel`):
            Forward ``(input_values, attention_mask=None, labels=None)`` returning ``loss`` (CE), ``logits``,
            ``embeddings`` `(B, H)` and ``speaker_logits`` `(B, num_speakers)`; ``set_grl_coefficient(value)``.
        args (`ZeroShotTrainingArguments`, *optional*):
            Defaults to `ZeroShotTrainingArguments(output_dir="zero-shot-trainer")`.
        data_collator (`Callable`, *optional*):
            Defaults to a :class:`ZeroShotDataCollator` with the train speaker map and languages.
        train_dataset (`datasets.Dataset`, *optional*):
            Rows with a waveform (``input_values`` or decoded ``audio``), ``emotion``, ``language`` and ``speaker``.
        eval_dataset (`datasets.Dataset` or `dict`, *optional*):
            The validation rows of the training languages (model selection; never the target).
        speaker_map (`dict[str, int]`, *optional*):
            Speaker name -> id; defaults to :func:`build_speaker_map` of the train dataset.
        compute_metrics (`Callable`, *optional*):
            Defaults to :func:`hf_cser.metrics.make_compute_metrics` (``uar``, ``war``, ``macro_f1``).
        Other arguments: as [`~transformers.Trainer`].
    """

    _tag_names = ["hf_cser", "zero-shot-ser"]
    auxiliary_keys = ZERO_SHOT_AUXILIARY_KEYS
    args_class = ZeroShotTrainingArguments
    default_output_dir = "zero-shot-trainer"
    args_fields = "sampler, loss-weight, GRL and leak-guard"

    def __init__(
        self,
        model: PreTrainedModel | nn.Module,
        args: ZeroShotTrainingArguments | None = None,
        data_collator: Callable | None = None,
        train_dataset: Any | None = None,
        eval_dataset: Any | None = None,
        processing_class: Any | None = None,
        compute_metrics: Callable | None = None,
        callbacks: list[TrainerCallback] | None = None,
        optimizers: tuple = (None, None),
        optimizer_cls_and_kwargs: tuple[type[torch.optim.Optimizer], dict[str, Any]] | None = None,
        preprocess_logits_for_metrics: Callable | None = None,
        speaker_map: Mapping[str, int] | None = None,
    ) -> None:
        args = self.resolve_args(args)
        if args.target_languages and not args.upper_bound:
            check_no_target_rows({"train_dataset": train_dataset, "eval_dataset": eval_dataset}, args.target_languages)

        # Objective: training args override the model config, which overrides the library defaults.
        config = getattr(model, "config", None)
        resolved = self.resolve_objective(args, config, _OBJECTIVE_DEFAULTS)
        self.scl_weight = float(resolved["scl_weight"])
        self.adversarial_weight = float(resolved["adversarial_weight"])
        self.scl_loss_fct = LanguageAwareSupConLoss(
            temperature=float(resolved["scl_temperature"]), gamma=float(resolved["scl_gamma"])
        )
        self.build_grl_scheduler(resolved, args)
        self.record_objective(config, resolved)  # the saved config records what training used

        self.speaker_map = (
            dict(speaker_map)
            if speaker_map is not None
            else (build_speaker_map(train_dataset) if train_dataset is not None else {})
        )
        num_speakers = getattr(config, "num_speakers", None)
        if self.adversarial_weight > 0 and num_speakers is not None and len(self.speaker_map) > num_speakers:
            raise ValueError(
                f"The train data has {len(self.speaker_map)} speakers but the model's `num_speakers` is "
                f"{num_speakers}; build the model with `num_speakers={len(self.speaker_map)}`."
            )
        train_languages = sorted(dataset_languages(train_dataset) or ()) if train_dataset is not None else []
        if data_collator is None:
            data_collator = ZeroShotDataCollator(speaker_map=self.speaker_map, languages=train_languages)
        # SamplerEpochCallback: a resumed epoch draws the same batches as an uninterrupted one
        callbacks = [*(callbacks or []), GrlScheduleCallback(self), SamplerEpochCallback()]

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
        self._push_grl_coefficient()

    # ---- data ----

    def get_train_dataloader(self) -> DataLoader:
        """Batches of the :class:`HierarchicalLanguageEmotionSampler` (global batches, sharded by Accelerate)."""
        if self.train_dataset is None:
            raise ValueError("ZeroShotTrainer: training requires a train_dataset.")
        args = self.args
        sampler = HierarchicalLanguageEmotionSampler(
            dataset=self.train_dataset,
            languages_per_batch=args.languages_per_batch,
            emotions_per_batch=args.emotions_per_batch,
            samples_per_cell=args.samples_per_cell,
            seed=args.seed,
            num_replicas=1,  # Accelerate's BatchSamplerShard shards; see the sampler's docstring
            rank=0,
        )
        params: dict[str, Any] = {
            "batch_sampler": sampler,
            "collate_fn": self.data_collator,
            "num_workers": args.dataloader_num_workers,
            "pin_memory": args.dataloader_pin_memory,
            "persistent_workers": args.dataloader_persistent_workers,
            "worker_init_fn": partial(seed_worker, num_workers=args.dataloader_num_workers, rank=args.process_index),
        }
        if args.dataloader_num_workers > 0 and args.dataloader_prefetch_factor is not None:
            params["prefetch_factor"] = args.dataloader_prefetch_factor
        return self.accelerator.prepare(DataLoader(self.train_dataset, **params))

    # ---- GRL ----

    def grl_missing_message(self) -> str | None:
        if self.adversarial_weight > 0:
            return "the speaker-adversarial term needs it (or train with `adversarial_weight=0`)."
        return None

    # ---- loss ----

    def compute_loss(
        self,
        model: nn.Module,
        inputs: dict[str, torch.Tensor | Any],
        return_outputs: bool = False,
        num_items_in_batch: torch.Tensor | int | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, Any]:
        """``L = L_CE + lambda1 * L_SCL + lambda2 * L_adv``, logging every term.

        ``num_items_in_batch`` is accepted for the Trainer's signature and unused: every term is a per-batch mean.
        """
        mode = "train" if self.model.training else "eval"
        inputs = dict(inputs)
        speaker_labels = inputs.pop("speaker_labels", None)  # (B,)
        language_ids = inputs.pop("language_ids", None)  # (B,)
        labels = inputs.get("labels")  # (B,)
        if labels is None:
            raise ValueError("ZeroShotTrainer.compute_loss needs `labels` (emotion ids) in the batch.")

        outputs = model(**inputs)
        ce_loss = outputs["loss"] if isinstance(outputs, Mapping) else outputs[0]
        loss = ce_loss
        logged: dict[str, torch.Tensor | float] = {"ce_loss": ce_loss.detach()}
        terms: list[tuple[str, float, Callable[[], torch.Tensor]]] = [
            ("scl", self.scl_weight, lambda: self._scl_loss(outputs, labels, language_ids)),
            ("adv", self.adversarial_weight, lambda: self._adversarial_loss(outputs, speaker_labels)),
        ]
        for name, weight, term_fn in terms:
            if weight == 0:  # ablation: the term is not computed at all
                continue
            term = term_fn()
            loss = loss + weight * term
            logged[f"{name}_loss"] = term.detach()
        logged["total_loss"] = loss.detach()
        if mode == "train":
            logged["grl_coeff"] = self.grl_scheduler.coeff  # the coefficient this forward used
        self._record_loss_components(mode, logged)
        return (loss, outputs) if return_outputs else loss

    def _scl_loss(self, outputs, labels: torch.Tensor, language_ids: torch.Tensor | None) -> torch.Tensor:
        embeddings = outputs["embeddings"] if isinstance(outputs, Mapping) else getattr(outputs, "embeddings", None)
        if embeddings is None:
            raise ValueError("`scl_weight` > 0 needs the model to return `embeddings` (B, H).")
        return self.scl_loss_fct(embeddings, labels, language_ids)  # (B, H), (B,), (B,)

    def _adversarial_loss(self, outputs, speaker_labels: torch.Tensor | None) -> torch.Tensor:
        logits = outputs.get("speaker_logits") if isinstance(outputs, Mapping) else None
        if logits is None:
            raise ValueError(
                "`adversarial_weight` > 0 needs the model to return `speaker_logits` (build it with "
                "`num_speakers` > 0)."
            )
        if speaker_labels is None or not bool((speaker_labels != IGNORE_INDEX).any()):
            return logits.sum() * 0.0  # no known speaker in the batch (e.g. eval speakers): zero, graph kept
        return F.cross_entropy(logits.float(), speaker_labels, ignore_index=IGNORE_INDEX)  # (B, S), (B,)
