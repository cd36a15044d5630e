"""Language-aware SupCon: hand-computed value, loop reference, pytorch-metric-learning at gamma=0, stability, bf16."""

import math

import pytest
import torch

from hf_cser.losses import LanguageAwareSupConLoss, SupConLossStats

# ---------------------------------------------------------------------------------------------------------------------
# Independent reference: Python loops over anchors and positives, float64 math, straight from METHODS.md section 2.


def reference_loss(embeddings, labels, languages, temperature, gamma):
    x = [[float(v) for v in row] for row in embeddings]
    labels = [int(v) for v in labels]
    languages = None if languages is None else [int(v) for v in languages]
    n = len(x)

    def cos(a, b):
        dot = sum(u * v for u, v in zip(a, b))
        return dot / (math.sqrt(sum(u * u for u in a)) * math.sqrt(sum(v * v for v in b)))

    anchor_losses = []
    for i in range(n):
        positives = [p for p in range(n) if p != i and labels[p] == labels[i]]
        if not positives:
            continue
        others = [a for a in range(n) if a != i]
        sims = [cos(x[i], x[a]) / temperature for a in others]
        top = max(sims)  # shift so that math.exp cannot overflow at tiny temperatures
        log_denominator = top + math.log(sum(math.exp(s - top) for s in sims))
        total, weight_sum = 0.0, 0.0
        for p in positives:
            w = 1.0 + gamma if languages is not None and languages[p] != languages[i] else 1.0
            total += w * (cos(x[i], x[p]) / temperature - log_denominator)
            weight_sum += w
        anchor_losses.append(-total / weight_sum)
    return sum(anchor_losses) / len(anchor_losses) if anchor_losses else 0.0


def random_batch(seed, batch_size=16, dim=8, num_labels=3, num_languages=3, scale_spread=True):
    generator = torch.Generator().manual_seed(seed)
    embeddings = torch.randn(batch_size, dim, generator=generator, dtype=torch.float64)
    if scale_spread:  # rows of very different norms: the loss must normalise them itself
        embeddings = embeddings * torch.exp(2 * torch.randn(batch_size, 1, generator=generator, dtype=torch.float64))
    labels = torch.randint(num_labels, (batch_size,), generator=generator)
    labels[:num_labels] = torch.arange(num_labels)  # every label present, so the batch has negatives
    labels[num_labels] = 0  # and at least one positive pair
    languages = torch.randint(num_languages, (batch_size,), generator=generator)
    return embeddings, labels, languages


# ---------------------------------------------------------------------------------------------------------------------
# Values.


def test_hand_computed_four_samples():
    # h0 = (1, 0), h1 = (0, 1), h2 = (1, 1), h3 = (-1, 0); emotions 0, 0, 0, 1; languages 0, 0, 1, 1; tau = gamma = 1.
    # cos: c01 = 0, c02 = c12 = 1/sqrt2 = r, c03 = -1, c13 = 0, c23 = -r.
    embeddings = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.0]], requires_grad=True)
    labels = torch.tensor([0, 0, 0, 1])
    languages = torch.tensor([0, 0, 1, 1])
    r = 1 / math.sqrt(2)
    # anchor 0: A = {1, 2, 3} sims (0, r, -1); P = {1 (w=1), 2 (w=2)}
    lse0 = math.log(math.exp(0) + math.exp(r) + math.exp(-1))
    l0 = -(1 * (0 - lse0) + 2 * (r - lse0)) / 3
    # anchor 1: A = {0, 2, 3} sims (0, r, 0); P = {0 (w=1), 2 (w=2)}
    lse1 = math.log(1 + math.exp(r) + 1)
    l1 = -(1 * (0 - lse1) + 2 * (r - lse1)) / 3
    # anchor 2 (language 1): A = {0, 1, 3} sims (r, r, -r); P = {0 (w=2), 1 (w=2)}
    lse2 = math.log(2 * math.exp(r) + math.exp(-r))
    l2 = -(2 * (r - lse2) + 2 * (r - lse2)) / 4
    # anchor 3 has no positive: not averaged.
    expected = (l0 + l1 + l2) / 3
    assert expected == pytest.approx(0.8269841, abs=1e-6)  # the same number, written out
    assert expected == pytest.approx(reference_loss(embeddings.detach(), labels, languages, 1.0, 1.0), abs=1e-12)

    loss, stats = LanguageAwareSupConLoss(temperature=1.0, gamma=1.0)(embeddings, labels, languages, return_stats=True)
    assert loss.dtype == torch.float32 and loss.dim() == 0
    assert loss.item() == pytest.approx(expected, abs=1e-6)
    assert stats == SupConLossStats(num_anchors=3, num_positive_pairs=6, num_cross_language_positive_pairs=4)
    assert stats.to_dict("supcon/") == {
        "supcon/num_anchors": 3.0,
        "supcon/num_positive_pairs": 6.0,
        "supcon/num_cross_language_positive_pairs": 4.0,
    }
    loss.backward()
    assert torch.isfinite(embeddings.grad).all()


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("gamma", [0.0, 0.5, 3.0])
@pytest.mark.parametrize("temperature", [0.07, 0.5])
def test_matches_loop_reference(seed, gamma, temperature):
    embeddings, labels, languages = random_batch(seed)
    loss = LanguageAwareSupConLoss(temperature=temperature, gamma=gamma)(embeddings, labels, languages)
    expected = reference_loss(embeddings, labels, languages, temperature, gamma)
    assert loss.item() == pytest.approx(expected, rel=1e-5, abs=1e-5)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("temperature", [0.07, 0.1, 0.5])
