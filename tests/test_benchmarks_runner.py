"""The benchmark harness (benchmarks/_common.py, benchmarks/run_benchmarks.py): measurements and the report."""

import importlib.util
import json
import sys
import types
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def load(name):
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def common():
    sys.path.insert(0, str(BENCH))
    return load("_common")


def test_growth_exponent_of_power_laws(common):
    sizes = [64, 256, 1024]
    assert common.fit_growth(sizes, [3 * s**2 for s in sizes]) == pytest.approx(2.0)
    assert common.fit_growth(sizes, [0.5 * s for s in sizes]) == pytest.approx(1.0)


def test_peak_memory_sees_a_large_allocation_and_not_a_small_one(common):
    import numpy as np

    big = common.peak_memory_bytes(lambda: np.ones(64 * 2**20 // 8).sum())
    small = common.peak_memory_bytes(lambda: sum(range(1000)))
    assert big >= 60 * 2**20 and small < 16 * 2**20
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        common.peak_memory_bytes(lambda: 1 / 0)


def test_record_ratio_and_report(common, tmp_path, monkeypatch):
    runner = load("run_benchmarks")
    records = [
        common.result("1. losses", "fast", ours=1.0, reference=4.0, reference_name="ref", target="<= 1.3x", met=True),
        common.result("1. losses", "slow", ours=3.0, reference=1.0, reference_name="ref", target="<= 1.3x", met=False),
        common.result("6. inference", "info", ours=2.0, reference=1.0, reference_name="direct call"),
    ]
    assert [r["ratio"] for r in records] == [0.25, 3.0, 2.0]
    fake = types.ModuleType("bench_fake")
    fake.run = lambda quick=False: records
    monkeypatch.setitem(sys.modules, "bench_fake", fake)
    monkeypatch.setattr(runner, "discover", lambda: ["fake"])
    out = tmp_path / "latest.json"
    assert runner.main(["--quick", "--only", "fake", "--output", str(out), "--readme", "false"]) == 0
    saved = json.loads(out.read_text())
    assert saved["records"] == json.loads(json.dumps(records)) and saved["quick"] is True
    report = runner.markdown_report(saved["machine"], records, {}, {"fake": 1.0}, quick=True)
    assert "## Targets: 1 of 2 met" in report and "**not met**" in report and "| 6. inference |" not in report
    with pytest.raises(SystemExit):
        runner.main(["--only", "nope", "--output", str(out), "--readme", "false"])


def test_module_markdown_table(common):
    records = [
        common.result(
            "2. speaker graph", "N=5", ours=0.5, reference=1.0, reference_name="dense", target="<5 s", met=False
        )
    ]
    table = common.markdown_table(records).splitlines()
    assert table[2] == "| 2. speaker graph | N=5 | 0.5 s | 1 s (dense) | 0.5 | <5 s | NOT met |"


def test_data_benchmark_refuses_unknown_groups(common, capsys):
    bench = load("bench_data_inference")
    assert bench.GROUPS == ("3", "4", "6")
    with pytest.raises(SystemExit):
        bench.main(["--quick", "--groups", "4,7"])
    assert "unknown group(s) ['7']" in capsys.readouterr().err


def test_merge_keeps_the_groups_a_partial_rerun_did_not_measure(common, tmp_path, monkeypatch):
    runner = load("run_benchmarks")
    old = [
        common.result("1. losses", "loss", ours=1.0, reference=2.0, target="<= 1.3x", met=True),
        common.result("5. training throughput", "trainer", ours=1.0, reference=2.0, target=">= 0.85x", met=False),
    ]
    out = tmp_path / "latest.json"
    out.write_text(json.dumps({"machine": {"date": "2026-12-03"}, "records": old, "seconds": {"losses": 5.0}}))
    new = [common.result("5. training throughput", "trainer", ours=2.0, reference=2.0, target=">= 0.85x", met=True)]
    fake = types.ModuleType("bench_fake")
    fake.run = lambda quick=False: new
    monkeypatch.setitem(sys.modules, "bench_fake", fake)
    monkeypatch.setattr(runner, "discover", lambda: ["fake"])
    assert runner.main(["--only", "fake", "--merge", "--output", str(out), "--readme", "false"]) == 0
    saved = json.loads(out.read_text())
    groups = [(r["group"], r["met"]) for r in saved["records"]]
    assert groups == [("1. losses", True), ("5. training throughput", True)]
    assert saved["seconds"].keys() == {"losses", "fake"}
    assert saved["machine"]["kept_from_earlier_run"] == "2026-12-03: 1. losses"
    fake.run = lambda quick=False: [common.result("6. inference", "x", ours=1.0, reference=1.0)]
    assert runner.main(["--only", "fake", "--merge", "--output", str(out), "--readme", "false"]) == 0
    kept = json.loads(out.read_text())["machine"]["kept_from_earlier_run"]  # losses still dated by the first run
    assert kept.startswith("2026-12-03: 1. losses; ") and kept.endswith(": 5. training throughput")
    assert runner.main(["--only", "fake", "--output", str(out), "--readme", "false"]) == 0  # without --merge: replaced
    assert [r["group"] for r in json.loads(out.read_text())["records"]] == ["6. inference"]
