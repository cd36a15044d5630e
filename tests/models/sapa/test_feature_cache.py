import os

import numpy as np
import pytest
import soundfile as sf
import torch
from datasets import Dataset

import hf_cser  # noqa: F401
from hf_cser.data.schema import corpus_features
from hf_cser.models.sapa import (
    SapaFeatureExtractor,
    SapaForEmotionClassification,
    collate_window_features,
    compute_window_features,
)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("audio")
    t = np.arange(16000) / 16000
    rows = []
    metadata = [("angry", "a_1", "en"), ("sad", "b_2", "de"), ("happy", "a_1", "en")]
    for i, (emotion, speaker, lang) in enumerate(metadata):
        wav = 0.4 * (0.5 - 0.5 * np.cos(2 * np.pi * (2 + i) * t)) * np.sin(2 * np.pi * (120 + 30 * i) * t)
        path = root / f"{i}.wav"
        sf.write(path, wav.astype(np.float32), 16000)
        phonemes = [{"phone": "a", "start": 0.2, "end": 0.4}, {"phone": "i", "start": 0.5, "end": 0.7}]
        phonemes = phonemes if i == 0 else []
        rows.append(
            {
                "audio": str(path),
                "emotion": emotion,
                "language": lang,
                "speaker": speaker,
                "gender": "unknown",
                "corpus": "toy",
                "transcript": "",
                "phonemes": phonemes,
            }
        )
    columns = {name: [r[name] for r in rows] for name in corpus_features()}
    columns["emotion"] = [["neutral", "happy", "angry", "sad"].index(e) for e in columns["emotion"]]
    return Dataset.from_dict(columns, features=corpus_features())


def test_compute_window_features_columns_and_values(tmp_path, corpus, tiny_sapa_model_factory):
    model = tiny_sapa_model_factory(max_windows=5)
    extractor = SapaFeatureExtractor.from_sapa_arguments(model.config)
    cached = compute_window_features(model, extractor, corpus, cache_dir=tmp_path, progress=False)
    assert len(cached) == 3
    for name in ("emotion", "language", "speaker", "gender", "corpus", "content_features", "num_windows"):
        assert name in cached.column_names
    row = cached[0]
    assert isinstance(row["content_features"], np.ndarray)  # numpy formatting by default
    assert row["num_windows"] == 2 and row["window_phones"].tolist() == [3, 0]  # a, i
    content = np.asarray(row["content_features"], dtype=np.float32)
    assert content.shape == (2, 32) and np.asarray(row["speaker_features"]).shape == (2, 16)
    # the cached features are what the model computes on the decoded audio
    wav = sf.read(corpus[0]["audio"], dtype="float32")[0]
    inputs = extractor(wav, phonemes=corpus[0]["phonemes"], return_tensors="pt")
    expected, _ = model.extract_window_features(
        inputs["input_values"], inputs["attention_mask"], inputs["window_centers"], inputs["window_mask"]
    )
    np.testing.assert_allclose(content, expected[0].numpy(), rtol=1e-5, atol=1e-5)

    batch = collate_window_features([cached[i] for i in range(3)])
    n = max(cached["num_windows"])
    assert batch["content_features"].shape == (3, n, 32) and batch["speaker_features"].shape == (3, n, 16)
    assert batch["window_mask"].sum(dim=1).tolist() == cached["num_windows"]
    assert batch["labels"].tolist() == [2, 3, 1]
    assert batch["metadata"]["speaker"] == ["a_1", "b_2", "a_1"] and batch["metadata"]["language"][1] == "de"
    assert (batch["window_phones"][batch["window_mask"] == 0] == -1).all()
    metadata = batch.pop("metadata")
    batch.pop("window_phones")
    out = model(**batch)
    assert out.logits.shape == (3, 4) and out.loss is not None and len(metadata) == 4