@pytest.mark.parametrize("prenormalised", [False, True])
def test_gamma_zero_matches_pytorch_metric_learning(seed, temperature, prenormalised):
    pml_losses = pytest.importorskip("pytorch_metric_learning.losses")
    embeddings, labels, languages = random_batch(seed, batch_size=24, scale_spread=not prenormalised)
    embeddings = embeddings.float()
    if prenormalised:
        embeddings = torch.nn.functional.normalize(embeddings, dim=1)
    ours_input = embeddings.clone().requires_grad_(True)
    pml_input = embeddings.clone().requires_grad_(True)

    ours = LanguageAwareSupConLoss(temperature=temperature, gamma=0.0)(ours_input, labels, languages)
    reference = pml_losses.SupConLoss(temperature=temperature)(pml_input, labels)
    assert ours.item() == pytest.approx(reference.item(), rel=1e-5, abs=1e-5)

    ours.backward()
    reference.backward()
    torch.testing.assert_close(ours_input.grad, pml_input.grad, rtol=1e-4, atol=1e-6)


def test_no_languages_equals_gamma_zero():
    embeddings, labels, languages = random_batch(7)
    plain = LanguageAwareSupConLoss(temperature=0.1, gamma=2.0)(embeddings, labels, None)
    gamma_zero = LanguageAwareSupConLoss(temperature=0.1, gamma=0.0)(embeddings, labels, languages)
    torch.testing.assert_close(plain, gamma_zero)


def test_gamma_weights_cross_language_positives():
    # Anchor 0 (language 0) has a near same-language positive (1) and a far cross-language positive (2).
    embeddings = torch.tensor([[1.0, 0.0], [0.95, 0.3], [-0.2, 1.0], [0.0, -1.0], [-1.0, -0.1]], dtype=torch.float64)
    labels = torch.tensor([0, 0, 0, 1, 1])
    languages = torch.tensor([0, 0, 1, 0, 1])
    values = []
    for gamma in (0.0, 0.5, 1.0, 4.0):
        leaf = embeddings.clone().requires_grad_(True)
        loss = LanguageAwareSupConLoss(temperature=0.2, gamma=gamma)(leaf, labels, languages)
        assert loss.item() == pytest.approx(reference_loss(embeddings, labels, languages, 0.2, gamma), rel=1e-6)
        loss.backward()
        values.append((loss.item(), leaf.grad[2].norm().item()))
    losses = [v[0] for v in values]
    pulls = [v[1] for v in values]
    # the badly aligned cross-language pairs weigh more: the loss and the pull on the cross-language sample grow
    assert losses == sorted(losses) and losses[0] < losses[-1]
    assert pulls == sorted(pulls) and pulls[0] < pulls[-1]


def test_gamma_changes_nothing_when_all_positives_share_a_language():
    embeddings, labels, _ = random_batch(3)
    languages = labels.clone()  # one language per emotion: no cross-language positive
    a = LanguageAwareSupConLoss(temperature=0.1, gamma=0.0)(embeddings, labels, languages)
    b = LanguageAwareSupConLoss(temperature=0.1, gamma=5.0)(embeddings, labels, languages)
    torch.testing.assert_close(a, b)


