"""Configs, models, feature extractor and text encoder of the MI-regularised feature generation method (paper 004)."""

import numpy as np
import pytest
import torch

import hf_cser  # noqa: F401  (registers the Auto classes and the pipeline)
from hf_cser.models.feature_gan import (
    FeatureGanConfig,
    FeatureGanForEmotionClassification,
    FeatureGanGeneratorConfig,
    FeatureGanGeneratorModel,
    LogMelConvEncoderConfig,
    LogMelFeatureExtractor,
    SentenceTextEncoder,
    build_tiny_text_encoder,
    masked_mean_pool,
)

TINY_BACKBONE = LogMelConvEncoderConfig(num_mel_bins=16, conv_dim=[12, 16], conv_kernel=[3, 3], conv_stride=[2, 1])


def tiny_model(**kwargs):
    torch.manual_seed(0)
    kwargs.setdefault("text_hidden_size", 8)
    return FeatureGanForEmotionClassification(FeatureGanConfig(backbone_config=TINY_BACKBONE, **kwargs))


def waves(seed=0, lengths=(8000, 5000)):
    rng = np.random.default_rng(seed)
    return [(0.1 * rng.standard_normal(n)).astype(np.float32) for n in lengths]


def test_config_defaults_validation_and_round_trip(tmp_path):
    config = FeatureGanConfig()
    assert config.backbone_config["model_type"] == "log_mel_conv_encoder" and config.hidden_size == 128
    assert (config.contrastive_weight, config.mi_weight) == (1.0, 1.0)  # paper alpha = beta = 1
    assert config.id2label[0] == "neutral" and config.num_labels == 4
    config.save_pretrained(tmp_path)
    again = FeatureGanConfig.from_pretrained(tmp_path)
    ours, theirs = again.to_dict(), config.to_dict()
    backbone, original = ours.pop("backbone_config"), theirs.pop("backbone_config")
    assert ours == theirs
    assert {k: backbone[k] for k in original} == original
    assert again.build_backbone_config().to_dict() == config.build_backbone_config().to_dict()
    gen = FeatureGanGeneratorConfig(feature_size=16, text_hidden_size=8, noise_size=4)
    assert (gen.mi_label_weight, gen.mi_text_weight) == (1.0, 1.0)  # paper lambda_y = lambda_t = 1
    assert gen.generator_hidden_sizes == [] and gen.discriminator_hidden_sizes == []  # single linear layers
    assert gen.condition_size == 4 + 4 + 8
    assert FeatureGanGeneratorConfig(feature_size=16, use_text_condition=False, noise_size=4).condition_size == 8
    for bad, match in (
        ({"pooling": "max"}, "pooling"),
        ({"modality": "video"}, "modality"),
        ({"contrastive_temperature": 0}, "contrastive_temperature"),
        ({"mi_weight": -1}, "mi_weight"),
        ({"class_weights": [1.0, 2.0]}, "class_weights"),
        ({"multimodal_hidden_sizes": [0]}, "multimodal_hidden_sizes"),
    ):
        with pytest.raises(ValueError, match=match):
            FeatureGanConfig(**bad)
    with pytest.raises(ValueError, match="mixup_alpha"):
        FeatureGanGeneratorConfig(mixup_alpha=-0.1)


def test_log_mel_extractor_matches_numpy_reference_and_normalises():
    fe = LogMelFeatureExtractor(feature_size=16)
    wave = waves()[0]
    frames = fe.log_mel(wave)
    n_frames = 1 + (len(wave) - 400) // 160
    assert frames.shape == (n_frames, 16)
    # independent reference: numpy rfft of Hann-windowed frames, power, the same mel matrix
    window = np.hanning(401)[:-1]  # periodic Hann, as torch.hann_window
    stack = np.stack([wave[i * 160 : i * 160 + 400] * window for i in range(n_frames)])
    power = np.abs(np.fft.rfft(stack, axis=-1)) ** 2
    reference = np.log(power @ fe._mel_filters().numpy() + 1e-6)
    np.testing.assert_allclose(frames, reference, rtol=1e-3, atol=1e-3)
    fe.fit_normalization(waves(1))
    batch = fe(waves(), return_tensors="pt")
    assert batch["input_values"].shape[0] == 2 and batch["attention_mask"][1].sum() < batch["attention_mask"][0].sum()
    first = batch["input_values"][0, : int(batch["attention_mask"][0].sum())].numpy()
    np.testing.assert_allclose(first, (frames - np.array(fe.mean)) / np.array(fe.std), rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="16000"):
        fe(wave, sampling_rate=8000)


