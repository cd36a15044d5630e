import numpy as np
import pytest
import torch
from transformers import AutoConfig, AutoFeatureExtractor, AutoModelForAudioClassification, WavLMConfig, WavLMModel

import hf_cser  # noqa: F401  (registers the Auto classes)
from hf_cser.data.phones import SHARED_VOWELS, voiced_energy_peaks
from hf_cser.encoders.ge2e import Ge2eSpeakerEncoderConfig, Ge2eSpeakerEncoderModel
from hf_cser.labels import EMOTIONS
from hf_cser.models.sapa import SAPA_VARIANTS, SapaConfig, SapaFeatureExtractor, SapaForEmotionClassification


def tiny_wavlm_config():
    return WavLMConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(32,) * 7,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        num_buckets=16,
        max_bucket_distance=50,
    )


def tiny_ge2e_config():
    return Ge2eSpeakerEncoderConfig(hidden_size=16, num_layers=1, embedding_size=16)


def tiny_config(**kwargs):
    values = dict(
        content_encoder_config=tiny_wavlm_config(),
        speaker_encoder_config=tiny_ge2e_config(),
        content_projection_size=8,
        speaker_projection_size=12,
        hidden_size=16,
        num_attention_heads=2,
        classifier_hidden_sizes=(16, 8, 8),
        max_windows=6,
    )
    values.update(kwargs)
    return SapaConfig(**values)


def syllables(seconds=1.0, sr=16000, rate_hz=3.0, seed=0):
    """A voiced tone with `rate_hz` loudness bumps per second: energy peaks at the bumps."""
    t = np.arange(int(seconds * sr)) / sr
    envelope = 0.5 - 0.5 * np.cos(2 * np.pi * rate_hz * t)
    noise = 0.003 * np.random.default_rng(seed).standard_normal(t.size)
    return (0.5 * envelope * np.sin(2 * np.pi * 140 * t) + noise).astype(np.float32)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return SapaForEmotionClassification(tiny_config()).eval()


@pytest.fixture(scope="module")
def extractor(model):
    return SapaFeatureExtractor.from_sapa_arguments(model.config)


def random_features(config, batch=2, windows=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    content = torch.randn(batch, windows, 32, generator=g)
    speaker = torch.randn(batch, windows, config.speaker_encoder_config["embedding_size"], generator=g)
    mask = torch.ones(batch, windows, dtype=torch.long)
    mask[1, -1] = 0
    return content, speaker, mask


# ---------------------------------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"phoneme_margin": -0.1}, "phoneme_margin"),
        ({"speaker_margin": -1.0}, "speaker_margin"),
        ({"variant": "sapa_plus"}, "variant"),
        ({"graph_tau": 1.5}, "graph_tau"),
        ({"window_ms": 0}, "window_ms"),
        ({"max_windows": 0}, "max_windows"),
        ({"hidden_size": 10, "num_attention_heads": 4}, "hidden_size"),
        ({"content_layer": "last"}, "content_layer"),
        ({"content_layer": 7}, "content_layer"),
        ({"dropout": 1.0}, "dropout"),
        ({"classifier_hidden_sizes": (16, 0)}, "classifier_hidden_sizes"),
        ({"phoneme_loss_weight": -0.5}, "phoneme_loss_weight"),
        ({"speaker_encoder_config": {"model_type": "wavlm"}}, "speaker_encoder_config"),
    ],
)
def test_config_rejects_bad_values_naming_the_field(kwargs, field):
    with pytest.raises(ValueError, match=f"`{field}`"):
        tiny_config(**kwargs)


def test_config_defaults_are_the_paper_values():
    config = SapaConfig(content_encoder_config=tiny_wavlm_config())
    assert (config.phoneme_margin, config.speaker_margin) == (0.4, 0.6)
    assert (config.phoneme_loss_weight, config.speaker_loss_weight, config.graph_tau) == (0.5, 0.5, 0.7)
    assert config.window_ms == 240.0 and config.freeze_encoders
    assert config.num_labels == 4 and [config.id2label[i] for i in range(4)] == list(EMOTIONS)
    assert config.speaker_encoder_config["embedding_size"] == 256
    assert len(config.classifier_hidden_sizes) + 1 == 4  # four fully connected layers


@pytest.mark.parametrize(
    "variant, flags",
    [
        ("sapa", (True, True, True, True)),
        ("only_s", (False, True, False, False)),
        ("only_p", (True, False, False, False)),
        ("sapa_only_s", (True, True, False, True)),
        ("sapa_only_p", (True, True, True, False)),
    ],
)
def test_config_variant_helpers(variant, flags):
    config = tiny_config(variant=variant)
    assert (config.uses_content, config.uses_speaker, config.uses_phoneme_loss, config.uses_speaker_loss) == flags


