"""Capsule-network pieces: the squash non-linearity and the margin loss (Sabour et al., 2017; CTL-MTNet eqs. 1, 4).

squash (eq. 1):  ``v = ||s||^2 / (1 + ||s||^2) * s / ||s||``, so ``||v|| = ||s||^2 / (1 + ||s||^2)`` lies in [0, 1):
short vectors shrink to almost zero, long ones approach (but never reach in exact arithmetic) length one.

Margin loss (eq. 4), per sample and class ``k`` with capsule length ``||v_k||`` and one-hot target ``T_k``:

    L_k = T_k max(0, m+ - ||v_k||)^2 + rho (1 - T_k) max(0, ||v_k|| - m-)^2,

summed over the classes; m+ = 0.9, m- = 0.1 and rho = 0.5 in the paper (and in Sabour et al.).
"""

from __future__ import annotations

import torch
from torch import nn


def squash(inputs: torch.Tensor, dim: int = -1, eps: float = 1e-8) -> torch.Tensor:
    """The capsule squash ``||s||^2 / (1 + ||s||^2) * s / ||s||`` along ``dim``.

    ``eps`` keeps the gradient finite at ``s = 0`` (where the output is 0). The output length is in [0, 1); in float32
    it rounds to 1.0 only for ``||s||`` above about 4e3.
    """
    squared_norm = inputs.pow(2).sum(dim=dim, keepdim=True)
    scale = squared_norm / (1.0 + squared_norm) / torch.sqrt(squared_norm + eps)
    return inputs * scale


def capsule_lengths(capsules: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Euclidean length of each capsule (last dimension): `(..., num_capsules, dim)` -> `(..., num_capsules)`."""
    return torch.sqrt(capsules.pow(2).sum(dim=-1) + eps)


class MarginLoss(nn.Module):
    """Margin loss of capsule networks on the capsule lengths (CTL-MTNet eq. 4, Sabour et al. 2017 eq. 4).

    Args:
        margin_positive (`float`, *optional*, defaults to 0.9):
            m+, the length the true class's capsule should exceed (paper value).
        margin_negative (`float`, *optional*, defaults to 0.1):
            m-, the length the other capsules should stay below (paper value).
        downweight (`float`, *optional*, defaults to 0.5):
            rho, weight of the absent-class term (paper value).
        reduction (`str`, *optional*, defaults to `"mean"`):
            `"mean"` over the batch of the per-sample sums over classes (library default, the usual CapsNet
            implementation), `"sum"` (the paper's "sum of all samples' loss") or `"none"` (per-sample, `(B,)`).

    References:
        - Dynamic Routing Between Capsules (Sabour et al., 2017): https://arxiv.org/abs/1710.09829
        - CTL-MTNet (``papers/002``), section 2.4.

    Inputs:
        lengths (`torch.FloatTensor` of shape `(batch_size, num_classes)`): capsule lengths in [0, 1).
        labels (`torch.LongTensor` of shape `(batch_size,)`): class ids.

    Example:
        ```python
        >>> import torch
        >>> from hf_cser.losses import MarginLoss

        >>> loss = MarginLoss()(torch.tensor([[0.95, 0.05], [0.5, 0.3]]), torch.tensor([0, 1]))
        >>> round(loss.item(), 4)  # (0 + ((0.9 - 0.3) ** 2 + 0.5 * (0.5 - 0.1) ** 2)) / 2
        0.22
        ```
    """

    def __init__(
        self,
        margin_positive: float = 0.9,
        margin_negative: float = 0.1,
        downweight: float = 0.5,
        reduction: str = "mean",
    ) -> None:
        super().__init__()
        if not 0 <= margin_negative < margin_positive <= 1:
            raise ValueError(
                f"Need 0 <= `margin_negative` < `margin_positive` <= 1, got {margin_negative!r} and "
                f"{margin_positive!r}."
            )
        if not downweight >= 0:
            raise ValueError(f"`downweight` (rho) must be >= 0, got {downweight!r}.")
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"`reduction` must be 'mean', 'sum' or 'none', got {reduction!r}.")
        self.margin_positive = float(margin_positive)
        self.margin_negative = float(margin_negative)
        self.downweight = float(downweight)
        self.reduction = reduction

    def forward(self, lengths: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if lengths.dim() != 2:
            raise ValueError(f"`lengths` must have shape (batch_size, num_classes), got {tuple(lengths.shape)}.")
        if labels.shape != (lengths.shape[0],) or labels.is_floating_point():
            raise ValueError(
                f"`labels` must be integer class ids of shape ({lengths.shape[0]},), got {tuple(labels.shape)} "
                f"{labels.dtype}."
            )
        targets = nn.functional.one_hot(labels.long(), lengths.shape[1]).to(lengths.dtype)  # (B, K)
        present = targets * torch.clamp(self.margin_positive - lengths, min=0).pow(2)
        absent = self.downweight * (1.0 - targets) * torch.clamp(lengths - self.margin_negative, min=0).pow(2)
        per_sample = (present + absent).sum(dim=1)  # (B,)
        if self.reduction == "none":
            return per_sample
        return per_sample.sum() if self.reduction == "sum" else per_sample.mean()

    def extra_repr(self) -> str:
        return (
            f"margin_positive={self.margin_positive}, margin_negative={self.margin_negative}, "
            f"downweight={self.downweight}, reduction={self.reduction!r}"
        )


__all__ = ["MarginLoss", "capsule_lengths", "squash"]
