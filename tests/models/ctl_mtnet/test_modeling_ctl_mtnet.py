"""CtlMtNetForEmotionClassification: capsule invariants, routing, padding, the GRL in front of f', save/load and the
audio-classification pipeline (tiny configs built in code)."""

import numpy as np
import pytest
import torch

import hf_cser  # noqa: F401  (registers the Auto classes)
from hf_cser.losses import squash
from hf_cser.models.ctl_mtnet import (
    CapsuleSelfAttention,
    CtlMtNetConfig,
    CtlMtNetFeatureExtractor,
    CtlMtNetForEmotionClassification,
    DigitCapsules,
)

TINY = dict(conv_filters=4, primary_capsule_types=2, primary_capsule_dim=4, digit_capsule_dim=3)


def tiny_model(seed=0, **kwargs):
    torch.manual_seed(seed)
    return CtlMtNetForEmotionClassification(CtlMtNetConfig(**{**TINY, **kwargs}))


def test_shapes_and_capsule_lengths_in_unit_interval():
    model = tiny_model().eval()
    out = model(torch.randn(3, 40, 39) * 30)
    assert out.logits.shape == out.capsule_lengths.shape == (3, 4)
    assert out.embeddings.shape == (3, 4 * 3)
    assert bool((out.capsule_lengths >= 0).all()) and bool((out.capsule_lengths < 1).all())
    torch.testing.assert_close(out.logits, out.capsule_lengths)  # capsule head: lengths are the scores
    assert out.auxiliary_logits is None


def test_dynamic_routing_matches_a_reference_loop_and_keeps_lengths_below_one():
    torch.manual_seed(0)
    layer = DigitCapsules(num_inputs=5, input_dim=4, num_outputs=3, output_dim=6, iterations=3)
    u = squash(torch.randn(2, 1, 5, 4) * 3)
    ours = layer(u)[:, 0]  # (B, K, D)
    for b in range(2):
        u_hat = torch.stack([torch.stack([layer.weight[i, k] @ u[b, 0, i] for k in range(3)]) for i in range(5)])
        logits = torch.zeros(5, 3)
        for it in range(3):
            c = torch.softmax(logits, dim=1)
            s = torch.stack([(c[:, k, None] * u_hat[:, k]).sum(0) for k in range(3)])
            v = torch.stack([(n2 := s[k].dot(s[k])) / (1 + n2) * s[k] / n2.sqrt() for k in range(3)])
            if it < 2:
                logits = logits + torch.stack([u_hat[:, k] @ v[k] for k in range(3)], dim=1)
        torch.testing.assert_close(ours[b], v, atol=1e-5, rtol=1e-4)
    assert bool((ours.norm(dim=-1) < 1).all())


def test_capsule_attention_matches_the_explicit_masked_softmax_and_survives_an_empty_utterance():
    torch.manual_seed(0)
    layer = CapsuleSelfAttention(4)
    capsules = torch.randn(3, 7, 4, requires_grad=True)
    mask = torch.ones(3, 7)
    mask[1, 5:] = 0  # padded capsules of utterance 1: never attended to
    mask[2] = 0  # an utterance with no valid capsule
    ours = layer(capsules, mask)
    for b in range(2):  # eq. 2-3 written out: A = softmax(Q K^T / sqrt(d)) V over the valid keys, then A * u
        keys = mask[b].bool()
        q, k, v = layer.query(capsules[b]), layer.key(capsules[b][keys]), layer.value(capsules[b][keys])
        reference = torch.softmax(q @ k.T / 2.0, dim=-1) @ v * capsules[b]
        torch.testing.assert_close(ours[b], reference, atol=1e-6, rtol=1e-5)
    assert bool(torch.isfinite(ours).all())
    ours.sum().backward()
    assert bool(torch.isfinite(capsules.grad).all())
    assert float(capsules.grad[1, 5:].abs().sum()) > 0  # padded capsules still get their own A * u gradient
    changed = capsules.detach().clone()
    changed[1, 5:] += 10.0  # what a padded capsule holds does not reach the valid ones
    torch.testing.assert_close(layer(changed, mask)[1, :5], ours[1, :5].detach())


