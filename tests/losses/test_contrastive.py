"""InfoNCE and the CLAP-style contrastive loss against values computed by hand (plain Python maths)."""

import math

import pytest
import torch

from hf_cser.losses import ClapContrastiveLoss, InfoNCELoss, info_nce_loss, info_nce_mutual_information_bound


def _cos(a, b):
    return sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def _hand_info_nce(query, keys, tau, sim=_cos):
    """-1/B sum_i log(exp(s_ii) / sum_j exp(s_ij)), s_ij = sim(q_i, k_j) / tau, written out with loops."""
    total = 0.0
    for i, q in enumerate(query):
        scores = [sim(q, k) / tau for k in keys]
        total += -(scores[i] - math.log(sum(math.exp(s) for s in scores)))
    return total / len(query)


QUERY = [[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]]
KEYS = [[2.0, 0.5], [0.3, 1.0], [-1.0, 1.0]]


def test_info_nce_two_pairs_closed_form():
    # orthogonal unit pairs: s_ii = 1 / tau, s_ij = 0  ->  loss = log(1 + exp(-1 / tau))
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    for tau in (0.5, 1.0, 0.07):
        expected = math.log(1 + math.exp(-1 / tau))
        assert info_nce_loss(q, q.clone(), tau).item() == pytest.approx(expected, rel=1e-5, abs=1e-7)


@pytest.mark.parametrize("tau", [1.0, 0.1])
def test_info_nce_matches_hand_computation(tau):
    got = info_nce_loss(torch.tensor(QUERY), torch.tensor(KEYS), temperature=tau)
    assert got.item() == pytest.approx(_hand_info_nce(QUERY, KEYS, tau), rel=1e-5)
    assert InfoNCELoss(temperature=tau)(torch.tensor(QUERY), torch.tensor(KEYS)).item() == pytest.approx(got.item())


def test_info_nce_dot_similarity_and_reductions():
    def dot(a, b):
        return sum(x * y for x, y in zip(a, b))

    q, k = torch.tensor(QUERY), torch.tensor(KEYS)
    got = info_nce_loss(q, k, temperature=2.0, similarity="dot")
    assert got.item() == pytest.approx(_hand_info_nce(QUERY, KEYS, 2.0, dot), rel=1e-5)
    rows = info_nce_loss(q, k, temperature=2.0, similarity="dot", reduction="none")
    assert rows.shape == (3,)
    assert rows.mean().item() == pytest.approx(got.item(), rel=1e-6)
    assert info_nce_loss(q, k, 2.0, "dot", reduction="sum").item() == pytest.approx(rows.sum().item(), rel=1e-6)


def test_clap_loss_symmetric_and_one_directional():
    t, a = torch.tensor(QUERY), torch.tensor(KEYS)
    tau = 0.5
    text_to_audio = _hand_info_nce(QUERY, KEYS, tau)  # eq. (5): text anchors, audio candidates
    audio_to_text = _hand_info_nce(KEYS, QUERY, tau)
    assert ClapContrastiveLoss(tau, symmetric=False)(t, a).item() == pytest.approx(text_to_audio, rel=1e-5)
    assert ClapContrastiveLoss(tau)(t, a).item() == pytest.approx(0.5 * (text_to_audio + audio_to_text), rel=1e-5)


def test_clap_learnable_temperature_gets_gradient():
    loss_fn = ClapContrastiveLoss(0.1, learnable_temperature=True)
    assert loss_fn.temperature == pytest.approx(0.1, rel=1e-5)
    loss_fn(torch.tensor(QUERY), torch.tensor(KEYS)).backward()
    assert loss_fn.logit_scale.grad is not None and loss_fn.logit_scale.grad.abs() > 0


def test_info_nce_gradient_matches_finite_differences_and_is_stable():
    q = torch.tensor(QUERY, dtype=torch.float64, requires_grad=True)
    k = torch.tensor(KEYS, dtype=torch.float64)
    info_nce_loss(q, k, 0.3).backward()
    eps, i, j = 1e-6, 1, 0
    plus, minus = [row[:] for row in QUERY], [row[:] for row in QUERY]
    plus[i][j] += eps
    minus[i][j] -= eps
    numeric = (_hand_info_nce(plus, KEYS, 0.3) - _hand_info_nce(minus, KEYS, 0.3)) / (2 * eps)
    assert q.grad[i, j].item() == pytest.approx(numeric, rel=1e-4)
    # tiny temperatures and bf16 inputs stay finite (float32 log-softmax)
    x = torch.randn(16, 8)
    assert torch.isfinite(info_nce_loss(x, x + 0.1, temperature=1e-4))
    assert info_nce_loss(x.bfloat16(), x.bfloat16(), 0.07).dtype == torch.float32


def test_mutual_information_bound():
    q = torch.eye(4)
    loss = info_nce_loss(q, q, temperature=0.01)  # perfectly matched pairs: loss ~ 0, bound ~ log 4
    assert info_nce_mutual_information_bound(loss, 4) == pytest.approx(math.log(4), abs=1e-6)
    assert info_nce_mutual_information_bound(math.log(4), 4) == pytest.approx(0.0)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"query": torch.zeros(3, 2), "keys": torch.zeros(3, 4)}, "same shape"),
        ({"query": torch.zeros(3), "keys": torch.zeros(3)}, "batch_size, dim"),
        ({"query": torch.zeros(3, 2, dtype=torch.long), "keys": torch.zeros(3, 2)}, "floating point"),
        ({"query": torch.zeros(3, 2), "keys": torch.zeros(3, 2), "temperature": 0.0}, "temperature"),
        ({"query": torch.zeros(3, 2), "keys": torch.zeros(3, 2), "similarity": "l2"}, "similarity"),
        ({"query": torch.zeros(3, 2), "keys": torch.zeros(3, 2), "reduction": "max"}, "reduction"),
    ],
)
def test_info_nce_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        info_nce_loss(**kwargs)
