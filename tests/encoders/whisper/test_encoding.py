"""Whisper's encoder on utterances of any length (hf_cser.encoders.whisper.encoding) and through ContentEncoder.

References: transformers' `WhisperFeatureExtractor` (log-mel) and `WhisperEncoder.forward` (30 s input); the same
utterance encoded alone (batching and chunking must not change its frames).
"""

import numpy as np
import pytest
import torch
from transformers import WhisperFeatureExtractor

from hf_cser.encoders import ContentEncoder
from hf_cser.encoders.whisper.encoding import (
    encode_whisper_frames,
    log_mel_spectrogram,
    num_output_frames,
    whisper_mel_filters,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tone(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    return (
        0.3 * np.sin(2 * np.pi * (150 + 50 * seed) * t) * np.sin(2 * np.pi * 3 * t)
        + 0.02 * rng.standard_normal(t.size)
    ).astype(np.float32)


@pytest.fixture(scope="module")
def encoder(tiny_whisper_factory):
    return tiny_whisper_factory(seed=1).model.get_encoder().eval()


@pytest.mark.parametrize("seconds", [0.25, 1.37, 3.0])
def test_log_mel_matches_whisper_feature_extractor(seconds):
    extractor = WhisperFeatureExtractor()
    wave = tone(seconds)
    padded = extractor(wave, sampling_rate=16000, return_tensors="np").input_features[0]
    unpadded = extractor(wave, sampling_rate=16000, padding="do_not_pad", return_tensors="np").input_features[0]
    filters = whisper_mel_filters(80)
    np.testing.assert_allclose(filters.numpy(), extractor.mel_filters, atol=1e-7)
    ours_padded = log_mel_spectrogram(torch.from_numpy(wave), filters, pad_to_samples=480_000).numpy()
    ours = log_mel_spectrogram(torch.from_numpy(wave), filters).numpy()
    assert ours.shape == unpadded.shape == (80, len(wave) // 160)
    np.testing.assert_allclose(ours_padded, padded, atol=1e-5)
    np.testing.assert_allclose(ours, unpadded, atol=1e-5)


def test_pad_30s_mode_equals_transformers_whisper_encoder(encoder):
    wave = tone(2.3)
    features = WhisperFeatureExtractor()(wave, sampling_rate=16000, return_tensors="pt").input_features
    with torch.no_grad():
        reference = encoder(features, output_hidden_states=True)
        states, mask = encode_whisper_frames(encoder, [torch.from_numpy(wave)], mode="pad_30s")
    n = int(num_output_frames(len(wave)))
    assert int(mask.sum()) == n == 115
    assert len(states) == len(reference.hidden_states) == 3
    for ours, theirs in zip(states, reference.hidden_states, strict=True):
        torch.testing.assert_close(ours[0, :n], theirs[0, :n], rtol=1e-5, atol=1e-5)


def test_unpadded_batch_equals_each_utterance_alone(encoder):
    waves = [torch.from_numpy(tone(s, seed=i)) for i, s in enumerate((2.0, 0.61, 1.33))]
    with torch.no_grad():
        batched, mask = encode_whisper_frames(encoder, waves)
        for index, wave in enumerate(waves):
            alone, alone_mask = encode_whisper_frames(encoder, [wave])
            n = int(alone_mask.sum())
            assert int(mask[index].sum()) == n == int(num_output_frames(len(wave)))
            torch.testing.assert_close(batched[-1][index, :n], alone[-1][0, :n], rtol=1e-4, atol=1e-4)
            assert torch.all(batched[-1][index, n:] == 0)
    # the unpadded encoder really differs from the 30 s one (attention over silence): both modes are meaningful
    with torch.no_grad():
        padded, _ = encode_whisper_frames(encoder, waves[:1], mode="pad_30s")
    assert not torch.allclose(padded[-1][0, :100], batched[-1][0, :100], atol=1e-3)


def test_long_utterances_are_chunked_at_30_seconds(encoder):
    wave = torch.from_numpy(tone(31.0))
    with torch.no_grad():
        states, mask = encode_whisper_frames(encoder, [wave], num_layers=1)
        first, _ = encode_whisper_frames(encoder, [wave[:480_000]], num_layers=1)
        rest, _ = encode_whisper_frames(encoder, [wave[480_000:]], num_layers=1)
    assert int(mask.sum()) == 1500 + 50
    torch.testing.assert_close(states[1][0, :1500], first[1][0])
    torch.testing.assert_close(states[1][0, 1500:1550], rest[1][0, :50])


def test_content_encoder_whisper_layers_and_geometry(tiny_whisper_folder):
    waves = [tone(1.0), tone(0.5, seed=2)]
    input_values = torch.zeros(2, 16000)
    attention_mask = torch.zeros(2, 16000, dtype=torch.long)
    for i, w in enumerate(waves):
        input_values[i, : len(w)] = torch.from_numpy(w)
        attention_mask[i, : len(w)] = 1
    full = ContentEncoder.from_pretrained(tiny_whisper_folder)
    first = ContentEncoder.from_pretrained(tiny_whisper_folder, layer=1)
    weighted = ContentEncoder.from_pretrained(tiny_whisper_folder, layer="weighted")
    assert type(full.backbone).__name__ == "WhisperEncoder"  # the decoder is dropped
    assert full.frame_period == 0.02 and full.frame_offset == 0.0 and full.output_size == 32
    assert full.num_frames(16000) == 50 and full.num_frames(8000) == 25
    with torch.no_grad():
        frames, frame_mask = full(input_values, attention_mask)
        frames_1, _ = first(input_values, attention_mask)
        frames_w, _ = weighted(input_values, attention_mask)
        states, _ = encode_whisper_frames(full.backbone, [torch.from_numpy(w) for w in waves])
    assert frame_mask.sum(dim=1).tolist() == [50, 25]
    torch.testing.assert_close(frames, states[-1])
    torch.testing.assert_close(frames_1, states[1])  # layer 1 runs one encoder layer only, same values
    torch.testing.assert_close(frames_w, torch.stack(states).mean(dim=0), rtol=1e-5, atol=1e-5)
    assert not torch.allclose(frames_1, frames)
