"""Gradient reversal layer (Ganin & Lempitsky, 2015) and its coefficient schedules.

The layer is the identity in the forward pass and multiplies the incoming gradient by ``-coeff`` in the backward
pass, so one descent step trains the head behind it to minimise its loss while the features in front of it maximise
that loss. Used by the speaker-adversarial branch (METHODS.md section 2: GRL -> Linear -> ReLU -> Dropout -> Linear)
and by CAAM's auxiliary classifier ``f'`` for MDD (METHODS.md section 3).

Schedules:

- :func:`constant_grl_schedule`: ``coeff = value`` at every step.
- :func:`warm_start_grl_schedule`: TLlib's ``WarmStartGradientReverseLayer`` formula (METHODS.md section 3),

      coeff(i) = 2 (hi - lo) / (1 + exp(-alpha * i / N)) - (hi - lo) + lo,

  which starts at ``lo`` for ``i = 0`` and rises monotonically towards ``hi`` (``hi - 2 (hi - lo) / (1 + e^alpha)``
  at ``i = N``). TLlib's MDD uses ``hi = 0.1``.

:class:`GrlScheduler` holds the step count, computes the coefficient, pushes it into a :class:`GradientReversalLayer`
and returns a dict for ``Trainer.log``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from transformers.utils import logging

logger = logging.get_logger(__name__)

GRL_SCHEDULES = ("constant", "warm_start")


class GradientReversalFunction(torch.autograd.Function):
    """Identity forward, ``-coeff * grad`` backward. Call as ``GradientReversalFunction.apply(x, coeff)``."""

    @staticmethod
    def forward(ctx: Any, inputs: torch.Tensor, coeff: float = 1.0) -> torch.Tensor:
        ctx.coeff = float(coeff)
        return inputs.view_as(inputs)  # (...) unchanged

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad_output.neg() * ctx.coeff, None


def gradient_reversal(inputs: torch.Tensor, coeff: float = 1.0) -> torch.Tensor:
    """Functional form of :class:`GradientReversalLayer`: ``inputs`` forward, ``-coeff * grad`` backward."""
    return GradientReversalFunction.apply(inputs, coeff)


class GradientReversalLayer(nn.Module):
    """Gradient reversal layer: the identity forward, the gradient times ``-coeff`` backward.

    ``coeff`` is a plain attribute: set it between steps (``layer.coeff = 0.3``) or let a :class:`GrlScheduler` do it.

    Args:
        coeff (`float`, *optional*, defaults to 1.0):
            The reversal coefficient ``lambda`` (>= 0). 0 blocks the gradient; 1 reverses it unscaled.

    References:
        - Unsupervised Domain Adaptation by Backpropagation (Ganin & Lempitsky, 2015): https://arxiv.org/abs/1409.7495
        - TLlib ``tllib/modules/grl.py`` (``GradientReverseLayer``, ``WarmStartGradientReverseLayer``).

    Example:
        ```python
        >>> import torch
        >>> from hf_cser.losses import GradientReversalLayer

        >>> grl = GradientReversalLayer(coeff=0.5)
        >>> x = torch.ones(3, requires_grad=True)
        >>> grl(x).sum().backward()
        >>> x.grad
        tensor([-0.5000, -0.5000, -0.5000])

        ```
    """

    def __init__(self, coeff: float = 1.0) -> None:
        super().__init__()
        self.coeff = coeff

    @property
    def coeff(self) -> float:
        return self._coeff

    @coeff.setter
    def coeff(self, value: float) -> None:
        value = float(value)
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"`coeff` must be a finite number >= 0, got {value}.")
        self._coeff = value

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return GradientReversalFunction.apply(inputs, self._coeff)

    def extra_repr(self) -> str:
        return f"coeff={self._coeff}"


def constant_grl_schedule(value: float = 1.0) -> float:
    """The constant schedule: ``coeff = value`` at every step."""
    return float(value)


def warm_start_grl_schedule(step: int, max_steps: int, lo: float = 0.0, hi: float = 1.0, alpha: float = 10.0) -> float:
    """TLlib's warm-start coefficient ``2 (hi - lo) / (1 + exp(-alpha * step / max_steps)) - (hi - lo) + lo``.

    ``lo`` at step 0, rising monotonically towards ``hi`` (within ``2 (hi - lo) / (1 + e^alpha)`` of it at
    ``step = max_steps``, and closer after). TLlib's class defaults ``alpha=1.0, max_iters=1000``; ``alpha=10`` is
    DANN's value (Ganin et al., 2016) and our default.

    Args:
        step (`int`): the current optimisation step (>= 0).
        max_steps (`int`): the step count ``N`` of the ramp (> 0), usually the total training steps.
        lo (`float`, *optional*, defaults to 0.0): the coefficient at step 0.
        hi (`float`, *optional*, defaults to 1.0): the limit of the coefficient (TLlib's MDD uses 0.1).
        alpha (`float`, *optional*, defaults to 10.0): the steepness of the ramp.
    """
    if max_steps <= 0:
        raise ValueError(f"`max_steps` must be > 0, got {max_steps}.")
    if step < 0:
        raise ValueError(f"`step` must be >= 0, got {step}.")
    span = hi - lo
    return float(2.0 * span / (1.0 + math.exp(-alpha * step / max_steps)) - span + lo)


class GrlScheduler:
    """Step counter that computes the GRL coefficient and pushes it into a :class:`GradientReversalLayer`.

    Call :meth:`step` once per optimisation step (after ``optimizer.step()``); read :attr:`coeff` or log
    :meth:`to_dict`. :meth:`state_dict` / :meth:`load_state_dict` let a trainer resume from a checkpoint.

    Args:
        layer (`GradientReversalLayer`, *optional*):
            The layer whose ``coeff`` is set at construction and after every step (or several, as a list/tuple).
        schedule (`str`, *optional*, defaults to `"warm_start"`):
            `"warm_start"` (:func:`warm_start_grl_schedule`) or `"constant"` (:func:`constant_grl_schedule`, value
            ``hi``).
        max_steps (`int`, *optional*, defaults to 1000):
            The ramp length ``N`` of the warm-start schedule (TLlib's ``max_iters`` default).
        lo (`float`, *optional*, defaults to 0.0): warm-start value at step 0.
        hi (`float`, *optional*, defaults to 1.0): warm-start limit, and the value of the constant schedule.
        alpha (`float`, *optional*, defaults to 10.0): warm-start steepness.

    Example:
        ```python
        >>> from hf_cser.losses import GradientReversalLayer, GrlScheduler

        >>> grl = GradientReversalLayer()
        >>> scheduler = GrlScheduler(grl, schedule="warm_start", max_steps=100, hi=0.1)
        >>> grl.coeff
        0.0
        >>> for _ in range(100):
        ...     coeff = scheduler.step()
        >>> round(grl.coeff, 4), scheduler.to_dict()["grl_step"]
        (0.1, 100.0)

        ```
    """

    def __init__(
        self,
        layer: GradientReversalLayer | list[GradientReversalLayer] | tuple[GradientReversalLayer, ...] | None = None,
        schedule: str = "warm_start",
        max_steps: int = 1000,
        lo: float = 0.0,
        hi: float = 1.0,
        alpha: float = 10.0,
    ) -> None:
        if schedule not in GRL_SCHEDULES:
            raise ValueError(f"`schedule` must be one of {GRL_SCHEDULES}, got {schedule!r}.")
        if max_steps <= 0:
            raise ValueError(f"`max_steps` must be > 0, got {max_steps}.")
        if layer is None:
            self.layers: list[GradientReversalLayer] = []
        elif isinstance(layer, (list, tuple)):
            self.layers = list(layer)
        else:
            self.layers = [layer]
        self.schedule = schedule
        self.max_steps = int(max_steps)
        self.lo = float(lo)
        self.hi = float(hi)
        self.alpha = float(alpha)
        self.num_steps = 0
        self._apply()

    def get_coeff(self, step: int | None = None) -> float:
        """The coefficient at ``step`` (the current step by default)."""
        step = self.num_steps if step is None else step
        if self.schedule == "constant":
            return constant_grl_schedule(self.hi)
        return warm_start_grl_schedule(step, self.max_steps, lo=self.lo, hi=self.hi, alpha=self.alpha)

    @property
    def coeff(self) -> float:
        return self.get_coeff()

    def _apply(self) -> None:
        coeff = self.coeff
        for layer in self.layers:
            layer.coeff = coeff

    def step(self) -> float:
        """Advance one step, update the layers and return the new coefficient."""
        self.num_steps += 1
        self._apply()
        return self.coeff

    def to_dict(self, prefix: str = "") -> dict[str, float]:
        """``{"grl_coeff": ..., "grl_step": ...}`` for ``Trainer.log`` (keys optionally prefixed)."""
        return {f"{prefix}grl_coeff": self.coeff, f"{prefix}grl_step": float(self.num_steps)}

    def state_dict(self) -> dict[str, Any]:
        return {
            "schedule": self.schedule,
            "max_steps": self.max_steps,
            "lo": self.lo,
            "hi": self.hi,
            "alpha": self.alpha,
            "num_steps": self.num_steps,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        for key in ("schedule", "max_steps", "lo", "hi", "alpha", "num_steps"):
            setattr(self, key, state_dict[key])
        self._apply()

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(schedule={self.schedule!r}, max_steps={self.max_steps}, lo={self.lo}, "
            f"hi={self.hi}, alpha={self.alpha}, num_steps={self.num_steps}, coeff={self.coeff:.6g})"
        )
