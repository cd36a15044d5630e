"""Tests of the content encoder (hf_cser/encoders/content_encoder.py) and its phonetic pretraining
(hf_cser/encoders/phonetic_pretraining.py).

References are written out here: frame labels by hand, window pooling as a plain loop over windows and frames, layer
selection as the backbone's own `hidden_states`. Backbones are tiny random WavLM / wav2vec 2.0 / HuBERT models built
in code and saved to a temporary folder, so loading goes through the real `from_pretrained` path without downloads.
"""

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from transformers import (
    AutoFeatureExtractor,
    AutoModel,
    HubertConfig,
    HubertModel,
    Wav2Vec2Config,
    Wav2Vec2FeatureExtractor,
    Wav2Vec2Model,
    WavLMConfig,
    WavLMForAudioFrameClassification,
    WavLMModel,
)

from hf_cser.cli import main
from hf_cser.encoders import phonetic_data, phonetic_pretraining
from hf_cser.encoders.content_encoder import ContentEncoder, conv_frame_geometry, pool_windows
from hf_cser.encoders.phonetic_pretraining import (
    PHONETIC_LABELS,
    default_phonetic_encoder,
    frame_labels,
    phone_class,
    tiny_wavlm_config,
    train_phonetic_encoder,
)

SR = 16000
TINY_BACKBONE = dict(
    conv_dim=(8, 8, 8, 8, 8, 8, 8),
    hidden_size=16,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=32,
    num_conv_pos_embeddings=16,
    num_conv_pos_embedding_groups=2,
    feat_extract_norm="layer",
    mask_time_prob=0.0,
    layerdrop=0.0,
)
FAST_TRAINING = dict(batch_size=2, crop_seconds=1.0, learning_rate=3e-3)


def _tiny_backbone(kind: str):
    if kind == "wavlm":
        return WavLMModel(WavLMConfig(**TINY_BACKBONE, num_buckets=16, max_bucket_distance=50))
    if kind == "wav2vec2":
        return Wav2Vec2Model(Wav2Vec2Config(**TINY_BACKBONE))
    return HubertModel(HubertConfig(**TINY_BACKBONE))


def _waveforms(batch: int = 2, seconds: float = 0.5, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).normal(scale=0.1, size=(batch, int(seconds * SR)))).float()


# ---------------------------------------------------------------- frame labels


def test_phone_class_maps_vowels_consonants_and_pauses():
    assert PHONETIC_LABELS == ("i", "E", "@", "a", "O", "u", "consonant", "silence")
    assert [PHONETIC_LABELS[phone_class(p, "en")] for p in ("'a", "i:", "t", "_:", "_", "aI")] == [
        "a",
        "i",
        "consonant",
        "silence",
        "silence",
        "a",
    ]


def test_frame_labels_from_hand_made_alignment():
    # frame t is centred at 0.0125 + 0.02 t s
    alignment = [
        {"phone": "'a", "start": 0.10, "end": 0.20},  # given out of order on purpose
        {"phone": "_:", "start": 0.0, "end": 0.05},
        {"phone": "t", "start": 0.05, "end": 0.10},
        {"phone": "i:", "start": 0.20, "end": 0.26},
        # 0.26 - 0.30: no phone
        {"phone": "n", "start": 0.30, "end": 0.34},
    ]
    S, C, A, I = "silence", "consonant", "a", "i"
    expected = [S, S, C, C, C, A, A, A, A, A, I, I, I, S, S, C, C, S, S]
    labels = frame_labels(alignment, len(expected), "en")
    assert [PHONETIC_LABELS[i] for i in labels] == expected
    # a crop starting at 0.1 s: frame 0 centred at 0.1125 s
    shifted = frame_labels(alignment, 6, "en", start_time=0.1)
    assert [PHONETIC_LABELS[i] for i in shifted] == [A, A, A, A, A, I]
    assert frame_labels([], 3, "en").tolist() == [PHONETIC_LABELS.index(S)] * 3


# ---------------------------------------------------------------- pooling


