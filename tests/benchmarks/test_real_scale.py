"""benchmarks/real_scale.py (issue 19) on a tiny scale fold: the fold's layout, durations and speaker splits, a cold
and a warm run of a method script with its wall time and peak memory, resume, and the targets of the report."""

import csv
import importlib.util
import sys
from collections import Counter
from pathlib import Path

import pytest
import soundfile as sf

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
TINY = ["--num_source", "24", "--num_target", "8", "--base_speakers", "3", "--base_utterances", "4"]
CTL_STEPS = "ctl_mtnet_no_mdd=--max_steps 2 --per_device_train_batch_size 4 --max_train_frames 64 --use_cpu true"


@pytest.fixture(scope="module")
def scale():
    spec = importlib.util.spec_from_file_location("_real_scale", BENCHMARKS / "real_scale.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def ran(scale, tmp_path_factory):
    out = tmp_path_factory.mktemp("scale")
    args = [*TINY, "--output", str(out), "--methods", "ctl_mtnet_no_mdd", "--method_args", CTL_STEPS]
    assert scale.main([*args, "--threads", "1", "--no_progress"]) == 0
    return out, args


def read(path):
    with open(path, encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_the_fold_has_real_like_durations_and_speaker_independent_splits(ran):
    out, _ = ran
    folder = out / "data" / "folds" / "ur"
    source, target, both = (read(folder / f"{name}.csv") for name in ("source", "target", "fold"))
    assert len(source) == 24 and len(target) == 8 and both == source + target
    assert {r["language"] for r in source} == {"en", "de", "fr", "zh"} and {r["language"] for r in target} == {"ur"}
    assert {r["split"] for r in source} == {"train", "validation"} and {r["split"] for r in target} == {"test"}
    by_split = {s: {r["speaker"] for r in both if r["split"] == s} for s in ("train", "validation", "test")}
    assert not (by_split["train"] & by_split["validation"]) and not (by_split["test"] & (by_split["train"]))
    for language in ("en", "de", "fr", "zh"):  # every source corpus has validation speakers
        assert any(r["split"] == "validation" and r["language"] == language for r in source), language
    seconds = [sf.info(r["path"]).duration for r in both]
    assert min(seconds) == pytest.approx(0.4, abs=1e-3) and max(seconds) == pytest.approx(14.0, abs=1e-3)
    counts = Counter(r["emotion"] for r in source)
    assert set(counts) == {"neutral", "happy", "angry", "sad"} and max(counts.values()) - min(counts.values()) <= 1
    manifests = sorted(p.name for p in (out / "data" / "manifests").iterdir())
    assert manifests == [f"synthetic_{lang}.csv" for lang in ("de", "en", "fr", "ur", "zh")]


def test_cold_and_warm_runs_are_timed_and_measured(ran):
    out, _ = ran
    runs = read(out / "real_scale_runs.csv")
    assert [(r["method"], r["phase"], r["status"]) for r in runs] == [
        ("ctl_mtnet_no_mdd", "cold", "ok"),
        ("ctl_mtnet_no_mdd", "warm", "ok"),
    ]
    for run in runs:
        assert float(run["seconds"]) > 0 and 100 < float(run["peak_rss_mb"]) < 8 * 1024  # a torch process
        assert 0 <= float(run["uar"]) <= 1 and run["num_source"] == "24"
        log = (out / "runs" / run["phase"] / "runs" / "ctl_mtnet_no_mdd" / "ur" / "seed0" / "run.log").read_text()
        assert f"--feature_cache_dir {out / 'cache' / 'mfcc'}" in log and "--max_steps 2" in log
    assert list((out / "cache" / "mfcc").glob("mfcc_*.npz"))  # the warm run found the cold run's cache
    table = (out / "real_scale.md").read_text()
    assert "32 utterances" in table and "| ctl_mtnet_no_mdd | warm | 1 |" in table


def test_finished_runs_are_not_rerun(scale, ran, monkeypatch):
    out, args = ran

    def fail(*a, **k):
        raise AssertionError("a finished run was run again")

    monkeypatch.setattr(scale, "run_method", fail)
    assert scale.main([*args, "--no_progress"]) == 0


def test_report_marks_the_targets(scale):
    runs = [
        {"method": "sapa", "phase": "warm", "status": "ok", "seconds": 11 * 60, "peak_rss_mb": 2048, "threads": 2},
        {
            "method": "ctl_mtnet",
            "phase": "warm",
            "status": "ok",
            "seconds": 29 * 60,
            "peak_rss_mb": 2048,
            "threads": 2,
        },
        {
            "method": "feature_gan",
            "phase": "warm",
            "status": "ok",
            "seconds": 60,
            "peak_rss_mb": 9 * 1024,
            "threads": 2,
        },
        {"method": "sapa", "phase": "cold", "status": "ok", "seconds": 20 * 60, "peak_rss_mb": 2048, "threads": 2},
    ]
    sizes = {"utterances": 5800, "hours": 5.1, "min_s": 0.4, "max_s": 14.0, "median_s": 3.0}
    machine = {"cpus": 2, "processor": "x", "platform": "y", "date": "2026-12-05"}
    lines = scale.report(runs, sizes, machine).splitlines()
    assert "| sapa | warm | 2 | 11.0 | <= 10 | 2.00 | **not met** |" in lines  # SAPA's own 10-minute target
    assert "| ctl_mtnet | warm | 2 | 29.0 | <= 30 | 2.00 | **met** |" in lines
    assert "| feature_gan | warm | 2 | 1.0 | <= 30 | 9.00 | **not met** |" in lines  # over 8 GB
    assert "| sapa | cold | 2 | 20.0 | <= 10 | 2.00 | over (cold: the target is for warm caches) |" in lines
    cold_within = dict(runs[3], seconds=5 * 60)  # a cold run within the target meets it
    assert "| sapa | cold | 2 | 5.0 | <= 10 | 2.00 | **met** |" in scale.report([cold_within], sizes, machine)


def test_bad_arguments_are_refused(scale, tmp_path):
    with pytest.raises(SystemExit):
        scale.main(["--output", str(tmp_path), "--methods", "nope"])
    with pytest.raises(SystemExit):
        scale.main(["--output", str(tmp_path), "--phases", "hot"])


def test_the_linear_probe_baselines_run_on_the_scale_fold(scale, ran):
    """`--methods linear_probes` times benchmarks/real/run.py's baselines on the same fold (here log-mel probes
    only): a row with wall time and peak memory, run.py's results for the fold, and the cold / warm cache split."""
    out, args = ran
    probes = [*args, "--methods", "linear_probes", "--method_args", "linear_probes=--systems logmel"]
    assert scale.main([*probes, "--phases", "cold", "--no_progress"]) == 0
    runs = [r for r in read(out / "real_scale_runs.csv") if r["method"] == "linear_probes"]
    assert [(r["phase"], r["status"]) for r in runs] == [("cold", "ok")]
    assert float(runs[0]["seconds"]) > 0 and float(runs[0]["peak_rss_mb"]) > 50
    folder = out / "runs" / "cold" / "runs" / "linear_probes"
    log = (folder / "run.log").read_text()
    assert '"system": "logmel"' in log and '"fold": "ur"' in log
    assert list((out / "cache" / "linear_probes").rglob("*"))  # its own cache family: cold really starts empty
