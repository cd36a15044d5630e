"""Trainer for SAPA, speaker-style aware phoneme anchoring (``papers/000_969dc1c303db022e.txt``, section 3).

The objective is equation 8 of the paper,

    L_total = L_SER + lambda1 * L_p + lambda2 * L_s,

where ``L_SER`` is the model's cross-entropy, ``L_p`` the phoneme-space triplet loss (equation 4) on the content
embeddings of phoneme-centred windows and ``L_s`` the speaker-space triplet loss (equation 5) on utterance speaker
embeddings. The trainer is modelled on trl's ``RewardTrainer``: it computes its own loss in :meth:`compute_loss`,
accumulates every loss component per step and emits their interval means in :meth:`log` (``eval_``-prefixed during
evaluation).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from transformers import PreTrainedModel, TrainerCallback
from transformers.utils import logging

from ..data.leakage import check_no_target_language_leak, dataset_languages  # noqa: F401  (re-exported)
from ..losses import PhonemeTripletLoss, SpeakerTripletLoss
from .base import HfCserTrainer
from .checkpointing import SamplerEpochCallback
from .sapa_arguments import FUSED_VARIANTS, SAPA_VARIANTS, SapaTrainingArguments

logger = logging.get_logger(__name__)

# Batch keys the trainer consumes itself; they never reach the model's forward.
AUXILIARY_KEYS = ("cluster_ids", "speaker_ids", "window_phones", "metadata")

# Which anchoring losses each variant trains with (Table 4 of the paper).
VARIANT_LOSSES: dict[str, tuple[bool, bool]] = {  # variant -> (phoneme loss L_p, speaker loss L_s)
    "sapa": (True, True),
    "sapa_only_p": (True, False),
    "sapa_only_s": (False, True),
    "only_s": (False, False),
    "only_p": (False, False),
}

# Paper values, used when neither the training arguments nor the model config set them.
_PAPER_DEFAULTS = {
    "phoneme_loss_weight": 0.5,  # lambda1, equation 8
    "speaker_loss_weight": 0.5,  # lambda2, equation 8
    "phoneme_margin": 0.4,  # alpha, equation 4
    "speaker_margin": 0.6,  # beta, equation 5
}


def stable_speaker_id(speaker: Hashable) -> int:
    """An integer id for a speaker name that is the same in every process and dataloader worker (CRC-32)."""
    if isinstance(speaker, (int,)) or (torch.is_tensor(speaker) and not speaker.is_floating_point()):
        return int(speaker)
    return zlib.crc32(str(speaker).encode("utf-8"))


def _default_base_collator() -> Callable[[list[dict[str, Any]]], dict[str, torch.Tensor]]:
    from ..models.sapa.feature_cache import collate_window_features

    return collate_window_features


@dataclass
class SapaDataCollator:
    """Collates cached SAPA feature rows and adds the per-sample ids the anchoring losses need.

    The window features are padded by ``base_collator`` (default
    :func:`hf_cser.models.sapa.feature_cache.collate_window_features`: ``content_features``, ``speaker_features``,
    ``window_mask``, ``window_phones``, ``labels``). On top of that the batch gets

    - ``speaker_ids`` (`torch.LongTensor` of shape `(batch_size,)`): from each row's ``speaker_id`` (int) or, failing
      that, its ``speaker`` name (hashed with :func:`stable_speaker_id`, only equality matters); absent when rows carry
      neither;
    - ``cluster_ids`` (`torch.LongTensor` of shape `(batch_size,)`): from each row's ``cluster_id`` or, failing that,
      ``speaker_graph.cluster_ids_for(speakers, labels)``; ``-1`` (in no triplet) when neither is available.

    Args:
        speaker_graph (`SpeakerStyleGraph`, *optional*):
            A fitted :class:`hf_cser.analysis.speaker_graph.SpeakerStyleGraph`, used when rows have no ``cluster_id``.
            Rows then need a ``speaker`` (or ``speaker_id``) with the ids the graph was fitted on.
        base_collator (`Callable`, *optional*):
            Pads the feature rows; defaults to ``collate_window_features``.
    """

    speaker_graph: Any | None = None
    base_collator: Callable[[list[dict[str, Any]]], dict[str, torch.Tensor]] | None = None

    def __call__(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        rows = list(rows)
        base_collator = self.base_collator or _default_base_collator()
        own_keys = ("cluster_id", "speaker_id")
        batch = dict(base_collator([{k: v for k, v in row.items() if k not in own_keys} for row in rows]))
        labels = batch.get("labels")  # (B,), absent for unlabelled rows

        speakers: list | None = None
        if all("speaker_id" in row for row in rows):
            speakers = [row["speaker_id"] for row in rows]
        elif all("speaker" in row for row in rows):
            speakers = [row["speaker"] for row in rows]
        if speakers is not None:
            batch["speaker_ids"] = torch.tensor([stable_speaker_id(s) for s in speakers], dtype=torch.long)

        if all("cluster_id" in row for row in rows):
            cluster_ids = torch.tensor([int(row["cluster_id"]) for row in rows], dtype=torch.long)
        elif self.speaker_graph is not None and speakers is not None and labels is not None:
            speaker_keys = [s.item() if torch.is_tensor(s) else s for s in speakers]
            cluster_ids = torch.as_tensor(self.speaker_graph.cluster_ids_for(speaker_keys, labels.tolist()))
        else:
            cluster_ids = torch.full((len(rows),), -1, dtype=torch.long)
        batch["cluster_ids"] = cluster_ids.long()
        return batch


class SapaTrainer(HfCserTrainer):
    """
    Trainer for SAPA models (:class:`hf_cser.models.sapa.SapaForEmotionClassification`).

    The loss is equation 8 of the paper, ``L_SER + lambda1 * L_p + lambda2 * L_s``; the variant decides which
    anchoring terms are on (``sapa``: both, ``sapa_only_p``: ``L_p``, ``sapa_only_s``: ``L_s``, ``only_s`` /
    ``only_p``: cross-entropy only).

    - ``L_p`` (:class:`hf_cser.losses.PhonemeTripletLoss`) runs on the **window-level** content embeddings: every
      valid window of the batch (``window_mask``) is one sample, with its shared phone id from ``window_phones`` and
      the emotion and speaker-style cluster of its utterance. Windows without a phone id (``-1``) are in no triplet
      and are dropped first (exact; when no window of the batch is aligned, the loss's own emotion + cluster fallback
      applies).
    - ``L_s`` (:class:`hf_cser.losses.SpeakerTripletLoss`) runs on the utterance-level speaker embeddings with
      ``cluster_ids`` and ``speaker_ids``.

    Every term is logged (``ce_loss``, ``phoneme_triplet_loss``, ``speaker_triplet_loss``, ``total_loss``, and per
    anchoring loss ``*_active_fraction`` = active / valid triplets and ``*_valid_triplets``), averaged over the logging
    interval; losses are means over processes, counts sums. Evaluation logs the same keys with an ``eval_`` prefix
    (the ``metric_key_prefix``), and ``predict`` adds them to its metrics. Under data parallelism each process mines
    triplets within its own batch and DDP averages the gradients, the usual per-device-batch triplet semantics.

    Model selection uses the eval dataset only (``metric_for_best_model="uar"`` by default), which must be the
    **source-language validation set**: the target language is never used for selection. Pass ``target_languages``
    to have the trainer check this.

    Args:
        model (`PreTrainedModel`):
            The SAPA model. Its forward takes ``content_features``, ``speaker_features``, ``window_mask`` and
            ``labels`` and returns ``loss`` (cross-entropy), ``logits``, ``speaker_embeddings`` and
            ``window_content_embeddings`` (plus ``window_mask``).
        args (`SapaTrainingArguments`, *optional*):
            Training arguments; defaults to `SapaTrainingArguments(output_dir="sapa-trainer")`.
        data_collator (`Callable`, *optional*):
            Defaults to :class:`SapaDataCollator` (``collate_window_features`` plus ``cluster_ids`` and
            ``speaker_ids``). A custom collator must produce ``labels``, the model inputs and, for the anchoring
            losses, ``cluster_ids`` (B,), ``speaker_ids`` (B,) and ``window_phones`` (B, N).
        train_dataset, eval_dataset:
            Rows of cached window features (:mod:`hf_cser.models.sapa.feature_cache`), each with ``labels`` and either
            ``cluster_id`` / ``speaker_id`` columns or a ``speaker`` plus ``speaker_graph``.
        speaker_graph (`SpeakerStyleGraph`, *optional*):
            Fitted speaker-style graphs; gives the default collator the cluster ids of rows without ``cluster_id``.
        target_languages (`Sequence[str]`, *optional*):
            Leak guard: raise if an eval dataset holds rows whose ``language`` is one of these.
        compute_metrics (`Callable`, *optional*):
            Defaults to :func:`hf_cser.metrics.make_compute_metrics` (``uar``, ``war``, ``macro_f1``).
        callbacks, optimizers, optimizer_cls_and_kwargs, processing_class, preprocess_logits_for_metrics:
            As in [`~transformers.Trainer`]. An `EarlyStoppingCallback` is added from
            `args.early_stopping_patience`; with `args.coupled_weight_decay` (default) and no optimizer given, the
            optimizer is `torch.optim.Adam` with coupled L2 weight decay (our reading of the paper).
    """

    _tag_names = ["hf_cser", "sapa"]
    auxiliary_keys = AUXILIARY_KEYS
    args_class = SapaTrainingArguments
    default_output_dir = "sapa-trainer"
    args_fields = "SAPA loss, early-stopping and optimiser"

    def __init__(
        self,
        model: PreTrainedModel | nn.Module,
        args: SapaTrainingArguments | None = None,
        data_collator: Callable | None = None,
        train_dataset: Any | None = None,
        eval_dataset: Any | None = None,
        processing_class: Any | None = None,
        compute_metrics: Callable | None = None,
        callbacks: list[TrainerCallback] | None = None,
        optimizers: tuple = (None, None),
        optimizer_cls_and_kwargs: tuple[type[torch.optim.Optimizer], dict[str, Any]] | None = None,
        preprocess_logits_for_metrics: Callable | None = None,
        speaker_graph: Any | None = None,
        target_languages: Sequence[str] | None = None,
    ) -> None:
        args = self.resolve_args(args)
        if target_languages is not None and eval_dataset is not None:
            check_no_target_language_leak(eval_dataset, target_languages)
        self.target_languages = tuple(target_languages) if target_languages is not None else None

        # SAPA objective: which terms, with which weights and margins (training args override the model config).
        config = getattr(model, "config", None)
        config_variant = getattr(config, "variant", "sapa")
        variant = args.variant or config_variant
        if variant not in SAPA_VARIANTS:
            raise ValueError(f"The model config's `variant` must be one of {SAPA_VARIANTS}, got {variant!r}.")
        if variant != config_variant and not (variant in FUSED_VARIANTS and config_variant in FUSED_VARIANTS):
            raise ValueError(
                f"`variant={variant!r}` cannot override the model's `variant={config_variant!r}`: only the fused "
                f"variants {FUSED_VARIANTS} share one architecture. Build the model with `variant={variant!r}`."
            )
        self.variant = variant
        self.use_phoneme_loss, self.use_speaker_loss = VARIANT_LOSSES[variant]
        resolved = {
            name: float(value) for name, value in self.resolve_objective(args, config, _PAPER_DEFAULTS).items()
        }
        self.phoneme_loss_weight = resolved["phoneme_loss_weight"]
        self.speaker_loss_weight = resolved["speaker_loss_weight"]
        self.phoneme_loss_fct = PhonemeTripletLoss(margin=resolved["phoneme_margin"], mining=args.triplet_mining)
        self.speaker_loss_fct = SpeakerTripletLoss(margin=resolved["speaker_margin"], mining=args.triplet_mining)
        self.record_objective(config, {"variant": variant, **resolved})  # the saved config records what training used

        if data_collator is None:
            data_collator = SapaDataCollator(speaker_graph=speaker_graph)
        # a resumed epoch draws the same batches as an uninterrupted one; early stopping: added by the base class
        callbacks = [*(callbacks or []), SamplerEpochCallback()]
        if args.coupled_weight_decay and optimizers == (None, None) and optimizer_cls_and_kwargs is None:
            # Paper: "Adam ... learning rate 0.0001, decay factor 0.001". Our reading: L2 decay coupled into Adam.
            # The Trainer still builds the parameter groups (no decay on biases and normalisation weights).
            optimizer_cls_and_kwargs = (
                torch.optim.Adam,
                {"lr": args.learning_rate, "betas": (args.adam_beta1, args.adam_beta2), "eps": args.adam_epsilon},
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

    # ---- loss ----

    def _phoneme_triplet_loss(self, outputs, inputs, labels, cluster_ids, window_phones):
        """``L_p`` over the valid windows of the batch (equation 4)."""
        embeddings = getattr(outputs, "window_content_embeddings", None)  # (B, N, d_c)
        if embeddings is None:
            raise ValueError(
                f"variant {self.variant!r} trains the phoneme loss L_p, but the model returned no "
                "`window_content_embeddings`."
            )
        window_mask = getattr(outputs, "window_mask", None)
        if window_mask is None:
            window_mask = inputs["window_mask"]
        window_mask = window_mask.bool()  # (B, N)
        batch_size, num_windows = window_mask.shape
        if window_phones is None:
            window_phones = torch.full_like(window_mask, -1, dtype=torch.long)
        keep = window_mask & (window_phones >= 0)  # windows with a shared phone id
        if not bool(keep.any()):  # no alignment in the batch: the loss falls back to emotion + cluster rules
            keep = window_mask
        emotions = labels.unsqueeze(1).expand(batch_size, num_windows)  # (B, N)
        clusters = cluster_ids.unsqueeze(1).expand(batch_size, num_windows)  # (B, N)
        return self.phoneme_loss_fct(
            self._triplet_space(embeddings[keep]),  # (M, d_c)
            emotions[keep],  # (M,)
            clusters[keep],  # (M,)
            phone_ids=window_phones[keep],  # (M,)
            return_stats=True,
        )

    def _speaker_triplet_loss(self, outputs, cluster_ids, speaker_ids):
        """``L_s`` over the utterances of the batch (equation 5)."""
        embeddings = getattr(outputs, "speaker_embeddings", None)  # (B, d_s)
        if embeddings is None:
            raise ValueError(
                f"variant {self.variant!r} trains the speaker loss L_s, but the model returned no "
                "`speaker_embeddings`."
            )
        return self.speaker_loss_fct(
            self._triplet_space(embeddings), cluster_ids, speaker_ids=speaker_ids, return_stats=True
        )

    def _triplet_space(self, embeddings: torch.Tensor) -> torch.Tensor:
        """The embeddings the triplet distances use: raw (paper) or L2-normalised (`triplet_l2_normalize`)."""
        if getattr(self.args, "triplet_l2_normalize", False):
            return torch.nn.functional.normalize(embeddings, dim=-1)
        return embeddings

    def compute_loss(
        self,
        model: nn.Module,
        inputs: dict[str, torch.Tensor | Any],
        return_outputs: bool = False,
        num_items_in_batch: torch.Tensor | int | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, Any]:
        """``L_total = L_SER + lambda1 * L_p + lambda2 * L_s`` (equation 8), logging every term.

        ``num_items_in_batch`` is accepted for the Trainer's signature and unused: every term is a per-batch mean.
        """
        mode = "train" if self.model.training else "eval"
        inputs = dict(inputs)
        cluster_ids = inputs.pop("cluster_ids", None)  # (B,)
        speaker_ids = inputs.pop("speaker_ids", None)  # (B,)
        window_phones = inputs.pop("window_phones", None)  # (B, N)
        inputs.pop("metadata", None)  # string lists of the feature cache (speaker, language, ...)
        labels = inputs.get("labels")  # (B,)
        if labels is None:
            raise ValueError("SapaTrainer.compute_loss needs `labels` (emotion ids) in the batch.")
        if cluster_ids is None:
            cluster_ids = torch.full_like(labels, -1)  # no cluster known: the triplet losses are zero

        outputs = model(**inputs)
        ce_loss = outputs["loss"] if isinstance(outputs, Mapping) else outputs[0]
        loss = ce_loss
        logged: dict[str, torch.Tensor] = {"ce_loss": ce_loss.detach()}
        counts: dict[str, torch.Tensor] = {}
        anchoring = []  # (name, weight, (loss, stats)) of the active anchoring terms
        if self.use_phoneme_loss:
            term = self._phoneme_triplet_loss(outputs, inputs, labels, cluster_ids, window_phones)
            anchoring.append(("phoneme_triplet", self.phoneme_loss_weight, term))
        if self.use_speaker_loss:
            term = self._speaker_triplet_loss(outputs, cluster_ids, speaker_ids)
            anchoring.append(("speaker_triplet", self.speaker_loss_weight, term))
        for name, weight, (term, stats) in anchoring:
            loss = loss + weight * term  # equation 8
            logged[f"{name}_loss"] = term.detach()
            counts[name] = torch.tensor([stats.num_active_triplets, stats.num_valid_triplets], device=ce_loss.device)
        logged["total_loss"] = loss.detach()
        self._record_metrics(mode, logged, counts)
        return (loss, outputs) if return_outputs else loss

    def _record_metrics(self, mode: str, losses: dict[str, torch.Tensor], counts: dict[str, torch.Tensor]) -> None:
        """Average the loss terms over processes (one gather per step) and store them for :meth:`log`."""
        names = list(losses)
        device = next(iter(losses.values())).device
        # float64 keeps triplet counts exact (batch_all counts reach B^3); MPS has no float64.
        dtype = torch.float32 if device.type == "mps" else torch.float64
        values = torch.stack([losses[n].to(dtype) for n in names])  # (K,)
        if counts:
            values = torch.cat([values] + [counts[n].to(dtype) for n in counts])  # (K + 2 * num_terms,)
        gathered = self.accelerator.gather(values.unsqueeze(0)).reshape(-1, values.shape[0]).cpu()  # (world, ...)
        means = gathered.mean(dim=0)
        for i, name in enumerate(names):
            self._metrics[mode][name].append(means[i].item())
        sums = gathered.sum(dim=0)
        for j, name in enumerate(counts):
            active, valid = sums[len(names) + 2 * j].item(), sums[len(names) + 2 * j + 1].item()
            self._metrics[mode][f"{name}_active_fraction"].append(active / valid if valid else 0.0)
            self._metrics[mode][f"{name}_valid_triplets"].append(valid)
