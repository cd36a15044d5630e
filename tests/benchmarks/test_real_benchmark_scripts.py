"""benchmarks/real/prepare.py and probe_frontend.py on tiny fake corpus trees in each corpus's real file naming
(no real corpus is ever read in CI): manifests, decode checks, leave-one-corpus-out folds and the probe report."""

import csv
import importlib.util
import os
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
    load("prepare").main(
        [
            "--output",
            str(out),
            "--corpus",
            f"ravdess={trees / 'ravdess'}",
            "--corpus",
            f"casia={trees / 'casia'}",
            "--corpus",
            f"urdu={trees / 'urdu'}",
            "--no_progress",
        ]
    )
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
    load("probe_frontend").main(
        [
            "--prepared",
            str(prepared),
            "--output",
            str(out),
            "--backbone",
            str(tmp_path / "whisper"),
            "--modes",
            "unpadded,pad_30s",
            "--normalizations",
            "none,corpus",
            "--cache_dir",
            str(tmp_path / "cache"),
            "--no_progress",
        ]
    )
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


def test_run_baselines_resume_and_report(prepared, tmp_path, tiny_whisper_saver, monkeypatch):
    """The baseline rows of the real benchmark on the fake folds: every (system, normalisation, fold) cell, C chosen
    on validation, results appended as cells finish and not redone on restart, report and plot written."""
    from hf_cser.encoders.ge2e import Ge2eSpeakerEncoderConfig, Ge2eSpeakerEncoderModel

    tiny_whisper_saver(tmp_path / "whisper", d_model=16)
    Ge2eSpeakerEncoderModel(Ge2eSpeakerEncoderConfig(hidden_size=16, num_layers=1, embedding_size=16)).save_pretrained(
        tmp_path / "ge2e"
    )
    run = load("run")
    argv = [
        "--prepared",
        str(prepared),
        "--output",
        str(tmp_path / "out"),
        "--backbone",
        str(tmp_path / "whisper"),
        "--ge2e",
        str(tmp_path / "ge2e"),
        "--cache_dir",
        str(tmp_path / "c"),
        "--frontend_cache_dir",
        str(tmp_path / "fe"),
        "--systems",
        "logmel,ge2e,whisper+ge2e",
        "--normalizations",
        "none,corpus",
        "--no_progress",
    ]
    assert run.main(argv) == 0
    runs = list(csv.DictReader(open(tmp_path / "out" / "real_benchmark_runs.csv")))
    assert len(runs) == 3 * 2 * 3  # systems x normalisations x folds
    assert {r["fold"] for r in runs} == {"casia", "ravdess", "urdu"}
    assert all(float(r["C"]) in run.C_GRID for r in runs)
    counts = {r["fold"]: int(r["num_test"]) for r in runs}
    assert counts == {"ravdess": 16, "casia": 12, "urdu": 12}
    # a restart redoes nothing: run_cell is never called again
    monkeypatch.setattr(run, "run_cell", lambda *a, **k: pytest.fail("a finished cell was recomputed"))
    assert run.main(argv) == 0
    table = (tmp_path / "out" / "real_benchmark.md").read_text()
    assert table.count("| logmel |") == 2 and "+-" in table
    assert (tmp_path / "out" / "real_benchmark_folds.png").is_file()


