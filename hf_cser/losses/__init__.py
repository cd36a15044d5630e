"""Loss functions of hf_cser: plain ``nn.Module``s that take tensors and import nothing of our models."""

from .grl import (
    GradientReversalFunction,
    GradientReversalLayer,
    GrlScheduler,
    constant_grl_schedule,
    gradient_reversal,
    warm_start_grl_schedule,
)
from .supcon import LanguageAwareSupConLoss, SupConLossStats
from .triplet import (
    PhonemeTripletLoss,
    SpeakerTripletLoss,
    TripletLossStats,
    masked_triplet_loss,
    pairwise_squared_distances,
)


__all__ = [
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