def _pool_reference(frames, frame_mask, centers, window_mask, window_ms, period=0.02, offset=0.0125):
    batch, num_windows = centers.shape
    out = torch.zeros(batch, num_windows, frames.shape[-1], dtype=torch.float64)
    for b in range(batch):
        valid = [t for t in range(frames.shape[1]) if frame_mask[b, t]]
        for n in range(num_windows):
            if not window_mask[b, n] or not valid:
                continue
            c = float(centers[b, n])
            chosen = [t for t in valid if abs(offset + t * period - c) <= window_ms / 2000 + 1e-9]
            if not chosen:
                chosen = [min(valid, key=lambda t: abs(offset + t * period - c))]
            out[b, n] = frames[b, chosen].double().mean(dim=0)
    return out


def test_pool_windows_matches_brute_force_loop():
    generator = torch.Generator().manual_seed(0)
    frames = torch.randn(3, 25, 5, generator=generator)
    frame_mask = torch.zeros(3, 25, dtype=torch.bool)
    for b, length in enumerate((25, 17, 9)):
        frame_mask[b, :length] = True
    centers = torch.rand(3, 7, generator=generator) * 0.6
    centers[1, 0] = 0.9  # far past the end of utterance 1: nearest valid frame
    centers[0, 1] = 0.0125 + 0.02 * 4 + 0.12  # frame 4 lies exactly on the edge of this 240 ms window
    window_mask = torch.ones(3, 7, dtype=torch.bool)
    window_mask[2, 5:] = False
    for window_ms in (240.0, 120.0, 10.0):
        pooled = pool_windows(frames, frame_mask, centers, window_mask, window_ms)
        assert pooled.shape == (3, 7, 5)
        reference = _pool_reference(frames, frame_mask, centers, window_mask, window_ms)
        torch.testing.assert_close(pooled.double(), reference, rtol=1e-5, atol=1e-6)
    assert torch.equal(pool_windows(frames, frame_mask, centers, window_mask, 10.0)[2, 5:], torch.zeros(2, 5))
    # a 10 ms window between two frame centres holds no frame: it must still get exactly one
    single = pool_windows(frames, None, torch.tensor([[0.0225]] * 3), None, 10.0)
    assert torch.allclose(single[0, 0], frames[0, 0]) or torch.allclose(single[0, 0], frames[0, 1])


# ---------------------------------------------------------------- ContentEncoder on Hub-style backbones


@pytest.fixture(scope="module")
def saved_backbones(tmp_path_factory):
    root = tmp_path_factory.mktemp("backbones")
    paths = {}
    for kind in ("wavlm", "wav2vec2", "hubert"):
        torch.manual_seed(0)
        _tiny_backbone(kind).save_pretrained(root / kind)
        paths[kind] = root / kind
    Wav2Vec2FeatureExtractor(do_normalize=True, return_attention_mask=True).save_pretrained(root / "wavlm")
    return paths


@pytest.mark.parametrize("kind", ["wavlm", "wav2vec2", "hubert"])
def test_content_encoder_loads_any_ssl_backbone_by_path(saved_backbones, kind):
    encoder = ContentEncoder.from_pretrained(saved_backbones[kind])
    backbone = AutoModel.from_pretrained(saved_backbones[kind]).eval()
    assert type(encoder.backbone) is type(backbone) and encoder.output_size == 16
    assert encoder.frame_period == pytest.approx(0.02) and encoder.frame_rate == pytest.approx(50.0)
    assert encoder.frame_offset == pytest.approx(0.0125)  # 400-sample receptive field
    assert encoder.frames_to_seconds(3) == pytest.approx(0.0725)
    assert not any(p.requires_grad for p in encoder.parameters())
    encoder.train()
    assert not encoder.backbone.training  # frozen backbone stays in eval mode

    waves = _waveforms(2, 0.5)
    attention_mask = torch.ones_like(waves, dtype=torch.long)
    attention_mask[1, 5000:] = 0
    waves[1, 5000:] = 0.0
    frames, frame_mask = encoder(waves, attention_mask)
    expected_lengths = backbone._get_feat_extract_output_lengths(attention_mask.sum(-1))
    assert frames.shape == (2, int(expected_lengths[0]), 16)
    assert frame_mask.dtype == torch.bool and frame_mask.sum(-1).tolist() == expected_lengths.tolist()
    assert encoder.normalize_inputs == (kind == "wavlm")  # only the wavlm folder has a do_normalize extractor
    inputs = waves
    if kind == "wavlm":
        features = Wav2Vec2FeatureExtractor(do_normalize=True, return_attention_mask=True)(
            [waves[0].numpy(), waves[1, :5000].numpy()], sampling_rate=SR, padding=True, return_tensors="pt"
        )
        inputs = features["input_values"]
    with torch.no_grad():
        reference = backbone(inputs, attention_mask=attention_mask).last_hidden_state
    torch.testing.assert_close(frames, reference, rtol=1e-4, atol=1e-5)


