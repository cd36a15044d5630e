"""hf_cser.encoders.mel: the library's one mel filter bank against librosa (an independent implementation), and the
front ends that use it."""

import librosa
import numpy as np
import pytest

from hf_cser.encoders.mel import mel_filters


@pytest.mark.parametrize(
    ("sampling_rate", "n_fft", "n_mels", "fmin", "fmax"),
    [(16000, 800, 128, 0.0, None), (16000, 400, 40, 0.0, None), (22050, 1024, 80, 50.0, 7600.0)],
)
def test_slaney_filters_equal_librosa(sampling_rate, n_fft, n_mels, fmin, fmax):
    ours = mel_filters(sampling_rate, n_fft, n_mels, fmin, fmax)
    theirs = librosa.filters.mel(
        sr=sampling_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=False, norm="slaney", dtype=np.float64
    )
    assert ours.shape == (n_mels, 1 + n_fft // 2)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-9)


def test_htk_unnormalised_filters_equal_librosa_and_are_the_cltm_bank():
    from hf_cser.cltm.features import mel_filterbank

    ours = mel_filters(16000, 512, 40, 20.0, None, mel_scale="htk", norm=None)
    theirs = librosa.filters.mel(sr=16000, n_fft=512, n_mels=40, fmin=20.0, htk=True, norm=None, dtype=np.float64)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-9)
    assert np.array_equal(mel_filterbank(16000, 512, 40), ours)
    assert float(ours.max()) == pytest.approx(1.0, abs=0.05)  # unnormalised triangles peak near 1


def test_every_front_end_takes_its_filters_from_here():
    from hf_cser.encoders.ge2e import slaney_mel_filter_bank
    from hf_cser.encoders.whisper.encoding import whisper_mel_filters
    from hf_cser.models.feature_gan import LogMelFeatureExtractor

    np.testing.assert_array_equal(
        slaney_mel_filter_bank(16000, 400, 40), mel_filters(16000, 400, 40).astype(np.float32)
    )
    whisper = whisper_mel_filters(80).numpy()
    np.testing.assert_allclose(whisper.T, librosa.filters.mel(sr=16000, n_fft=400, n_mels=80), rtol=1e-5, atol=1e-7)
    extractor = LogMelFeatureExtractor()
    np.testing.assert_array_equal(
        extractor._mel_filters().numpy().T,
        mel_filters(
            extractor.sampling_rate, extractor.n_fft, extractor.feature_size, extractor.f_min, extractor.f_max
        ).astype(np.float32),
    )


def test_filters_are_read_only_and_bad_settings_are_refused():
    filters = mel_filters(16000, 400, 40)
    with pytest.raises(ValueError):
        filters[0, 0] = 1.0
    with pytest.raises(ValueError, match="mel_scale"):
        mel_filters(16000, 400, 40, mel_scale="bark")
    with pytest.raises(ValueError, match="fmax"):
        mel_filters(16000, 400, 40, 0.0, 9000.0)