def test_config_save_load_round_trip(tmp_path):
    config = tiny_config(variant="sapa_only_p", content_layer="weighted", graph_tau=0.5)
    config.save_pretrained(tmp_path)
    loaded = AutoConfig.from_pretrained(tmp_path)
    assert type(loaded) is SapaConfig
    expected = {k: v for k, v in config.to_dict().items() if k != "_name_or_path"}
    assert {k: v for k, v in loaded.to_dict().items() if k != "_name_or_path"} == expected
    assert loaded.content_encoder_config["model_type"] == "wavlm" and loaded.content_layer == "weighted"


# ---------------------------------------------------------------------------------------------------- model


@pytest.mark.parametrize("variant", SAPA_VARIANTS)
def test_forward_shapes_for_every_variant(variant):
    torch.manual_seed(0)
    config = tiny_config(variant=variant)
    model = SapaForEmotionClassification(config).eval()
    content, speaker, mask = random_features(config)
    out = model(content_features=content, speaker_features=speaker, window_mask=mask, labels=torch.tensor([0, 3]))
    assert out.logits.shape == (2, 4) and out.loss.ndim == 0
    assert out.window_mask.shape == (2, 4)
    if config.uses_content:
        assert out.content_embeddings.shape == (2, 8) and out.window_content_embeddings.shape == (2, 4, 8)
    else:
        assert out.content_embeddings is None and model.content_projection is None
    if config.uses_speaker:
        assert out.speaker_embeddings.shape == (2, 12) and out.window_speaker_embeddings.shape == (2, 4, 12)
    else:
        assert out.speaker_embeddings is None and model.speaker_projection is None

    changed_content = model(content_features=content + 3.0, speaker_features=speaker, window_mask=mask).logits
    changed_speaker = model(content_features=content, speaker_features=speaker + 3.0, window_mask=mask).logits
    assert torch.allclose(changed_content, out.logits) == (not config.uses_content)
    assert torch.allclose(changed_speaker, out.logits) == (not config.uses_speaker)


def test_raw_audio_path_equals_cached_feature_path(model, extractor):
    waveforms = [syllables(1.0, seed=1), syllables(1.0, rate_hz=4.0, seed=2)]
    inputs = extractor(waveforms, sampling_rate=16000, return_tensors="pt")
    args = {k: inputs[k] for k in extractor.model_input_names}
    raw = model(**args)
    content, speaker = model.extract_window_features(**args)
    assert content.shape[:2] == speaker.shape[:2] == inputs["window_mask"].shape
    assert content.shape[-1] == 32 and speaker.shape[-1] == 16
    norms = speaker.norm(dim=-1)[inputs["window_mask"].bool()]
    assert torch.allclose(norms, torch.ones_like(norms), atol=1e-5)  # per-window L2-normalised GE2E embeddings
    cached = model(content_features=content, speaker_features=speaker, window_mask=inputs["window_mask"])
    torch.testing.assert_close(cached.logits, raw.logits)
    # and the window centres matter: other centres give other features
    other, _ = model.extract_window_features(
        inputs["input_values"], inputs["attention_mask"], inputs["window_centers"] + 0.1, inputs["window_mask"]
    )
    assert not torch.allclose(other, content)


def test_raw_audio_without_window_centers_uses_energy_peaks(model, extractor):
    wav = syllables(1.0, seed=3)
    inputs = extractor(wav, sampling_rate=16000, return_tensors="pt")
    with_centres = model(
        inputs["input_values"], inputs["attention_mask"], inputs["window_centers"], inputs["window_mask"]
    )
    without = model(inputs["input_values"], inputs["attention_mask"])
    torch.testing.assert_close(without.logits, with_centres.logits)


def test_frozen_encoders_get_no_gradient_but_head_does():
    torch.manual_seed(0)
    config = tiny_config()
    model = SapaForEmotionClassification(config)
    model.train()
    assert model.training and not model.content_encoder.backbone.training and not model.speaker_encoder.training
    inputs = SapaFeatureExtractor.from_sapa_arguments(config)(syllables(0.6), sampling_rate=16000, return_tensors="pt")
    out = model(
        inputs["input_values"],
        inputs["attention_mask"],
        inputs["window_centers"],
        inputs["window_mask"],
        labels=torch.tensor([2]),
    )
    out.loss.backward()
    for name, param in model.named_parameters():
        if name.startswith(("content_encoder.", "speaker_encoder.")):
            assert not param.requires_grad and param.grad is None, name
        else:
            assert param.requires_grad and param.grad is not None and param.grad.abs().sum() > 0, name


def test_unfrozen_encoders_are_trainable():
    config = tiny_config(freeze_encoders=False)
    model = SapaForEmotionClassification(config).train()
    assert model.content_encoder.backbone.training
    assert all(p.requires_grad for p in model.speaker_encoder.parameters())


