"""Tests of the GE2E speaker encoder (hf_cser/encoders/ge2e) against references written out here.

The references are independent of the library code: the LSTM is the cell equations in float64 numpy, the STFT is
`torch.stft`, the mel filterbank is the Slaney formula written per filter (and transformers' `mel_filter_bank`), the
partial slicing is resemblyzer's rule restated. Tests that need the real weights skip when `resemblyzer` (which ships
`pretrained.pt`; install with `pip install --no-deps resemblyzer==0.1.4`) is missing.
"""

import importlib.util
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from hf_cser.encoders.ge2e import (
    Ge2eCheckpointError,
    Ge2eFeatureExtractor,
    Ge2eSpeakerEncoderConfig,
    Ge2eSpeakerEncoderModel,
    compute_partial_slices,
    convert_resemblyzer_checkpoint,
    find_resemblyzer_checkpoint,
    slaney_mel_filter_bank,
)
from hf_cser.encoders.ge2e import convert_ge2e_resemblyzer as conversion

SR = 16000


def _resemblyzer_checkpoint() -> Path | None:
    spec = importlib.util.find_spec("resemblyzer")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "pretrained.pt"
    return path if path.is_file() else None


PRETRAINED = _resemblyzer_checkpoint()
needs_pretrained = pytest.mark.skipif(
    PRETRAINED is None, reason="resemblyzer's pretrained.pt not installed (pip install --no-deps resemblyzer==0.1.4)"
)
TINY = dict(mel_n_channels=40, hidden_size=16, num_layers=2, embedding_size=12)


def voiced_signal(seconds: float = 3.0, f0: float = 120.0, seed: int = 0, gain: float = 0.05) -> np.ndarray:
    """Deterministic voice-like signal: harmonics of a gliding f0 with vibrato, formant-like weights, some noise."""
    t = np.arange(int(seconds * SR)) / SR
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.1 * t / seconds) + 3 * np.sin(2 * np.pi * 5 * t)) / SR
    harmonics = sum(np.sin(k * phase) / k * (1.5 if 4 <= k <= 6 else 1.0) for k in range(1, 25))
    noise = np.random.default_rng(seed).normal(scale=0.01, size=t.shape)
    return (gain * harmonics / np.abs(harmonics).max() + gain * noise).astype(np.float32)


# ---------------------------------------------------------------- references written out here


