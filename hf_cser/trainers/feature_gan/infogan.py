"""Stage 2 of the feature-generation method (``papers/004``): [`FeatureInfoGanTrainer`], the InfoGAN on frozen cached
features, [`generate_features`] and [`mutual_information_report`] (the MI of generated features)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from transformers.utils import logging

from ...labels import EMOTIONS
from ...losses.adversarial import discriminator_adversarial_loss, generator_adversarial_loss
from ...losses.contrastive import info_nce_loss
from .loop_checkpoints import (
    LoopArguments,
    load_loop_checkpoint,
    prefixed_state,
    save_loop_checkpoint,
    unprefixed_state,
)

logger = logging.get_logger(__name__)


@dataclass
class FeatureInfoGanTrainingArguments(LoopArguments):
    r"""
    Arguments of [`FeatureInfoGanTrainer`].

    Args:
        num_train_epochs (`int`, *optional*, defaults to 300): passes over the real features.
        per_device_train_batch_size (`int`, *optional*, defaults to 64): B (also the InfoNCE batch).
        learning_rate (`float`, *optional*, defaults to 1e-4): Adam learning rate of G and D (paper value).
        adam_beta1 (`float`, *optional*, defaults to 0.5) / adam_beta2 (`float`, *optional*, defaults to 0.999):
            Adam betas (the usual GAN values; ours).
        discriminator_steps (`int`, *optional*, defaults to 1): D steps per G step.
        logging_steps (`int`, *optional*, defaults to 50): log every this many G steps.
        seed, disable_tqdm, output_dir, save_steps (G steps), save_total_limit: see [`LoopArguments`].
    """

    num_train_epochs: int = 300
    per_device_train_batch_size: int = 64
    learning_rate: float = 1e-4
    adam_beta1: float = 0.5
    adam_beta2: float = 0.999
    discriminator_steps: int = 1
    logging_steps: int = 50

    def __post_init__(self):
        super().__post_init__()  # the checkpoint settings
        for name in ("num_train_epochs", "per_device_train_batch_size", "discriminator_steps", "logging_steps"):
            value = getattr(self, name)
            if int(value) != value or value < 1:
                raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
        if self.per_device_train_batch_size < 2:
            raise ValueError("`per_device_train_batch_size` must be >= 2 (InfoNCE needs negatives).")
        if not self.learning_rate > 0:
            raise ValueError(f"`learning_rate` must be > 0, got {self.learning_rate!r}.")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_feature_set(features: torch.Tensor, labels: torch.Tensor, text_embeds: torch.Tensor | None) -> None:
    if features.dim() != 2:
        raise ValueError(f"`features` must have shape (N, hidden_size), got {tuple(features.shape)}.")
    if labels.shape != (features.shape[0],):
        raise ValueError(f"`labels` must have shape ({features.shape[0]},), got {tuple(labels.shape)}.")
    if text_embeds is not None and text_embeds.shape[0] != features.shape[0]:
        raise ValueError(f"`text_embeds` has {text_embeds.shape[0]} rows for {features.shape[0]} features.")


@torch.no_grad()
def mutual_information_report(
    features: torch.Tensor,
    labels: torch.Tensor,
    emotion_head: torch.nn.Module,
    text_projection: torch.nn.Module | None = None,
    text_embeds: torch.Tensor | None = None,
    batch_size: int = 64,
    temperature: float = 0.07,
    label_names: Sequence[str] = EMOTIONS,
    seed: int = 0,
) -> dict[str, Any]:
    """How much of the conditioning (c, t) can be read back from features: the paper's MI quality metric.

    - Emotion: accuracy of the frozen head W_y on the features, its cross-entropy, and the Barber-Agakov lower bound
      ``I(c; h) >= H(c) - CE`` (nats, H(c) of the empirical label distribution), overall and per class.
    - Text (when `text_projection` and `text_embeds` are given): the InfoNCE bound ``log(B) - InfoNCE(t, W_t h + b_t)``
      averaged over shuffled batches of `batch_size`, overall and within each class (batches of that class only).

    Works on real features too (the reference the generated ones are compared with).
    """
    labels = labels.long().cpu()
    features = features.float().to(emotion_head.weight.device)
    logits = emotion_head(features).cpu()
    ce = F.cross_entropy(logits, labels, reduction="none")
    correct = (logits.argmax(-1) == labels).float()
    counts = torch.bincount(labels, minlength=len(label_names)).float()
    probs = counts[counts > 0] / counts.sum()
    entropy = float(-(probs * probs.log()).sum())
    report: dict[str, Any] = {
        "num_samples": int(labels.numel()),
        "head_accuracy": float(correct.mean()),
        "head_cross_entropy": float(ce.mean()),
        "mi_label_bound": entropy - float(ce.mean()),
        "label_entropy": entropy,
        "per_class": {},
    }
    generator = torch.Generator().manual_seed(seed)

    def text_bound(index: torch.Tensor) -> float | None:
        if text_projection is None or text_embeds is None or index.numel() < 2:
            return None
        order = index[torch.randperm(index.numel(), generator=generator)]
        bounds, weights = [], []
        for start in range(0, order.numel(), batch_size):
            chunk = order[start : start + batch_size]
            if chunk.numel() < 2:
                continue
            projected = text_projection(features[chunk.to(features.device)])
            loss = info_nce_loss(text_embeds[chunk].to(projected.device), projected, temperature)
            bounds.append(math.log(chunk.numel()) - float(loss))
            weights.append(chunk.numel())
        return float(np.average(bounds, weights=weights)) if bounds else None

    report["mi_text_bound"] = text_bound(torch.arange(labels.numel()))
    report["mi_text_bound_max"] = math.log(min(batch_size, labels.numel())) if labels.numel() > 1 else 0.0
    for class_id, name in enumerate(label_names):
        index = torch.nonzero(labels == class_id).reshape(-1)
        if index.numel() == 0:
            continue
        report["per_class"][name] = {
            "num_samples": int(index.numel()),
            "head_accuracy": float(correct[index].mean()),
            "head_cross_entropy": float(ce[index].mean()),
            "mi_text_bound": text_bound(index),
        }
    return report


class FeatureInfoGanTrainer:
    r"""
    Stage-2 trainer: the InfoGAN of ``papers/004`` (eq. 14) on frozen, cached stage-1 features.

    Each step draws a batch of real (h, c, t), generates h_hat = G(z, c, t) for the same conditioning and

    - **D step** (`discriminator_steps` times): with mixup (`mixup_alpha > 0`), x = lam h + (1 - lam) h_hat with
      lam ~ Beta(alpha, alpha) per sample and L_D = BCE(D(x), lam) (Zhang et al. 2018); without, the standard
      L_D = BCE(D(h), 1) + BCE(D(h_hat), 0);
    - **G step**: L_G = L_adv + lambda_y L_I_y + lambda_t L_I_t with the non-saturating L_adv = BCE(D(x), 1) on the
      mixed (or, without mixup, generated) features, L_I_y = CE(W_y h_hat + b_y, c) (eq. 11) and
      L_I_t = InfoNCE(t, W_t h_hat + b_t) (eq. 13) through the frozen stage-1 heads.

    Logged (`log_history`, every `logging_steps` G steps, means over the interval): `d_loss`, `g_adv_loss`,
    `mi_label_loss`, `mi_text_loss`, `g_loss`, `generated_head_accuracy`, `d_real_prob`, `d_fake_prob`.

    Args:
        model ([`FeatureGanGeneratorModel`]): generator, discriminator and the frozen heads.
        args ([`FeatureInfoGanTrainingArguments`]).
        features (`torch.Tensor` `(N, hidden_size)`): real h (frozen stage-1 features).
        labels (`torch.Tensor` `(N,)`): their emotions.
        text_embeds (`torch.Tensor` `(N, text_hidden_size)`, *optional*): t; needed when the generator uses text.
    """

    def __init__(
        self,
        model,
        args: FeatureInfoGanTrainingArguments,
        features: torch.Tensor,
        labels: torch.Tensor,
        text_embeds: torch.Tensor | None = None,
    ):
        check_feature_set(features, labels, text_embeds)
        if model.config.use_text_condition and text_embeds is None:
            raise ValueError("The generator is conditioned on text (`use_text_condition=True`): pass `text_embeds`.")
        self.model = model
        self.args = args
        if model.config.normalize_features and not model.config.feature_statistics_set:
            model.set_feature_statistics(features)
        device = model.emotion_head.weight.device
        self.features = features.float().to(device)
        self.labels = labels.long().to(device)
        self.text_embeds = text_embeds.float().to(device) if text_embeds is not None else None
        betas = (args.adam_beta1, args.adam_beta2)
        self.g_optimizer = torch.optim.Adam(model.generator.parameters(), lr=args.learning_rate, betas=betas)
        self.d_optimizer = torch.optim.Adam(model.discriminator.parameters(), lr=args.learning_rate, betas=betas)
        self.log_history: list[dict[str, float]] = []
        self.global_step = 0

    def _mixup_weights(self, batch_size: int, generator: torch.Generator) -> torch.Tensor | None:
        """lam ~ Beta(alpha, alpha) per sample `(B,)`, or `None` without mixup."""
        alpha = self.model.config.mixup_alpha
        if alpha <= 0:
            return None
        lam = self._mixup_rng.beta(alpha, alpha, size=batch_size).astype(np.float32)
        return torch.from_numpy(lam).to(self.features.device)

    def _discriminator_step(self, real, labels, text, generator) -> dict[str, float]:
        model = self.model
        with torch.no_grad():
            fake = model.generate(labels, text, noise=self._noise(real.shape[0], generator))
        lam = self._mixup_weights(real.shape[0], generator)
        if lam is not None:
            mixed = lam.unsqueeze(-1) * real + (1 - lam.unsqueeze(-1)) * fake
            d_loss = discriminator_adversarial_loss(mixed_logits=model.discriminate(mixed), mix_weights=lam)
        else:
            d_loss = discriminator_adversarial_loss(model.discriminate(real), model.discriminate(fake))
        self.d_optimizer.zero_grad(set_to_none=True)
        d_loss.backward()
        self.d_optimizer.step()
        with torch.no_grad():
            d_real = torch.sigmoid(model.discriminate(real)).mean()
            d_fake = torch.sigmoid(model.discriminate(fake)).mean()
        return {"d_loss": float(d_loss.detach()), "d_real_prob": float(d_real), "d_fake_prob": float(d_fake)}

    def _noise(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        return torch.randn(batch_size, self.model.config.noise_size, generator=generator).to(self.features.device)

    def train(self, resume_from_checkpoint: str | None = None) -> list[dict[str, float]]:
        """Run the alternating D / G steps; returns (and keeps) the log history.

        With ``args.save_steps`` a checkpoint (G, D, both optimizers, the step, the epoch's shuffling order, the
        noise generator, the mixup RNG, the logging interval and the global RNGs) is written every that many G steps;
        ``resume_from_checkpoint`` (a ``checkpoint-<step>`` folder) continues from one and ends with the same
        weights as an uninterrupted run.
        """
        from hf_cser.console import progress_bar

        args, model = self.args, self.model
        model.train()
        model.freeze_mutual_information_heads()
        generator = torch.Generator().manual_seed(args.seed)
        self._mixup_rng = np.random.default_rng(args.seed)
        n, batch_size = self.features.shape[0], min(args.per_device_train_batch_size, self.features.shape[0])
        steps_per_epoch = max(1, n // batch_size)
        interval: dict[str, list[float]] = {}
        start_epoch, start_step, order = 0, 0, None
        if resume_from_checkpoint is not None:
            tensors, state = load_loop_checkpoint(resume_from_checkpoint, self._optimizers())
            model.generator.load_state_dict(unprefixed_state("generator", tensors))
            model.discriminator.load_state_dict(unprefixed_state("discriminator", tensors))
            generator.set_state(tensors["noise_generator"])
            order = tensors["order"].to(self.features.device)
            self._mixup_rng.bit_generator.state = state["mixup_rng"]
            self.global_step, self.log_history = state["global_step"], state["log_history"]
            interval = state["interval"]
            start_epoch, start_step = state["epoch"], state["step"] + 1
            logger.info(f"InfoGAN: resumed from '{resume_from_checkpoint}' (G step {self.global_step}).")
        progress = progress_bar(
            total=args.num_train_epochs * steps_per_epoch,
            desc="InfoGAN",
            disable=args.disable_tqdm,
            initial=self.global_step,
        )
        for epoch in range(start_epoch, args.num_train_epochs):
            if order is None or epoch != start_epoch:
                order = torch.randperm(n, generator=generator).to(self.features.device)
            for step in range(start_step if epoch == start_epoch else 0, steps_per_epoch):
                index = order[step * batch_size : (step + 1) * batch_size]
                real, labels = self.features[index], self.labels[index]
                text = self.text_embeds[index] if self.text_embeds is not None else None
                cond_text = text if model.config.use_text_condition else None
                values: dict[str, float] = {}
                for _ in range(args.discriminator_steps):
                    values.update(self._discriminator_step(real, labels, cond_text, generator))
                values.update(self._generator_step(real, labels, cond_text, text, generator))
                for key, value in values.items():
                    interval.setdefault(key, []).append(value)
                self.global_step += 1
                progress.update(1)
                if self.global_step % args.logging_steps == 0:
                    self._log(interval, epoch + (step + 1) / steps_per_epoch)
                    interval = {}
                if args.save_steps and self.global_step % args.save_steps == 0:
                    tensors = {
                        **prefixed_state("generator", model.generator.state_dict()),
                        **prefixed_state("discriminator", model.discriminator.state_dict()),
                        "noise_generator": generator.get_state(),
                        "order": order,
                    }
                    state = {
                        "global_step": self.global_step,
                        "epoch": epoch,
                        "step": step,
                        "interval": interval,
                        "log_history": self.log_history,
                        "mixup_rng": self._mixup_rng.bit_generator.state,
                    }
                    save_loop_checkpoint(
                        args.output_dir, self.global_step, tensors, self._optimizers(), state, args.save_total_limit
                    )
        if interval:
            self._log(interval, float(args.num_train_epochs))
        progress.close()
        model.eval()
        return self.log_history

    def _optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"generator": self.g_optimizer, "discriminator": self.d_optimizer}

    def _generator_step(self, real, labels, cond_text, text, generator) -> dict[str, float]:
        # G sees t only when conditioned on it; L_I_t is still measured (not optimised) otherwise
        model, config = self.model, self.model.config
        fake = model.generate(labels, cond_text, noise=self._noise(real.shape[0], generator))
        lam = self._mixup_weights(real.shape[0], generator)
        adv_input = fake if lam is None else lam.unsqueeze(-1) * real + (1 - lam.unsqueeze(-1)) * fake
        adv_logits = model.discriminate(adv_input)
        g_adv = generator_adversarial_loss(adv_logits)
        label_logits = model.emotion_head(fake)
        mi_label = F.cross_entropy(label_logits, labels)  # eq. (11)
        loss = g_adv + config.mi_label_weight * mi_label
        mi_text = torch.zeros((), device=fake.device)
        if text is not None:
            mi_text = info_nce_loss(text, model.text_projection(fake), config.mi_temperature)  # eq. (13)
            if config.use_text_condition:
                loss = loss + config.mi_text_weight * mi_text
        self.g_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.g_optimizer.step()
        return {
            "g_adv_loss": g_adv.item(),
            "mi_label_loss": mi_label.item(),
            "mi_text_loss": mi_text.item(),
            "g_loss": loss.item(),
            "generated_head_accuracy": float((label_logits.argmax(-1) == labels).float().mean()),
        }

    def _log(self, interval: dict[str, list[float]], epoch: float) -> None:
        entry = {key: float(np.mean(values)) for key, values in interval.items()}
        entry.update(epoch=round(epoch, 3), step=self.global_step)
        self.log_history.append(entry)
        logger.info(" ".join(f"{k}={v:.4g}" for k, v in entry.items()))

    @torch.no_grad()
    def evaluate_mutual_information(
        self,
        labels: torch.Tensor | None = None,
        text_embeds: torch.Tensor | None = None,
        batch_size: int | None = None,
        seed: int = 0,
    ) -> dict[str, Any]:
        """[`mutual_information_report`] of features generated for the conditioning (`labels`, `text_embeds`),
        by default the training set's. Text MI is measured against the conditioning t even for a generator that
        ignores t (then the bound is about 0)."""
        labels = self.labels if labels is None else labels.long().to(self.features.device)
        text = self.text_embeds if text_embeds is None else text_embeds.float().to(self.features.device)
        generated = generate_features(self.model, labels, text, seed=seed)
        return mutual_information_report(
            generated,
            labels,
            self.model.emotion_head,
            self.model.text_projection,
            text,
            batch_size or self.args.per_device_train_batch_size,
            self.model.config.mi_temperature,
            label_names=[self.model.config.id2label[i] for i in range(self.model.config.num_labels)],
            seed=seed,
        )


@torch.no_grad()
def generate_features(
    generator_model,
    labels: torch.Tensor,
    text_embeds: torch.Tensor | None = None,
    seed: int = 0,
    batch_size: int = 1024,
) -> torch.Tensor:
    """h_hat = G(z, c, t) for each row of `labels` (and `text_embeds` when the generator uses text), z seeded."""
    generator_model.eval()
    rng = torch.Generator().manual_seed(seed)
    device = generator_model.emotion_head.weight.device
    labels = labels.long().to(device)
    text = (
        text_embeds.float().to(device)
        if (text_embeds is not None and generator_model.config.use_text_condition)
        else None
    )
    out = []
    for start in range(0, labels.numel(), batch_size):
        chunk = slice(start, start + batch_size)
        noise = torch.randn(labels[chunk].numel(), generator_model.config.noise_size, generator=rng).to(device)
        out.append(generator_model.generate(labels[chunk], None if text is None else text[chunk], noise=noise))
    return torch.cat(out) if out else torch.zeros(0, generator_model.config.feature_size, device=device)


__all__ = [
    "check_feature_set",
    "FeatureInfoGanTrainer",
    "FeatureInfoGanTrainingArguments",
    "generate_features",
    "mutual_information_report",
]