def test_cache_hit_skips_the_encoders_and_weight_change_invalidates(
    tmp_path, corpus, monkeypatch, tiny_sapa_model_factory
):
    model = tiny_sapa_model_factory(max_windows=5)
    extractor = SapaFeatureExtractor.from_sapa_arguments(model.config)
    calls = []
    original = SapaForEmotionClassification.extract_window_features

    def counting(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SapaForEmotionClassification, "extract_window_features", counting)
    first = compute_window_features(model, extractor, corpus, cache_dir=tmp_path, progress=False)
    assert len(calls) == 3  # group-norm backbone: one utterance per call
    second = compute_window_features(model, extractor, corpus, cache_dir=tmp_path, progress=False)
    assert len(calls) == 3
    np.testing.assert_array_equal(np.asarray(second[1]["content_features"]), np.asarray(first[1]["content_features"]))

    # the trainable head does not invalidate the cache ...
    with torch.no_grad():
        model.classifier[0].weight.add_(1.0)
    compute_window_features(model, extractor, corpus, cache_dir=tmp_path, progress=False)
    assert len(calls) == 3
    # ... the frozen encoders do
    with torch.no_grad():
        model.speaker_encoder.linear.bias.add_(0.5)
    third = compute_window_features(model, extractor, corpus, cache_dir=tmp_path, progress=False)
    assert len(calls) == 6
    assert not np.allclose(np.asarray(third[0]["speaker_features"]), np.asarray(first[0]["speaker_features"]))
    # and so do the window settings and the dataset
    compute_window_features(model, SapaFeatureExtractor(max_windows=1), corpus, cache_dir=tmp_path, progress=False)
    assert len(calls) == 9
    # a new dataset of the same files (another fold, split or seed) reads the per-utterance files: no encoder call
    subset = compute_window_features(model, extractor, corpus.select([2, 0]), cache_dir=tmp_path, progress=False)
    assert len(calls) == 9
    np.testing.assert_array_equal(np.asarray(subset[1]["content_features"]), np.asarray(third[0]["content_features"]))
    assert subset["emotion"] == [corpus[2]["emotion"], corpus[0]["emotion"]]
    # an edited audio file (same path, same size) is recomputed: the key holds the file's modification time
    edited = tmp_path / "edited.wav"
    wav, rate = sf.read(corpus[1]["audio"], dtype="float32")
    sf.write(edited, wav, rate)
    row = {name: [corpus[1][name]] for name in corpus.column_names}
    before = compute_window_features(
        model,
        extractor,
        Dataset.from_dict(dict(row, audio=[str(edited)]), features=corpus.features),
        cache_dir=tmp_path,
        progress=False,
    )
    assert len(calls) == 10
    sf.write(edited, wav[::-1].copy(), rate)  # same length, other audio
    os.utime(edited, ns=(os.stat(edited).st_atime_ns, os.stat(edited).st_mtime_ns + 10**9))
    after = compute_window_features(
        model,
        extractor,
        Dataset.from_dict(dict(row, audio=[str(edited)]), features=corpus.features).map(
            lambda r: r, load_from_cache_file=False
        ),
        cache_dir=tmp_path,
        progress=False,
    )
    assert len(calls) == 11
    assert not np.allclose(np.asarray(after[0]["content_features"]), np.asarray(before[0]["content_features"]))


def test_numpy_formatted_rows_collate_to_the_same_batch_as_python_lists(tmp_path, corpus, tiny_sapa_model_factory):
    """The default numpy formatting changes the speed, not the batch: equal to the list rows and to a hand-padded
    reference, read the way the trainer's data loader reads them (`__getitems__`)."""
    model = tiny_sapa_model_factory(max_windows=5)
    extractor = SapaFeatureExtractor.from_sapa_arguments(model.config)
    as_numpy = compute_window_features(model, extractor, corpus, cache_dir=tmp_path, progress=False)
    as_lists = compute_window_features(
        model, extractor, corpus, cache_dir=tmp_path, progress=False, output_format=None
    )
    assert isinstance(as_lists[0]["content_features"], list) and isinstance(as_numpy[0]["speaker"], str)
    order = [2, 0, 1]
    fast = collate_window_features(as_numpy.__getitems__(order))
    slow = collate_window_features(as_lists.__getitems__(order))
    assert fast["metadata"] == slow["metadata"]
    for key in ("content_features", "speaker_features", "window_mask", "window_phones", "labels"):
        assert fast[key].dtype == slow[key].dtype and torch.equal(fast[key], slow[key]), key
    n = max(as_lists["num_windows"][i] for i in order)
    for b, i in enumerate(order):
        row = as_lists[i]
        k = row["num_windows"]
        expected = torch.zeros(n, 32)
        expected[:k] = torch.tensor(row["content_features"])
        assert torch.equal(fast["content_features"][b], expected)
        assert fast["window_phones"][b].tolist() == row["window_phones"] + [-1] * (n - k)
        assert fast["window_mask"][b].tolist() == [1] * k + [0] * (n - k)
    with pytest.raises(ValueError, match="output_format"):
        compute_window_features(model, extractor, corpus, cache_dir=tmp_path, output_format="pandas")