def test_layer_selection_int_and_weighted():
    torch.manual_seed(0)
    backbone = _tiny_backbone("wavlm").eval()
    waves = _waveforms(2, 0.4, seed=1)
    with torch.no_grad():
        hidden_states = backbone(waves, output_hidden_states=True).hidden_states
    assert len(hidden_states) == 3
    for k in range(3):
        frames, _ = ContentEncoder(backbone, layer=k)(waves)
        # the reference ran under no_grad, the encoder with autograd on (another CPU kernel path): float32 rounding
        torch.testing.assert_close(frames, hidden_states[k], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(ContentEncoder(backbone, layer=-1)(waves)[0], hidden_states[2], rtol=1e-5, atol=1e-6)
    weighted = ContentEncoder(backbone, layer="weighted")
    assert [n for n, p in weighted.named_parameters() if p.requires_grad] == ["layer_weights"]
    uniform, _ = weighted(waves)
    torch.testing.assert_close(uniform, torch.stack(hidden_states).mean(0), rtol=1e-5, atol=1e-6)
    for k in range(3):
        with torch.no_grad():
            weighted.layer_weights.copy_(torch.full((3,), -1e4).index_fill(0, torch.tensor(k), 1e4))
        torch.testing.assert_close(weighted(waves)[0], hidden_states[k], rtol=1e-6, atol=1e-6)
    weighted(waves)[0].sum().backward()
    assert weighted.layer_weights.grad is not None and backbone.feature_projection.projection.weight.grad is None
    with pytest.raises(ValueError, match="layer"):
        ContentEncoder(backbone, layer=3)
    with pytest.raises(ValueError, match="layer"):
        ContentEncoder(backbone, layer="mean")


def test_conv_geometry_of_wav2vec2_family():
    config = WavLMConfig()
    assert conv_frame_geometry(config.conv_kernel, config.conv_stride) == (320, 400)


# ---------------------------------------------------------------- phonetic pretraining


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory):
    from hf_cser.data.synthetic import SyntheticCorpusConfig, synthesize_corpus

    out = tmp_path_factory.mktemp("phonetic_corpus")
    config = SyntheticCorpusConfig(languages=("en", "de"), speakers_per_language=3, utterances_per_speaker=4)
    synthesize_corpus(config, out, num_proc=2, progress=False)
    return out


@pytest.fixture(scope="module")
def cli_trained(tiny_corpus, tmp_path_factory):
    """One pretraining run through `hf-cser train-content-encoder` (the real CLI path)."""
    out = tmp_path_factory.mktemp("phonetic_model") / "model"
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = main(
            [
                "train-content-encoder",
                "--data",
                str(tiny_corpus),
                "--output",
                str(out),
                "--max-steps",
                "10",
                "--batch-size",
                "4",
                "--crop-seconds",
                "1.5",
                "--learning-rate",
                "3e-3",
                "--seed",
                "0",
                "--no-progress",
            ]
        )
    assert code == 0
    return out, stdout.getvalue()


