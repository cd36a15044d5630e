"""The real-speech path of the training scripts: manifest CSVs (not the synthetic spec), several corpora, a Whisper
front end (tiny, built in code) and feature normalisation, as a user runs them on their own corpora."""

import csv
import json

import numpy as np
import pytest
import torch

from .conftest import load_script


@pytest.fixture(scope="module")
def tiny_whisper(tiny_whisper_dir):
    return tiny_whisper_dir


@pytest.fixture(scope="module")
def manifests(tiny_corpus, tmp_path_factory):
    """English split into two 'corpora' (alpha, beta) as the source; Mandarin as the held-out target corpus."""
    folder = tmp_path_factory.mktemp("real_style_manifests")
    rows = list(csv.DictReader(open(tiny_corpus / "metadata.csv")))
    fields = ["path", "emotion", "language", "speaker", "corpus", "gender", "split"]
    source, target = [], []
    for row in rows:
        out = {k: row.get(k, "") for k in fields}
        out["path"] = str(tiny_corpus / row["path"])
        if row["language"] == "en":
            out["corpus"] = "alpha" if row["speaker"][-1] in "02468" else "beta"
            out["split"] = "validation" if row["split"] == "validation" else "train"
            source.append(out)
        else:
            out.update(corpus="gamma", split="test")
            target.append(out)
    for name, part in (("source.csv", source), ("target.csv", target), ("fold.csv", source + target)):
        with open(folder / name, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields)
            writer.writeheader()
            writer.writerows(part)
    return folder


def test_sapa_on_manifests_with_whisper_and_corpus_normalisation(manifests, tiny_whisper, tmp_path):
    from transformers import AutoModelForAudioClassification

    out = tmp_path / "sapa"
    summary = load_script("train_sapa").main(
        [
            "--train_data",
            str(manifests / "source.csv"),
            "--eval_data",
            str(manifests / "target.csv"),
            "--content_encoder",
            str(tiny_whisper),
            "--output_dir",
            str(out),
            "--feature_cache_dir",
            str(tmp_path / "c"),
            "--max_steps",
            "3",
            "--per_device_train_batch_size",
            "8",
            "--hidden_size",
            "16",
            "--num_transformer_layers",
            "1",
            "--run_analyses",
            "false",
            "--disable_tqdm",
            "true",
            "--use_cpu",
            "true",
        ]
    )
    assert summary["target_languages"] == ["zh"]
    config = json.loads((out / "config.json").read_text())
    assert config["content_encoder_config"]["model_type"] == "whisper"
    assert config["content_layer"] == 1  # 'auto': the middle layer of a 2-layer Whisper encoder
    norm = config["feature_normalization"]
    assert norm["group_by"] == "corpus"  # 'auto' on real (non-synthetic) data
    assert len(norm["content"]["mean"]) == 32 and len(norm["speaker"]["mean"]) == 256
    model = AutoModelForAudioClassification.from_pretrained(out).eval()
    assert type(model.content_encoder.backbone).__name__ == "WhisperEncoder"
    with torch.no_grad():
        logits = model(input_values=torch.randn(1, 16000) * 0.1).logits
    assert torch.isfinite(logits).all()


def test_window_feature_normalisation_matches_the_normalizer(tmp_path):
    """`normalize_window_feature_datasets` = FeatureNormalizer on the flattened windows: training groups with
    their fitted statistics, a new (target) group with its own."""
    from datasets import Array2D, Dataset, Features, Value

    from hf_cser.models.sapa import normalize_window_feature_datasets
    from hf_cser.normalization import FeatureNormalizer

    rng = np.random.default_rng(0)
    features = Features(
        {
            "corpus": Value("string"),
            "content_features": Array2D((None, 3), "float32"),
            "speaker_features": Array2D((None, 2), "float32"),
        }
    )

    def make(corpora, offset):
        rows = {"corpus": [], "content_features": [], "speaker_features": []}
        for corpus in corpora:
            n = int(rng.integers(1, 4))
            rows["corpus"].append(corpus)
            rows["content_features"].append((rng.standard_normal((n, 3)) + offset).astype(np.float32))
            rows["speaker_features"].append((rng.standard_normal((n, 2)) * 3).astype(np.float32))
        return Dataset.from_dict(rows, features=features).with_format(
            "numpy", columns=["content_features", "speaker_features"], output_all_columns=True
        )

    train, target = make(["a", "b"] * 5, 0.0), make(["t"] * 6, 10.0)
    new_train, others, settings = normalize_window_feature_datasets(train, {"target": target}, "corpus", eps=0.0)
    assert settings["group_by"] == "corpus"
    flat = np.concatenate(list(train["content_features"]))
    groups = np.repeat(train["corpus"], [len(x) for x in train["content_features"]])
    reference = FeatureNormalizer("corpus", eps=0.0).fit(flat, groups)
    np.testing.assert_allclose(
        np.concatenate(list(new_train["content_features"])), reference.transform(flat, groups), rtol=1e-5, atol=1e-5
    )
    target_flat = np.concatenate(list(others["target"]["content_features"]))
    np.testing.assert_allclose(target_flat.mean(0), 0.0, atol=1e-5)  # own statistics: the +10 offset is gone
    np.testing.assert_allclose(target_flat.std(0), 1.0, atol=1e-4)
    np.testing.assert_allclose(settings["content"]["mean"], flat.mean(0), rtol=1e-5, atol=1e-6)