def test_forward_shapes_losses_and_padding_invariance():
    model = tiny_model(classifier_dropout=0.0).eval()
    fe = LogMelFeatureExtractor(feature_size=16)
    batch = fe(waves(), return_tensors="pt")
    out = model(**batch, labels=torch.tensor([0, 3]))
    assert out.logits.shape == (2, 4) and out.embeddings.shape == (2, 16)
    assert out.projected_text.shape == (2, 8) and out.audio_text_embeds.shape == (2, 8)
    expected = torch.nn.functional.cross_entropy(out.logits, torch.tensor([0, 3]))
    assert out.loss.item() == pytest.approx(expected.item(), rel=1e-6)
    alone = model(**fe(waves()[1:], return_tensors="pt"))
    torch.testing.assert_close(alone.embeddings[0], out.embeddings[1], atol=1e-5, rtol=1e-5)
    # t_hat = W_t h + b_t
    torch.testing.assert_close(
        out.projected_text, out.embeddings @ model.text_projection.weight.T + model.text_projection.bias
    )
    # class weights enter the cross-entropy
    model.set_class_weights([1.0, 1.0, 1.0, 5.0])
    weighted = model(**batch, labels=torch.tensor([0, 3])).loss
    weights = torch.tensor([1.0, 1, 1, 5])
    reference = torch.nn.functional.cross_entropy(out.logits, torch.tensor([0, 3]), weight=weights)
    assert weighted.item() == pytest.approx(reference.item(), rel=1e-5)


def test_masked_mean_pool():
    hidden = torch.arange(12, dtype=torch.float32).reshape(1, 4, 3)
    torch.testing.assert_close(masked_mean_pool(hidden, torch.tensor([[1, 1, 0, 0]])), hidden[:, :2].mean(1))
    torch.testing.assert_close(masked_mean_pool(hidden, None), hidden.mean(1))


def test_multimodal_head_uses_text_or_projected_text():
    model = tiny_model(modality="audio_text", multimodal_hidden_sizes=[6]).eval()
    h, t = torch.randn(3, 16), torch.randn(3, 8)
    with_text = model.classify_features(h, t)
    manual = model.multimodal_classifier(torch.cat([h, t], -1))
    torch.testing.assert_close(with_text, manual)
    projected = model.multimodal_classifier(torch.cat([h, model.project_text(h)], -1))
    torch.testing.assert_close(model.classify_features(h), projected)


def test_save_load_auto_classes_and_pipeline(tmp_path):
    from transformers import AutoFeatureExtractor, AutoModel, AutoModelForAudioClassification, pipeline

    model = tiny_model(freeze_backbone=True).eval()
    fe = LogMelFeatureExtractor(feature_size=16).fit_normalization(waves(2))
    model.save_pretrained(tmp_path)
    fe.save_pretrained(tmp_path)
    loaded = AutoModelForAudioClassification.from_pretrained(tmp_path).eval()
    assert type(loaded) is FeatureGanForEmotionClassification
    assert type(AutoModel.from_pretrained(tmp_path)) is FeatureGanForEmotionClassification
    assert not any(p.requires_grad for p in loaded.backbone.parameters())  # frozen again after loading
    loaded_fe = AutoFeatureExtractor.from_pretrained(tmp_path)
    assert isinstance(loaded_fe, LogMelFeatureExtractor) and loaded_fe.mean == pytest.approx(fe.mean)
    batch = fe(waves(), return_tensors="pt")
    torch.testing.assert_close(loaded(**batch).logits, model(**batch).logits)
    classifier = pipeline("audio-classification", model=str(tmp_path))
    scores = classifier({"array": waves()[0], "sampling_rate": 16000}, top_k=4)
    assert {s["label"] for s in scores} == {"neutral", "happy", "angry", "sad"}
    probs = torch.softmax(model(**fe(waves()[0], return_tensors="pt")).logits, -1)[0]
    assert max(s["score"] for s in scores) == pytest.approx(probs.max().item(), rel=1e-4)


