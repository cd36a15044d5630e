"""Margin disparity discrepancy: hand-computed values, an independent TLlib-style formula, and the sign conventions
(f' is pushed to increase D_gamma, the features to decrease it) through the gradient reversal layer."""

import math

import pytest
import torch
from torch.nn import functional as F

from hf_cser.losses import GradientReversalLayer, MarginDisparityDiscrepancyLoss, shift_log


def tllib_style_mdd(y_s, y_s_adv, y_t, y_t_adv, margin):
    """TLlib's ClassificationMarginDisparityDiscrepancy, written from its description (METHODS.md section 3):
    source_disparity = CE(y_s_adv, argmax y_s); target_disparity = -NLL(log(1 - softmax(y_t_adv)), argmax y_t);
    loss = -margin * source_disparity + target_disparity (the training loop adds -loss * trade_off)."""
    pred_s = y_s.argmax(1)
    pred_t = y_t.argmax(1)
    source = F.cross_entropy(y_s_adv, pred_s)
    one_minus = torch.clamp(1.0 - F.softmax(y_t_adv, dim=1) + 1e-6, max=1.0).log()
    target = -F.nll_loss(one_minus, pred_t)
    return -margin * source + target


def test_hand_computed_values():
    f_s = torch.tensor([[2.0, 0.0], [0.0, 1.0]])  # f predicts 0, 1 on the source
    f_t = torch.tensor([[0.0, 3.0]])  # f predicts 1 on the target
    aux_s = torch.tensor([[math.log(3.0), 0.0], [0.0, 0.0]])  # f' probabilities of f's labels: 3/4 and 1/2
    aux_t = torch.tensor([[0.0, math.log(4.0)]])  # f' gives f's target label 4/5
    out = MarginDisparityDiscrepancyLoss(margin=1.5)(f_s, aux_s, f_t, aux_t)
    source = -(math.log(0.75) + math.log(0.5)) / 2
    target = math.log(1 - 0.8 + 1e-6)
    assert out.source_disparity.item() == pytest.approx(source, rel=1e-6)
    assert out.target_disparity.item() == pytest.approx(target, rel=1e-5)
    assert out.discrepancy.item() == pytest.approx(target - 1.5 * source, rel=1e-5)


def test_matches_the_tllib_formula():
    torch.manual_seed(0)
    tensors = [torch.randn(n, 4) for n in (6, 6, 5, 5)]
    for margin in (1.5, 4.0):
        ours = MarginDisparityDiscrepancyLoss(margin=margin)(*tensors).discrepancy
        torch.testing.assert_close(ours, tllib_style_mdd(*tensors, margin))


def test_log_one_minus_p_is_clamped():
    f_t = torch.tensor([[10.0, 0.0]])
    aux_t = torch.tensor([[100.0, -100.0]])  # p_t = 1 exactly in float32
    out = MarginDisparityDiscrepancyLoss()(f_t, aux_t, f_t, aux_t)
    assert torch.isfinite(out.target_disparity) and out.target_disparity.item() == pytest.approx(math.log(1e-6))
    assert shift_log(torch.tensor(1.0)).item() == 0.0  # never above log(1)


def test_no_gradient_through_fs_pseudo_labels():
    f_s = torch.randn(4, 3, requires_grad=True)
    f_t = torch.randn(4, 3, requires_grad=True)
    out = MarginDisparityDiscrepancyLoss()(f_s, torch.randn(4, 3, requires_grad=True), f_t, torch.randn(4, 3))
    out.discrepancy.backward()
    assert f_s.grad is None and f_t.grad is None


def test_sign_conventions_fprime_ascends_and_features_descend():
    """One descent step on L = CE - eta * D (f' behind a GRL): f' increases D, the features decrease D."""
    torch.manual_seed(1)
    eta, coeff, lr = 1.0, 0.5, 1e-2
    feats_s = torch.randn(8, 5, requires_grad=True)
    feats_t = torch.randn(8, 5, requires_grad=True)
    f = torch.nn.Linear(5, 3)
    f_prime = torch.nn.Linear(5, 3)
    grl = GradientReversalLayer(coeff)
    mdd = MarginDisparityDiscrepancyLoss(margin=1.5)
    labels = torch.randint(0, 3, (8,))

    def discrepancy(fs, ft, head):  # D_gamma without any GRL (the quantity the game is about)
        return tllib_style_mdd(f(fs), head(fs), f(ft), head(ft), 1.5)

    out = mdd(f(feats_s), f_prime(grl(feats_s)), f(feats_t), f_prime(grl(feats_t)))
    loss = F.cross_entropy(f(feats_s), labels) - eta * out.discrepancy
    loss.backward()

    # f' gets -eta * dD/dtheta': its descent step is an ascent step on D
    d_theta = torch.autograd.grad(discrepancy(feats_s, feats_t, f_prime), list(f_prime.parameters()))
    for param, grad_d in zip(f_prime.parameters(), d_theta, strict=True):
        torch.testing.assert_close(param.grad, -eta * grad_d)
    # the features get +eta * coeff * dD/dpsi from the MDD path (reversed twice), plus the CE gradient on the source
    d_target = torch.autograd.grad(discrepancy(feats_s, feats_t, f_prime), feats_t)[0]
    torch.testing.assert_close(feats_t.grad, eta * coeff * d_target)

    before = discrepancy(feats_s, feats_t, f_prime).item()
    with torch.no_grad():
        stepped = torch.nn.Linear(5, 3)
        stepped.load_state_dict(f_prime.state_dict())
        for p_new, p_old in zip(stepped.parameters(), f_prime.parameters(), strict=True):
            p_new -= lr * p_old.grad
        after_fprime = discrepancy(feats_s, feats_t, stepped).item()
        after_features = discrepancy(feats_s, feats_t - lr * feats_t.grad, f_prime).item()
    assert after_fprime > before  # f' pushed to increase the discrepancy
    assert after_features < before  # the (target) features pushed to decrease it
