"""Trainers of the MI-regularised feature generation method: stage-1 losses and logging, InfoGAN conditioning, MI
report, class-balanced generation and classifier-only fine-tuning."""

import math

import numpy as np
import pytest
import torch

from hf_cser.losses import ClapContrastiveLoss, info_nce_loss
from hf_cser.models.feature_gan import (
    FeatureGanConfig,
    FeatureGanForEmotionClassification,
    FeatureGanGeneratorConfig,
    FeatureGanGeneratorModel,
    LogMelConvEncoderConfig,
)
from hf_cser.trainers.feature_gan import (
    FeatureGanBaselineTrainer,
    FeatureGanClassifierTrainer,
    FeatureGanClassifierTrainingArguments,
    FeatureGanDataCollator,
    FeatureGanTrainingArguments,
    FeatureInfoGanTrainer,
    FeatureInfoGanTrainingArguments,
    build_augmented_training_set,
    inverse_frequency_class_weights,
    mutual_information_report,
    plan_generation,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


TINY_BACKBONE = LogMelConvEncoderConfig(
    num_mel_bins=8, conv_dim=[8, 12], conv_kernel=[3, 3], conv_stride=[2, 1], dropout=0.0
)


def toy_features(seed=0, n=256, hidden=16, text=8, num_classes=4, scale=3.0):
    """Four well separated Gaussian classes, 20 'transcripts', and a linear head fitted on them (the frozen W_y)."""
    g = torch.Generator().manual_seed(seed)
    means = torch.randn(num_classes, hidden, generator=g) * scale
    labels = torch.arange(n) % num_classes
    features = means[labels] + torch.randn(n, hidden, generator=g)
    sentences = torch.randn(20, text, generator=g)
    text_embeds = sentences[torch.randint(0, 20, (n,), generator=g)]
    head = torch.nn.Linear(hidden, num_classes)
    torch.manual_seed(seed)
    optimizer = torch.optim.Adam(head.parameters(), 1e-2)
    for _ in range(200):
        loss = torch.nn.functional.cross_entropy(head(features), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return features, labels, text_embeds, head


def toy_gan(head, hidden=16, text=8, **kwargs):
    torch.manual_seed(0)
    gan = FeatureGanGeneratorModel(
        FeatureGanGeneratorConfig(feature_size=hidden, text_hidden_size=text, noise_size=8, **kwargs)
    )
    gan.emotion_head.load_state_dict(head.state_dict())
    return gan


GAN_ARGS = dict(
    num_train_epochs=60, per_device_train_batch_size=32, learning_rate=3e-3, disable_tqdm=True, logging_steps=100
)


def test_generator_conditioning_recognised_by_frozen_head():
    """After training on a small separable toy set, the frozen head recognises the conditioning class of generated
    features well above chance (0.25); without the MI terms it does not."""
    features, labels, text, head = toy_features()
    head_before = head.weight.detach().clone()
    gan = toy_gan(head)
    trainer = FeatureInfoGanTrainer(gan, FeatureInfoGanTrainingArguments(**GAN_ARGS), features, labels, text)
    history = trainer.train()
    torch.testing.assert_close(gan.emotion_head.weight, head_before)  # W_y stayed frozen
    for key in ("d_loss", "g_adv_loss", "mi_label_loss", "mi_text_loss", "g_loss", "d_real_prob", "d_fake_prob"):
        assert all(math.isfinite(entry[key]) for entry in history), key
    fresh_labels = torch.arange(200) % 4
    report = trainer.evaluate_mutual_information(fresh_labels, text[:200], seed=1)
    assert report["head_accuracy"] > 0.9
    assert all(v["head_accuracy"] > 0.75 for v in report["per_class"].values())
    assert report["mi_label_bound"] > 0.8 * math.log(4)
    assert report["mi_text_bound"] > 0.5  # generated features carry their transcript (InfoNCE bound, nats)

    no_mi = toy_gan(head, mi_label_weight=0.0, mi_text_weight=0.0)
    args = FeatureInfoGanTrainingArguments(**dict(GAN_ARGS, num_train_epochs=20))
    FeatureInfoGanTrainer(no_mi, args, features, labels, text).train()
    ablated = mutual_information_report(no_mi.generate(fresh_labels, text[:200]).detach(), fresh_labels, head)
    assert ablated["head_accuracy"] < report["head_accuracy"] - 0.3


def test_infogan_steps_update_only_generator_and_discriminator_and_mixup_off():
    features, labels, text, head = toy_features(n=64)
    gan = toy_gan(head, mixup_alpha=0.0, use_text_condition=False)
    before = {n: p.detach().clone() for n, p in gan.named_parameters()}
    args = FeatureInfoGanTrainingArguments(
        num_train_epochs=2, per_device_train_batch_size=16, disable_tqdm=True, logging_steps=1
    )
    history = FeatureInfoGanTrainer(gan, args, features, labels, text).train()
    assert len(history) == 8 and history[-1]["step"] == 8
    for name, p in gan.named_parameters():
        changed = not torch.equal(before[name], p)
        assert changed == name.startswith(("generator.", "discriminator.")), name
    with pytest.raises(ValueError, match="text_embeds"):
        FeatureInfoGanTrainer(toy_gan(head), args, features, labels, None)


def test_mutual_information_report_by_hand():
    head = torch.nn.Linear(2, 2)
    with torch.no_grad():
        head.weight.copy_(torch.eye(2))
        head.bias.zero_()
    features = torch.tensor([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0], [0.0, 1.0]])
    labels = torch.tensor([0, 1, 1, 1])
    projection = torch.nn.Identity()
    projection.weight = head.weight  # the report reads the device from `.weight` of the head only
    text = features.clone()
    report = mutual_information_report(
        features, labels, head, projection, text, batch_size=4, temperature=1.0, label_names=["a", "b"]
    )
    logits = features  # identity head
    ce = torch.nn.functional.cross_entropy(logits, labels, reduction="none")
    assert report["head_accuracy"] == pytest.approx(0.75)
    assert report["per_class"]["a"]["head_accuracy"] == 1.0
    assert report["per_class"]["b"]["head_accuracy"] == pytest.approx(2 / 3)
    entropy = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    assert report["mi_label_bound"] == pytest.approx(entropy - ce.mean().item(), rel=1e-5)
    expected_text = math.log(4) - info_nce_loss(text, features, 1.0).item()
    assert report["mi_text_bound"] == pytest.approx(expected_text, rel=1e-5)


def test_plan_generation_and_class_weights():
    labels = torch.tensor([0, 0, 0, 0, 1, 1, 2, 3, 3, 3])
    gen, rows = plan_generation(labels, 4, "match")
    assert torch.equal(gen, labels) and torch.equal(rows, torch.arange(10))
    gen, rows = plan_generation(labels, 4, "balance", seed=0)
    assert torch.bincount(torch.cat([labels, gen]), minlength=4).tolist() == [4, 4, 4, 4]
    assert torch.equal(labels[rows], gen)  # each generated feature is conditioned on a transcript of its class
    assert plan_generation(labels, 4, "none")[0].numel() == 0
    with pytest.raises(ValueError, match="mode"):
        plan_generation(labels, 4, "double")
    weights = inverse_frequency_class_weights(labels, 4)
    counts = np.array([4, 2, 1, 3])
    np.testing.assert_allclose(weights, 10 / (4 * counts))
    assert inverse_frequency_class_weights([0, 0, 1, 1], 3) == pytest.approx([4 / 6] * 3)  # empty class: largest


def test_augmented_sets_unimodal_and_multimodal():
    features, labels, text, head = toy_features(n=40)
    gan = toy_gan(head)
    projection = torch.nn.Linear(16, 8)
    uni = build_augmented_training_set(features, labels, text, gan, projection, "match", "audio", seed=0)
    assert uni.features.shape == (80, 16) and uni.is_generated.sum() == 40 and uni.text_embeds is None
    torch.testing.assert_close(uni.features[:40], features)
    assert torch.equal(uni.labels[40:], labels)
    multi = build_augmented_training_set(features, labels, text, gan, projection, "match", "audio_text", seed=0)
    assert multi.features.shape == (160, 16) and multi.text_embeds.shape == (160, 8)
    # (h, t), (h, t_hat), (h_hat, t), (h_hat, t_hat)
    torch.testing.assert_close(multi.text_embeds[:40], text)
    torch.testing.assert_close(multi.text_embeds[40:80], projection(features).detach())
    torch.testing.assert_close(multi.features[80:120], uni.features[40:])
    torch.testing.assert_close(multi.text_embeds[80:120], text)
    torch.testing.assert_close(multi.text_embeds[120:], projection(uni.features[40:]).detach())
    plain = build_augmented_training_set(features, labels, text, None, projection, "none", "audio_text")
    assert plain.features.shape == (40, 16) and not plain.is_generated.any()
    with pytest.raises(ValueError, match="generator_model"):
        build_augmented_training_set(features, labels, text, None, projection, "match", "audio")


def _tiny_examples(n=16, seed=0):
    rng = np.random.default_rng(seed)
    return [
        {
            "input_values": rng.standard_normal((int(rng.integers(20, 30)), 8)).astype(np.float32) + (i % 4),
            "text_embeds": rng.standard_normal(6).astype(np.float32),
            "labels": i % 4,
        }
        for i in range(n)
    ]


@pytest.mark.parametrize("aligned", [True, False])
def test_stage1_trainer_losses_logging_and_alignment_ablation(tmp_path, aligned):
    torch.manual_seed(0)
    model = FeatureGanForEmotionClassification(
        FeatureGanConfig(backbone_config=TINY_BACKBONE, text_hidden_size=6, cross_modal_alignment=aligned)
    )
    examples = _tiny_examples()
    batch = FeatureGanDataCollator()(examples[:8])
    assert batch["input_values"].shape[0] == 8 and batch["attention_mask"].sum() == sum(
        e["input_values"].shape[0] for e in examples[:8]
    )
    args = FeatureGanTrainingArguments(
        output_dir=str(tmp_path),
        num_train_epochs=1,
        per_device_train_batch_size=8,
        learning_rate=1e-2,
        report_to=[],
        logging_steps=1,
        save_strategy="no",
        disable_tqdm=True,
        class_weighted_loss=True,
    )
    trainer = FeatureGanBaselineTrainer(
        model=model, args=args, train_dataset=examples, data_collator=FeatureGanDataCollator()
    )
    assert model.config.class_weights == [1.0, 1.0, 1.0, 1.0]
    # the objective is CE + alpha CLAP + beta InfoNCE (eq. 7)
    model.eval()
    loss = trainer.compute_loss(model, dict(batch))
    out = model(batch["input_values"], batch["attention_mask"], labels=batch["labels"])
    expected = (
        out.loss
        + ClapContrastiveLoss(0.07)(batch["text_embeds"], out.audio_text_embeds)
        + info_nce_loss(batch["text_embeds"], out.projected_text, 0.07)
    )
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    # gradient into the backbone: every term when aligned, the cross-entropy only for the ablation
    model.zero_grad()
    trainer.compute_loss(model, dict(batch)).backward()
    grad_full = model.backbone.convs[0].weight.grad.clone()
    model.zero_grad()
    model(batch["input_values"], batch["attention_mask"], labels=batch["labels"]).loss.backward()
    grad_ce = model.backbone.convs[0].weight.grad.clone()
    assert torch.allclose(grad_full, grad_ce, atol=1e-6) == (not aligned)
    model.train()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    trainer.train()
    for name, p in model.named_parameters():
        assert not torch.equal(before[name], p), name
    logged = [e for e in trainer.state.log_history if "ce_loss" in e]
    assert logged and all(k in logged[0] for k in ("clap_loss", "infonce_loss", "mi_text_bound"))


def test_stage3_classifier_trainer_fine_tunes_only_the_head():
    features, labels, text, _ = toy_features(n=120, hidden=12, text=6)
    torch.manual_seed(0)
    config = FeatureGanConfig(
        backbone_config=LogMelConvEncoderConfig(num_mel_bins=8, conv_dim=[12], conv_kernel=[3], conv_stride=[1]),
        text_hidden_size=6,
        modality="audio_text",
        freeze_backbone=True,
    )
    model = FeatureGanForEmotionClassification(config)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    train_set = build_augmented_training_set(
        features[:80], labels[:80], text[:80], None, model.text_projection, "none", "audio_text"
    )
    args = FeatureGanClassifierTrainingArguments(
        num_train_epochs=30, learning_rate=1e-2, disable_tqdm=True, class_weighted_loss=True, early_stopping_patience=5
    )
    trainer = FeatureGanClassifierTrainer(model, args, train_set, features[80:], labels[80:], text[80:])
    history = trainer.train()
    assert history and "eval_uar" in history[-1]
    assert max(e["eval_uar"] for e in history) == pytest.approx(trainer.evaluate()["uar"])  # best epoch kept
    assert trainer.evaluate()["uar"] > 0.9
    for name, p in model.named_parameters():
        assert torch.equal(before[name], p) != name.startswith("multimodal_classifier."), name
