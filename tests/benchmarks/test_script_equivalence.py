"""benchmarks/script_equivalence.py: the fingerprint of a run folder (run-record metrics, predictions hashes) sees a
changed prediction or metric, ignores wall times, and `--compare` reports exactly the scripts that differ."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def equivalence():
    spec = importlib.util.spec_from_file_location("_script_equivalence", BENCHMARKS / "script_equivalence.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def make_run(folder: Path, uar: float = 0.5, prediction: str = "happy", seconds: str = "0.1") -> Path:
    from hf_cser.run_record import RunRecord, write_run_records

    run = folder / "runs" / "seed0"
    run.mkdir(parents=True)
    (run / "test_predictions.csv").write_text(f"audio,emotion,prediction\na.wav,happy,{prediction}\n")
    record = RunRecord(
        method="sapa", system="sapa", seed=0, source="s", target="t", uar=uar, war=uar, macro_f1=uar, num_test=1
    )
    write_run_records(run, [record])
    (folder / "cltm_runs.csv").write_text(f"task,performance,seconds\nser,0.5,{seconds}\n")
    return folder


def test_fingerprint_sees_results_and_ignores_wall_times(equivalence, tmp_path):
    reference = equivalence.fingerprint(make_run(tmp_path / "a"))
    assert reference["records"][0]["uar"] == 0.5 and reference["records"][0]["folder"] == "runs/seed0"
    assert set(reference["files"]) == {"runs/seed0/test_predictions.csv", "cltm_runs.csv"}
    assert equivalence.fingerprint(make_run(tmp_path / "b", seconds="9.9")) == reference  # only a wall time differs
    assert equivalence.fingerprint(make_run(tmp_path / "c", prediction="sad")) != reference
    assert equivalence.fingerprint(make_run(tmp_path / "d", uar=0.25)) != reference


def test_compare_reports_the_scripts_that_differ(equivalence, tmp_path, capsys):
    before = {"train_sapa": {"records": [], "files": {"x": "1"}}, "run_cltm": {"records": [], "files": {}}}
    after = {"train_sapa": {"records": [], "files": {"x": "2"}}, "run_cltm": {"records": [], "files": {}}}
    assert equivalence.compare(before, before) == []
    (line,) = equivalence.compare(before, after)
    assert line.startswith("train_sapa:")
    paths = [tmp_path / "before.json", tmp_path / "after.json"]
    for path, value in zip(paths, (before, after), strict=True):
        path.write_text(json.dumps(value))
    assert equivalence.main(["--compare", *map(str, paths)]) == 1
    assert equivalence.main(["--compare", str(paths[0]), str(paths[0])]) == 0
    assert "identical: run_cltm, train_sapa" in capsys.readouterr().out
