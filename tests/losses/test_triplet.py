"""SAPA triplet losses: hand-computed values, reference implementations, mining rules, stability, chunking."""

import itertools

import pytest
import torch
from torch import nn

from hf_cser.losses import PhonemeTripletLoss, SpeakerTripletLoss, TripletLossStats, masked_triplet_loss


def squared_l2(a, b):
    return ((a - b) ** 2).sum(-1)


# ---------------------------------------------------------------------------------------------------------------------
# Brute-force references (Python loops on purpose: independent of the vectorised masks).


def phoneme_triplets(emotions, clusters, phones):
    n = len(emotions)
    fallback = all(p < 0 for p in phones)
    same_phone = lambda i, j: fallback or (phones[i] >= 0 and phones[i] == phones[j])  # noqa: E731
    out = []
    for a, p, q in itertools.product(range(n), repeat=3):
        positive = p != a and same_phone(a, p) and emotions[a] == emotions[p] and clusters[a] >= 0
        positive = positive and clusters[a] == clusters[p]
        negative = same_phone(a, q) and emotions[a] != emotions[q]
        if positive and negative:
            out.append((a, p, q))
    return out


def speaker_triplets(clusters, speakers):
    n = len(clusters)
    out = []
    for a, p, q in itertools.product(range(n), repeat=3):
        if min(clusters[a], clusters[p], clusters[q]) < 0:
            continue
        if p != a and clusters[a] == clusters[p] and clusters[a] != clusters[q] and speakers[a] != speakers[q]:
            out.append((a, p, q))
    return out


def reference_loss(embeddings, triplets, margin, reduction):
    """nn.TripletMarginWithDistanceLoss with squared Euclidean distance on the enumerated triplets."""
    a, p, q = (torch.tensor(t) for t in zip(*triplets))
    loss_fct = nn.TripletMarginWithDistanceLoss(distance_function=squared_l2, margin=margin, reduction="none")
    losses = loss_fct(embeddings[a], embeddings[p], embeddings[q])
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    return losses.sum() / (losses > 0).sum().clamp(min=1)


def random_batch(batch_size, seed, dim=5):
    g = torch.Generator().manual_seed(seed)
    embeddings = torch.randn(batch_size, dim, generator=g, dtype=torch.float64)
    emotions = torch.randint(0, 4, (batch_size,), generator=g)
    clusters = emotions * 10 + torch.randint(0, 2, (batch_size,), generator=g)  # global id per (emotion, community)
    phones = torch.randint(-1, 3, (batch_size,), generator=g)
    speakers = torch.randint(0, 6, (batch_size,), generator=g)
    return embeddings, emotions, clusters, phones, speakers


# ---------------------------------------------------------------------------------------------------------------------
# Hand-computed values on 2-D embeddings.

SPEAKER_X = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [3.0, 0.0]])
SPEAKER_CLUSTERS = torch.tensor([0, 0, 1, 1])
SPEAKER_IDS = torch.tensor([0, 1, 2, 3])


@pytest.mark.parametrize(
    "mining, reduction, expected",
    [
        # squared distances: d01=1 d02=4 d03=9 d12=5 d13=4 d23=13, beta=0.6. Active triplets:
        # (2,3,0)=13-4+.6=9.6  (2,3,1)=13-5+.6=8.6  (3,2,0)=13-9+.6=4.6  (3,2,1)=13-4+.6=9.6; 8 valid in all.
        ("batch_all", None, 32.4 / 4),
        ("batch_all", "mean_positive", 32.4 / 4),
        ("batch_all", "mean", 32.4 / 8),
        ("batch_all", "sum", 32.4),
        # hardest negatives: a0 -> 4 (0), a1 -> 4 (0), a2 -> 4 (9.6), a3 -> 4 (9.6); mean over 4 valid anchors.
        ("batch_hard", None, 19.2 / 4),
        ("batch_hard", "mean_positive", 19.2 / 2),
    ],
)
def test_speaker_loss_hand_computed(mining, reduction, expected):
    loss_fct = SpeakerTripletLoss(mining=mining, reduction=reduction)
    assert loss_fct.margin == 0.6
    loss = loss_fct(SPEAKER_X, SPEAKER_CLUSTERS, speaker_ids=SPEAKER_IDS)
    assert loss.item() == pytest.approx(expected, abs=1e-5)


