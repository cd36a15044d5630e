import numpy as np
import pytest

from hf_cser.data.phones import (
    SHARED_VOWELS,
    centred_windows,
    map_alignment,
    phoneme_windows,
    strip_phone_marks,
    to_shared_phone,
    voiced_energy_peaks,
)


def test_shared_inventory_is_sapa_table_2():
    assert SHARED_VOWELS == ("i", "E", "@", "a", "O", "u")


@pytest.mark.parametrize(
    "phone, language, expected",
    [
        # English espeak mnemonics, with stress marks
        ("'a", "en", "a"),
        ("aI", "en", "a"),
        (",oU", "en", "O"),
        ("a#", "en", "@"),
        ("'3:", "en", "@"),
        ("i", "en", "i"),
        ("'I", "en", "i"),
        ("E", "en", "E"),
        ("'A:", "en", "a"),
        ("'O:", "en", "O"),
        ("u:", "en", "u"),
        ("'V", "en", "@"),
        ("U", "en", "u"),
        ("'eI", "en", "E"),
        ("@L", "en", None),
        ("m", "en", None),
        ("D", "en", None),
        ("_", "en", None),
        # Mandarin (espeak voice cmn), language given as zh or cmn
        ("'o", "zh", "O"),
        ("'iE", "cmn", "E"),
        ("'o-", "zh", "@"),
        ("'Au", "zh", "a"),
        ("'i.", "zh", None),
        ("'i[", "zh", None),
        ("'y", "zh", "i"),
        ("_|", "zh", None),
        ("(en)", "zh", None),
        ("ts.h", "zh", None),
        # German, French, Urdu
        ("'Y:", "de", "E"),
        ("'y", "de", "i"),
        ("3", "de", "@"),
        ("'OY", "de", "O"),
        ("C", "de", None),
        ("'W~", "fr", "E"),
        ("'A~", "fr", "a"),
        ("'y", "fr", "i"),
        ("@-", "fr", "@"),
        ("Z", "fr", None),
        ("'a:", "ur", "a"),
        ("'V", "ur", "@"),
        ("e~", "ur", "E"),
        ("t#", "ur", None),
        # other espeak voices: symbol fallback
        ("'e", "es", "E"),
        ("a:", "it", "a"),
        ("R2", "es", None),
    ],
)
def test_espeak_mapping(phone, language, expected):
    assert to_shared_phone(phone, "espeak", language) == expected


@pytest.mark.parametrize(
    "phone, scheme, expected",
    [
        ("AA1", "arpabet", "a"),
        ("AE0", "arpabet", "a"),
        ("AH0", "arpabet", "@"),
        ("ER1", "arpabet", "@"),
        ("IY2", "arpabet", "i"),
        ("EH1", "arpabet", "E"),
        ("AO1", "arpabet", "O"),
        ("UW1", "arpabet", "u"),
        ("ay1", "arpabet", "a"),
        ("EY1", "arpabet", "E"),
        ("T", "arpabet", None),
        ("NG", "arpabet", None),
        ("a1", "pinyin", "a"),
        ("iang2", "pinyin", "a"),
        ("uo3", "pinyin", "O"),
        ("ve4", "pinyin", "E"),
        ("e4", "pinyin", "@"),
        ("i1", "pinyin", "i"),
        ("ong1", "pinyin", "u"),
        ("zhi4", "pinyin", None),
        ("si4", "pinyin", None),
        ("xue2", "pinyin", "E"),
        ("hǎo", "pinyin", "a"),
        ("lǜ", "pinyin", "i"),
        ("wen2", "pinyin", "@"),
        ("you3", "pinyin", "O"),
        ("zh", "pinyin", None),
        ("ˈɛː", "ipa", "E"),
        ("ɑː", "ipa", "a"),
        ("ʊ", "ipa", "u"),
        ("ɔ̃", "ipa", "O"),
        ("aɪ", "ipa", "a"),
        ("ja", "ipa", "a"),
        ("ə", "ipa", "@"),
        ("t", "ipa", None),
        ("n̩", "ipa", None),
    ],
)
def test_other_schemes(phone, scheme, expected):
    assert to_shared_phone(phone, scheme) == expected


def test_diphthong_option_marks_and_errors():
    assert to_shared_phone("aI", diphthongs=False) is None
    assert to_shared_phone("AY1", "arpabet", diphthongs=False) is None
    assert to_shared_phone("iang", "pinyin", diphthongs=False) is None
    assert to_shared_phone("'a", diphthongs=False) == "a"
    assert strip_phone_marks("'a") == "a"
    assert strip_phone_marks("AH0", "arpabet") == "AH"
    assert strip_phone_marks("lǜ4", "pinyin") == "lv"
    with pytest.raises(ValueError, match="`scheme` must be one of"):
        to_shared_phone("a", "sampa")


