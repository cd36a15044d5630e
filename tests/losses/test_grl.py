"""Gradient reversal: identity forward, -coeff backward, warm-start schedule (TLlib formula), GrlScheduler."""

import math

import pytest
import torch
from torch import nn

from hf_cser.losses import (
    GradientReversalFunction,
    GradientReversalLayer,
    GrlScheduler,
    constant_grl_schedule,
    gradient_reversal,
    warm_start_grl_schedule,
)


def test_forward_is_identity():
    x = torch.randn(3, 5, requires_grad=True)
    y = GradientReversalLayer(coeff=0.7)(x)
    assert y.shape == x.shape and y.dtype == x.dtype
    torch.testing.assert_close(y, x, rtol=0, atol=0)


@pytest.mark.parametrize("coeff", [0.0, 0.1, 1.0, 2.5])
def test_backward_of_sum_is_minus_coeff(coeff):
    x = torch.randn(4, 3, requires_grad=True)
    GradientReversalLayer(coeff=coeff)(x).sum().backward()
    torch.testing.assert_close(x.grad, torch.full_like(x, -coeff))


def test_function_and_functional_form():
    x = torch.randn(6, requires_grad=True)
    upstream = torch.randn(6)
    (GradientReversalFunction.apply(x, 0.3) * upstream).sum().backward()
    torch.testing.assert_close(x.grad, -0.3 * upstream)
    x.grad = None
    (gradient_reversal(x, 2.0) * upstream).sum().backward()
    torch.testing.assert_close(x.grad, -2.0 * upstream)


def test_reverses_the_head_gradient_for_the_features_only():
    torch.manual_seed(0)
    encoder, head = nn.Linear(4, 3), nn.Linear(3, 2)
    x, y = torch.randn(8, 4), torch.randint(2, (8,))
    grads = {}
    for name, layer in (("plain", nn.Identity()), ("reversed", GradientReversalLayer(coeff=0.5))):
        encoder.zero_grad()
        head.zero_grad()
        nn.functional.cross_entropy(head(layer(encoder(x))), y).backward()
        grads[name] = (encoder.weight.grad.clone(), head.weight.grad.clone())
    torch.testing.assert_close(grads["reversed"][0], -0.5 * grads["plain"][0])  # encoder: reversed and scaled
    torch.testing.assert_close(grads["reversed"][1], grads["plain"][1])  # head: untouched


def test_coeff_is_settable_and_validated():
    layer = GradientReversalLayer()
    assert layer.coeff == 1.0
    layer.coeff = 0.25
    x = torch.ones(2, requires_grad=True)
    layer(x).sum().backward()
    torch.testing.assert_close(x.grad, torch.full((2,), -0.25))
    assert "coeff=0.25" in repr(layer)
    with pytest.raises(ValueError, match="`coeff`"):
        layer.coeff = -1.0
    with pytest.raises(ValueError, match="`coeff`"):
        GradientReversalLayer(coeff=float("nan"))


def test_bf16_gradient():
    x = torch.randn(5, dtype=torch.bfloat16, requires_grad=True)
    GradientReversalLayer(coeff=0.5)(x).sum().backward()
    assert x.grad.dtype == torch.bfloat16
    torch.testing.assert_close(x.grad.float(), torch.full((5,), -0.5))


# ---------------------------------------------------------------------------------------------------------------------
# Schedules.


def independent_warm_start(step, max_steps, lo, hi, alpha):
    # 2 / (1 + e^-z) - 1 = tanh(z / 2): the same curve written another way.
    return lo + (hi - lo) * math.tanh(alpha * step / max_steps / 2)


def test_constant_schedule():
    assert constant_grl_schedule(0.3) == 0.3
    assert constant_grl_schedule() == 1.0


@pytest.mark.parametrize("lo, hi, alpha", [(0.0, 1.0, 10.0), (0.0, 0.1, 1.0), (0.2, 0.9, 5.0)])
def test_warm_start_matches_formula(lo, hi, alpha):
    for step in (0, 1, 17, 250, 999, 1000, 3000):
        expected = independent_warm_start(step, 1000, lo, hi, alpha)
        assert warm_start_grl_schedule(step, 1000, lo=lo, hi=hi, alpha=alpha) == pytest.approx(expected, abs=1e-12)


def test_warm_start_endpoints_and_monotone():
    values = [warm_start_grl_schedule(step, 500) for step in range(501)]
    assert values[0] == 0.0
    assert values[-1] == pytest.approx(1.0, abs=1e-4)  # 1 - 2 / (1 + e^10)
    assert all(b > a for a, b in zip(values, values[1:]))
    assert warm_start_grl_schedule(5000, 500) <= 1.0
    # TLlib MDD setting: hi = 0.1
    assert warm_start_grl_schedule(1000, 1000, hi=0.1) == pytest.approx(0.1, abs=1e-5)


def test_warm_start_validation():
    with pytest.raises(ValueError, match="`max_steps`"):
        warm_start_grl_schedule(0, 0)
    with pytest.raises(ValueError, match="`step`"):
        warm_start_grl_schedule(-1, 10)


# ---------------------------------------------------------------------------------------------------------------------
# Scheduler.


def test_scheduler_drives_the_layer():
    layers = [GradientReversalLayer(), GradientReversalLayer()]
    scheduler = GrlScheduler(layers, schedule="warm_start", max_steps=100, hi=0.1, alpha=10.0)
    assert scheduler.coeff == 0.0 and all(layer.coeff == 0.0 for layer in layers)
    for step in range(1, 101):
        coeff = scheduler.step()
        assert coeff == pytest.approx(independent_warm_start(step, 100, 0.0, 0.1, 10.0), abs=1e-12)
        assert all(layer.coeff == coeff for layer in layers)
    assert scheduler.to_dict("adv/") == {"adv/grl_coeff": scheduler.coeff, "adv/grl_step": 100.0}


def test_scheduler_constant_and_without_layer():
    scheduler = GrlScheduler(schedule="constant", hi=0.4)
    assert scheduler.coeff == 0.4
    scheduler.step()
    assert scheduler.coeff == 0.4 and scheduler.num_steps == 1


def test_scheduler_state_dict_round_trip():
    scheduler = GrlScheduler(max_steps=50)
    for _ in range(20):
        scheduler.step()
    layer = GradientReversalLayer()
    resumed = GrlScheduler(layer, max_steps=1)
    resumed.load_state_dict(scheduler.state_dict())
    assert resumed.num_steps == 20 and resumed.coeff == scheduler.coeff == layer.coeff
    assert "num_steps=20" in repr(resumed)


def test_scheduler_validation():
    with pytest.raises(ValueError, match="`schedule`"):
        GrlScheduler(schedule="linear")
    with pytest.raises(ValueError, match="`max_steps`"):
        GrlScheduler(max_steps=0)