def test_run_cell_selects_c_on_validation_and_scores_the_held_out_corpus():
    """Against a direct scikit-learn computation of the same cell."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score

    run = load("run")
    rng = np.random.default_rng(1)
    rows, features = [], []
    for i in range(120):
        split = "test" if i >= 90 else "validation" if i >= 70 else "train"
        emotion = i % 4
        rows.append(
            {
                "path": f"p{i}",
                "split": split,
                "emotion": run.EMOTIONS[emotion],
                "corpus": split,
                "speaker": f"s{i % 5}",
            }
        )
        features.append(np.eye(4)[emotion] + 0.8 * rng.standard_normal(4))
    features = np.array(features)
    index = {r["path"]: i for i, r in enumerate(rows)}
    cell = run.run_cell(features, rows, index, "none")
    train = [i for i, r in enumerate(rows) if r["split"] == "train"]
    mean, std = features[train].mean(0), features[train].std(0)
    z = (features - mean) / (std + 1e-5)
    y = np.array([i % 4 for i in range(120)])
    scores = {}
    for c in run.C_GRID:
        clf = LogisticRegression(max_iter=2000, C=c, class_weight="balanced").fit(z[:70], y[:70])
        scores[c] = (balanced_accuracy_score(y[70:90], clf.predict(z[70:90])), clf)
    best_c = max(run.C_GRID, key=lambda c: (scores[c][0], -run.C_GRID.index(c)))
    assert cell["C"] == best_c
    assert cell["uar"] == round(balanced_accuracy_score(y[90:], scores[best_c][1].predict(z[90:])), 4)
    with pytest.raises(SystemExit, match="held-out speaker"):
        run.check_fold(
            "x",
            [
                {"path": "a", "speaker": "s", "corpus": "c1", "split": "train"},
                {"path": "b", "speaker": "s", "corpus": "c2", "split": "test"},
            ],
        )


def test_run_methods_on_a_fold_resume_and_report(prepared, tmp_path, tiny_whisper_saver, monkeypatch):
    """The method rows: each method's script per (fold, seed) in a child process with tiny settings, its target UAR
    read back from the script's own files (and equal to what the script wrote), seeds averaged per fold, a restart
    runs only what is missing, failures are recorded and retried."""
    import json

    tiny_whisper_saver(tmp_path / "whisper", d_model=16)
    whisper = str(tmp_path / "whisper")
    run = load("run")
    tiny = {
        "sapa": f"--content_encoder {whisper} --max_steps 2 --per_device_train_batch_size 8 --hidden_size 16 "
        "--num_transformer_layers 1 --use_cpu true",
        "feature_gan": f"--backbone {whisper} --stage1_epochs 1 --stage1_batch_size 8 --gan_epochs 1 "
        "--gan_batch_size 8 --classifier_epochs 1",
        "ctl_mtnet_no_mdd": "--conv_filters 4 --primary_capsule_types 2 --primary_capsule_dim 4 --digit_capsule_dim 4 "
        "--max_steps 2 --per_device_train_batch_size 4 --max_train_frames 64 --use_cpu true",
    }
    out = tmp_path / "out"
    common = [
        "--prepared",
        str(prepared),
        "--output",
        str(out),
        "--systems",
        "logmel",
        "--normalizations",
        "none",
        "--cache_dir",
        str(tmp_path / "c"),
        "--method_cache_dir",
        str(tmp_path / "mc"),
        "--folds",
        "urdu",
        "--no_progress",
        *[f"--method_args={k}={v}" for k, v in tiny.items()],
    ]
    assert run.main([*common, "--methods", "sapa,feature_gan,ctl_mtnet_no_mdd", "--seeds", "0", "--jobs", "2"]) == 0
    runs = list(csv.DictReader(open(out / "method_runs.csv")))
    assert sorted(r["row"] for r in runs) == ["ctl_mtnet_no_mdd", "feature_gan", "feature_gan_control", "sapa"]
    assert all(r["status"] == "ok" and r["fold"] == "urdu" and int(r["num_test"]) == 12 for r in runs)
    by_row = {r["row"]: r for r in runs}
    sapa_results = json.loads((out / "runs" / "sapa" / "urdu" / "seed0" / "results.json").read_text())
    assert float(by_row["sapa"]["uar"]) == pytest.approx(sapa_results["target_test"]["uar"])
    gan = json.loads((out / "runs" / "feature_gan" / "urdu" / "seed0" / "results.json").read_text())
    assert float(by_row["feature_gan_control"]["uar"]) == pytest.approx(
        gan["stage3_audio_without_augmentation"]["test"]["uar"]
    )
    log, threads = (out / "runs" / "ctl_mtnet_no_mdd" / "urdu" / "seed0" / "run.log").read_text().splitlines()[:2]
    assert threads == f"# threads: {max(1, (os.cpu_count() or 1) // 2)}"  # 2 jobs share the CPUs
    assert (
        "--no_mdd" in log
        and "--transductive" in log
        and log.index("--max_train_frames 200") < log.index("--max_train_frames 64")
    )  # benchmark default first, the caller's arguments last (they win)
    # a second seed of SAPA: only that run is new; the report averages the two seeds of the fold
    calls = []
    real_run_method = run.run_methods.__globals__["run_method"]
    monkeypatch.setitem(
        run.run_methods.__globals__,
        "run_method",
        lambda m, f, s, *a, **k: calls.append((m.name, s)) or real_run_method(m, f, s, *a, **k),
    )
    assert run.main([*common, "--methods", "sapa,feature_gan,ctl_mtnet_no_mdd", "--seeds", "0,1"]) == 0
    # CTL-MTNet is a secondary row: it runs with --secondary_seeds (default 0), so only the main rows get seed 1
    assert sorted(calls) == [("feature_gan", 1), ("sapa", 1)]
    runs = list(csv.DictReader(open(out / "method_runs.csv")))
    assert all(float(r["peak_rss_mb"]) > 50 for r in runs)  # each child's own peak memory (ru_maxrss)
    calls.clear()
    args = ["--methods", "ctl_mtnet_no_mdd", "--seeds", "0,1", "--secondary_seeds", "same"]
    assert run.main([*common, *args]) == 0
    assert calls == [("ctl_mtnet_no_mdd", 1)]
    runs = list(csv.DictReader(open(out / "method_runs.csv")))
    sapa = [float(r["uar"]) for r in runs if r["row"] == "sapa"]
    table = (out / "real_benchmark.md").read_text()
    line = next(x for x in table.splitlines() if x.startswith("| sapa |"))
    assert line.split("|")[3].strip() == "1x2" and line.split("|")[-2].strip() == f"{100 * np.mean(sapa):.1f}"
    assert "| logmel | none | 1x1 |" in table
    logmel = 100 * float(next(csv.DictReader(open(out / "real_benchmark_runs.csv")))["uar"])
    assert line.split("|")[5].strip() == f"{100 * np.mean(sapa) - logmel:+.1f} +- 0.0"  # paired, the only baseline
    seconds = [float(r["seconds"]) for r in runs if r["row"] == "sapa"]
    assert line.split("|")[6].strip() == f"{np.mean(seconds) / 60:.1f}"  # mean minutes per run
    assert table.split("| logmel | none | 1x1 |")[1].split("|")[2].strip() == "-"  # baselines: no run time
    # a failing run is recorded as failed (its log named) and retried by the next command
    calls.clear()
    assert run.main([*common, "--methods", "sapa", "--seeds", "2", "--method_args=sapa=--hidden_size -3"]) == 0
    failed = [r for r in csv.DictReader(open(out / "method_runs.csv")) if r["seed"] == "2"]
    assert len(failed) == 1 and failed[0]["status"].startswith("failed") and "run.log" in failed[0]["status"]
    assert "| sapa | corpus | 1x2 |" in (out / "real_benchmark.md").read_text()


def test_zero_shot_rows_are_not_applicable_when_the_held_out_language_is_a_source_language(tmp_path):
    methods = load("methods")
    rows = [
        {"path": f"{i}.wav", "language": lang, "split": split, "corpus": c, "speaker": f"s{i}", "emotion": "sad"}
        for i, (lang, split, c) in enumerate(
            [("en", "train", "esd"), ("zh", "train", "casia"), ("en", "test", "ravdess")]
        )
    ]
    with open(tmp_path / "fold.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    fold = methods.FoldFiles("ravdess", str(tmp_path))
    assert fold.languages() == (["en", "zh"], ["en"])
    out = methods.run_method(methods.METHODS["zero_shot_proposed"], fold, 0, str(tmp_path / "o"), [], None)
    assert out[0]["status"].startswith("n/a: the held-out language(s) ['en'] are also source languages")
    assert not (tmp_path / "o" / "runs").exists()  # nothing was run
    with pytest.raises(ValueError, match="NAME=ARGS"):
        methods.parse_method_args(["nosuchmethod=--x 1"])


def test_run_cltm_section_from_the_prepared_manifests(prepared, tmp_path, tiny_whisper_saver):
    """`--cltm`: run_cltm.py on the union of the manifests with the front-end features; the report's CLTM section
    holds the matrix the script wrote (diagonal 1 for a defined target)."""
    tiny_whisper_saver(tmp_path / "whisper", d_model=16)
    run = load("run")
    out = tmp_path / "out"
    assert (
        run.main(
            [
                "--prepared",
                str(prepared),
                "--output",
                str(out),
                "--systems",
                "",
                "--backbone",
                str(tmp_path / "whisper"),
                "--frontend_cache_dir",
                str(tmp_path / "fe"),
                "--no_progress",
                "--cltm",
                "--cltm_args",
                "--languages en,zh --eval_speakers 1 --n_grid 4 --seeds 0,1 --epochs 2",
            ]
        )
        == 0
    )
    union = list(csv.DictReader(open(out / "cltm" / "all_corpora.csv")))
    assert len(union) == 16 + 12 + 12 and {r["split"] for r in union} == {"train"}
    matrix = list(csv.reader(open(out / "cltm" / "cltm_matrix.csv")))
    report = (out / "real_benchmark.md").read_text()
    assert "CLTM (target row, donor column" in report and "2 seeds" in report
    for row in matrix[1:]:
        line = next(x for x in report.splitlines() if x.startswith(f"| {row[0]} | "))
        assert [c.split(" +- ")[0] for c in line.strip("| ").split(" | ")[1:]] == [f"{float(v):.2f}" for v in row[1:]]
