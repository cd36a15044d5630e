"""hf_cser.run_record: the run record every training script writes (write / read back, validation)."""

import json

import pytest

from hf_cser.run_record import RUN_RECORD_NAME, RunRecord, read_run_records, write_run_records


def record(**changes):
    values = dict(method="sapa", system="only_p", seed=1, source="a.csv", target="b.csv", uar=0.5, war=0.6)
    values.update(macro_f1=0.4, num_test=12, validation_uar=0.7, predictions="target_predictions.csv")
    values.update(changes)
    return RunRecord(**values)


def test_records_round_trip_through_the_json_file(tmp_path):
    records = [record(), record(system="sapa", extra={"languages": ["zh"]})]
    path = write_run_records(tmp_path, records)
    assert path == str(tmp_path / RUN_RECORD_NAME)
    content = json.loads((tmp_path / RUN_RECORD_NAME).read_text())
    assert content["schema"] == 1 and [r["system"] for r in content["runs"]] == ["only_p", "sapa"]
    assert read_run_records(tmp_path) == records
    assert not list(tmp_path.glob("*.tmp*"))  # written atomically, no temporary file left


def test_from_metrics_takes_a_compute_ser_metrics_report():
    from hf_cser.metrics import compute_ser_metrics

    report = compute_ser_metrics([0, 1, 2, 3, 0, 1], [0, 1, 2, 0, 0, 2])
    made = RunRecord.from_metrics(report, method="ctl_mtnet", system="mdd", seed=0, source="s", target="t")
    assert (made.uar, made.war, made.num_test) == (pytest.approx(report["uar"]), pytest.approx(4 / 6), 6)
    assert made.macro_f1 == pytest.approx(report["macro_f1"])


def test_bad_records_and_files_are_refused(tmp_path):
    with pytest.raises(ValueError, match="`method`"):
        record(method="wav2vec")
    with pytest.raises(ValueError, match="`uar` must be in"):
        record(uar=53.7)  # a percentage where a fraction belongs
    with pytest.raises(FileNotFoundError, match="did not finish"):
        read_run_records(tmp_path)
    (tmp_path / RUN_RECORD_NAME).write_text(json.dumps({"schema": 99, "runs": []}))
    with pytest.raises(ValueError, match="schema 99"):
        read_run_records(tmp_path)