def test_padding_does_not_change_eval_outputs():
    model = tiny_model(head="linear").eval()
    short = torch.randn(1, 37, 39) * 20
    padded = torch.cat([short, torch.zeros(1, 20, 39)], dim=1)
    mask = torch.zeros(1, 57, dtype=torch.long)
    mask[:, :37] = 1
    alone, batched = model(short), model(padded, attention_mask=mask)
    torch.testing.assert_close(alone.logits, batched.logits, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(alone.capsule_lengths, batched.capsule_lengths, atol=1e-5, rtol=1e-4)


def test_losses_by_head():
    labels = torch.tensor([0, 3])
    x = torch.randn(2, 24, 39)
    capsule = tiny_model().eval()
    out = capsule(x, labels=labels)
    torch.testing.assert_close(out.loss, capsule.margin_loss(out.capsule_lengths, labels))
    linear = tiny_model(head="linear").eval()
    out = linear(x, labels=labels)
    torch.testing.assert_close(out.loss, torch.nn.functional.cross_entropy(out.logits, labels))


def test_gradient_reversal_in_front_of_the_auxiliary_classifier():
    model = tiny_model(head="linear", use_mdd=True, classifier_dropout=0.0).eval()
    model.set_grl_coefficient(0.3)
    x = torch.randn(2, 24, 39)
    out = model(x)
    # gradient of sum(f'(psi)) w.r.t. psi through the model's GRL = -0.3 x that of the plain linear map
    psi = out.embeddings
    reversed_grad = torch.autograd.grad(out.auxiliary_logits.sum(), psi, retain_graph=True)[0]
    plain = torch.autograd.grad(model.auxiliary_classifier(psi).sum(), psi)[0]
    torch.testing.assert_close(reversed_grad, -0.3 * plain)
    # and f' itself gets the ordinary gradient
    out.auxiliary_logits.sum().backward()
    assert model.auxiliary_classifier.weight.grad is not None


def test_attention_ablation_and_config_checks():
    model = tiny_model(use_attention=False)
    assert model.attention is None and model(torch.randn(1, 16, 39)).logits.shape == (1, 4)
    with pytest.raises(ValueError, match="use_mdd"):
        CtlMtNetConfig(use_mdd=True)  # needs the linear head
    with pytest.raises(ValueError, match="head"):
        CtlMtNetConfig(head="softmax")
    with pytest.raises(ValueError, match="input_features"):
        tiny_model()(torch.randn(1, 16, 13))


def test_save_load_and_pipeline(tmp_path):
    from transformers import AutoModel, AutoModelForAudioClassification, pipeline

    model = tiny_model(head="linear", use_mdd=True).eval()
    model.save_pretrained(tmp_path)
    extractor = CtlMtNetFeatureExtractor()
    extractor.save_pretrained(tmp_path)
    wav = (np.random.default_rng(0).standard_normal(12000) * 0.1).astype(np.float32)
    inputs = extractor(wav, sampling_rate=16000, return_tensors="pt")
    for auto in (AutoModel, AutoModelForAudioClassification):
        loaded = auto.from_pretrained(tmp_path).eval()
        assert isinstance(loaded, CtlMtNetForEmotionClassification) and loaded.config.use_mdd
        torch.testing.assert_close(loaded(**inputs).logits, model(**inputs).logits)
    classifier = pipeline("audio-classification", model=str(tmp_path))
    result = classifier(wav, top_k=4)
    probs = torch.softmax(model(**inputs).logits.detach(), dim=-1)[0]
    labels = [model.config.id2label[i] for i in range(4)]
    expected = {labels[i]: float(probs[i]) for i in range(4)}
    assert {r["label"] for r in result} == set(labels)
    for r in result:
        assert r["score"] == pytest.approx(expected[r["label"]], abs=1e-5)
