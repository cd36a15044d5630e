"""``hf-cser corpus``: saves the DatasetDict and prints counts per split x emotion (table or JSON) and the drops."""

from __future__ import annotations

import json

from datasets import load_from_disk

from hf_cser.cli import main
from hf_cser.data import get_load_report

FILES = [
    "Actor_01/03-01-05-01-02-01-01.wav",
    "Actor_01/03-01-03-01-02-01-01.wav",
    "Actor_02/03-01-01-01-01-01-02.wav",
    "Actor_02/03-01-02-02-01-01-02.wav",
    "Actor_03/03-02-03-01-01-01-03.wav",
    "Actor_04/03-01-04-02-02-02-04.wav",
]


def test_corpus_command_json(make_tree, tmp_path, capsys):
    out = tmp_path / "saved"
    assert main(["corpus", "ravdess", str(make_tree(FILES)), "--output", str(out), "--json", "--seed", "1"]) == 0
    result = json.loads(capsys.readouterr().out)
    counts = result["counts"]
    assert sum(row["total"] for row in counts.values()) == 4
    assert sum(row["angry"] for row in counts.values()) == 1
    assert sum(row["happy"] for row in counts.values()) == 1
    assert result["dropped"] == {"emotion=02": 1, "song": 1}
    assert result["dropped_total"] == 2
    assert result["split_source"] == "speaker-independent (seed=1, ratios=[0.8, 0.1, 0.1])"
    saved = load_from_disk(str(out))
    assert {s: len(d) for s, d in saved.items()} == {s: row["total"] for s, row in counts.items()}
    assert dict(get_load_report(saved).dropped) == {"emotion=02": 1, "song": 1}


def test_corpus_command_table(make_tree, tmp_path, capsys):
    root = make_tree(FILES)
    assert main(["corpus", "ravdess", str(root), "--output", str(tmp_path / "t"), "--option", "intensity=normal"]) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    header = next(line for line in lines if line.split()[:1] == ["split"])
    assert header.split() == ["split", "neutral", "happy", "angry", "sad", "total"]
    total = next(line for line in lines if line.startswith("total"))
    assert total.split() == ["total", "1", "1", "1", "0", "3"]
    assert "dropped 3 row(s):" in text
    assert any(line.split()[:2] == ["intensity", "1"] for line in lines)
    assert any(line.split()[:2] == ["song", "1"] for line in lines)
