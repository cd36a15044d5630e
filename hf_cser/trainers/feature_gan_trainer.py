"""Trainers of the mutual-information regularised feature generation method (``papers/004``, METHODS.md section 5).

- Stage 1, [`FeatureGanBaselineTrainer`] (a `transformers.Trainer`): L = L_SER + alpha L_CL + beta L_MI (eq. 7), every
  term logged (`ce_loss`, `clap_loss`, `infonce_loss`, and the InfoNCE bound `mi_text_bound`).
- Stage 2, [`FeatureInfoGanTrainer`]: the InfoGAN on frozen, cached features h; alternating D and G steps with mixup,
  the mutual-information terms through the frozen W_y (cross-entropy to c, eq. 11) and W_t (InfoNCE to t, eq. 13);
  logs both adversarial losses and both MI terms; [`mutual_information_report`] measures the MI of generated features
  (frozen-head accuracy and InfoNCE bound, per class), the paper's quality metric.
- Stage 3, [`FeatureGanClassifierTrainer`]: only the classifier is fine-tuned, on real plus generated features
  ([`build_augmented_training_set`]: as many generated as real features, or class-balanced generation), unimodal
  (h U h_hat) or multimodal ((h, t), (h, t_hat), (h_hat, t), (h_hat, t_hat)); optional inverse-frequency class weights.
"""

from __future__ import annotations

import copy
import json
import math
import os
import random
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from transformers import Trainer, TrainingArguments
from transformers.utils import logging

from ..labels import EMOTIONS
from ..losses.adversarial import discriminator_adversarial_loss, generator_adversarial_loss
from ..losses.contrastive import ClapContrastiveLoss, info_nce_loss
from ..metrics import compute_ser_metrics
from .launch import apply_device_launch_rules
from .loss_logging import LossComponentLoggingMixin

logger = logging.get_logger(__name__)

AUGMENTATION_MODES: tuple[str, ...] = ("none", "match", "balance")


def inverse_frequency_class_weights(labels: Sequence[int] | torch.Tensor, num_labels: int) -> list[float]:
    """Cross-entropy class weights inversely proportional to the class counts (paper section 4.2.3), scaled so that
    a balanced set gets weight 1: ``w_c = N / (K * n_c)``. A class without samples gets the largest weight present."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64).reshape(-1), minlength=num_labels)[:num_labels]
    if counts.sum() == 0:
        raise ValueError("`labels` is empty: class weights need at least one labelled sample.")
    weights = counts.sum() / (num_labels * np.maximum(counts, 1).astype(np.float64))
    weights[counts == 0] = weights[counts > 0].max()
    return weights.astype(float).tolist()


# =============================================================================================== stage 1


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


class FeatureGanBaselineTrainer(LossComponentLoggingMixin, Trainer):
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

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._init_loss_component_logs()
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


# =============================================================================================== checkpoints of
# the custom loops (stages 2 and 3): tensors in safetensors, optimizer states with `torch.save` (plain tensors and
# numbers, loaded with `weights_only=True`), everything else in JSON; written to a temporary folder and moved into
# place with `os.replace`, `trainer_state.json` last, so an interrupted save is never taken for a checkpoint.

LOOP_TENSORS_NAME = "loop_state.safetensors"
LOOP_OPTIMIZERS_NAME = "optimizers.pt"
LOOP_STATE_NAME = "trainer_state.json"


def capture_global_rng_state() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """torch's CPU RNG (a tensor), numpy's and Python's global RNG states (JSON-ready)."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    tensors = {"rng.torch": torch.random.get_rng_state(), "rng.numpy": torch.from_numpy(np_state[1].astype(np.int64))}
    state = {
        "numpy": [np_state[0], int(np_state[2]), int(np_state[3]), float(np_state[4])],
        "python": [py_state[0], list(py_state[1]), py_state[2]],
    }
    return tensors, state


def restore_global_rng_state(tensors: Mapping[str, torch.Tensor], state: Mapping[str, Any]) -> None:
    """Inverse of :func:`capture_global_rng_state`."""
    torch.random.set_rng_state(tensors["rng.torch"])
    name, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, tensors["rng.numpy"].numpy().astype(np.uint32), pos, has_gauss, cached))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))


