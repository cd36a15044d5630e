"""``hf-cser analyze``: each analysis reads its .npz, writes JSON, CSV and PNG files and prints a table or JSON."""

import json

import numpy as np
import pytest

from hf_cser.analysis import read_table
from hf_cser.cli import COMMAND_MODULES, main

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("analyze_inputs")
    rng = np.random.default_rng(0)
    embeddings, speakers, emotions, corpus = [], [], [], []
    for emotion in (0, 2):
        for s in range(8):
            group = s // 4 if emotion == 0 else s % 2
            for _ in range(2):
                embeddings.append(np.eye(4)[group] + 0.03 * rng.normal(size=4))
                speakers.append(f"spk{s:02d}")  # leading zeros must survive the CSV round trip
                emotions.append(emotion)
                corpus.append("en" if s % 2 else "zh")
    np.savez(
        folder / "speakers.npz",
        speaker_embeddings=np.array(embeddings),
        speaker_ids=np.array(speakers),
        emotion_ids=np.array(emotions),
        corpus=np.array(corpus),
    )
    test_speakers = np.array([f"spk{s:02d}" for s in rng.integers(0, 8, 120)])
    labels = rng.integers(0, 4, 120)
    predictions = np.where(rng.random(120) < 0.7, labels, 0)
    np.savez(folder / "predictions.npz", predictions=predictions, labels=labels, speaker_ids=test_speakers)
    windows = 200
    np.savez(
        folder / "windows.npz",
        embeddings=rng.normal(size=(windows, 5)) + 1.0,
        phone_ids=rng.integers(-1, 6, windows),
        emotion_ids=rng.integers(0, 4, windows),
        corpus=np.array(["en", "zh"])[rng.integers(0, 2, windows)],  # the `corpus` alias of `groups`
    )
    return folder


def test_analyze_is_registered(capsys):
    assert "analyze" in COMMAND_MODULES
    assert main(["analyze"]) == 2
    out = capsys.readouterr().out
    for name in ("speaker-graph", "phoneme-commonality", "transferability"):
        assert name in out


def test_speaker_graph_then_transferability_from_its_clusters(inputs, tmp_path, capsys):
    graph_dir = tmp_path / "graph"
    argv = ["analyze", "speaker-graph", "--embeddings", str(inputs / "speakers.npz"), "--output", str(graph_dir)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "modularity" in out and "neutral" in out and "angry" in out and "w/o Emo" in out
    summary = read_table(graph_dir / "speaker_graph_summary.csv")
    assert [row["num_clusters"] for row in summary[:2]] == [2, 2]
    assert json.loads((graph_dir / "speaker_clusters.json").read_text())[0]["speaker"].startswith("spk")
    for name in ("speaker_graph_neutral.png", "speaker_graph_angry.png"):
        assert (graph_dir / name).read_bytes()[:8] == PNG_SIGNATURE

    out_dir = tmp_path / "transfer"
    argv = ["analyze", "transferability", "--inputs", str(inputs / "predictions.npz"), "--output", str(out_dir)]
    assert main([*argv, "--clusters", str(graph_dir / "speaker_clusters.csv"), "--num-seeds", "2"]) == 0
    out = capsys.readouterr().out
    assert "w/ Emo" in out and "w/o Emo" in out and "Rand" in out and "angry" in out
    for name in ("transferability.json", "transferability.csv", "transferability_clusters.csv"):
        assert (out_dir / name).exists()
    table = read_table(out_dir / "transferability_table.csv")
    assert [row["emotion"] for row in table] == ["neutral", "angry", "mean"]
    rows = read_table(out_dir / "transferability.csv")
    assert {row["num_clusters"] for row in rows if row["grouping"] == "w/ Emo"} == {2}
    assert (out_dir / "transferability.png").read_bytes()[:8] == PNG_SIGNATURE


def test_transferability_fits_graphs_itself_and_prints_json(inputs, tmp_path, capsys):
    argv = ["analyze", "transferability", "--inputs", str(inputs / "predictions.npz"), "--output", str(tmp_path)]
    argv += ["--embeddings", str(inputs / "speakers.npz"), "--random", "speakers", "--scope", "emotion"]
    assert main([*argv, "--json", "--no-plot"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["scope"] == "emotion" and payload["groupings"] == ["w/ Emo", "w/o Emo", "Rand"]
    assert {row["num_draws"] for row in payload["rows"] if row["grouping"] == "Rand"} == {5}
    assert not (tmp_path / "transferability.png").exists()


def test_phoneme_commonality_writes_tables_and_heatmap(inputs, tmp_path, capsys):
    argv = ["analyze", "phoneme-commonality", "--inputs", str(inputs / "windows.npz"), "--output", str(tmp_path)]
    assert main([*argv, "--rule", "relative", "--margin", "0.05"]) == 0
    out = capsys.readouterr().out
    assert "en vs zh" in out and "/A,a/" in out and "anchor candidates (rule=relative)" in out
    rows = read_table(tmp_path / "phoneme_similarity.csv")
    assert len(rows) == 4 * 6 and {"source_count", "target_count", "similarity"} <= rows[0].keys()
    assert len(read_table(tmp_path / "phoneme_similarity_matrix.csv")) == 4
    anchors = json.loads((tmp_path / "phoneme_anchors.json").read_text())
    assert [row["emotion"] for row in anchors] == ["neutral", "happy", "angry", "sad"]
    assert (tmp_path / "phoneme_similarity_en_vs_zh.png").read_bytes()[:8] == PNG_SIGNATURE

    assert main([*argv, "--json", "--no-plot", "--source", "zh", "--target", "en", "--k", "2"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["pairs"][0]["source"] == "zh" and all(len(v) <= 2 for v in payload["anchors"].values())


def test_missing_array_is_a_clear_error(inputs, tmp_path):
    with pytest.raises(SystemExit, match="missing array"):
        main(["analyze", "phoneme-commonality", "--inputs", str(inputs / "speakers.npz"), "--output", str(tmp_path)])
