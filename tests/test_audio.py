import numpy as np
import pytest
import soundfile as sf

from hf_cser.audio import BadAudioCounter, BadAudioError, load_audio, prepare_waveform


def sine(sr, seconds=0.5, freq=440.0, channels=1):
    t = np.arange(int(sr * seconds)) / sr
    x = (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.stack([x] * channels, axis=1) if channels > 1 else x


def peak_frequency(x, sr):
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return np.fft.rfftfreq(len(x), 1 / sr)[spectrum.argmax()]


@pytest.mark.parametrize("sr", [8000, 16000, 22050, 44100, 48000])
def test_any_rate_in_16k_out_keeps_pitch_and_duration(tmp_path, sr):
    path = tmp_path / f"tone_{sr}.wav"
    sf.write(path, sine(sr, freq=1000.0), sr)
    y = load_audio(path)
    assert y.dtype == np.float32 and y.ndim == 1
    assert len(y) == 8000  # 0.5 s at 16 kHz
    assert peak_frequency(y, 16000) == pytest.approx(1000.0, abs=4)
    assert np.abs(y).max() == pytest.approx(0.5, abs=0.03)


@pytest.mark.parametrize("channels", [2, 6])
def test_multichannel_is_averaged_to_mono(tmp_path, channels):
    x = sine(16000, channels=channels)
    x[:, 0] = 0.0  # first channel silent: the mean is (c-1)/c of the tone
    path = tmp_path / "multi.wav"
    sf.write(path, x, 16000)
    y = load_audio(path)
    assert y.shape == (8000,)
    assert np.abs(y).max() == pytest.approx(0.5 * (channels - 1) / channels, abs=1e-3)


def test_int16_and_float64_arrays_and_channels_first():
    x = sine(16000)
    as_int16 = (x * 32767).astype(np.int16)
    np.testing.assert_allclose(prepare_waveform(as_int16, 16000), x, atol=1e-4)
    np.testing.assert_allclose(prepare_waveform(x.astype(np.float64), 16000), x, atol=1e-7)
    stereo_first = np.stack([x, x])  # (channels, time)
    np.testing.assert_allclose(prepare_waveform(stereo_first, 16000), x, atol=1e-7)


def write_bad(tmp_path, kind):
    path = tmp_path / f"{kind}.wav"
    if kind == "missing":
        return path
    if kind == "unreadable":
        path.write_text("this is not audio")
    elif kind == "truncated":
        sf.write(path, sine(16000), 16000)
        path.write_bytes(path.read_bytes()[:30])  # cut inside the header
    elif kind == "empty":
        sf.write(path, np.zeros(0, dtype=np.float32), 16000)
    elif kind == "non_finite":
        x = sine(16000)
        x[100] = np.nan
        x[200] = np.inf
        sf.write(path, x, 16000, subtype="FLOAT")
    elif kind == "silent":
        sf.write(path, np.zeros(1600, dtype=np.float32), 16000)
    return path


@pytest.mark.parametrize(
    "kind, reason, hint",
    [
        ("missing", "missing", "not found"),
        ("unreadable", "unreadable", "cannot decode"),
        ("truncated", "unreadable", "cannot decode"),
        ("empty", "empty", "zero samples"),
        ("non_finite", "non_finite", "NaN or inf"),
        ("silent", "silent", "all zeros"),
    ],
)
def test_bad_audio_raises_naming_the_file(tmp_path, kind, reason, hint):
    path = write_bad(tmp_path, kind)
    with pytest.raises(BadAudioError, match=hint) as info:
        load_audio(path)
    assert info.value.reason == reason
    assert str(path) in str(info.value)


def test_skip_bad_audio_counts_each_reason(tmp_path):
    counter = BadAudioCounter()
    good = tmp_path / "good.wav"
    sf.write(good, sine(16000), 16000)
    paths = [write_bad(tmp_path, k) for k in ("missing", "unreadable", "silent", "empty")] + [good]
    out = [load_audio(p, skip_bad_audio=True, counter=counter) for p in paths]
    assert [o is None for o in out] == [True, True, True, True, False]
    assert counter.total == 4
    assert dict(counter.counts) == {"missing": 1, "unreadable": 1, "silent": 1, "empty": 1}
    assert "skipped 4 bad audio" in counter.summary() and "silent.wav" in counter.summary()


def test_three_dimensional_array_is_rejected():
    with pytest.raises(BadAudioError, match="shape"):
        prepare_waveform(np.ones((2, 2, 2), dtype=np.float32), 16000)


def test_split_waveform_batch_single_and_batched_inputs():
    import torch

    from hf_cser.audio import split_waveform_batch

    single, batched = split_waveform_batch([0.1, 0.2, 0.3])
    assert not batched and len(single) == 1 and single[0].dtype == np.float32
    waves, batched = split_waveform_batch([np.zeros(3), torch.ones(5), [0.5, 0.5]])
    assert batched and [len(w) for w in waves] == [3, 5, 2]
    waves, batched = split_waveform_batch(np.zeros((2, 7)))
    assert batched and [w.shape for w in waves] == [(7,), (7,)]
    with pytest.raises(ValueError, match="1-D or a 2-D batch"):
        split_waveform_batch(np.zeros((1, 2, 3)))