def reference_slaney_filters(sr: int, n_fft: int, n_mels: int) -> np.ndarray:
    """librosa's Slaney mel filterbank written per filter and per bin."""

    def hz_to_mel(f):
        return f / (200 / 3) if f < 1000 else 15 + 27 * math.log(f / 1000) / math.log(6.4)

    def mel_to_hz(m):
        return m * 200 / 3 if m < 15 else 1000 * math.exp((m - 15) * math.log(6.4) / 27)

    top = hz_to_mel(sr / 2)
    edges = [mel_to_hz(top * k / (n_mels + 1)) for k in range(n_mels + 2)]
    bins = [sr / 2 * j / (n_fft // 2) for j in range(n_fft // 2 + 1)]
    out = np.zeros((n_mels, len(bins)))
    for m in range(n_mels):
        left, centre, right = edges[m], edges[m + 1], edges[m + 2]
        for j, f in enumerate(bins):
            rise = (f - left) / (centre - left)
            fall = (right - f) / (right - centre)
            out[m, j] = max(0.0, min(rise, fall)) * 2 / (right - left)
    return out


def reference_mel(waveform: np.ndarray, filters: np.ndarray) -> np.ndarray:
    x = torch.from_numpy(waveform.astype(np.float64))
    spec = torch.stft(
        x,
        n_fft=400,
        hop_length=160,
        window=torch.hann_window(400, periodic=True, dtype=torch.float64),
        center=True,
        pad_mode="constant",
        return_complex=True,
    )
    return (filters @ spec.abs().pow(2).numpy()).T  # (frames, mels)


def reference_partial_starts(num_samples: int) -> list[int]:
    """resemblyzer's rule: a partial of 160 frames every round(16000 / 1.3 / 160) = 77 frames, last kept if >= 75 %
    of it is audio."""
    num_frames = math.ceil((num_samples + 1) / 160)
    starts = list(range(0, max(1, num_frames - 160 + 77 + 1), 77))
    if len(starts) > 1 and (num_samples - starts[-1] * 160) / (160 * 160) < 0.75:
        starts = starts[:-1]
    return starts


def reference_embedding(state: dict[str, np.ndarray], num_layers: int, waveform: np.ndarray, mel_filters):
    """resemblyzer's embed_utterance with the LSTM written as cell equations (float64)."""
    rms = np.sqrt(np.mean(waveform.astype(np.float64) ** 2))
    change = -30 - 20 * np.log10(rms)
    wav = waveform.astype(np.float64) * (10 ** (change / 20) if change > 0 else 1.0)
    starts = reference_partial_starts(len(wav))
    end = (starts[-1] + 160) * 160
    wav = np.pad(wav, (0, max(0, end - len(wav))))
    mel = reference_mel(wav, mel_filters)
    x = np.stack([mel[s : s + 160] for s in starts])  # (partials, 160, mels)

    def sigmoid(z):
        return 1 / (1 + np.exp(-z))

    for layer in range(num_layers):
        w_ih, w_hh = state[f"lstm.weight_ih_l{layer}"], state[f"lstm.weight_hh_l{layer}"]
        bias = state[f"lstm.bias_ih_l{layer}"] + state[f"lstm.bias_hh_l{layer}"]
        hidden = w_hh.shape[1]
        h = np.zeros((x.shape[0], hidden))
        c = np.zeros((x.shape[0], hidden))
        outputs = []
        for t in range(x.shape[1]):
            gates = x[:, t] @ w_ih.T + h @ w_hh.T + bias
            i, f, g, o = (gates[:, k * hidden : (k + 1) * hidden] for k in range(4))
            c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
            h = sigmoid(o) * np.tanh(c)
            outputs.append(h)
        x = np.stack(outputs, axis=1)
    raw = np.maximum(h @ state["linear.weight"].T + state["linear.bias"], 0)
    partials = raw / np.linalg.norm(raw, axis=1, keepdims=True)
    mean = partials.mean(axis=0)
    return mean / np.linalg.norm(mean), partials


def tiny_checkpoint(path: Path, drop=None, add=None, reshape=None, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    lstm = torch.nn.LSTM(TINY["mel_n_channels"], TINY["hidden_size"], TINY["num_layers"], batch_first=True)
    linear = torch.nn.Linear(TINY["hidden_size"], TINY["embedding_size"])
    state = {f"lstm.{k}": v for k, v in lstm.state_dict().items()}
    state.update({f"linear.{k}": v for k, v in linear.state_dict().items()})
    state.update(similarity_weight=torch.tensor([10.0]), similarity_bias=torch.tensor([-5.0]))
    if drop:
        del state[drop]
    if add:
        state[add] = torch.zeros(3)
    if reshape:
        state[reshape] = torch.zeros(7)
    torch.save({"model_state": state, "step": 5, "optimizer_state": {"state": {}, "param_groups": []}}, path)
    return path


# ---------------------------------------------------------------- features


def test_mel_filterbank_matches_slaney_formula_and_transformers():
    from transformers.audio_utils import mel_filter_bank

    ours = slaney_mel_filter_bank(SR, 400, 40)
    assert ours.shape == (40, 201) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, reference_slaney_filters(SR, 400, 40), rtol=0, atol=1e-7)
    theirs = mel_filter_bank(201, 40, 0.0, 8000.0, SR, norm="slaney", mel_scale="slaney").T
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-7)


def test_mel_spectrogram_matches_torch_stft_reference():
    extractor = Ge2eFeatureExtractor(do_normalize_volume=False)
    wav = voiced_signal(1.0)
    ours = extractor.mel_spectrogram(wav)
    ref = reference_mel(wav, reference_slaney_filters(SR, 400, 40))
    assert ours.shape == (1 + len(wav) // 160, 40) == ref.shape
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("seconds", [0.3, 1.0, 1.6, 2.37, 3.0, 7.9])
def test_partial_slices_follow_resemblyzer_rule(seconds):
    n = int(seconds * SR)
    slices = compute_partial_slices(n)
    assert [s for s, _ in slices] == reference_partial_starts(n)
    assert all(stop - start == 160 for start, stop in slices)


def test_volume_normalisation_and_silence():
    extractor = Ge2eFeatureExtractor()
    quiet = voiced_signal(0.5, gain=0.001)
    loud = voiced_signal(0.5, gain=0.5)
    from hf_cser.encoders.ge2e.feature_extraction_ge2e import normalize_volume

    rms_db = 20 * np.log10(np.sqrt(np.mean(normalize_volume(quiet, -30.0).astype(np.float64) ** 2)))
    assert abs(rms_db + 30) < 1e-4
    np.testing.assert_array_equal(normalize_volume(loud, -30.0), loud)
    silent = extractor(np.zeros(8000, dtype=np.float32), sampling_rate=SR)["input_features"]
    assert np.all(silent == 0)


def test_feature_extractor_rejects_wrong_rate_and_round_trips(tmp_path):
    extractor = Ge2eFeatureExtractor(min_coverage=0.5)
    with pytest.raises(ValueError, match="prepare_waveform"):
        extractor(voiced_signal(0.5), sampling_rate=22050)
    extractor.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "preprocessor_config.json").read_text())
    assert saved["feature_extractor_type"] == "Ge2eFeatureExtractor" and "mel_filters" not in saved
    reloaded = Ge2eFeatureExtractor.from_pretrained(tmp_path)
    wav = voiced_signal(2.0)
    a, b = extractor(wav, sampling_rate=SR), reloaded(wav, sampling_rate=SR)
    np.testing.assert_array_equal(a["input_features"], b["input_features"])
    assert reloaded.min_coverage == 0.5


