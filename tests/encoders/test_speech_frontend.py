"""The shared speech front end (hf_cser/encoders/speech_frontend.py): pooled statistics against a direct
computation, layer choice, and the content-keyed per-file cache (hit, edited file, damaged file)."""

import os
import time

import numpy as np
import pytest
import soundfile as sf
import torch
from transformers import WavLMConfig, WavLMModel

from hf_cser.encoders import SpeechFrontEnd
from hf_cser.encoders.whisper.encoding import encode_whisper_frames

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def whisper_folder(tmp_path_factory, tiny_whisper_saver):
    folder = tmp_path_factory.mktemp("fe_whisper")
    tiny_whisper_saver(folder, d_model=16)
    return folder


@pytest.fixture
def wavs(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for i, seconds in enumerate((1.0, 0.5, 1.7)):
        path = tmp_path / f"u{i}.wav"
        sf.write(path, (0.1 * rng.standard_normal(int(16000 * seconds))).astype(np.float32), 16000)
        paths.append(str(path))
    return paths


def test_pooled_statistics_equal_a_direct_computation(whisper_folder, wavs, tmp_path):
    front_end = SpeechFrontEnd(whisper_folder, cache_dir=tmp_path / "cache", batch_size=2)
    features = front_end.pooled_features(wavs, progress=False)
    assert features.shape == (3, 3, 32)
    for index, path in enumerate(wavs):
        wave = torch.from_numpy(sf.read(path, dtype="float32")[0])
        with torch.no_grad():
            states, mask = encode_whisper_frames(front_end.encoder.backbone, [wave])
        for layer, state in enumerate(states):
            frames = state[0, mask[0]].numpy()
            np.testing.assert_allclose(features[index, layer, :16], frames.mean(0), rtol=1e-4, atol=1e-5)
            np.testing.assert_allclose(features[index, layer, 16:], frames.std(0), rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(front_end.pooled_features(wavs, layer=1, progress=False), features[:, 1])
    np.testing.assert_array_equal(front_end.pooled_features(wavs, layer="last", progress=False), features[:, 2])
    np.testing.assert_allclose(front_end.pooled_features(wavs, layer="mean", progress=False), features.mean(1))
    with pytest.raises(ValueError, match="`layer` must be"):
        front_end.pooled_features(wavs, layer=5)


def test_cache_hit_edit_and_damage(whisper_folder, wavs, tmp_path, monkeypatch):
    front_end = SpeechFrontEnd(whisper_folder, cache_dir=tmp_path / "cache")
    first = front_end.pooled_features(wavs, progress=False)
    calls = []
    real_encode = front_end.encode
    monkeypatch.setattr(front_end, "encode", lambda w: calls.append(len(w)) or real_encode(w))
    np.testing.assert_array_equal(front_end.pooled_features(wavs, progress=False), first)
    assert calls == []  # all from the cache
    # an edited file (same size, new content) is recomputed; the others are not
    data, rate = sf.read(wavs[1], dtype="float32")
    time.sleep(0.01)
    sf.write(wavs[1], data[::-1].copy(), rate)
    second = front_end.pooled_features(wavs, progress=False)
    assert calls == [1]
    assert not np.allclose(second[1], first[1]) and np.array_equal(second[0], first[0])
    # a damaged cache file is rebuilt with a warning
    from hf_cser.cache import file_identities

    victim = front_end._file_key(file_identities([wavs[0]])[0]) + ".safetensors"
    with open(os.path.join(front_end.cache_folder(), victim), "wb") as handle:
        handle.write(b"garbage")
    # recomputed alone instead of in a batch: equal up to float rounding
    np.testing.assert_allclose(front_end.pooled_features(wavs, progress=False), second, rtol=1e-4, atol=1e-6)
    assert calls == [1, 1]


def test_wav2vec2_family_backbones_pool_their_hidden_states(wavs, tmp_path):
    torch.manual_seed(1)
    config = WavLMConfig(
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        conv_dim=(16,) * 7,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
    )
    backbone = WavLMModel(config).eval()
    front_end = SpeechFrontEnd(backbone, cache_dir=tmp_path / "cache")
    features = front_end.pooled_features(wavs[:1], progress=False)
    wave = torch.from_numpy(sf.read(wavs[0], dtype="float32")[0])[None]
    with torch.no_grad():
        hidden = backbone(wave, output_hidden_states=True).hidden_states
    assert features.shape == (1, 3, 32)
    for layer, state in enumerate(hidden):
        np.testing.assert_allclose(features[0, layer, :16], state[0].mean(0).numpy(), rtol=1e-4, atol=1e-5)