def test_any_hf_backbone_by_folder(tmp_path):
    """A tiny wav2vec2 backbone by folder: waveform input, masked mean pooling over its frames, audio projection to
    a different text width."""
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    torch.manual_seed(0)
    config = Wav2Vec2Config(
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        conv_dim=(8, 8),
        conv_kernel=(10, 3),
        conv_stride=(5, 2),
        num_conv_pos_embeddings=8,
        num_conv_pos_embedding_groups=2,
        feat_extract_norm="layer",
    )
    Wav2Vec2Model(config).save_pretrained(tmp_path)
    model = FeatureGanForEmotionClassification.from_backbone(str(tmp_path), text_hidden_size=24).eval()
    assert model.config.backbone_name_or_path == str(tmp_path)
    assert model.backbone.feature_extractor.conv_layers[0].conv.weight.requires_grad is False  # frozen conv encoder
    wav = torch.randn(2, 4000)
    mask = torch.ones(2, 4000, dtype=torch.long)
    mask[1, 2500:] = 0
    out = model(wav, attention_mask=mask)
    assert out.embeddings.shape == (2, 16) and out.audio_text_embeds.shape == (2, 24)
    alone = model(wav[1:, :2500], attention_mask=mask[1:, :2500])
    torch.testing.assert_close(alone.embeddings[0], out.embeddings[1], atol=1e-4, rtol=1e-4)


def test_generator_from_baseline_copies_and_freezes_heads(tmp_path):
    from transformers import AutoModel

    baseline = tiny_model()
    gan = FeatureGanGeneratorModel.from_baseline(baseline, noise_size=4)
    torch.testing.assert_close(gan.emotion_head.weight, baseline.classifier.weight)
    torch.testing.assert_close(gan.text_projection.bias, baseline.text_projection.bias)
    trainable = {n for n, p in gan.named_parameters() if p.requires_grad}
    assert trainable == {"generator.0.weight", "generator.0.bias", "discriminator.0.weight", "discriminator.0.bias"}
    assert len(gan.generator) == 1 and isinstance(gan.generator[0], torch.nn.Linear)  # paper: one linear layer
    features = 3.0 + 2.0 * torch.randn(50, 16)
    gan.set_feature_statistics(features)
    labels, text, noise = torch.tensor([0, 2]), torch.randn(2, 8), torch.randn(2, 4)
    fake = gan.generate(labels, text, noise=noise)
    # the generator is affine in [z; onehot(c); t] (linear layer, then the fixed de-standardisation)
    inputs = torch.cat([noise, torch.nn.functional.one_hot(labels, 4).float(), text], -1)
    torch.testing.assert_close(fake, gan.generator[0](inputs) * gan.feature_std + gan.feature_mean)
    out = gan(labels, text, noise=noise)
    torch.testing.assert_close(out.label_logits, baseline.classifier(fake))
    with pytest.raises(ValueError, match="text_embeds"):
        gan.generate(labels)
    gan.save_pretrained(tmp_path)
    again = AutoModel.from_pretrained(tmp_path)
    assert type(again) is FeatureGanGeneratorModel and again.config.feature_statistics_set
    torch.testing.assert_close(again.generate(labels, text, noise=noise), fake)
    assert not again.emotion_head.weight.requires_grad
    deep = FeatureGanGeneratorModel.from_baseline(
        baseline, noise_size=4, generator_hidden_sizes=[32], discriminator_hidden_sizes=[32], use_text_condition=False
    )
    assert deep.generate(labels).shape == (2, 16) and len(deep.generator) == 3


def test_tiny_text_encoder_and_sentence_pooling(tmp_path):
    texts = ["Kids are talking by the door.", "孩子们在门口说话。", "Les enfants parlent."]
    path = build_tiny_text_encoder(texts, tmp_path / "enc", hidden_size=16)
    encoder = SentenceTextEncoder.from_pretrained(path)
    assert encoder.hidden_size == 16 and not any(p.requires_grad for p in encoder.model.parameters())
    assert "[UNK]" not in encoder.tokenizer.tokenize(" ".join(texts).lower())
    emb = encoder.encode_unique([texts[0], texts[1], texts[0]])
    assert emb.shape == (3, 16)
    torch.testing.assert_close(emb[0], emb[2])
    assert not torch.allclose(emb[0], emb[1])
    # masked mean pooling, checked on one sentence by hand
    tokens = encoder.tokenizer([texts[2]], return_tensors="pt")
    hidden = encoder.model(**tokens).last_hidden_state[0]
    torch.testing.assert_close(encoder.encode([texts[2]])[0], hidden.mean(0), atol=1e-5, rtol=1e-5)
