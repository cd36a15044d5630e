"""Margin disparity discrepancy (MDD; Zhang et al., 2019) for classification, as CTL-MTNet's CAAM uses it.

With the main classifier ``f`` and the auxiliary (adversarial) classifier ``f'`` on the features ``psi(x)``, f's argmax
prediction is the pseudo-label on both domains (no gradient flows through the argmax):

    p_s = softmax(f'(psi(x_s)))[argmax f(psi(x_s))],     p_t = softmax(f'(psi(x_t)))[argmax f(psi(x_t))]

    source_disparity = E_s[-log p_s]                     (cross-entropy of f' against f's labels on the source)
    target_disparity = E_t[log(1 - p_t)]                 (Zhang et al.'s modified log loss L' on the target)
    D_gamma          = target_disparity - gamma * source_disparity
                     = gamma * E_s[log p_s] + E_t[log(1 - p_t)]

``f'`` **maximises** D_gamma (agree with f on the source, disagree on the target) and the features **minimise** it:
with f' behind a gradient reversal layer, one descent step on ``L_CE(f) - eta * D_gamma`` does both (METHODS.md
section 3). This module returns D_gamma; the trainer subtracts ``eta * D_gamma`` from its loss.

Sign conventions: TLlib's ``ClassificationMarginDisparityDiscrepancy`` returns the same D_gamma (its training loop
adds ``-mdd(...)``), as does ADAPT's MDD. CTL-MTNet's eq. 6 as printed writes the target term as
``-E_t[log(1 - p_t)]``, which reverses the target's role; we follow the reference implementations. ``log(1 - p_t)``
is clamped as TLlib's ``shift_log``: ``log(min(1 - p_t + offset, 1))``, so it never reaches ``log(0)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F


@dataclass
class MddOutput:
    """What :class:`MarginDisparityDiscrepancyLoss` returns (all scalars).

    Args:
        discrepancy (`torch.FloatTensor`): D_gamma = target_disparity - gamma * source_disparity (f' maximises it).
        source_disparity (`torch.FloatTensor`): E_s[-log p_s] >= 0.
        target_disparity (`torch.FloatTensor`): E_t[log(1 - p_t)] <= 0 (clamped).
    """

    discrepancy: torch.Tensor
    source_disparity: torch.Tensor
    target_disparity: torch.Tensor


def shift_log(inputs: torch.Tensor, offset: float = 1e-6) -> torch.Tensor:
    """``log(min(inputs + offset, 1))``: a log that stays finite at 0 and never exceeds 0 (TLlib's ``shift_log``)."""
    return torch.log(torch.clamp(inputs + offset, max=1.0))


class MarginDisparityDiscrepancyLoss(nn.Module):
    """Classification margin disparity discrepancy D_gamma (see the module docstring for the equations).

    Args:
        margin (`float`, *optional*, defaults to 1.5):
            gamma, the margin factor (CTL-MTNet's value; TLlib's default is 4). Must be > 0.
        log_offset (`float`, *optional*, defaults to 1e-6):
            ``offset`` of the clamped ``log(1 - p_t)`` (TLlib's value).

    References:
        - Bridging Theory and Algorithm for Domain Adaptation (Zhang et al., ICML 2019):
          https://arxiv.org/abs/1904.05801
        - TLlib ``tllib/alignment/mdd.py`` (``ClassificationMarginDisparityDiscrepancy``).
        - CTL-MTNet (``papers/002``), eqs. 6-7.

    Inputs:
        source_logits (`torch.FloatTensor` of shape `(n, C)`): f on the source batch (only its argmax is used).
        source_auxiliary_logits (`torch.FloatTensor` of shape `(n, C)`): f' on the source batch (behind the GRL).
        target_logits (`torch.FloatTensor` of shape `(m, C)`): f on the target batch (only its argmax is used).
        target_auxiliary_logits (`torch.FloatTensor` of shape `(m, C)`): f' on the target batch (behind the GRL).

    Returns:
        [`MddOutput`] with ``discrepancy`` (D_gamma), ``source_disparity`` and ``target_disparity``.

    Example:
        ```python
        >>> import torch
        >>> from hf_cser.losses import MarginDisparityDiscrepancyLoss

        >>> mdd = MarginDisparityDiscrepancyLoss(margin=1.5)
        >>> f_s, f_t = torch.tensor([[2.0, 0.0]]), torch.tensor([[0.0, 1.0]])
        >>> out = mdd(f_s, torch.zeros(1, 2), f_t, torch.zeros(1, 2))  # f' uniform: p_s = p_t = 0.5
        >>> round(out.discrepancy.item(), 4)  # 1.5 * log(0.5) + log(0.5)
        -1.7329
        ```
    """

    def __init__(self, margin: float = 1.5, log_offset: float = 1e-6) -> None:
        super().__init__()
        if not margin > 0:
            raise ValueError(f"`margin` (gamma) must be > 0, got {margin!r}.")
        if not 0 <= log_offset < 1:
            raise ValueError(f"`log_offset` must be in [0, 1), got {log_offset!r}.")
        self.margin = float(margin)
        self.log_offset = float(log_offset)

    @staticmethod
    def _check(name: str, logits: torch.Tensor, auxiliary: torch.Tensor) -> None:
        if logits.dim() != 2 or logits.shape != auxiliary.shape:
            raise ValueError(
                f"`{name}_logits` and `{name}_auxiliary_logits` must both have shape (batch_size, num_classes), got "
                f"{tuple(logits.shape)} and {tuple(auxiliary.shape)}."
            )
        if logits.shape[0] == 0:
            raise ValueError(f"The {name} batch is empty.")

    def forward(
        self,
        source_logits: torch.Tensor,
        source_auxiliary_logits: torch.Tensor,
        target_logits: torch.Tensor,
        target_auxiliary_logits: torch.Tensor,
    ) -> MddOutput:
        self._check("source", source_logits, source_auxiliary_logits)
        self._check("target", target_logits, target_auxiliary_logits)
        source_labels = source_logits.detach().argmax(dim=1)  # (n,) f's pseudo-labels, no gradient
        target_labels = target_logits.detach().argmax(dim=1)  # (m,)
        source_disparity = F.cross_entropy(source_auxiliary_logits.float(), source_labels)  # E_s[-log p_s]
        target_probs = F.softmax(target_auxiliary_logits.float(), dim=1)  # (m, C)
        p_t = target_probs.gather(1, target_labels[:, None]).squeeze(1)  # (m,)
        target_disparity = shift_log(1.0 - p_t, self.log_offset).mean()  # E_t[log(1 - p_t)]
        discrepancy = target_disparity - self.margin * source_disparity
        return MddOutput(discrepancy=discrepancy, source_disparity=source_disparity, target_disparity=target_disparity)

    def extra_repr(self) -> str:
        return f"margin={self.margin}, log_offset={self.log_offset}"


__all__ = ["MarginDisparityDiscrepancyLoss", "MddOutput", "shift_log"]
