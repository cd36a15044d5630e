"""benchmarks/real/prepare.py and probe_frontend.py on tiny fake corpus trees in each corpus's real file naming
(no real corpus is ever read in CI): manifests, decode checks, leave-one-corpus-out folds and the probe report."""

import csv
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

REAL = Path(__file__).resolve().parents[2] / "benchmarks" / "real"


def load(name):
    spec = importlib.util.spec_from_file_location(f"_real_{name}", REAL / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def tone(path, seed, seconds=0.6, rate=16000):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    wave = 0.2 * np.sin(2 * np.pi * (120 + 40 * (seed % 7)) * t) + 0.02 * rng.standard_normal(t.size)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, wave.astype(np.float32), rate)


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    root = tmp_path_factory.mktemp("fake_corpora")
    seed = 0
    # RAVDESS: Actor_NN/03-01-EE-01-SS-RR-NN.wav (01 neutral, 03 happy, 04 sad, 05 angry; 02 calm dropped)
    for actor in range(1, 5):
        for emotion in ("01", "02", "03", "04", "05"):
            seed += 1
            tone(root / "ravdess" / f"Actor_{actor:02d}" / f"03-01-{emotion}-01-01-01-{actor:02d}.wav", seed)
    # CASIA: <speaker>/<emotion>/<id>.wav
    for speaker in ("liuchanhg", "wangzhe", "zhaoquanyin"):
        for emotion in ("angry", "happy", "neutral", "sad", "fear"):
            seed += 1
            tone(root / "casia" / speaker / emotion / f"{200 + seed}.wav", seed)
    # URDU: <Emotion>/S<G><n>_F<xx>_<E><yy>.wav
    for folder, letter in (("Angry", "A"), ("Happy", "H"), ("Neutral", "N"), ("Sad", "S")):
        for speaker in ("SM1", "SF2", "SM3"):
            seed += 1
            tone(root / "urdu" / folder / f"{speaker}_F1_{letter}01.wav", seed)
    (root / "urdu" / "Sad" / "SM1_F1_S02.wav").write_bytes(b"not a wav")  # decodes badly: dropped and counted
    return root


@pytest.fixture(scope="module")
def prepared(trees, tmp_path_factory):
    out = tmp_path_factory.mktemp("prepared")
    load("prepare").main(["--output", str(out), "--corpus", f"ravdess={trees / 'ravdess'}", "--corpus",
                          f"casia={trees / 'casia'}", "--corpus", f"urdu={trees / 'urdu'}", "--no_progress"])
    return out


def test_prepare_writes_checked_manifests_and_loco_folds(prepared):
    import json

    report = json.loads((prepared / "prepare_report.json").read_text())
    assert report["corpora"]["ravdess"]["kept"] == 16 and report["corpora"]["ravdess"]["dropped_labels"]
    assert report["corpora"]["casia"]["kept"] == 12 and report["corpora"]["urdu"]["kept"] == 12
    assert sum(report["corpora"]["urdu"]["dropped_bad_audio"].values()) == 1
    manifest = list(csv.DictReader(open(prepared / "manifests" / "casia.csv")))
    assert {r["emotion"] for r in manifest} == {"angry", "happy", "neutral", "sad"}
    assert all(Path(r["path"]).is_absolute() for r in manifest)
    for target in ("ravdess", "casia", "urdu"):
        source = list(csv.DictReader(open(prepared / "folds" / target / "source.csv")))
        held = list(csv.DictReader(open(prepared / "folds" / target / "target.csv")))
        assert {r["corpus"] for r in held} == {target} and {r["split"] for r in held} == {"test"}
        assert target not in {r["corpus"] for r in source}
        both = list(csv.DictReader(open(prepared / "folds" / target / "fold.csv")))
        assert len(both) == len(source) + len(held)
        assert {r["split"] for r in source} == {"train", "validation"}
        by_speaker = {}
        for row in source:  # validation is drawn by speaker: no speaker in both
            by_speaker.setdefault(row["speaker"], set()).add(row["split"])
        assert all(len(splits) == 1 for splits in by_speaker.values())
        # the fold manifests load with the library's manifest loader
        from hf_cser.data import load_corpus

        loaded = load_corpus("manifest", prepared / "folds" / target / "source.csv")
        assert set(loaded) == {"train", "validation"}


def test_probe_reports_every_setting(prepared, tmp_path, tiny_whisper_saver):
    tiny_whisper_saver(tmp_path / "whisper", d_model=16)
    out = tmp_path / "results"
    load("probe_frontend").main(["--prepared", str(prepared), "--output", str(out), "--backbone",
                                 str(tmp_path / "whisper"), "--modes", "unpadded,pad_30s", "--normalizations",
                                 "none,corpus", "--cache_dir", str(tmp_path / "cache"), "--no_progress"])  # fmt: skip
    rows = list(csv.DictReader(open(out / "probe_layers.csv")))
    # 2 modes x 2 normalisations x (3 layers + mean) x 3 folds
    assert len(rows) == 2 * 2 * 4 * 3
    assert {r["target"] for r in rows} == {"ravdess", "casia", "urdu"}
    assert all(0.0 <= float(r["uar"]) <= 1.0 for r in rows)
    table = (out / "probe_layers.md").read_text()
    assert "| unpadded | corpus | mean |" in table and "pad_30s" in table


def test_probe_scores_against_known_answers():
    """Separable classes give UAR 1 on every held-out corpus; a corpus whose classes carry a corpus-specific offset
    is only separable after per-corpus normalisation."""
    probe = load("probe_frontend").probe
    rng = np.random.default_rng(0)
    labels = np.tile(np.arange(4), 30)
    corpora = np.repeat(np.array(["a", "b", "c"]), 40)
    features = np.eye(4)[labels] * 5 + 0.1 * rng.standard_normal((120, 4))
    groups = {"corpus": corpora, "speaker": None}
    assert probe(features, labels, corpora, groups, "none", ["a", "b", "c"]) == {"a": 1.0, "b": 1.0, "c": 1.0}
    shifted = features.copy()
    shifted[corpora == "c"] += np.array([40.0, -40.0, 40.0, -40.0])  # channel offset of corpus c
    assert probe(shifted, labels, corpora, groups, "none", ["c"])["c"] < 0.6
    assert probe(shifted, labels, corpora, groups, "corpus", ["c"])["c"] == 1.0