def save_loop_checkpoint(
    output_dir: str,
    step: int,
    tensors: Mapping[str, torch.Tensor],
    optimizers: Mapping[str, torch.optim.Optimizer],
    state: Mapping[str, Any],
    save_total_limit: int | None = 1,
) -> str:
    """
    Write ``output_dir/checkpoint-<step>`` atomically: ``tensors`` (model weights, generator states, ...) plus the
    global RNG states in ``loop_state.safetensors``, the optimizer states in ``optimizers.pt`` and ``state`` (JSON:
    step, epoch, log history, ...) in ``trainer_state.json``. Older checkpoints beyond ``save_total_limit`` are
    removed. Returns the checkpoint folder.
    """
    from safetensors.torch import save_file

    os.makedirs(output_dir, exist_ok=True)
    final = os.path.join(output_dir, f"checkpoint-{step}")
    tmp = os.path.join(output_dir, f".tmp-checkpoint-{step}-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    rng_tensors, rng_state = capture_global_rng_state()
    all_tensors = {k: v.detach().cpu().contiguous().clone() for k, v in {**tensors, **rng_tensors}.items()}
    save_file(all_tensors, os.path.join(tmp, LOOP_TENSORS_NAME))
    torch.save({k: o.state_dict() for k, o in optimizers.items()}, os.path.join(tmp, LOOP_OPTIMIZERS_NAME))
    with open(os.path.join(tmp, LOOP_STATE_NAME), "w") as f:
        json.dump({**state, "global_rng": rng_state}, f)
        f.flush()
        os.fsync(f.fileno())
    if os.path.isdir(final):
        shutil.rmtree(final)
    os.replace(tmp, final)
    if save_total_limit:
        steps = sorted(
            int(name[len("checkpoint-") :])
            for name in os.listdir(output_dir)
            if name.startswith("checkpoint-") and name[len("checkpoint-") :].isdigit()
        )
        for old in steps[:-save_total_limit]:
            shutil.rmtree(os.path.join(output_dir, f"checkpoint-{old}"), ignore_errors=True)
    return final


def load_loop_checkpoint(
    checkpoint: str, optimizers: Mapping[str, torch.optim.Optimizer]
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a :func:`save_loop_checkpoint` folder: load the optimizer states into ``optimizers``, restore the global
    RNG states and return ``(tensors, state)``."""
    from safetensors.torch import load_file

    path = os.path.join(checkpoint, LOOP_STATE_NAME)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"'{checkpoint}' is not a complete checkpoint (no {LOOP_STATE_NAME}).")
    with open(path) as f:
        state = json.load(f)
    tensors = load_file(os.path.join(checkpoint, LOOP_TENSORS_NAME))
    saved = torch.load(os.path.join(checkpoint, LOOP_OPTIMIZERS_NAME), map_location="cpu", weights_only=True)
    for name, optimizer in optimizers.items():
        optimizer.load_state_dict(saved[name])
    restore_global_rng_state(tensors, state.pop("global_rng"))
    return tensors, state


def _prefixed(prefix: str, state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {f"{prefix}.{k}": v for k, v in state_dict.items()}


def _unprefixed(prefix: str, tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k[len(prefix) + 1 :]: v for k, v in tensors.items() if k.startswith(prefix + ".")}


# =============================================================================================== stage 2


@dataclass
class FeatureInfoGanTrainingArguments:
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
        seed (`int`, *optional*, defaults to 0): seed of the shuffling, z and the mixup weights.
        disable_tqdm (`bool`, *optional*, defaults to `False`): hide the progress bar.
        output_dir (`str`, *optional*): where ``checkpoint-<step>`` folders are written (none without it).
        save_steps (`int`, *optional*, defaults to 0): checkpoint every this many G steps (0: never).
        save_total_limit (`int`, *optional*, defaults to 1): checkpoints kept.
    """

    num_train_epochs: int = 300
    per_device_train_batch_size: int = 64
    learning_rate: float = 1e-4
    adam_beta1: float = 0.5
    adam_beta2: float = 0.999
    discriminator_steps: int = 1
    logging_steps: int = 50
    seed: int = 0
    disable_tqdm: bool = False
    output_dir: str | None = None
    save_steps: int = 0
    save_total_limit: int = 1

    def __post_init__(self):
        _check_save_settings(self)
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


def _check_save_settings(args) -> None:
    if int(args.save_steps) != args.save_steps or args.save_steps < 0:
        raise ValueError(f"`save_steps` must be an integer >= 0, got {args.save_steps!r}.")
    if args.save_steps and not args.output_dir:
        raise ValueError("`save_steps` > 0 needs an `output_dir` for the checkpoints.")
    if args.save_total_limit is not None and args.save_total_limit < 1:
        raise ValueError(f"`save_total_limit` must be >= 1 or None, got {args.save_total_limit!r}.")


def _check_feature_set(features: torch.Tensor, labels: torch.Tensor, text_embeds: torch.Tensor | None) -> None:
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
        _check_feature_set(features, labels, text_embeds)
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
        from tqdm.auto import tqdm

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
            model.generator.load_state_dict(_unprefixed("generator", tensors))
            model.discriminator.load_state_dict(_unprefixed("discriminator", tensors))
            generator.set_state(tensors["noise_generator"])
            order = tensors["order"].to(self.features.device)
            self._mixup_rng.bit_generator.state = state["mixup_rng"]
            self.global_step, self.log_history = state["global_step"], state["log_history"]
            interval = state["interval"]
            start_epoch, start_step = state["epoch"], state["step"] + 1
            logger.info(f"InfoGAN: resumed from '{resume_from_checkpoint}' (G step {self.global_step}).")
        progress = tqdm(
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
                        **_prefixed("generator", model.generator.state_dict()),
                        **_prefixed("discriminator", model.discriminator.state_dict()),
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


# =============================================================================================== stage 3


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
    _check_feature_set(features, labels, text_embeds)
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
class FeatureGanClassifierTrainingArguments:
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
        seed (`int`, *optional*, defaults to 0).
        disable_tqdm (`bool`, *optional*, defaults to `False`).
        output_dir (`str`, *optional*): where ``checkpoint-<step>`` folders are written (none without it).
        save_steps (`int`, *optional*, defaults to 0): checkpoint every this many optimizer steps (0: never).
        save_total_limit (`int`, *optional*, defaults to 1): checkpoints kept.
    """

    num_train_epochs: int = 100
    per_device_train_batch_size: int = 64
    learning_rate: float = 1e-4
    weight_decay: float = 0.0
    class_weighted_loss: bool = False
    early_stopping_patience: int = 20
    seed: int = 0
    disable_tqdm: bool = False
    output_dir: str | None = None
    save_steps: int = 0
    save_total_limit: int = 1

    def __post_init__(self):
        _check_save_settings(self)
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
        from tqdm.auto import tqdm

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
            self.head.load_state_dict(_unprefixed("head", tensors))
            best_state = _unprefixed("best", tensors)
            generator.set_state(tensors["shuffle_generator"])
            order = tensors["order"]
            best_uar, stale, losses = state["best_uar"], state["stale"], state["losses"]
            start_epoch, start_batch, global_step = state["epoch"], state["next_start"], state["global_step"]
            self.log_history = state["log_history"]
            logger.info(f"classifier: resumed from '{resume_from_checkpoint}' (step {global_step}).")
        for epoch in tqdm(range(start_epoch, args.num_train_epochs), desc="classifier", disable=args.disable_tqdm):
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
                        **_prefixed("head", self.head.state_dict()),
                        **_prefixed("best", best_state),
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
    "FeatureGanBaselineTrainer",
    "FeatureGanClassifierTrainer",
    "FeatureGanClassifierTrainingArguments",
    "FeatureGanDataCollator",
    "FeatureGanTrainingArguments",
    "FeatureInfoGanTrainer",
    "FeatureInfoGanTrainingArguments",
    "build_augmented_training_set",
    "compute_pooled_features",
    "generate_features",
    "inverse_frequency_class_weights",
    "mutual_information_report",
    "plan_generation",
    "save_loop_checkpoint",
    "load_loop_checkpoint",
]
