"""The InfoGAN adversarial losses (hf_cser/losses/adversarial.py) against hand-computed values."""

import math

import pytest
import torch

from hf_cser.losses import discriminator_adversarial_loss, generator_adversarial_loss


def log_sigmoid(x: float) -> float:
    return -math.log1p(math.exp(-x))


def test_discriminator_loss_is_hand_computed():
    real, fake = torch.tensor([2.0, -1.0]), torch.tensor([0.5, -3.0])
    expected = -(log_sigmoid(2.0) + log_sigmoid(-1.0)) / 2 - (log_sigmoid(-0.5) + log_sigmoid(3.0)) / 2
    assert discriminator_adversarial_loss(real, fake).item() == pytest.approx(expected, rel=1e-6)


def test_mixup_discriminator_loss_uses_soft_targets():
    logits, lam = torch.tensor([1.0, -2.0]), torch.tensor([0.25, 0.9])
    # BCE with soft target y: -(y log s(x) + (1 - y) log(1 - s(x))), and log(1 - s(x)) = log s(-x)
    expected = -sum(y * log_sigmoid(x) + (1 - y) * log_sigmoid(-x) for x, y in ((1.0, 0.25), (-2.0, 0.9))) / 2
    got = discriminator_adversarial_loss(mixed_logits=logits, mix_weights=lam).item()
    assert got == pytest.approx(expected, rel=1e-6)
    # lam = 1 everywhere is the real-only half of the unmixed loss
    assert discriminator_adversarial_loss(mixed_logits=logits, mix_weights=torch.ones(2)).item() == pytest.approx(
        -(log_sigmoid(1.0) + log_sigmoid(-2.0)) / 2, rel=1e-6
    )


def test_generator_loss_is_non_saturating_and_stable():
    logits = torch.tensor([0.0, -4.0, 60.0, -60.0])
    expected = -(log_sigmoid(0.0) + log_sigmoid(-4.0) + 0.0 + (-60.0 - math.log1p(math.exp(-60.0)))) / 4
    assert generator_adversarial_loss(logits).item() == pytest.approx(expected, rel=1e-6)
    # non-saturating: a confident discriminator (very negative logits) still gives the generator a gradient
    x = torch.tensor([-30.0], requires_grad=True)
    generator_adversarial_loss(x).backward()
    assert x.grad.item() == pytest.approx(-1.0, abs=1e-6)


def test_wrong_arguments_are_refused():
    with pytest.raises(ValueError, match="mix_weights"):
        discriminator_adversarial_loss(mixed_logits=torch.zeros(2))
    with pytest.raises(ValueError, match="real_logits"):
        discriminator_adversarial_loss(torch.zeros(2))