PHONE_X = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 1.0], [5.0, 5.0]])
PHONE_EMOTIONS = torch.tensor([0, 0, 1, 0])
PHONE_CLUSTERS = torch.tensor([0, 0, 5, 0])
PHONE_IDS = torch.tensor([0, 0, 0, 1])


def test_phoneme_loss_hand_computed():
    # d01=4 d02=1 d12=5; alpha=0.4. Valid: (0,1,2)=4-1+.4=3.4 and (1,0,2)=4-5+.4<0. Sample 3 (phone 1) is alone.
    loss_fct = PhonemeTripletLoss(reduction="mean")
    assert loss_fct.margin == 0.4
    loss, stats = loss_fct(PHONE_X, PHONE_EMOTIONS, PHONE_CLUSTERS, phone_ids=PHONE_IDS, return_stats=True)
    assert loss.item() == pytest.approx(3.4 / 2, abs=1e-5)
    assert stats == TripletLossStats(2, 1, 0.5, 2)
    assert PhonemeTripletLoss()(PHONE_X, PHONE_EMOTIONS, PHONE_CLUSTERS, PHONE_IDS).item() == pytest.approx(3.4)


def test_phoneme_fallback_without_alignments():
    # All phones -1: positive = same emotion & cluster, negative = other emotion. With d03=50 d13=34 d23=41:
    # (0,1,2)=3.4 (0,3,2)=50-1+.4=49.4 (1,0,2)<0 (1,3,2)=34-5+.4=29.4 (3,0,2)=50-41+.4=9.4 (3,1,2)<0.
    no_phones = torch.full((4,), -1)
    loss_fct = PhonemeTripletLoss(reduction="mean")
    loss, stats = loss_fct(PHONE_X, PHONE_EMOTIONS, PHONE_CLUSTERS, phone_ids=no_phones, return_stats=True)
    assert loss.item() == pytest.approx(91.6 / 6, abs=1e-4)
    assert (stats.num_valid_triplets, stats.num_active_triplets) == (6, 4)
    assert loss_fct(PHONE_X, PHONE_EMOTIONS, PHONE_CLUSTERS).item() == pytest.approx(91.6 / 6, abs=1e-4)


def test_unaligned_samples_are_left_out_when_the_batch_has_alignments():
    phones = torch.tensor([0, 0, 0, -1])  # sample 3 has no alignment: no triplet may use it
    _, stats = PhonemeTripletLoss()(PHONE_X, PHONE_EMOTIONS, PHONE_CLUSTERS, phones, return_stats=True)
    assert stats.num_valid_triplets == 2


# ---------------------------------------------------------------------------------------------------------------------
# Mining rules: break one rule for one sample and that sample's triplets disappear.


@pytest.mark.parametrize(
    "field, index, value",
    [
        ("clusters", 1, 7),  # positive in another speaker-style cluster
        ("emotions", 1, 2),  # positive with another emotion (cluster kept)
        ("phones", 1, 2),  # positive with another phone
        ("phones", 2, 2),  # negative with another phone
        ("emotions", 2, 0),  # negative with the anchor's emotion
    ],
)
def test_phoneme_rule_violation_removes_the_triplet(field, index, value):
    labels = {"emotions": PHONE_EMOTIONS.clone(), "clusters": PHONE_CLUSTERS.clone(), "phones": PHONE_IDS.clone()}
    labels[field][index] = value
    loss, stats = PhonemeTripletLoss()(
        PHONE_X, labels["emotions"], labels["clusters"], labels["phones"], return_stats=True
    )
    expected = phoneme_triplets(labels["emotions"].tolist(), labels["clusters"].tolist(), labels["phones"].tolist())
    assert stats.num_valid_triplets == len(expected) < 2
    if not expected:
        assert loss.item() == 0.0


def test_phoneme_negative_may_be_any_cluster_and_positive_any_language():
    clusters = PHONE_CLUSTERS.clone()
    clusters[2] = 0  # negative in the anchor's cluster: still a negative (different emotion)
    _, stats = PhonemeTripletLoss()(PHONE_X, PHONE_EMOTIONS, clusters, PHONE_IDS, return_stats=True)
    assert stats.num_valid_triplets == 2