# ---------------------------------------------------------------- model maths


def _state_numpy(model) -> dict[str, np.ndarray]:
    return {k: v.detach().double().numpy() for k, v in model.state_dict().items()}


def _check_against_reference(model, waveforms):
    filters = reference_slaney_filters(SR, 400, model.config.mel_n_channels)
    out = model.embed_utterances(waveforms, sampling_rate=SR, return_partials=True)
    max_diff = 0.0
    offset = 0
    for index, wav in enumerate(waveforms):
        ref, ref_partials = reference_embedding(_state_numpy(model), model.config.num_layers, wav, filters)
        ours_partials = out.partial_embeddings[offset : offset + len(ref_partials)].double().numpy()
        offset += len(ref_partials)
        np.testing.assert_allclose(ours_partials, ref_partials, rtol=0, atol=1e-5)
        np.testing.assert_allclose(out.embeddings[index].double().numpy(), ref, rtol=0, atol=1e-5)
        max_diff = max(max_diff, np.abs(out.embeddings[index].double().numpy() - ref).max())
    assert offset == out.partial_embeddings.shape[0]
    return max_diff


def test_tiny_model_matches_handwritten_lstm_reference():
    torch.manual_seed(0)
    model = Ge2eSpeakerEncoderModel(Ge2eSpeakerEncoderConfig(**TINY)).eval()
    with torch.no_grad():  # non-zero biases too, so that every term of the cell equations is exercised
        for param in model.parameters():
            param.uniform_(-0.4, 0.4)
    _check_against_reference(model, [voiced_signal(2.0, f0=110), voiced_signal(1.0, f0=210, seed=1)])


@needs_pretrained
def test_pretrained_model_matches_handwritten_reference(tmp_path):
    model = convert_resemblyzer_checkpoint(PRETRAINED, output_dir=tmp_path / "ge2e")
    ckpt = torch.load(PRETRAINED, map_location="cpu", weights_only=True)["model_state"]
    for key, value in ckpt.items():  # the converted weights are the checkpoint's, bit for bit
        assert torch.equal(model.state_dict()[key], value), key
    max_diff = _check_against_reference(model, [voiced_signal(3.0, f0=120), voiced_signal(2.2, f0=220, seed=3)])
    assert max_diff < 1e-5


def test_attention_mask_equals_unpadded_forward():
    torch.manual_seed(0)
    model = Ge2eSpeakerEncoderModel(Ge2eSpeakerEncoderConfig(**TINY)).eval()
    extractor = model.feature_extractor
    waves = [voiced_signal(0.8), voiced_signal(0.5, seed=2)]
    batch = extractor(waves, sampling_rate=SR, split_into_partials=False, return_tensors="pt")
    with torch.no_grad():
        padded = model(**batch, output_hidden_states=True)
        single = model(torch.from_numpy(extractor.mel_spectrogram(waves[1]))[None])
    torch.testing.assert_close(padded.embeddings[1], single.embeddings[0], rtol=0, atol=1e-6)
    assert padded.last_hidden_state.shape == (2, batch["input_features"].shape[1], TINY["hidden_size"])
    torch.testing.assert_close(padded.embeddings.norm(dim=-1), torch.ones(2))


