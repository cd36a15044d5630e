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

from .baseline import (
    FeatureGanBaselineTrainer,
    FeatureGanDataCollator,
    FeatureGanTrainingArguments,
    compute_pooled_features,
    inverse_frequency_class_weights,
)
from .classifier import (
    AUGMENTATION_MODES,
    AugmentedFeatureSet,
    FeatureGanClassifierTrainer,
    FeatureGanClassifierTrainingArguments,
    build_augmented_training_set,
    plan_generation,
)
from .infogan import (
    FeatureInfoGanTrainer,
    FeatureInfoGanTrainingArguments,
    generate_features,
    mutual_information_report,
)
from .loop_checkpoints import LoopArguments, load_loop_checkpoint, save_loop_checkpoint

__all__ = [
    "LoopArguments",
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