def test_speaker_rules():
    loss_fct = SpeakerTripletLoss()
    x = SPEAKER_X
    # moving sample 1 to cluster 1 changes the loss to the brute-force value of the new labels
    clusters = torch.tensor([0, 1, 1, 1])
    expected = reference_loss(x, speaker_triplets(clusters.tolist(), SPEAKER_IDS.tolist()), 0.6, "mean_positive")
    assert loss_fct(x, clusters, SPEAKER_IDS).item() == pytest.approx(expected.item())
    # the same speaker under another emotion has another cluster id but is never its own negative
    same_speaker = torch.tensor([0, 0, 0, 0])
    _, stats = loss_fct(x, SPEAKER_CLUSTERS, same_speaker, return_stats=True)
    assert stats.num_valid_triplets == 0
    _, stats = loss_fct(x, SPEAKER_CLUSTERS, return_stats=True)  # without speaker ids only the cluster rule
    assert stats.num_valid_triplets == 8
    # unknown cluster (-1) is in no triplet: only (0, 1, 2) and (1, 0, 2) are left
    _, stats = loss_fct(x, torch.tensor([0, 0, 1, -1]), SPEAKER_IDS, return_stats=True)
    assert stats.num_valid_triplets == 2
    # positives from another speaker only, on request
    strict = SpeakerTripletLoss(positive_requires_other_speaker=True)
    _, stats = strict(x, SPEAKER_CLUSTERS, torch.tensor([0, 0, 1, 2]), return_stats=True)
    assert stats.num_valid_triplets == 4  # anchors 2 and 3 only
    with pytest.raises(ValueError, match="speaker_ids"):
        strict(x, SPEAKER_CLUSTERS)


# ---------------------------------------------------------------------------------------------------------------------
# Reference implementations on random batches: value and gradient.


@pytest.mark.parametrize("reduction", ["mean", "mean_positive", "sum"])
@pytest.mark.parametrize("seed", [0, 1])
def test_batch_all_matches_triplet_margin_with_distance_loss(reduction, seed):
    x, emotions, clusters, phones, speakers = random_batch(24, seed)
    cases = [
        (
            PhonemeTripletLoss(reduction=reduction),
            (emotions, clusters, phones),
            phoneme_triplets(emotions.tolist(), clusters.tolist(), phones.tolist()),
            0.4,
        ),
        (
            SpeakerTripletLoss(reduction=reduction),
            (clusters, speakers),
            speaker_triplets(clusters.tolist(), speakers.tolist()),
            0.6,
        ),
    ]
    for loss_fct, labels, triplets, margin in cases:
        assert triplets, "the random batch should have valid triplets"
        ours_x = x.clone().requires_grad_(True)
        ref_x = x.clone().requires_grad_(True)
        ours, stats = loss_fct(ours_x, *labels, return_stats=True)
        ref = reference_loss(ref_x, triplets, margin, reduction)
        assert stats.num_valid_triplets == len(triplets)
        torch.testing.assert_close(ours, ref)
        ours.backward()
        ref.backward()
        torch.testing.assert_close(ours_x.grad, ref_x.grad)


def test_matches_pytorch_metric_learning():
    pml_losses = pytest.importorskip("pytorch_metric_learning.losses")
    from pytorch_metric_learning.distances import LpDistance

    x, emotions, clusters, phones, _ = random_batch(20, 3)
    triplets = phoneme_triplets(emotions.tolist(), clusters.tolist(), phones.tolist())
    indices = tuple(torch.tensor(t) for t in zip(*triplets))
    # squared L2 without normalisation; the default AvgNonZeroReducer is our "mean_positive"
    pml = pml_losses.TripletMarginLoss(margin=0.4, distance=LpDistance(normalize_embeddings=False, p=2, power=2))
    expected = pml(x, emotions, indices_tuple=indices)
    ours = PhonemeTripletLoss(reduction="mean_positive")(x, emotions, clusters, phones)
    torch.testing.assert_close(ours, expected.to(ours.dtype))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_batch_hard_matches_brute_force(seed):
    x, emotions, clusters, phones, speakers = random_batch(16, seed)
    x = x.requires_grad_(True)
    loss = SpeakerTripletLoss(mining="batch_hard")(x, clusters, speakers)
    triplets = speaker_triplets(clusters.tolist(), speakers.tolist())
    terms = []
    for a in sorted({t[0] for t in triplets}):
        positives = [t[1] for t in triplets if t[0] == a]
        negatives = [t[2] for t in triplets if t[0] == a]
        hardest_p = max(squared_l2(x[a], x[p]) for p in positives)
        hardest_n = min(squared_l2(x[a], x[n]) for n in negatives)
        terms.append(torch.relu(hardest_p - hardest_n + 0.6))
    expected = torch.stack(terms).mean()
    torch.testing.assert_close(loss, expected)
    (grad,) = torch.autograd.grad(loss, x)
    (expected_grad,) = torch.autograd.grad(expected, x)
    torch.testing.assert_close(grad, expected_grad)


