"""CtlMtNetFeatureExtractor: 39-dim MFCCs against a reference written here (per-frame loop, scipy DCT / window /
Savitzky-Golay) and against librosa when it is installed; padding, shapes and save/load."""

import numpy as np
import pytest
import scipy.fft
import scipy.signal

from hf_cser.models.ctl_mtnet import CtlMtNetFeatureExtractor, mfcc_features, savgol_derivative

SR = 16000


def reference_mel_filters(sr, n_fft, n_mels):
    """Slaney mel filters written band by band from the Auditory Toolbox definition."""

    def hz2mel(f):
        return f / (200.0 / 3) if f < 1000 else 15.0 + np.log(f / 1000.0) / (np.log(6.4) / 27)

    def mel2hz(m):
        return m * (200.0 / 3) if m < 15.0 else 1000.0 * np.exp((m - 15.0) * np.log(6.4) / 27)

    edges = [mel2hz(m) for m in np.linspace(hz2mel(0.0), hz2mel(sr / 2), n_mels + 2)]
    bins = np.arange(n_fft // 2 + 1) * sr / n_fft
    filters = np.zeros((n_mels, len(bins)))
    for i in range(n_mels):
        lo, mid, hi = edges[i], edges[i + 1], edges[i + 2]
        for j, f in enumerate(bins):
            if lo < f <= mid:
                filters[i, j] = (f - lo) / (mid - lo)
            elif mid < f < hi:
                filters[i, j] = (hi - f) / (hi - mid)
        filters[i] *= 2.0 / (hi - lo)
    return filters


def reference_mfcc39(wav, sr=SR):
    n_fft, hop = int(0.05 * sr), int(0.0125 * sr)
    padded = np.concatenate([np.zeros(n_fft // 2), wav.astype(np.float64), np.zeros(n_fft // 2)])
    window = scipy.signal.get_window("hann", n_fft, fftbins=True)
    filters = reference_mel_filters(sr, n_fft, 128)
    frames = []
    for start in range(0, len(padded) - n_fft + 1, hop):
        spectrum = np.abs(scipy.fft.rfft(padded[start : start + n_fft] * window)) ** 2
        frames.append(filters @ spectrum)
    mel_db = 10 * np.log10(np.maximum(np.array(frames).T, 1e-10))
    mel_db = np.maximum(mel_db, mel_db.max() - 80.0)
    mfcc = scipy.fft.dct(mel_db, type=2, norm="ortho", axis=0)[:13]
    delta = scipy.signal.savgol_filter(mfcc, 9, 1, deriv=1, mode="interp", axis=-1)
    delta2 = scipy.signal.savgol_filter(mfcc, 9, 2, deriv=2, mode="interp", axis=-1)
    return np.concatenate([mfcc, delta, delta2]).T


def speech_like(seconds=1.3, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    tone = 0.3 * np.sin(2 * np.pi * (150 + 40 * np.sin(2 * np.pi * 3 * t)) * t)
    wav = tone + 0.02 * rng.standard_normal(t.shape)
    wav[: SR // 10] = 0.0  # leading silence exercises the top_db floor
    return wav.astype(np.float32)


def test_matches_the_reference_within_tolerance():
    wav = speech_like()
    ours = mfcc_features(wav, SR)
    ref = reference_mfcc39(wav)
    assert ours.shape == ref.shape == (1 + len(wav) // 200, 39)
    # float32 output: 1e-3 absolute on values up to a few hundred (MFCC 0), tighter on the deltas
    np.testing.assert_allclose(ours, ref, atol=1e-3, rtol=1e-4)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_librosa(seed):
    """librosa is in the test extra: this reference always runs. Float32 rounding on values up to ~660 (MFCC 0)
    leaves differences of at most ~6e-5."""
    import librosa

    wav = speech_like(seconds=2.0, seed=seed)
    mfcc = librosa.feature.mfcc(y=wav, sr=SR, n_mfcc=13, n_fft=800, hop_length=200)
    expected = np.concatenate([mfcc, librosa.feature.delta(mfcc), librosa.feature.delta(mfcc, order=2)]).T
    np.testing.assert_allclose(mfcc_features(wav, SR), expected, atol=1e-4, rtol=0)


def test_savgol_derivative_matches_scipy_and_handles_short_inputs():
    x = np.random.default_rng(0).standard_normal((5, 30))
    for order in (1, 2):
        expected = scipy.signal.savgol_filter(x, 9, order, deriv=order, mode="interp", axis=-1)
        np.testing.assert_allclose(savgol_derivative(x, 9, order), expected, atol=1e-10)
    # fewer frames than the width: one polynomial fit over all frames; a line has slope 2 everywhere
    line = 2.0 * np.arange(4.0)[None, :]
    np.testing.assert_allclose(savgol_derivative(line, 9, 1), 2.0 * np.ones((1, 4)), atol=1e-10)
    np.testing.assert_allclose(savgol_derivative(line, 9, 2), np.zeros((1, 4)), atol=1e-10)
    assert savgol_derivative(np.ones((2, 1)), 9, 1).tolist() == [[0.0], [0.0]]


def test_batch_padding_mask_and_max_frames():
    extractor = CtlMtNetFeatureExtractor()
    long, short = speech_like(1.0), speech_like(0.5, seed=2)
    batch = extractor([long, short], sampling_rate=SR, return_tensors="np")
    assert batch["input_features"].shape == (2, 81, 39)
    assert batch["attention_mask"].sum(-1).tolist() == [81, 41]
    np.testing.assert_allclose(batch["input_features"][1, :41], mfcc_features(short, SR), atol=1e-6)
    assert np.all(batch["input_features"][1, 41:] == 0.0)
    cropped = extractor(long, sampling_rate=SR, max_frames=10)
    assert np.asarray(cropped["input_features"]).shape == (1, 10, 39)
    with pytest.raises(ValueError, match="expects 16000 Hz"):
        extractor(long, sampling_rate=8000)
    with pytest.raises(ValueError, match="feature_size"):
        CtlMtNetFeatureExtractor(feature_size=40)


def test_save_and_auto_load(tmp_path):
    from transformers import AutoFeatureExtractor

    import hf_cser  # noqa: F401

    CtlMtNetFeatureExtractor(top_db=60.0).save_pretrained(tmp_path)
    assert (tmp_path / "preprocessor_config.json").is_file()
    loaded = AutoFeatureExtractor.from_pretrained(tmp_path)
    assert isinstance(loaded, CtlMtNetFeatureExtractor) and loaded.top_db == 60.0 and loaded.feature_size == 39