# ---------------------------------------------------------------------------------------------------------------------
# Stability and dtypes.


@pytest.mark.parametrize("batch_size", [1, 4])
def test_no_positive_gives_zero_with_finite_gradients(batch_size):
    embeddings = torch.randn(batch_size, 8, requires_grad=True)
    labels = torch.arange(batch_size)  # every sample its own emotion
    languages = torch.zeros(batch_size, dtype=torch.long)
    loss, stats = LanguageAwareSupConLoss()(embeddings, labels, languages, return_stats=True)
    assert loss.item() == 0.0
    assert loss.requires_grad
    assert stats.num_anchors == 0
    loss.backward()
    assert torch.isfinite(embeddings.grad).all()
    assert torch.count_nonzero(embeddings.grad) == 0


def test_only_positives_in_batch_is_finite():
    embeddings = torch.randn(6, 4, requires_grad=True)
    labels = torch.zeros(6, dtype=torch.long)
    loss = LanguageAwareSupConLoss()(embeddings, labels, torch.tensor([0, 0, 0, 1, 1, 1]))
    assert loss.item() == pytest.approx(
        reference_loss(embeddings.detach(), labels, [0, 0, 0, 1, 1, 1], 0.07, 0.5), rel=1e-5
    )
    loss.backward()
    assert torch.isfinite(embeddings.grad).all()


def test_tiny_temperature_is_stable():
    embeddings, labels, languages = random_batch(11, batch_size=12)
    leaf = embeddings.float().requires_grad_(True)
    loss = LanguageAwareSupConLoss(temperature=1e-3, gamma=0.5)(leaf, labels, languages)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(leaf.grad).all()
    expected = reference_loss(embeddings, labels, languages, 1e-3, 0.5)
    assert loss.item() == pytest.approx(expected, rel=1e-3)


def test_duplicate_embeddings_are_finite():
    embeddings = torch.ones(4, 3, requires_grad=True)
    loss = LanguageAwareSupConLoss()(embeddings, torch.tensor([0, 0, 1, 1]), torch.tensor([0, 1, 0, 1]))
    assert loss.item() == pytest.approx(math.log(3), rel=1e-5)  # uniform softmax over 3 others
    loss.backward()
    assert torch.isfinite(embeddings.grad).all()


def test_bf16_close_to_fp32():
    embeddings, labels, languages = random_batch(5, batch_size=32, dim=16, scale_spread=False)
    fp32 = embeddings.float().requires_grad_(True)
    bf16 = embeddings.bfloat16().requires_grad_(True)
    loss_fct = LanguageAwareSupConLoss(temperature=0.1, gamma=0.5)
    loss_fp32 = loss_fct(fp32, labels, languages)
    loss_bf16 = loss_fct(bf16, labels, languages)
    assert loss_bf16.dtype == torch.float32
    assert loss_bf16.item() == pytest.approx(loss_fp32.item(), rel=2e-2)
    loss_bf16.backward()
    assert bf16.grad.dtype == torch.bfloat16 and torch.isfinite(bf16.grad.float()).all()


def test_permutation_invariant():
    embeddings, labels, languages = random_batch(2)
    perm = torch.randperm(embeddings.shape[0], generator=torch.Generator().manual_seed(0))
    loss_fct = LanguageAwareSupConLoss()
    torch.testing.assert_close(
        loss_fct(embeddings, labels, languages), loss_fct(embeddings[perm], labels[perm], languages[perm])
    )


# ---------------------------------------------------------------------------------------------------------------------
# Validation.


def test_invalid_arguments():
    with pytest.raises(ValueError, match="`temperature`"):
        LanguageAwareSupConLoss(temperature=0.0)
    with pytest.raises(ValueError, match="`gamma`"):
        LanguageAwareSupConLoss(gamma=-1.0)
    loss_fct = LanguageAwareSupConLoss()
    with pytest.raises(ValueError, match="`embeddings`"):
        loss_fct(torch.randn(4), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="`labels`"):
        loss_fct(torch.randn(4, 2), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="`languages`"):
        loss_fct(torch.randn(4, 2), torch.zeros(4, dtype=torch.long), torch.zeros(4))


def test_repr_and_citation():
    loss_fct = LanguageAwareSupConLoss(temperature=0.1, gamma=0.25)
    assert "temperature=0.1, gamma=0.25" in repr(loss_fct)
    assert "Supervised Contrastive Learning" in loss_fct.citation