def test_chunked_batch_all_equals_unchunked():
    x, emotions, clusters, phones, _ = random_batch(160, 7, dim=8)
    values, grads = [], []
    for chunk in (None, 1, 13, 1000):
        xc = x.clone().requires_grad_(True)
        loss = PhonemeTripletLoss(anchor_chunk_size=chunk)(xc, emotions, clusters, phones)
        loss.backward()
        values.append(loss.detach())
        grads.append(xc.grad)
    for value, grad in zip(values[1:], grads[1:]):
        torch.testing.assert_close(value, values[0])
        torch.testing.assert_close(grad, grads[0])


# ---------------------------------------------------------------------------------------------------------------------
# Stability and validation.


@pytest.mark.parametrize("mining", ["batch_all", "batch_hard"])
@pytest.mark.parametrize("reduction", ["mean", "mean_positive", "sum"])
def test_zero_loss_without_valid_triplet_keeps_the_graph(mining, reduction):
    x = torch.randn(5, 3, requires_grad=True)
    cases = [
        (
            PhonemeTripletLoss(mining=mining, reduction=reduction),
            (torch.zeros(5, dtype=torch.long), torch.arange(5), torch.zeros(5, dtype=torch.long)),
        ),
        (SpeakerTripletLoss(mining=mining, reduction=reduction), (torch.arange(5),)),  # no positive pair
        (SpeakerTripletLoss(mining=mining, reduction=reduction), (torch.zeros(5, dtype=torch.long),)),  # no negative
    ]
    for loss_fct, labels in cases:
        loss, stats = loss_fct(x, *labels, return_stats=True)
        assert loss.item() == 0.0 and loss.requires_grad
        assert stats.num_valid_triplets == 0 and stats.fraction_active == 0.0
        (grad,) = torch.autograd.grad(loss, x)
        assert torch.isfinite(grad).all() and (grad == 0).all()


def test_identical_embeddings_give_finite_gradients():
    x = torch.zeros(4, 3, requires_grad=True)
    for mining in ("batch_all", "batch_hard"):
        loss = SpeakerTripletLoss(mining=mining)(x, SPEAKER_CLUSTERS, SPEAKER_IDS)
        assert loss.item() == pytest.approx(0.6)
        (grad,) = torch.autograd.grad(loss, x)
        assert torch.isfinite(grad).all()


def test_masked_triplet_loss_and_stats_dict():
    x = SPEAKER_X
    pos, neg = SpeakerTripletLoss().build_masks(SPEAKER_CLUSTERS, SPEAKER_IDS)
    loss, stats = masked_triplet_loss(x, pos, neg, margin=0.6, reduction="sum", return_stats=True)
    assert loss.item() == pytest.approx(32.4, abs=1e-5)
    assert stats.to_dict("triplet_s/") == {
        "triplet_s/num_valid_triplets": 8.0,
        "triplet_s/num_active_triplets": 4.0,
        "triplet_s/fraction_active": 0.5,
        "triplet_s/num_valid_anchors": 4.0,
    }


def test_validation_errors():
    with pytest.raises(ValueError, match="`margin`"):
        PhonemeTripletLoss(margin=-1)
    with pytest.raises(ValueError, match="`mining`"):
        SpeakerTripletLoss(mining="semi_hard")
    with pytest.raises(ValueError, match="`reduction`"):
        SpeakerTripletLoss(reduction="max")
    with pytest.raises(ValueError, match="`anchor_chunk_size`"):
        SpeakerTripletLoss(anchor_chunk_size=0)
    loss_fct = SpeakerTripletLoss()
    with pytest.raises(ValueError, match="`cluster_ids`"):
        loss_fct(SPEAKER_X, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="`cluster_ids`"):
        loss_fct(SPEAKER_X, SPEAKER_CLUSTERS.float())
    with pytest.raises(ValueError, match="`embeddings`"):
        loss_fct(SPEAKER_X[0], SPEAKER_CLUSTERS)


def test_citation_and_repr():
    assert "Phoneme Anchoring" in PhonemeTripletLoss().citation
    assert "margin=0.6" in repr(SpeakerTripletLoss())
