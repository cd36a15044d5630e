"""Cached utterance features, speaker normalisation, lazy waveforms and the CLTM figures."""

import numpy as np
import pytest
import soundfile as sf

from hf_cser.cltm import (
    LazyWaveforms,
    LogMelStatistics,
    compute_utterance_features,
    plot_cltm_heatmap,
    plot_learning_curves,
    speaker_normalize,
)
from hf_cser.cltm.features import mel_filterbank


@pytest.fixture()
def wavs(tmp_path):
    paths = []
    t = np.arange(16000) / 16000
    for k, freq in enumerate((300.0, 3000.0)):
        path = tmp_path / f"tone{k}.wav"
        sf.write(path, (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), 16000)
        paths.append(str(path))
    return paths


def test_log_mel_statistics_of_a_pure_tone(wavs):
    extractor = LogMelStatistics()
    t = np.arange(16000) / 16000
    feature = extractor(np.sin(2 * np.pi * 1000.0 * t))
    assert feature.shape == (80,) and extractor.dim == 80
    # the loudest band is the one whose filter peaks nearest 1 kHz; a stationary tone has a small std
    bank = mel_filterbank()
    freqs = np.linspace(0, 8000, 257)
    assert int(np.argmax(feature[:40])) == int(np.argmax(bank[:, np.argmin(np.abs(freqs - 1000.0))]))
    assert feature[40:][int(np.argmax(feature[:40]))] < 0.5


def test_features_are_cached_by_fingerprint(wavs, tmp_path):
    calls = []

    class Counting(LogMelStatistics):
        def __call__(self, waveform):
            calls.append(1)
            return super().__call__(waveform)

    cache = tmp_path / "cache"
    first = compute_utterance_features(wavs, Counting(), cache_dir=cache, progress=False)
    assert len(calls) == 2 and first.shape == (2, 80)
    again = compute_utterance_features(wavs, Counting(), cache_dir=cache, progress=False)
    assert len(calls) == 2  # read back
    np.testing.assert_array_equal(first, again)
    compute_utterance_features(wavs, Counting(n_mels=20), cache_dir=cache, progress=False)
    assert len(calls) == 4  # another extractor config: recomputed
    sf.write(wavs[0], np.zeros(8000, dtype=np.float32) + 0.01, 16000)  # a changed file: recomputed
    compute_utterance_features(wavs, Counting(), cache_dir=cache, progress=False)
    assert len(calls) == 6
    with pytest.raises(TypeError, match="config"):
        compute_utterance_features(wavs, lambda w: w[:3], cache_dir=cache, progress=False)


def test_speaker_normalize_and_lazy_waveforms(wavs):
    x = np.array([[1.0, 5.0], [3.0, 5.0], [10.0, 0.0], [20.0, 2.0]])
    out = speaker_normalize(x, ["a", "a", "b", "b"])
    np.testing.assert_allclose(out, [[-1, 0], [1, 0], [-1, -1], [1, 1]])
    lazy = LazyWaveforms(wavs, max_seconds=0.5)
    assert len(lazy) == 2 and lazy[1].shape == (8000,)
    assert isinstance(lazy[[1]], LazyWaveforms) and lazy[np.array([1, 0])].paths == [wavs[1], wavs[0]]


def test_heatmap_and_learning_curves_are_written(tmp_path):
    m = np.array([[1.0, 2.5, -0.3], [np.nan, np.nan, np.nan], [0.4, -2.0, 1.0]])
    path = tmp_path / "heatmap.png"
    order = plot_cltm_heatmap(m, path, languages=["en", "zh", "de"], title="t")
    assert order == ["en", "de", "zh"]  # grouped by family
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plot_cltm_heatmap(m, tmp_path / "given.png", ["en", "zh", "de"], order="given") == ["en", "zh", "de"]
    with pytest.raises(ValueError, match="languages"):
        plot_cltm_heatmap(m, path, languages=["en"])
    rows = [
        {"kind": k, "target": lang, "n": n, "seed": s, "performance": 0.5 + 0.01 * n + 0.02 * (k == "self") + s}
        for k in ("single", "self")
        for lang in ("en", "de")
        for n in (8, 16)
        for s in (0, 1)
    ]
    curves = tmp_path / "curves.png"
    plot_learning_curves(rows, curves, chosen_n=8, metric="uar")
    assert curves.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
