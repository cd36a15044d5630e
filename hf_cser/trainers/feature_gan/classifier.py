"""Stage 3 of the feature-generation method (``papers/004``): [`FeatureGanClassifierTrainer`] fine-tunes only the
classifier on real plus generated features ([`build_augmented_training_set`], [`plan_generation`])."""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from transformers.utils import logging

from ...metrics import compute_ser_metrics
from .baseline import inverse_frequency_class_weights
from .infogan import check_feature_set, generate_features
from .loop_checkpoints import (
    LoopArguments,
    load_loop_checkpoint,
    prefixed_state,
    save_loop_checkpoint,
    unprefixed_state,
)

logger = logging.get_logger(__name__)

AUGMENTATION_MODES: tuple[str, ...] = ("none", "match", "balance")


def plan_generation(
    labels: torch.Tensor, num_labels: int, mode: str = "match", seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Which features to generate: `(generated_labels, conditioning_rows)`.

    - `"match"`: as many generated features as real ones, one per real row with that row's label and transcript
      (the paper's unimodal setting, h U h_hat doubles the data);
    - `"balance"`: for each class, as many as it lacks to reach the largest class (imbalanced corpora), conditioned
      on transcripts drawn at random from that class's rows;
    - `"none"`: nothing.
    """
    labels = labels.long().cpu()
    if mode not in AUGMENTATION_MODES:
        raise ValueError(f"`mode` must be one of {list(AUGMENTATION_MODES)}, got {mode!r}.")
    if mode == "none":
        return torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long)
    if mode == "match":
        return labels.clone(), torch.arange(labels.numel())
    rng = torch.Generator().manual_seed(seed)
    counts = torch.bincount(labels, minlength=num_labels)
    target = int(counts.max())
    gen_labels, rows = [], []
    for class_id in range(num_labels):
        missing = target - int(counts[class_id])
        if missing <= 0:
            continue
        pool = torch.nonzero(labels == class_id).reshape(-1)
        if pool.numel() == 0:  # no transcript of this class: condition on any row
            pool = torch.arange(labels.numel())
        rows.append(pool[torch.randint(0, pool.numel(), (missing,), generator=rng)])
        gen_labels.append(torch.full((missing,), class_id, dtype=torch.long))
    if not rows:
        return torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long)
    return torch.cat(gen_labels), torch.cat(rows)


@dataclass
class AugmentedFeatureSet:
    """Training set of stage 3: features, text embeddings (multimodal), labels and which rows are generated."""

    features: torch.Tensor
    labels: torch.Tensor
    text_embeds: torch.Tensor | None
    is_generated: torch.Tensor


@torch.no_grad()
def build_augmented_training_set(
    features: torch.Tensor,
    labels: torch.Tensor,
    text_embeds: torch.Tensor | None = None,
    generator_model=None,
    text_projection: torch.nn.Module | None = None,
    mode: str = "match",
    modality: str = "audio",
    seed: int = 0,
) -> AugmentedFeatureSet:
    """Real plus generated features for the stage-3 classifier (paper section 3.3).

    Unimodal: h U h_hat. Multimodal (`modality="audio_text"`, needs `text_embeds` and `text_projection` W_t): the
    pairs (h, t) and, with augmentation, (h, t_hat), (h_hat, t), (h_hat, t_hat), where t_hat = W_t x + b_t of the audio
    feature x of the pair and t is the real transcript embedding (for h_hat, the one it was conditioned on).
    """
    check_feature_set(features, labels, text_embeds)
    labels = labels.long().cpu()
    features = features.float().cpu()
    if modality == "audio_text" and (text_embeds is None or text_projection is None):
        raise ValueError("`modality='audio_text'` needs `text_embeds` (t) and `text_projection` (W_t).")
    if mode != "none" and generator_model is None:
        raise ValueError(f"`mode={mode!r}` generates features: pass `generator_model` (or use mode='none').")
    gen_labels, rows = plan_generation(
        labels, int(labels.max()) + 1 if generator_model is None else generator_model.config.num_labels, mode, seed
    )
    text = text_embeds.float().cpu() if text_embeds is not None else None
    generated = (
        generate_features(generator_model, gen_labels, None if text is None else text[rows], seed=seed).cpu()
        if gen_labels.numel()
        else torch.zeros(0, features.shape[1])
    )
    if modality == "audio":
        all_features = torch.cat([features, generated])
        all_labels = torch.cat([labels, gen_labels])
        flags = torch.cat([torch.zeros(labels.numel()), torch.ones(gen_labels.numel())]).bool()
        return AugmentedFeatureSet(all_features, all_labels, None, flags)

    device = next(text_projection.parameters()).device

    def project(x: torch.Tensor) -> torch.Tensor:
        return text_projection(x.to(device)).float().cpu()

    parts = [(features, text, labels, False)]
    if mode != "none":
        parts += [
            (features, project(features), labels, False),
            (generated, text[rows], gen_labels, True),
            (generated, project(generated), gen_labels, True),
        ]
    return AugmentedFeatureSet(
        torch.cat([p[0] for p in parts]),
        torch.cat([p[2] for p in parts]),
        torch.cat([p[1] for p in parts]),
        torch.cat([torch.full((p[2].numel(),), p[3]) for p in parts]).bool(),
    )


@dataclass
class FeatureGanClassifierTrainingArguments(LoopArguments):
    r"""
    Arguments of [`FeatureGanClassifierTrainer`] (stage 3).

    Args:
        num_train_epochs (`int`, *optional*, defaults to 100): passes over the (augmented) training features.
        per_device_train_batch_size (`int`, *optional*, defaults to 64).
        learning_rate (`float`, *optional*, defaults to 1e-4): Adam (paper value).
        weight_decay (`float`, *optional*, defaults to 0.0).
        class_weighted_loss (`bool`, *optional*, defaults to `False`): inverse-frequency class weights of the
            (augmented) training set in the cross-entropy.
        early_stopping_patience (`int`, *optional*, defaults to 20): stop after this many epochs without a better
            validation UAR (0: never); the best epoch's classifier is kept.
        seed, disable_tqdm, output_dir, save_steps (optimizer steps), save_total_limit: see [`LoopArguments`].
    """

    num_train_epochs: int = 100
    per_device_train_batch_size: int = 64
    learning_rate: float = 1e-4
    weight_decay: float = 0.0
    class_weighted_loss: bool = False
    early_stopping_patience: int = 20

    def __post_init__(self):
        super().__post_init__()  # the checkpoint settings
        for name in ("num_train_epochs", "per_device_train_batch_size"):
            value = getattr(self, name)
            if int(value) != value or value < 1:
                raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
        if self.early_stopping_patience < 0:
            raise ValueError(f"`early_stopping_patience` must be >= 0, got {self.early_stopping_patience!r}.")
        if not self.learning_rate > 0:
            raise ValueError(f"`learning_rate` must be > 0, got {self.learning_rate!r}.")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class FeatureGanClassifierTrainer:
    r"""
    Stage-3 trainer: fine-tunes only the classifier of a [`FeatureGanForEmotionClassification`] on cached features
    (everything else frozen, paper section 3.3): `classifier` (W_y) for `modality="audio"`, `multimodal_classifier`
    for `"audio_text"`. Model selection on the validation UAR of real features; the best epoch's weights are loaded
    back. Logged per epoch: `loss`, `eval_uar`, `eval_war`, `eval_macro_f1`.

    Args:
        model ([`FeatureGanForEmotionClassification`]).
        args ([`FeatureGanClassifierTrainingArguments`]).
        train_set ([`AugmentedFeatureSet`]): from [`build_augmented_training_set`].
        eval_features, eval_labels, eval_text_embeds: real validation features (and t for the multimodal head).
    """

    def __init__(
        self,
        model,
        args: FeatureGanClassifierTrainingArguments,
        train_set: AugmentedFeatureSet,
        eval_features: torch.Tensor | None = None,
        eval_labels: torch.Tensor | None = None,
        eval_text_embeds: torch.Tensor | None = None,
    ):
        self.model = model
        self.args = args
        self.train_set = train_set
        self.eval_features, self.eval_labels, self.eval_text_embeds = eval_features, eval_labels, eval_text_embeds
        self.head = model.multimodal_classifier if model.config.modality == "audio_text" else model.classifier
        if model.config.modality == "audio_text" and train_set.text_embeds is None:
            raise ValueError("The multimodal classifier needs `train_set.text_embeds`.")
        self.log_history: list[dict[str, float]] = []

    def _freeze_all_but_head(self) -> None:
        self.model.requires_grad_(False)
        self.head.requires_grad_(True)

    @torch.no_grad()
    def predict(self, features: torch.Tensor, text_embeds: torch.Tensor | None = None) -> torch.Tensor:
        """Logits of the model's classifier on cached features (t_hat of the features when no text is given)."""
        self.model.eval()
        device = next(self.head.parameters()).device
        text = text_embeds.to(device) if text_embeds is not None else None
        return self.model.classify_features(features.to(device), text).cpu()

    def evaluate(self, features=None, labels=None, text_embeds=None) -> dict[str, Any]:
        """UAR / WAR / macro-F1 (`compute_ser_metrics`) on real features, by default the validation set."""
        features = self.eval_features if features is None else features
        labels = self.eval_labels if labels is None else labels
        text_embeds = self.eval_text_embeds if text_embeds is None and features is self.eval_features else text_embeds
        names = [self.model.config.id2label[i] for i in range(self.model.config.num_labels)]
        predictions = self.predict(features, text_embeds).argmax(-1)
        return compute_ser_metrics(labels.cpu().numpy(), predictions.numpy(), label_names=names, with_confusion=False)

    def train(self, resume_from_checkpoint: str | None = None) -> list[dict[str, float]]:
        """Fine-tune the classifier; returns the per-epoch log history.

        With ``args.save_steps`` a checkpoint (the classifier, the best epoch's classifier, the optimizer, the epoch,
        its shuffling order and losses so far, the shuffling generator, early-stopping counters and the global RNGs)
        is written every that many optimizer steps; ``resume_from_checkpoint`` continues from one and ends with the
        same weights as an uninterrupted run.
        """
        from hf_cser.console import progress_bar

        args, model, data = self.args, self.model, self.train_set
        self._freeze_all_but_head()
        device = next(self.head.parameters()).device
        generator = torch.Generator().manual_seed(args.seed)
        weights = None
        if args.class_weighted_loss:
            weights = inverse_frequency_class_weights(data.labels, model.config.num_labels)
            weights = torch.tensor(weights, device=device)
        optimizer = torch.optim.Adam(self.head.parameters(), lr=args.learning_rate, weight_decay=args.weight_decay)
        n, batch_size = data.labels.numel(), args.per_device_train_batch_size
        best_uar, best_state, stale = -1.0, copy.deepcopy(self.head.state_dict()), 0
        start_epoch, start_batch, order, losses, global_step = 0, 0, None, [], 0
        if resume_from_checkpoint is not None:
            tensors, state = load_loop_checkpoint(resume_from_checkpoint, {"classifier": optimizer})
            self.head.load_state_dict(unprefixed_state("head", tensors))
            best_state = unprefixed_state("best", tensors)
            generator.set_state(tensors["shuffle_generator"])
            order = tensors["order"]
            best_uar, stale, losses = state["best_uar"], state["stale"], state["losses"]
            start_epoch, start_batch, global_step = state["epoch"], state["next_start"], state["global_step"]
            self.log_history = state["log_history"]
            logger.info(f"classifier: resumed from '{resume_from_checkpoint}' (step {global_step}).")
        for epoch in progress_bar(
            range(start_epoch, args.num_train_epochs), desc="classifier", disable=args.disable_tqdm
        ):
            model.train()
            if order is None or epoch != start_epoch:
                order, losses = torch.randperm(n, generator=generator), []
            for start in range(start_batch if epoch == start_epoch else 0, n, batch_size):
                index = order[start : start + batch_size]
                text = data.text_embeds[index].to(device) if data.text_embeds is not None else None
                logits = model.classify_features(data.features[index].to(device), text)
                loss = F.cross_entropy(logits, data.labels[index].to(device), weight=weights)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
                global_step += 1
                if args.save_steps and global_step % args.save_steps == 0:
                    tensors = {
                        **prefixed_state("head", self.head.state_dict()),
                        **prefixed_state("best", best_state),
                        "shuffle_generator": generator.get_state(),
                        "order": order,
                    }
                    state = {
                        "global_step": global_step,
                        "epoch": epoch,
                        "next_start": start + batch_size,
                        "losses": losses,
                        "best_uar": best_uar,
                        "stale": stale,
                        "log_history": self.log_history,
                    }
                    save_loop_checkpoint(
                        args.output_dir, global_step, tensors, {"classifier": optimizer}, state, args.save_total_limit
                    )
            entry = {"epoch": epoch + 1, "loss": float(np.mean(losses))}
            if self.eval_features is not None:
                metrics = self.evaluate()
                entry.update({f"eval_{k}": metrics[k] for k in ("uar", "war", "macro_f1")})
                if metrics["uar"] > best_uar:
                    best_uar, best_state, stale = metrics["uar"], copy.deepcopy(self.head.state_dict()), 0
                else:
                    stale += 1
            self.log_history.append(entry)
            patience = args.early_stopping_patience
            if self.eval_features is not None and patience and stale >= patience:
                break
        if self.eval_features is not None:
            self.head.load_state_dict(best_state)
        model.eval()
        return self.log_history


__all__ = [
    "AUGMENTATION_MODES",
    "AugmentedFeatureSet",
    "FeatureGanClassifierTrainer",
    "FeatureGanClassifierTrainingArguments",
    "build_augmented_training_set",
    "plan_generation",
]
