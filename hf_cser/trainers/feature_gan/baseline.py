"""Stage 1 of the feature-generation method (``papers/004``): [`FeatureGanBaselineTrainer`], a `transformers.Trainer`
for L = L_SER + alpha L_CL + beta L_MI (eq. 7), every term logged, and the class weights shared with stage 3."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from transformers import TrainingArguments
from transformers.utils import logging

from ...losses.contrastive import ClapContrastiveLoss, info_nce_loss
from ..base import HfCserTrainer
from ..launch import apply_device_launch_rules

logger = logging.get_logger(__name__)


def inverse_frequency_class_weights(labels: Sequence[int] | torch.Tensor, num_labels: int) -> list[float]:
    """Cross-entropy class weights inversely proportional to the class counts (paper section 4.2.3), scaled so that
    a balanced set gets weight 1: ``w_c = N / (K * n_c)``. A class without samples gets the largest weight present."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64).reshape(-1), minlength=num_labels)[:num_labels]
    if counts.sum() == 0:
        raise ValueError("`labels` is empty: class weights need at least one labelled sample.")
    weights = counts.sum() / (num_labels * np.maximum(counts, 1).astype(np.float64))
    weights[counts == 0] = weights[counts > 0].max()
    return weights.astype(float).tolist()


@dataclass
class FeatureGanTrainingArguments(TrainingArguments):
    r"""
    [`~transformers.TrainingArguments`] of stage 1 (the aligned baseline).

    Args:
        class_weighted_loss (`bool`, *optional*, defaults to `False`):
            Weight the cross-entropy by inverse class frequency of the training set (paper: on for the imbalanced
            MSP-IMPROV / MSP-Podcast); the weights are stored in the model config.
    """

    class_weighted_loss: bool = field(
        default=False, metadata={"help": "Inverse-frequency class weights in the cross-entropy (imbalanced corpora)."}
    )
    remove_unused_columns: bool = field(default=False, metadata={"help": "Keep `text_embeds` in the batches."})

    def __post_init__(self):
        apply_device_launch_rules(self)
        super().__post_init__()


class FeatureGanDataCollator:
    """Pads a list of `{"input_values", "text_embeds", "labels"}` examples into a batch.

    `input_values` may be 1-D waveforms (padded in samples) or 2-D `(frames, bins)` log-mel frames (padded in
    frames); the `attention_mask` marks the real samples / frames. `text_embeds` (t) are stacked when present.
    """

    def __init__(self, padding_value: float = 0.0):
        self.padding_value = float(padding_value)

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        values = [torch.as_tensor(np.asarray(e["input_values"]), dtype=torch.float32) for e in examples]
        longest = max(v.shape[0] for v in values)
        batch_values = torch.full((len(values), longest, *values[0].shape[1:]), self.padding_value)
        mask = torch.zeros(len(values), longest, dtype=torch.long)
        for i, v in enumerate(values):
            batch_values[i, : v.shape[0]] = v
            mask[i, : v.shape[0]] = 1
        batch = {"input_values": batch_values, "attention_mask": mask}
        if "text_embeds" in examples[0] and examples[0]["text_embeds"] is not None:
            text = [torch.as_tensor(np.asarray(e["text_embeds"])) for e in examples]
            batch["text_embeds"] = torch.stack(text).float()
        if "labels" in examples[0]:
            batch["labels"] = torch.tensor([int(e["labels"]) for e in examples], dtype=torch.long)
        return batch


class FeatureGanBaselineTrainer(HfCserTrainer):
    r"""
    Stage-1 trainer: L_Baseline = L_SER + alpha L_CL + beta L_MI (eq. 7 of ``papers/004``), with alpha
    (`contrastive_weight`), beta (`mi_weight`) and tau (`contrastive_temperature`) read from the model config.

    Batches carry `text_embeds` (t from the frozen text encoder, computed once per transcript). L_CL is the CLAP loss
    between t and the audio projection of h; L_MI is InfoNCE between t and t_hat = W_t h + b_t. With
    `cross_modal_alignment=False` (the "without cross-modal alignment" ablation) both are computed on h with its
    gradient stopped: W_t and the audio projection are still fitted, the audio encoder only sees L_SER. Logged each
    step: `ce_loss`, `clap_loss`, `infonce_loss`, `mi_text_bound` (log B - L_MI, nats).
    """

    auxiliary_keys = ("text_embeds",)
    args_class = FeatureGanTrainingArguments
    default_output_dir = "feature-gan-baseline"
    args_fields = "class-weighted loss"
    _tag_names = ["hf_cser", "feature-gan"]

    def __init__(self, model, args: FeatureGanTrainingArguments | None = None, *rest, **kwargs):
        super().__init__(model, self.resolve_args(args), *rest, **kwargs)
        config = self.model.config
        self.clap_loss = ClapContrastiveLoss(temperature=config.contrastive_temperature)
        if self.args.class_weighted_loss and self.train_dataset is not None:
            labels = [int(example["labels"]) for example in self.train_dataset]
            self.model.set_class_weights(inverse_frequency_class_weights(labels, config.num_labels))
            logger.info(f"Class weights (inverse frequency): {self.model.config.class_weights}")

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        text_embeds = inputs.pop("text_embeds", None)
        config = self.model.config  # `model` may be the DDP wrapper, which has no `config`
        model_inputs = dict(inputs)
        if config.modality == "audio_text":
            model_inputs["text_embeds"] = text_embeds
        outputs = model(**model_inputs, return_dict=True)
        loss = outputs.loss
        mode = "train" if model.training else "eval"
        terms: dict[str, torch.Tensor] = {"ce_loss": loss.detach()}
        if text_embeds is not None and (config.contrastive_weight > 0 or config.mi_weight > 0):
            text_embeds = text_embeds.to(outputs.embeddings.device)
            audio_side, projected = outputs.audio_text_embeds, outputs.projected_text
            if not config.cross_modal_alignment:  # ablation: fit the projections, leave h unaligned
                unwrapped = self.accelerator.unwrap_model(model)
                h = outputs.embeddings.detach()
                audio_side, projected = unwrapped.audio_projection(h), unwrapped.project_text(h)
            clap = self.clap_loss(text_embeds, audio_side)  # eq. (5)
            mi = info_nce_loss(text_embeds, projected, config.contrastive_temperature)  # eq. (6)
            loss = loss + config.contrastive_weight * clap + config.mi_weight * mi  # eq. (7)
            terms.update(
                clap_loss=clap.detach(),
                infonce_loss=mi.detach(),
                mi_text_bound=torch.tensor(math.log(text_embeds.shape[0]), device=mi.device) - mi.detach(),
            )
        self._record_loss_components(mode, terms)
        return (loss, outputs) if return_outputs else loss


@torch.no_grad()
def compute_pooled_features(
    model, dataset, collator: FeatureGanDataCollator | None = None, batch_size: int = 32
) -> torch.Tensor:
    """h of every example of `dataset` (dicts with `input_values`) through a frozen model `(N, hidden_size)`."""
    collator = collator or FeatureGanDataCollator()
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(dataset), batch_size):
        batch = collator([dataset[i] for i in range(start, min(start + batch_size, len(dataset)))])
        out.append(model.pool(batch["input_values"].to(device), batch["attention_mask"].to(device)).float().cpu())
    model.train(was_training)
    return torch.cat(out) if out else torch.zeros(0, model.config.hidden_size)


__all__ = [
    "FeatureGanBaselineTrainer",
    "FeatureGanDataCollator",
    "FeatureGanTrainingArguments",
    "compute_pooled_features",
    "inverse_frequency_class_weights",
]
