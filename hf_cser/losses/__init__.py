"""Loss functions of hf_cser: plain ``nn.Module``s that take tensors and import nothing of our models."""

from .adversarial import discriminator_adversarial_loss, generator_adversarial_loss
from .capsule import MarginLoss, capsule_lengths, squash
from .contrastive import (
    ClapContrastiveLoss,
    InfoNCELoss,
    info_nce_loss,
    info_nce_mutual_information_bound,
)
from .grl import (
    GradientReversalFunction,
    GradientReversalLayer,
    GrlScheduler,
    constant_grl_schedule,
    gradient_reversal,
    warm_start_grl_schedule,
)
from .mdd import MarginDisparityDiscrepancyLoss, MddOutput, shift_log
from .supcon import LanguageAwareSupConLoss, SupConLossStats
from .triplet import (
    PhonemeTripletLoss,
    SpeakerTripletLoss,
    TripletLossStats,
    masked_triplet_loss,
    pairwise_squared_distances,
)

__all__ = [
    "discriminator_adversarial_loss",
    "generator_adversarial_loss",
    "MarginDisparityDiscrepancyLoss",
    "MarginLoss",
    "MddOutput",
    "capsule_lengths",
    "shift_log",
    "squash",
    "ClapContrastiveLoss",
    "InfoNCELoss",
    "info_nce_loss",
    "info_nce_mutual_information_bound",
    "GradientReversalFunction",
    "GradientReversalLayer",
    "GrlScheduler",
    "LanguageAwareSupConLoss",
    "SupConLossStats",
    "constant_grl_schedule",
    "gradient_reversal",
    "warm_start_grl_schedule",
    "PhonemeTripletLoss",
    "SpeakerTripletLoss",
    "TripletLossStats",
    "masked_triplet_loss",
    "pairwise_squared_distances",
]
