import numpy as np
import pytest
import soundfile as sf
import torch
from transformers import pipeline

import hf_cser  # noqa: F401  (registers the models and the pipeline)
from hf_cser.audio import prepare_waveform
from hf_cser.labels import EMOTIONS
from hf_cser.models.sapa import SapaFeatureExtractor, SapaForEmotionClassification
from hf_cser.pipelines import SoundfileAudioClassificationPipeline


def voiced(seconds, sr):
    t = np.arange(int(seconds * sr)) / sr
    return (0.4 * (0.5 - 0.5 * np.cos(2 * np.pi * 3 * t)) * np.sin(2 * np.pi * 150 * t)).astype(np.float32)


@pytest.fixture(scope="module")
def sapa_folder(tmp_path_factory, tiny_sapa_model_factory):
    model = tiny_sapa_model_factory()
    config = model.config
    folder = tmp_path_factory.mktemp("sapa")
    model.save_pretrained(folder)
    SapaFeatureExtractor.from_sapa_arguments(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def classifier(sapa_folder):
    return pipeline("audio-classification", model=str(sapa_folder))


def reference_scores(classifier, waveform_16k):
    extractor = classifier.feature_extractor
    inputs = extractor(waveform_16k, sampling_rate=16000, return_tensors="pt")
    with torch.no_grad():
        logits = classifier.model(**{k: inputs[k] for k in extractor.model_input_names}).logits[0]
    probs = logits.softmax(-1)
    return {EMOTIONS[i]: float(probs[i]) for i in range(4)}


def check(result, expected):
    assert sorted(r["label"] for r in result) == sorted(EMOTIONS)
    assert sum(r["score"] for r in result) == pytest.approx(1.0, abs=1e-5)
    assert [r["score"] for r in result] == sorted((r["score"] for r in result), reverse=True)
    for r in result:
        assert r["score"] == pytest.approx(expected[r["label"]], abs=1e-5)


def test_pipeline_is_the_soundfile_one(classifier):
    assert isinstance(classifier, SoundfileAudioClassificationPipeline)
    assert type(classifier.model) is SapaForEmotionClassification


def test_pipeline_numpy_array_at_16khz(classifier):
    wav = voiced(1.0, 16000)
    check(classifier(wav), reference_scores(classifier, wav))
    # float64 and int16 arrays are converted, not rejected
    check(classifier(wav.astype(np.float64)), reference_scores(classifier, wav))
    as_int16 = (wav * 32767).astype(np.int16)
    check(classifier(as_int16), reference_scores(classifier, prepare_waveform(as_int16, 16000)))


def test_pipeline_dict_at_44khz(classifier):
    wav = voiced(1.0, 44100)
    result = classifier({"array": wav, "sampling_rate": 44100})
    check(result, reference_scores(classifier, prepare_waveform(wav, 44100)))
    as_float64 = classifier({"raw": wav.astype(np.float64), "sampling_rate": 44100})
    check(as_float64, {r["label"]: r["score"] for r in result})


def test_pipeline_wav_path_at_8khz(classifier, tmp_path):
    wav = voiced(1.0, 8000)
    path = tmp_path / "speech_8k.wav"
    sf.write(path, wav, 8000, subtype="PCM_16")
    expected = reference_scores(classifier, prepare_waveform(sf.read(path, dtype="float32")[0], 8000))
    check(classifier(str(path)), expected)
    top2 = classifier(str(path), top_k=2)
    assert [r["label"] for r in top2] == sorted(expected, key=expected.get, reverse=True)[:2]


def test_pipeline_rejects_bad_dicts(classifier):
    with pytest.raises(ValueError, match="sampling_rate"):
        classifier({"array": voiced(0.5, 16000)})