def test_masked_windows_do_not_affect_outputs(model):
    content, speaker, mask = random_features(model.config, batch=2, windows=3)
    mask[:] = 1
    out = model(content_features=content, speaker_features=speaker, window_mask=mask)
    garbage_c = torch.cat([content, 1e3 * torch.randn(2, 2, content.shape[-1])], dim=1)
    garbage_s = torch.cat([speaker, -1e3 * torch.randn(2, 2, speaker.shape[-1])], dim=1)
    padded_mask = torch.cat([mask, torch.zeros(2, 2, dtype=torch.long)], dim=1)
    padded = model(content_features=garbage_c, speaker_features=garbage_s, window_mask=padded_mask)
    torch.testing.assert_close(padded.logits, out.logits)
    torch.testing.assert_close(padded.content_embeddings, out.content_embeddings)
    torch.testing.assert_close(padded.speaker_embeddings, out.speaker_embeddings)
    assert padded.window_content_embeddings[:, 3:].abs().sum() == 0
    with pytest.raises(ValueError, match="no real window"):
        model(content_features=content, speaker_features=speaker, window_mask=torch.zeros_like(mask))


def test_save_pretrained_and_auto_reload(tmp_path, model, extractor):
    model.save_pretrained(tmp_path)
    extractor.save_pretrained(tmp_path)
    loaded = AutoModelForAudioClassification.from_pretrained(tmp_path).eval()
    assert type(loaded) is SapaForEmotionClassification
    assert type(AutoFeatureExtractor.from_pretrained(tmp_path)) is SapaFeatureExtractor
    reference = model.state_dict()
    for name, value in loaded.state_dict().items():
        torch.testing.assert_close(value, reference[name], msg=name)
    content, speaker, mask = random_features(model.config)
    torch.testing.assert_close(
        loaded(content_features=content, speaker_features=speaker, window_mask=mask).logits,
        model(content_features=content, speaker_features=speaker, window_mask=mask).logits,
    )
    assert not any(p.requires_grad for p in loaded.speaker_encoder.parameters())


def test_from_encoders_loads_the_encoder_weights(tmp_path):
    torch.manual_seed(1)
    backbone = WavLMModel(tiny_wavlm_config())
    speaker = Ge2eSpeakerEncoderModel(tiny_ge2e_config())
    with torch.no_grad():
        speaker.linear.weight.add_(1.0)  # differs from any fresh init
    backbone.save_pretrained(tmp_path / "content")
    speaker.save_pretrained(tmp_path / "speaker")
    model = SapaForEmotionClassification.from_encoders(
        tmp_path / "content",
        tmp_path / "speaker",
        variant="only_p",
        content_layer=1,
        hidden_size=16,
        num_attention_heads=2,
        content_projection_size=8,
    )
    assert model.config.variant == "only_p" and model.config.content_layer == 1
    for name, value in backbone.state_dict().items():
        torch.testing.assert_close(model.content_encoder.backbone.state_dict()[name], value, msg=name)
    for name, value in speaker.state_dict().items():
        torch.testing.assert_close(model.speaker_encoder.state_dict()[name], value, msg=name)
    assert not any(p.requires_grad for p in model.content_encoder.parameters())
    # the saved SAPA folder is self-contained
    model.save_pretrained(tmp_path / "sapa")
    reloaded = AutoModelForAudioClassification.from_pretrained(tmp_path / "sapa")
    torch.testing.assert_close(reloaded.speaker_encoder.linear.weight, speaker.linear.weight)


def test_whisper_content_encoder_end_to_end(tmp_path, tiny_whisper_saver):
    """A Whisper encoder as f_c: only the encoder is kept, the chosen layer is used, and the saved model reloads
    with the Auto class to the same logits on raw audio."""
    whisper = tiny_whisper_saver(tmp_path / "whisper", seed=4)
    Ge2eSpeakerEncoderModel(tiny_ge2e_config()).save_pretrained(tmp_path / "speaker")
    model = SapaForEmotionClassification.from_encoders(
        tmp_path / "whisper",
        tmp_path / "speaker",
        content_layer=1,
        hidden_size=16,
        num_attention_heads=2,
        content_projection_size=8,
        speaker_projection_size=8,
    ).eval()
    assert type(model.content_encoder.backbone).__name__ == "WhisperEncoder"
    assert model.content_encoder.frame_offset == 0.0 and model.content_encoder.frame_period == 0.02
    for name, value in whisper.encoder.state_dict().items():
        torch.testing.assert_close(model.content_encoder.backbone.state_dict()[name], value, msg=name)
    extractor = SapaFeatureExtractor.from_sapa_arguments(model.config)
    inputs = extractor([syllables(1.0), syllables(0.6)], sampling_rate=16000, return_tensors="pt")
    feeds = {k: inputs[k] for k in extractor.model_input_names}
    model.save_pretrained(tmp_path / "sapa")
    reloaded = AutoModelForAudioClassification.from_pretrained(tmp_path / "sapa").eval()
    with torch.no_grad():
        logits = model(**feeds).logits
        torch.testing.assert_close(reloaded(**feeds).logits, logits)
    assert torch.isfinite(logits).all()


