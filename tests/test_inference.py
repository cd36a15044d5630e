"""Tests of hf_cser/inference.py and the `hf-cser predict` / `hf-cser evaluate` commands, on a tiny wav2vec2
classifier built in code and a tiny synthetic corpus."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import soundfile as sf
import torch
from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2ForSequenceClassification

from hf_cser.audio import BadAudioError, load_audio
from hf_cser.cli import main
from hf_cser.data.schema import build_dataset_dict
from hf_cser.data.synthetic import SyntheticCorpusConfig, synthesize_corpus
from hf_cser.inference import ModelNotFoundError, evaluate_model, model_label_to_emotion, predict
from hf_cser.labels import EMOTIONS
from hf_cser.metrics import compute_ser_metrics

# alphabetical, not the EMOTIONS order: evaluation must map model ids to emotions by name
ID2LABEL = {0: "angry", 1: "happy", 2: "neutral", 3: "sad"}


def tiny_classifier():
    torch.manual_seed(0)
    config = Wav2Vec2Config(
        conv_dim=(32,) * 7,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=37,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        feat_extract_norm="layer",
        classifier_proj_size=16,
        num_labels=4,
        id2label=ID2LABEL,
        label2id={v: k for k, v in ID2LABEL.items()},
    )
    model = Wav2Vec2ForSequenceClassification(config).eval()
    feature_extractor = Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True, return_attention_mask=True
    )
    return model, feature_extractor


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("inference") / "synthetic"
    config = SyntheticCorpusConfig(languages=("en", "de"), speakers_per_language=3, utterances_per_speaker=4)
    return str(out), synthesize_corpus(config, out, num_proc=1, progress=False)


def spread_predictions(model, feature_extractor, paths):
    """A random tiny wav2vec2 predicts one class for everything (its pooled features are nearly constant); centre
    and rescale the classification head on some utterances so that its argmax varies (a stronger test)."""
    seen = []
    hook = model.projector.register_forward_hook(lambda module, args, out: seen.append(out.mean(dim=1)))
    with torch.no_grad():
        for path in paths:
            model(**feature_extractor(load_audio(path, 16000), sampling_rate=16000, return_tensors="pt"))
        hook.remove()
        features = torch.cat(seen)
        model.projector.bias.sub_(features.mean(dim=0))
        model.classifier.weight.div_(features.std(dim=0).mean())


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, corpus):
    folder = tmp_path_factory.mktemp("model") / "tiny"
    model, feature_extractor = tiny_classifier()
    spread_predictions(model, feature_extractor, corpus[1]["train"]["audio"])
    model.save_pretrained(folder)
    feature_extractor.save_pretrained(folder)
    return str(folder)


def direct_probabilities(model_dir, paths):
    """One utterance at a time, no padding: the reference the batched code must match."""
    model = Wav2Vec2ForSequenceClassification.from_pretrained(model_dir).eval()
    feature_extractor = Wav2Vec2FeatureExtractor.from_pretrained(model_dir)
    out = []
    with torch.no_grad():
        for path in paths:
            inputs = feature_extractor(load_audio(path, 16000), sampling_rate=16000, return_tensors="pt")
            out.append(torch.softmax(model(**inputs).logits, dim=-1)[0].numpy())
    return np.stack(out)


def test_predict_matches_the_model_and_accepts_arrays(model_dir, corpus):
    _, data = corpus
    paths = list(data["train"]["audio"][:5])
    reference = direct_probabilities(model_dir, paths)
    scores = predict(model_dir, paths, batch_size=2, device="cpu")
    assert len(scores) == 5
    for row, ref in zip(scores, reference, strict=True):
        assert set(row) == set(ID2LABEL.values())
        assert list(row.values()) == sorted(row.values(), reverse=True)
        assert [row[ID2LABEL[i]] for i in range(4)] == pytest.approx(ref.tolist(), abs=1e-5)
    # an array at the feature extractor's rate, and a 48 kHz stereo dict, give the same scores as the file
    wav = load_audio(paths[0], 16000)
    assert predict(model_dir, wav, device="cpu")[0] == pytest.approx(scores[0], abs=1e-5)
    data48, _ = sf.read(paths[0], dtype="float32")
    from scipy.signal import resample_poly

    stereo = np.stack([resample_poly(data48, 3, 1)] * 2, axis=1)
    as_dict = predict(model_dir, [{"array": stereo, "sampling_rate": 48000}], device="cpu")[0]
    assert max(as_dict, key=as_dict.get) == max(scores[0], key=scores[0].get)


def test_evaluate_equals_metrics_from_the_models_argmax(model_dir, corpus):
    folder, data = corpus
    split = data["test"]
    probs = direct_probabilities(model_dir, split["audio"])
    y_pred = [EMOTIONS.index(ID2LABEL[int(i)]) for i in probs.argmax(axis=-1)]
    assert len(set(y_pred)) >= 2, "the tiny model must not predict one class for everything"
    expected = compute_ser_metrics(split["emotion"], y_pred, split["language"])
    for data_arg in (data, f"synthetic@{folder}"):
        result = evaluate_model(
            model_dir, data_arg, split="test", batch_size=3, device="cpu", progress=False, return_predictions=True
        )
        assert [EMOTIONS.index(p["predicted"]) for p in result["predictions"]] == y_pred
        for key in ("uar", "war", "macro_f1", "num_samples", "per_class_recall", "confusion_matrix", "per_language"):
            assert result[key] == expected[key], key
        assert set(result["per_language"]) == {"en", "de"}
        assert result["per_corpus"]["synthetic"]["uar"] == expected["uar"]
        assert result["num_skipped"] == 0 and result["split"] == "test"
    with pytest.raises(KeyError, match="no `dev` split"):
        evaluate_model(model_dir, data, split="dev", progress=False)


def test_skip_bad_audio_counts_and_per_corpus(model_dir, corpus, tmp_path):
    _, data = corpus
    good = data["test"]
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(16000, dtype=np.float32), 16000)
    records = [dict(r, corpus="other" if i % 2 else "synthetic") for i, r in enumerate(good)]
    records += [dict(records[0], audio=str(tmp_path / "missing.wav")), dict(records[0], audio=str(silent))]
    dataset = build_dataset_dict({"test": records})
    with pytest.raises(BadAudioError, match="missing.wav"):
        evaluate_model(model_dir, dataset, progress=False)
    result = evaluate_model(model_dir, dataset, skip_bad_audio=True, progress=False)
    assert result["num_skipped"] == 2 and result["skipped"] == {"missing": 1, "silent": 1}
    assert result["num_samples"] == len(good)
    assert set(result["per_corpus"]) == {"synthetic", "other"}
    assert sum(v["num_samples"] for v in result["per_corpus"].values()) == len(good)


def test_phonemes_reach_only_feature_extractors_that_take_them(corpus):
    _, data = corpus
    model, base = tiny_classifier()
    calls = []

    class PhonemeFeatureExtractor(Wav2Vec2FeatureExtractor):
        def __call__(self, raw_speech, sampling_rate=None, phonemes=None, **kwargs):
            calls.append(phonemes)
            return super().__call__(raw_speech, sampling_rate=sampling_rate, **kwargs)

    feature_extractor = PhonemeFeatureExtractor(**base.to_dict())
    evaluate_model((model, feature_extractor), data, split="test", batch_size=4, progress=False)
    assert len(calls) == 2 and [len(c) for c in calls] == [4, 4]
    assert calls[0][0] == data["test"][0]["phonemes"] and calls[0][0]
    predict((model, feature_extractor), data["test"]["audio"][:2], phonemes=[data["test"][0]["phonemes"], None])
    assert calls[-1] == [data["test"][0]["phonemes"], []]
    predict((model, feature_extractor), data["test"]["audio"][:2])
    assert calls[-1] is None


def test_label_mapping():
    assert model_label_to_emotion(ID2LABEL).tolist() == [2, 1, 0, 3]
    assert model_label_to_emotion({0: "Anger", 1: "neutral", 2: "sadness", 3: "joy"}).tolist() == [2, 0, 3, 1]
    assert model_label_to_emotion({i: f"LABEL_{i}" for i in range(4)}).tolist() == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="'fear'"):
        model_label_to_emotion({0: "fear", 1: "happy"})


def test_model_errors_name_the_folder_and_the_fix(model_dir, tmp_path):
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        predict(str(tmp_path / "no_model"), [])
    incomplete = tmp_path / "incomplete"
    incomplete.mkdir()
    (incomplete / "config.json").write_text(open(os.path.join(model_dir, "config.json")).read())
    with pytest.raises(ModelNotFoundError, match=r"preprocessor_config\.json.*feature_extractor\.save_pretrained"):
        predict(str(incomplete), [])


def test_cli_predict_and_evaluate_print_json(model_dir, corpus, tmp_path, capsys):
    folder, data = corpus
    files = list(data["test"]["audio"][:2])
    assert main(["predict", model_dir, *files, "--no-progress", "--device", "cpu"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert list(printed) == files and all(set(v) == set(ID2LABEL.values()) for v in printed.values())
    output = tmp_path / "results" / "eval.json"
    assert (
        main(
            [
                "evaluate",
                model_dir,
                "--data",
                f"synthetic:de@{folder}",
                "--split",
                "test",
                "--output",
                str(output),
                "--no-progress",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(output.read_text())
    assert {"uar", "war", "macro_f1", "per_language", "per_corpus"} <= set(printed)
    assert set(printed["per_language"]) == {"de"} and printed["num_samples"] == 4

    assert main(["predict", model_dir, str(tmp_path / "nope.wav"), "--no-progress"]) == 1
    assert "nope.wav" in capsys.readouterr().err
    assert main(["evaluate", model_dir, "--data", "corpus:emodb", "--no-progress"]) == 1
    assert "corpus:NAME:DIR" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "no_model"), "--data", f"synthetic@{folder}", "--no-progress"]) == 1
    assert "no_model" in capsys.readouterr().err