def zero_shot_args(manifests, tiny_whisper, out, frames, systems, *extra):
    """A tiny en -> zh zero-shot run on the manifests with the tiny Whisper backbone."""
    return [
        "--data",
        str(manifests / "fold.csv"),
        "--source_languages",
        "en",
        "--target_languages",
        "zh",
        "--backbone",
        str(tiny_whisper),
        "--systems",
        systems,
        "--output_dir",
        str(out),
        "--frame_cache_dir",
        str(frames),
        "--max_steps",
        "2",
        "--languages_per_batch",
        "1",
        "--emotions_per_batch",
        "4",
        "--samples_per_cell",
        "2",
        "--eval_strategy",
        "no",
        "--save_strategy",
        "no",
        "--load_best_model_at_end",
        "false",
        "--tsne",
        "false",
        "--disable_tqdm",
        "true",
        "--use_cpu",
        "true",
        "--top_adapter_size",
        "8",
        *extra,
    ]


def test_zero_shot_user_defined_languages_on_a_whisper_backbone(manifests, tiny_whisper, tmp_path):
    out = tmp_path / "zs"
    load_script("train_zero_shot").main(
        zero_shot_args(manifests, tiny_whisper, out, tmp_path / "frames", "baseline1,proposed")
    )
    runs = list(csv.DictReader(open(out / "zero_shot_runs.csv")))
    assert sorted(r["system"] for r in runs) == ["baseline1", "proposed"]
    assert all(r["setting"] == "en->zh" for r in runs)
    config = json.loads((out / "en_to_zh" / "proposed" / "seed0" / "config.json").read_text())
    assert config["backbone_config"]["model_type"] == "whisper" and config["backbone_layer"] == 1
    # per-corpus frame normalisation: the target corpus with its own statistics; the saved model keeps the global
    # training statistics for raw audio
    out2 = tmp_path / "zs_corpus"
    load_script("train_zero_shot").main(
        zero_shot_args(
            manifests, tiny_whisper, out2, tmp_path / "frames", "baseline1", "--feature_normalization", "corpus"
        )
    )
    from hf_cser.models.zero_shot import ZeroShotForEmotionClassification

    saved = ZeroShotForEmotionClassification.from_pretrained(out2 / "en_to_zh" / "baseline1" / "seed0")
    assert saved.config.feature_normalization == "corpus"
    assert not torch.allclose(saved.frame_std, torch.ones_like(saved.frame_std))  # global statistics restored
    with pytest.raises(ValueError, match="needs `--source_languages`"):
        load_script("train_zero_shot").main(["--target_languages", "zh", "--output_dir", str(tmp_path / "x")])


def test_feature_gan_audio_only_on_a_whisper_backbone_without_transcripts(manifests, tiny_whisper, tmp_path):
    """Manifests without transcripts: `--audio_only` runs all three stages with a frozen Whisper front end (its
    middle layer pooled into h)."""
    from hf_cser.models.feature_gan import FeatureGanForEmotionClassification

    out = tmp_path / "fg"
    results = load_script("train_feature_gan").main(
        [
            "--data",
            str(manifests / "fold.csv"),
            "--backbone",
            str(tiny_whisper),
            "--audio_only",
            "--output_dir",
            str(out),
            "--feature_cache_dir",
            str(tmp_path / "c"),
            "--stage1_epochs",
            "1",
            "--stage1_batch_size",
            "8",
            "--gan_epochs",
            "2",
            "--gan_batch_size",
            "8",
            "--classifier_epochs",
            "2",
            "--disable_tqdm",
            "--tsne",
            "false",
        ]
    )
    baseline = FeatureGanForEmotionClassification.from_pretrained(out / "stage1_baseline")
    assert baseline.is_whisper and baseline.config.backbone_layer == 1 and baseline.config.freeze_backbone
    assert not any(p.requires_grad for p in baseline.backbone.parameters())
    assert baseline.config.contrastive_weight == 0.0 and baseline.config.mi_weight == 0.0
    # unimodal: stage 3 trains the audio classifier only (no audio+text one)
    assert "stage3_audio" in results and not any(k.startswith("stage3_audio_text") for k in results)
    with pytest.raises(ValueError, match="--audio_only"):
        load_script("train_feature_gan").main(
            [
                "--data",
                str(manifests / "fold.csv"),
                "--backbone",
                str(tiny_whisper),
                "--output_dir",
                str(tmp_path / "x"),
                "--feature_cache_dir",
                str(tmp_path / "c"),
                "--disable_tqdm",
            ]
        )