def test_map_alignment():
    ali = [{"phone": "h", "start": 0.0, "end": 0.1}, {"phone": "'a", "start": 0.1, "end": 0.3}]
    assert map_alignment(ali) == [{**ali[0], "shared": None}, {**ali[1], "shared": "a"}]
    assert map_alignment(ali, shared_only=True) == [{**ali[1], "shared": "a"}]


def test_phoneme_windows_shape_centring_and_padding():
    sr = 16_000
    wav = np.ones(sr, dtype=np.float32) * 0.5  # 1 s
    wav[8000] = 7.0  # impulse at 0.5 s
    phonemes = [
        {"phone": "'a", "start": 0.4, "end": 0.6},  # midpoint 0.5 s: the impulse
        {"phone": "m", "start": 0.6, "end": 0.7},
        {"phone": "i", "start": 0.0, "end": 0.02},  # midpoint 10 ms: window runs before the start
        {"phone": "u:", "start": 0.98, "end": 1.0},  # midpoint 990 ms: window runs past the end
    ]
    out = phoneme_windows(wav, phonemes, sr, window_ms=240)
    assert out.windows.shape == (4, 3840) and out.windows.dtype == np.float32
    assert out.phones == ["'a", "m", "i", "u:"]
    assert out.shared == ["a", None, "i", "u"]
    np.testing.assert_allclose(out.centres, [0.5, 0.65, 0.01, 0.99])
    assert int(np.argmax(out.windows[0])) == 1920 and out.windows[0, 1920] == 7.0
    # zero padding: the first 1920 - 160 samples of the start window and the samples after 10 ms of audio are 0
    assert np.all(out.windows[2, :1760] == 0) and np.all(out.windows[2, 1760:] == 0.5)
    assert np.all(out.windows[3, 1920 + 160 :] == 0) and np.all(out.windows[3, : 1920 + 160] == 0.5)
    # reflect padding mirrors the audio instead
    ramp = np.arange(100, dtype=np.float32)
    win = centred_windows(ramp, [0.0], sampling_rate=1000, window_ms=9, padding="reflect")
    np.testing.assert_array_equal(win, [[4, 3, 2, 1, 0, 1, 2, 3, 4]])
    win = centred_windows(ramp, [0.099], sampling_rate=1000, window_ms=6, padding="zero")
    np.testing.assert_array_equal(win, [[96, 97, 98, 99, 0, 0]])
    shared = phoneme_windows(wav, phonemes, sr, window_ms=120, shared_only=True)
    assert shared.windows.shape == (3, 1920) and shared.phones == ["'a", "i", "u:"]
    with pytest.raises(ValueError, match="`padding` must be one of"):
        centred_windows(wav, [0.5], padding="edge")


def test_voiced_energy_peaks_finds_voiced_bursts_only():
    sr = 16_000
    rng = np.random.default_rng(0)
    t = np.arange(int(1.5 * sr)) / sr
    wav = 1e-4 * rng.standard_normal(t.size)
    burst = int(0.16 * sr)
    envelope = np.hanning(burst)
    for centre in (0.3, 0.7, 1.2):  # voiced: 220 Hz harmonic tone
        start = int(centre * sr) - burst // 2
        seg = t[start : start + burst]
        tone = 0.5 * np.sin(2 * np.pi * 220 * seg) + 0.2 * np.sin(2 * np.pi * 440 * seg)
        wav[start : start + burst] += envelope * tone
    start = int(0.95 * sr) - burst // 2  # unvoiced: loud white noise (fricative-like)
    wav[start : start + burst] += envelope * 0.5 * rng.standard_normal(burst)
    peaks = voiced_energy_peaks(wav, sr)
    assert peaks.shape == (3,)
    np.testing.assert_allclose(peaks, [0.3, 0.7, 1.2], atol=0.011)
    windows = centred_windows(wav, peaks, sr, window_ms=120)
    assert windows.shape == (3, 1920)
    assert voiced_energy_peaks(np.zeros(0), sr).shape == (0,)


@pytest.mark.parametrize("num_samples", [1, 40, 100, 200, 400])
def test_voiced_energy_peaks_on_audio_shorter_than_the_smoothing_kernel(num_samples):
    """Fewer frames than the 5-frame smoothing kernel used to crash (IndexError / broadcast error): now at most one
    peak, inside the audio."""
    sr = 16_000
    wav = 0.4 * np.sin(2 * np.pi * 150 * np.arange(num_samples) / sr)
    peaks = voiced_energy_peaks(wav, sr)
    assert peaks.ndim == 1 and peaks.size <= 1
    assert np.all((peaks >= 0) & (peaks <= num_samples / sr + 0.01))