# ---------------------------------------------------------------- conversion


@pytest.mark.parametrize(
    "kind, key",
    [("drop", "lstm.bias_hh_l1"), ("add", "lstm.weight_ih_l7"), ("reshape", "linear.bias")],
)
def test_strict_conversion_names_the_bad_key(tmp_path, kind, key):
    path = tiny_checkpoint(tmp_path / "bad.pt", **{kind: key})
    with pytest.raises(Ge2eCheckpointError, match=key) as info:
        convert_resemblyzer_checkpoint(path, output_dir=tmp_path / "out", config=Ge2eSpeakerEncoderConfig(**TINY))
    assert "bad.pt" in str(info.value)
    assert not (tmp_path / "out" / conversion.CONVERSION_MARKER).exists()


def test_conversion_rejects_non_resemblyzer_file(tmp_path):
    torch.save({"state_dict": {}}, tmp_path / "other.pt")
    with pytest.raises(Ge2eCheckpointError, match="model_state"):
        convert_resemblyzer_checkpoint(tmp_path / "other.pt", output_dir=tmp_path / "out")


def test_save_automodel_round_trip_and_cache_hit(tmp_path, monkeypatch):
    from transformers import AutoFeatureExtractor, AutoModel

    import hf_cser.encoders  # noqa: F401  (registration)

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    ckpt = tiny_checkpoint(tmp_path / "tiny.pt")
    config = Ge2eSpeakerEncoderConfig(**TINY)
    model = convert_resemblyzer_checkpoint(ckpt, config=config)
    folder = Path(model.name_or_path)
    assert folder.parent == tmp_path / "hf_home" / "hf_cser" / "speaker_encoder" / "ge2e"
    names = {p.name for p in folder.iterdir()}
    assert {"config.json", "model.safetensors", "preprocessor_config.json", conversion.CONVERSION_MARKER} <= names
    assert not any(n.endswith((".bin", ".pt", ".pth", ".pkl")) for n in names)

    loaded = AutoModel.from_pretrained(folder).eval()
    assert isinstance(loaded, Ge2eSpeakerEncoderModel)
    assert isinstance(AutoFeatureExtractor.from_pretrained(folder), Ge2eFeatureExtractor)
    wav = voiced_signal(2.0)
    assert torch.equal(model.embed_utterance(wav, SR), loaded.embed_utterance(wav, SR))

    # cache hit: the checkpoint is not read again
    def no_load(*args, **kwargs):
        raise AssertionError("torch.load called on a cache hit")

    monkeypatch.setattr(conversion.torch, "load", no_load)
    again = convert_resemblyzer_checkpoint(ckpt, config=config)
    assert Path(again.name_or_path) == folder
    assert torch.equal(again.embed_utterance(wav, SR), model.embed_utterance(wav, SR))
    with pytest.raises(AssertionError, match="cache hit"):  # force really converts
        convert_resemblyzer_checkpoint(ckpt, config=config, force=True)


def test_missing_resemblyzer_gives_install_hint(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(conversion.importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(conversion.site, "getsitepackages", lambda: [str(tmp_path)])
    monkeypatch.setattr(conversion.site, "getusersitepackages", lambda: str(tmp_path))
    with pytest.raises(ImportError, match=r"pip install --no-deps resemblyzer==0\.1\.4"):
        find_resemblyzer_checkpoint()
    from hf_cser.cli import main

    assert main(["convert-speaker-encoder"]) == 1
    assert "pip install --no-deps resemblyzer==0.1.4" in capsys.readouterr().err


@needs_pretrained
def test_default_checkpoint_found_without_importing_resemblyzer_and_cli(tmp_path, monkeypatch, capsys):
    assert find_resemblyzer_checkpoint() == PRETRAINED
    assert "resemblyzer" not in sys.modules
    from hf_cser.cli import main

    monkeypatch.setenv("HF_HOME", str(tmp_path))
    assert main(["convert-speaker-encoder"]) == 0
    folder = Path(capsys.readouterr().out.strip())
    assert (folder / "model.safetensors").is_file() and folder.is_relative_to(tmp_path)
    assert "resemblyzer" not in sys.modules