def test_cltm_on_front_end_features_with_the_smaller_protocol(tiny_corpus, tiny_whisper, tmp_path, monkeypatch):
    """4 speakers per language: the default protocol is refused with the smaller one that fits; that one runs on
    pooled Whisper features of the shared front end (computed once, from its cache the second time)."""
    from hf_cser.encoders import SpeechFrontEnd

    script = load_script("run_cltm")
    common = [
        "--data",
        f"synthetic:en,zh@{tiny_corpus}",
        "--seeds",
        "0",
        "--n_samples",
        "4",
        "--epochs",
        "3",
        "--features",
        str(tiny_whisper),
        "--features_layer",
        "1",
        "--feature_cache_dir",
        str(tmp_path / "fe"),
        "--progress",
        "false",
    ]
    with pytest.raises(ValueError, match=r"'(en|zh)' has \d usable speakers.*--speakers_per_subset 1 --eval_speakers"):
        script.main([*common, "--output_dir", str(tmp_path / "default")])
    result = script.main(
        [*common, "--speakers_per_subset", "1", "--eval_speakers", "2", "--output_dir", str(tmp_path / "small")]
    )
    assert result["result"].languages == ["en", "zh"] and result["result"].matrix.shape == (2, 2)
    defined = [i for i, lang in enumerate(["en", "zh"]) if lang not in result["result"].undefined_targets]
    assert all(result["result"].matrix[i, i] == 1.0 for i in defined)  # an undefined target (self-gain <= 0) is NaN
    calls = []
    monkeypatch.setattr(SpeechFrontEnd, "encode", lambda self, w: calls.append(len(w)) or [])
    script.main(
        [*common, "--speakers_per_subset", "1", "--eval_speakers", "2", "--output_dir", str(tmp_path / "again")]
    )
    assert calls == []  # the front-end features came from the cache


def test_ctl_mtnet_cross_corpus_on_manifests(manifests, tmp_path):
    """CTL-MTNet keeps its paper's input (MFCC): a cross-corpus run source manifest -> target manifest, with MDD."""
    out = tmp_path / "ctl"
    common = [
        "--task",
        "cross_corpus",
        "--source",
        str(manifests / "source.csv"),
        "--target",
        str(manifests / "target.csv"),
    ]
    with pytest.raises(ValueError, match="has no train split.*--transductive"):  # a test-only target manifest
        load_script("train_ctl_mtnet").main([*common, "--output_dir", str(tmp_path / "x"), "--use_cpu", "true"])
    summary = load_script("train_ctl_mtnet").main(
        [
            *common,
            "--transductive",
            "--conv_filters",
            "4",
            "--primary_capsule_types",
            "2",
            "--primary_capsule_dim",
            "4",
            "--digit_capsule_dim",
            "4",
            "--max_steps",
            "2",
            "--per_device_train_batch_size",
            "4",
            "--max_train_frames",
            "64",
            "--output_dir",
            str(out),
            "--disable_tqdm",
            "true",
            "--use_cpu",
            "true",
            "--report_to",
            "none",
            "--feature_cache_dir",
            str(tmp_path / "m"),
        ]
    )
    runs = list(csv.DictReader(open(out / "ctl_mtnet_runs.csv")))
    target_rows = list(csv.DictReader(open(manifests / "target.csv")))
    assert len(runs) == 1 and int(runs[0]["num_test"]) == len(target_rows)  # transductive: the whole target corpus
    assert str(summary[0]["mdd"]) == "True" and int(summary[0]["runs"]) == 1


def test_group_normalized_frames_use_training_and_own_statistics():
    """Per-corpus frame normalisation of the zero-shot script against `FeatureNormalizer` on the stacked frames."""
    from datasets import Dataset, DatasetDict

    from hf_cser.experiments.zero_shot import group_normalized_frames
    from hf_cser.normalization import FeatureNormalizer

    rng = np.random.default_rng(0)
    frames = {
        f"f{i}.wav": torch.from_numpy(rng.standard_normal((3 + i, 4)).astype(np.float32) + (20 if i >= 4 else 0))
        for i in range(6)
    }
    corpora = ["a", "a", "b", "b", "target", "target"]
    rows = {"audio": list(frames), "corpus": corpora}
    splits = DatasetDict(
        {
            "train": Dataset.from_dict({k: v[:4] for k, v in rows.items()}),
            "test": Dataset.from_dict({k: v[4:] for k, v in rows.items()}),
        }
    )
    out = group_normalized_frames(frames, splits, "corpus")
    train_x = np.concatenate([frames[p].numpy() for p in list(frames)[:4]])
    groups = np.repeat(corpora[:4], [len(frames[p]) for p in list(frames)[:4]])
    expected = FeatureNormalizer("corpus").fit(train_x, groups).transform(train_x, groups)
    np.testing.assert_allclose(np.concatenate([out[p].numpy() for p in list(frames)[:4]]), expected, atol=1e-5)
    target = np.concatenate([out[p].numpy() for p in list(frames)[4:]])
    np.testing.assert_allclose(target.mean(0), 0.0, atol=1e-5)  # its own statistics remove its +20 offset
