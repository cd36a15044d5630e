"""`training_scripts/train_zero_shot.py` on a tiny five-language synthetic corpus: results table, t-SNE, resume."""

import csv

import pytest

from .conftest import load_script


def script_args(corpus, backbone, out, *extra):
    return [
        "--data", f"synthetic@{corpus}", "--backbone", str(backbone), "--settings", "en->de",
        "--systems", "proposed,baseline1", "--seeds", "0", "--max_steps", "2", "--languages_per_batch", "2",
        "--emotions_per_batch", "4", "--samples_per_cell", "1", "--eval_strategy", "no", "--save_strategy", "no",
        "--load_best_model_at_end", "false", "--output_dir", str(out), "--disable_tqdm", "true", "--use_cpu", "true",
        *extra,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def grid(tiny_corpus5, tiny_backbone, tmp_path_factory):
    out = tmp_path_factory.mktemp("zero_shot")
    script = load_script("train_zero_shot")
    rows = script.main(script_args(tiny_corpus5, tiny_backbone, out))
    return {"out": out, "rows": rows, "script": script, "args": script_args(tiny_corpus5, tiny_backbone, out)}


def test_one_row_per_run_and_a_table(grid):
    with open(grid["out"] / "zero_shot_runs.csv") as f:
        runs = list(csv.DictReader(f))
    assert sorted((r["setting"], r["system"]) for r in runs) == [("en->de", "baseline1"), ("en->de", "proposed")]
    assert all(0.0 <= float(r["uar"]) <= 1.0 and int(r["num_test"]) == 4 for r in runs)  # 1 German test speaker
    table = (grid["out"] / "zero_shot_table.md").read_text()
    assert "| setting | baseline1 | proposed |" in table and "| average |" in table
    assert (grid["out"] / "tsne_en_to_de.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_finished_runs_are_not_redone(grid, monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(grid["script"].ZeroShotTrainer, "train", fail)
    assert grid["script"].main(grid["args"]) == grid["rows"]


def test_summary_statistics_and_unknown_names(grid):
    script = grid["script"]
    runs = [{"setting": "en->de", "system": "proposed", "uar": u, "macro_f1": u} for u in (0.5, 0.7)]
    (row,) = script.summarize(runs)
    assert row["uar_mean"] == pytest.approx(60.0) and row["uar_std"] == pytest.approx(10.0)
    with pytest.raises(ValueError, match="unknown value"):
        script.parse_list("proposed,best_system", list(script.SYSTEM_LOSSES), "systems")