# ---------------------------------------------------------------------------------------------------- extractor


def test_feature_extractor_windows_from_alignment(extractor):
    wav = syllables(1.2)
    alignment = [
        {"phone": "_", "start": 0.0, "end": 0.1},
        {"phone": "h", "start": 0.1, "end": 0.2},
        {"phone": "'a", "start": 0.2, "end": 0.4},  # -> a
        {"phone": "l", "start": 0.4, "end": 0.5},
        {"phone": "i:", "start": 0.5, "end": 0.7},  # -> i
        {"phone": "u:", "start": 0.8, "end": 1.0},  # -> u
    ]
    short = [{"phone": "s", "start": 0.1, "end": 0.3}, {"phone": "t", "start": 0.3, "end": 0.4}]
    out = extractor([wav, wav[:8000]], sampling_rate=16000, phonemes=[alignment, short], languages=["en", "en"])
    np.testing.assert_allclose(out["window_centers"][0], [0.3, 0.6, 0.9], atol=1e-6)
    assert out["window_phones"][0].tolist() == [SHARED_VOWELS.index(v) for v in ("a", "i", "u")]
    # fewer than two shared vowels: every speech phone is a centre
    np.testing.assert_allclose(out["window_centers"][1][:2], [0.2, 0.35], atol=1e-6)
    assert out["window_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    assert out["window_phones"][1].tolist() == [-1, -1, -1]
    assert out["input_values"].shape == (2, len(wav)) and out["attention_mask"][1].sum() == 8000


def test_feature_extractor_energy_peak_fallback_and_limits():
    extractor = SapaFeatureExtractor(max_windows=3)
    wav = syllables(2.0, rate_hz=3.0)
    peaks = voiced_energy_peaks(wav, 16000)
    assert len(peaks) > 3
    out = extractor(wav, sampling_rate=16000)
    centres = out["window_centers"][0]
    assert len(centres) == 3 and centres[0] == pytest.approx(peaks[0]) and centres[-1] == pytest.approx(peaks[-1])
    assert all(np.isclose(peaks, c, atol=1e-5).any() for c in centres)
    assert (out["window_phones"] == -1).all()
    # no voiced peak (white noise at constant level): one window at the utterance centre
    noise = np.random.default_rng(0).uniform(-0.1, 0.1, 8000).astype(np.float32)
    assert extractor(noise, sampling_rate=16000)["window_centers"].tolist() == [[0.25]]
    with pytest.raises(ValueError, match="prepare_waveform"):
        extractor(wav, sampling_rate=8000)


def test_speaker_window_embeddings_match_a_per_window_reference(tiny_sapa_model_factory):
    """SAPA's window-level GE2E path against a hand computation: for each window, the mel frames of the whole
    utterance around the window centre (window_ms long, clipped at the edges), embedded alone without padding."""
    model = tiny_sapa_model_factory(max_windows=4, seed=3)
    extractor = model.speaker_encoder.feature_extractor
    waves = [syllables(1.0), syllables(0.7)]
    input_values = torch.zeros(2, 16000)
    attention_mask = torch.zeros(2, 16000, dtype=torch.long)
    for i, w in enumerate(waves):
        input_values[i, : len(w)] = torch.from_numpy(np.asarray(w, dtype=np.float32))
        attention_mask[i, : len(w)] = 1
    centers = torch.tensor([[0.05, 0.4, 0.95, 0.0], [0.3, 0.69, 0.0, 0.0]], dtype=torch.float64)
    window_mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])
    with torch.no_grad():
        ours = model._speaker_window_embeddings(input_values, attention_mask, centers, window_mask)
    hop_s = extractor.hop_length / extractor.sampling_rate
    frames = max(1, int(round(model.config.window_ms / 1000.0 / hop_s)))
    for i, wave in enumerate(waves):
        mel = extractor.mel_spectrogram(np.asarray(wave, dtype=np.float32))
        for j in range(4):
            if not window_mask[i, j]:
                assert torch.all(ours[i, j] == 0)
                continue
            center = int(np.clip(np.rint(float(centers[i, j]) / hop_s), 0, len(mel) - 1))
            start, stop = max(0, center - frames // 2), min(len(mel), center - frames // 2 + frames)
            with torch.no_grad():
                expected = model.speaker_encoder(
                    input_features=torch.from_numpy(mel[start:stop][None]).float(), return_dict=True
                ).embeddings[0]
            torch.testing.assert_close(ours[i, j], expected, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(ours[0, 0], ours[0, 1])  # different windows, different embeddings
