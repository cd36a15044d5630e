"""Loss functions of hf_cser: plain ``nn.Module``s that take tensors and import nothing of our models."""

from .triplet import (
    PhonemeTripletLoss,
    SpeakerTripletLoss,
    TripletLossStats,
    masked_triplet_loss,
    pairwise_squared_distances,
)


__all__ = [
    "PhonemeTripletLoss",
    "SpeakerTripletLoss",
    "TripletLossStats",
    "masked_triplet_loss",
    "pairwise_squared_distances",
]