def _frame_loss(model, corpus_dir) -> float:
    """Mean frame cross-entropy of `model` over the whole train split (a fixed set, unlike the random crops)."""
    from hf_cser.data.synthetic import load_synthetic_corpus

    train = load_synthetic_corpus(corpus_dir)["train"]
    utterances = phonetic_data.Utterances(train)
    from hf_cser.audio import load_audio

    waves = [load_audio(p) for p in utterances.paths]
    inputs, mask = phonetic_data.batch_inputs(phonetic_pretraining.phonetic_feature_extractor(), waves)
    labels = phonetic_data.labels_batch(
        model.config, utterances.phonemes, utterances.languages, [len(w) for w in waves], [0.0] * len(waves), "espeak"
    )
    with torch.no_grad():
        logits = model.eval()(inputs, attention_mask=mask).logits[:, : labels.shape[1]]
    return float(torch.nn.functional.cross_entropy(logits.reshape(-1, 8), labels.reshape(-1), ignore_index=-100))


def test_pretraining_saves_hub_style_folder_and_learns(cli_trained, tiny_corpus):
    out, printed = cli_trained
    for name in ("config.json", "model.safetensors", "preprocessor_config.json", "README.md", "phonetic_report.json"):
        assert (out / name).is_file(), name
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == "wavlm" and config["id2label"]["7"] == "silence" and len(config["id2label"]) == 8
    assert isinstance(AutoModel.from_pretrained(out), WavLMModel)
    assert isinstance(AutoFeatureExtractor.from_pretrained(out), Wav2Vec2FeatureExtractor)
    assert "synthetic" in (out / "README.md").read_text().lower()

    report = json.loads((out / "phonetic_report.json").read_text())
    assert report["steps"] == 10 and set(report["evaluation"]["per_language"]) == {"en", "de"}
    for metrics in report["evaluation"]["per_language"].values():
        assert 0.0 <= metrics["frame_accuracy"] <= 1.0 and metrics["frames"] > 0
    assert "| en |" in printed and "| de |" in printed and printed.strip().endswith("phonetic_report.json")

    trained = WavLMForAudioFrameClassification.from_pretrained(out)
    torch.manual_seed(0)  # the initialisation train_phonetic_encoder starts from with seed 0
    initial = WavLMForAudioFrameClassification(tiny_wavlm_config())
    assert _frame_loss(trained, tiny_corpus) < _frame_loss(initial, tiny_corpus) - 0.1

    encoder = ContentEncoder.from_pretrained(out, layer="weighted")
    assert encoder.output_size == 96 and encoder.normalize_inputs
    frames, frame_mask = encoder(_waveforms(1, 1.0))
    assert frames.shape == (1, 49, 96) and frame_mask.all()


def test_pretraining_is_deterministic(tiny_corpus, tmp_path):
    def weights(seed, name):
        train_phonetic_encoder(
            tiny_corpus, tmp_path / name, max_steps=2, seed=seed, eval_splits=(), progress=False, **FAST_TRAINING
        )
        return load_file(tmp_path / name / "model.safetensors")

    first, again, other = weights(0, "a"), weights(0, "b"), weights(1, "c")
    assert first.keys() == again.keys()
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not all(torch.equal(first[k], other[k]) for k in first)


def test_default_phonetic_encoder_is_cached(tiny_corpus, tmp_path, monkeypatch):
    calls = []
    real_train = phonetic_pretraining.train_phonetic_encoder

    def counting_train(*args, **kwargs):
        calls.append(kwargs)
        return real_train(*args, **kwargs)

    monkeypatch.setattr(phonetic_pretraining, "train_phonetic_encoder", counting_train)
    settings = dict(max_steps=1, progress=False, **FAST_TRAINING)
    path = default_phonetic_encoder(tiny_corpus, cache_dir=tmp_path, **settings)
    assert len(calls) == 1 and (Path(path) / "phonetic_report.json").is_file()

    def fail(*args, **kwargs):
        raise AssertionError("a cached phonetic encoder was trained again")

    monkeypatch.setattr(phonetic_pretraining, "train_phonetic_encoder", fail)
    assert default_phonetic_encoder(tiny_corpus, cache_dir=tmp_path, **settings) == path
    assert [p.name for p in tmp_path.iterdir()] == [Path(path).name]  # no staging folders left behind
    other = phonetic_pretraining.phonetic_cache_key(tiny_corpus, max_steps=2, **FAST_TRAINING)
    assert other != Path(path).name  # other settings, other cache entry
