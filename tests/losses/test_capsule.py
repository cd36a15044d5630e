"""Squash and margin loss (CTL-MTNet eqs. 1 and 4) against hand-computed values."""

import math

import pytest
import torch

from hf_cser.losses import MarginLoss, capsule_lengths, squash


def test_squash_hand_computed():
    s = torch.tensor([[3.0, 4.0], [0.0, 0.0], [0.6, 0.8]])  # norms 5, 0, 1
    v = squash(s)
    # ||v|| = ||s||^2 / (1 + ||s||^2): 25/26, 0, 1/2; direction kept
    torch.testing.assert_close(v[0], torch.tensor([3.0, 4.0]) / 5 * 25 / 26)
    torch.testing.assert_close(v[1], torch.zeros(2))
    torch.testing.assert_close(v[2], torch.tensor([0.6, 0.8]) * 0.5)


def test_squash_lengths_in_unit_interval_and_gradients_finite():
    s = torch.randn(64, 10, 8) * torch.logspace(-3, 2, 64)[:, None, None]
    s[0] = 0.0
    s.requires_grad_(True)
    v = squash(s)
    lengths = v.detach().norm(dim=-1)
    assert bool((lengths >= 0).all()) and bool((lengths < 1).all())
    capsule_lengths(v).sum().backward()  # eps keeps the gradient finite at s = 0
    assert torch.isfinite(s.grad).all()
    # squash along another dimension
    v = squash(torch.tensor([[3.0], [4.0]]), dim=0)
    assert math.isclose(float(v.norm()), 25 / 26, rel_tol=1e-6)


def test_margin_loss_hand_computed():
    lengths = torch.tensor([[0.95, 0.05, 0.5], [0.5, 0.3, 0.05]])
    labels = torch.tensor([0, 1])
    # sample 0: present 0 (0.95 > 0.9); absent 0.5 * (0.5 - 0.1)^2 = 0.08 (0.05 < 0.1 gives 0)
    # sample 1: present (0.9 - 0.3)^2 = 0.36; absent 0.5 * (0.5 - 0.1)^2 = 0.08 and 0
    per_sample = torch.tensor([0.08, 0.44])
    torch.testing.assert_close(MarginLoss(reduction="none")(lengths, labels), per_sample)
    torch.testing.assert_close(MarginLoss()(lengths, labels), per_sample.mean())
    torch.testing.assert_close(MarginLoss(reduction="sum")(lengths, labels), per_sample.sum())
    # other margins and rho
    custom = MarginLoss(margin_positive=0.8, margin_negative=0.2, downweight=1.0, reduction="none")
    torch.testing.assert_close(custom(lengths, labels), torch.tensor([0.09, 0.25 + 0.09]))


def test_margin_loss_is_zero_at_the_margins_and_checks_inputs():
    lengths = torch.tensor([[0.9, 0.1, 0.1, 0.0]])
    assert float(MarginLoss()(lengths, torch.tensor([0]))) == 0.0
    with pytest.raises(ValueError, match="margin_negative"):
        MarginLoss(margin_positive=0.1, margin_negative=0.9)
    with pytest.raises(ValueError, match="labels"):
        MarginLoss()(lengths, torch.tensor([0.0]))
