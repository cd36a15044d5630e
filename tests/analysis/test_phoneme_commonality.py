"""SAPA phoneme commonality (Tables 2 and 3): hand-computed cosines, missing cells, pairs, anchor rules, files."""

import json
import math

import numpy as np
import pytest

from hf_cser.analysis import (
    PhonemeSimilarity,
    anchor_rows,
    phoneme_similarity_table,
    plot_phoneme_similarity,
    read_table,
    save_rows,
    select_anchor_phonemes,
)
from hf_cser.data.phones import SHARED_VOWELS

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# (embedding, phone id, emotion id, corpus)
WINDOWS = [
    ([1.0, 0.0], 0, 0, "en"),  # en, neutral, /i/: mean [0.5, 1.0]
    ([0.0, 2.0], 0, 0, "en"),
    ([1.0, 1.0], 0, 0, "zh"),  # zh, neutral, /i/: mean [1, 1]
    ([3.0, 0.0], 2, 1, "en"),  # en, happy, /@/: [3, 0]
    ([0.0, -1.0], 2, 1, "zh"),  # zh, happy, /@/: [0, -1] -> cos 0
    ([2.0, 1.0], 3, 2, "en"),  # en, angry, /a/: only in en -> NaN
    ([-1.0, 0.5], 5, 3, "en"),  # en, sad, /u/: [-1, 0.5]
    ([1.0, 0.5], 5, 3, "zh"),  # zh, sad, /u/: [1, 0.5] and [1, -0.5] -> mean [1, 0]
    ([1.0, -0.5], 5, 3, "zh"),
    ([100.0, -100.0], -1, 0, "en"),  # not a shared vowel: skipped
    ([100.0, -100.0], -1, 0, "zh"),
]


def arrays(windows=WINDOWS):
    embeddings = np.array([w[0] for w in windows])
    phones = np.array([w[1] for w in windows])
    emotions = np.array([w[2] for w in windows])
    groups = np.array([w[3] for w in windows])
    return embeddings, phones, emotions, groups


def test_similarity_equals_hand_written_cosines():
    table = phoneme_similarity_table(*arrays())
    assert table.pairs == [("en", "zh")]
    sims = table.matrix()
    assert sims.shape == (4, len(SHARED_VOWELS))
    assert sims[0, 0] == pytest.approx(1.5 / (math.sqrt(1.25) * math.sqrt(2.0)))  # cos([.5, 1], [1, 1])
    assert sims[1, 2] == pytest.approx(0.0)  # cos([3, 0], [0, -1])
    assert sims[3, 5] == pytest.approx(-1.0 / math.sqrt(1.25))  # cos([-1, .5], [1, 0])
    assert np.isnan(sims[2, 3])  # angry /a/ has no zh window
    assert np.isnan(sims[0, 1])  # no window at all
    assert table.counts["en"][0, 0] == 2 and table.counts["zh"][0, 0] == 1  # the -1 windows are not counted
    assert table.counts["zh"][3, 5] == 2 and table.counts["en"].sum() == 5 and table.counts["zh"].sum() == 4


def test_missing_cells_are_nan_reported_and_json_null():
    table = phoneme_similarity_table(*arrays())
    missing = {(r["emotion"], r["phoneme"]) for r in table.missing}
    assert ("angry", "a") in missing
    assert len(missing) == 4 * 6 - 3  # three cells have data in both corpora
    row = next(r for r in table.rows if r["emotion"] == "angry" and r["phoneme"] == "a")
    assert (row["source_count"], row["target_count"]) == (1, 0)
    payload = json.dumps(table.to_dict())  # strict JSON: would contain NaN otherwise
    assert "NaN" not in payload
    assert json.loads(payload)["pairs"][0]["similarity"][2][3] is None


def test_min_count_blanks_cells_with_too_few_windows():
    table = phoneme_similarity_table(*arrays(), min_count=2)
    sims = table.matrix()
    assert np.isnan(sims[0, 0])  # zh has 1 window
    assert np.isnan(sims[3, 5])  # en has 1 window
    assert np.isnan(sims).all()
    with pytest.raises(ValueError, match="min_count"):
        phoneme_similarity_table(*arrays(), min_count=0)


def test_normalize_windows_averages_unit_vectors():
    table = phoneme_similarity_table(*arrays(), normalize_windows=True)
    assert table.matrix()[0, 0] == pytest.approx(1.0)  # mean([1, 0], [0, 1]) is parallel to [1, 1]


def test_more_than_two_corpora_all_pairs_and_source_vs_targets():
    extra = [([0.0, 1.0], 0, 0, "de")]  # de, neutral, /i/: [0, 1]
    embeddings, phones, emotions, groups = arrays(WINDOWS + extra)
    table = phoneme_similarity_table(embeddings, phones, emotions, groups)
    assert table.pairs == [("de", "en"), ("de", "zh"), ("en", "zh")]
    assert table.matrix("de", "zh")[0, 0] == pytest.approx(1 / math.sqrt(2))
    assert table.matrix("zh", "de")[0, 0] == pytest.approx(1 / math.sqrt(2))  # either order
    assert table.matrix("en", "de")[0, 0] == pytest.approx(1.0 / math.sqrt(1.25))
    with pytest.raises(ValueError, match="name `source` and `target`"):
        table.matrix()
    one_to_many = phoneme_similarity_table(embeddings, phones, emotions, groups, source="en")
    assert one_to_many.pairs == [("en", "de"), ("en", "zh")]
    one = phoneme_similarity_table(embeddings, phones, emotions, groups, source="zh", target="de")
    assert one.pairs == [("zh", "de")] and set(one.counts) == {"zh", "de"}
    with pytest.raises(ValueError, match="no window"):
        phoneme_similarity_table(embeddings, phones, emotions, groups, source="fr")
    with pytest.raises(ValueError, match="two corpora"):
        phoneme_similarity_table(embeddings[:2], phones[:2], emotions[:2], groups[:2])


def test_input_validation():
    embeddings, phones, emotions, groups = arrays()
    with pytest.raises(ValueError, match="phone_ids"):
        phoneme_similarity_table(embeddings, phones[:-1], emotions, groups)
    with pytest.raises(ValueError, match="emotion_ids"):
        phoneme_similarity_table(embeddings, phones, emotions.astype(float), groups)
    with pytest.raises(ValueError, match="embeddings"):
        phoneme_similarity_table(embeddings[:, 0], phones, emotions, groups)


# The paper's Table 2 (MSP-P vs BIIC-P) and Table 3.
PAPER_TABLE2 = {
    "neutral": [0.72, 0.73, 0.73, 0.74, 0.70, 0.72],
    "happiness": [0.74, 0.71, 0.68, 0.73, 0.69, 0.68],
    "anger": [0.72, 0.71, 0.70, 0.73, 0.71, 0.72],
    "sadness": [0.67, 0.70, 0.69, 0.67, 0.69, 0.68],
}
PAPER_TABLE3 = {
    "neutral": {"E", "@", "a"},
    "happiness": {"i", "a"},
    "anger": {"a", "i", "u"},
    "sadness": {"E", "@", "O"},
}


def paper_rows():
    return [
        {"source": "msp", "target": "biic", "emotion": emotion, "phoneme": phone, "similarity": value}
        for emotion, values in PAPER_TABLE2.items()
        for phone, value in zip(SHARED_VOWELS, values)
    ]


def test_relative_rule_reproduces_paper_table3():
    anchors = select_anchor_phonemes(paper_rows(), rule="relative", margin=0.01)
    assert {emotion: set(phones) for emotion, phones in anchors.items()} == PAPER_TABLE3
    assert anchors["neutral"][0] == "a"  # ordered by decreasing similarity


def test_top_k_and_threshold_rules_on_paper_table():
    top3 = select_anchor_phonemes(paper_rows(), rule="top_k", k=3)
    assert top3["happiness"] == ["i", "a", "E"]
    assert top3["anger"] == ["a", "i", "u"]  # tie 0.72 / 0.72 keeps the phoneme order
    assert select_anchor_phonemes(paper_rows(), rule="top_k", k=1)["sadness"] == ["E"]
    above = select_anchor_phonemes(paper_rows(), rule="threshold", threshold=0.72)
    assert above == {
        "neutral": ["a", "E", "@", "i", "u"],
        "happiness": ["i", "a"],
        "anger": ["a", "i", "u"],
        "sadness": [],
    }
    capped = select_anchor_phonemes(paper_rows(), rule="threshold", threshold=0.72, max_anchors=2)
    assert capped["neutral"] == ["a", "E"]
    with pytest.raises(ValueError, match="rule"):
        select_anchor_phonemes(paper_rows(), rule="best")
    with pytest.raises(ValueError, match="`k`"):
        select_anchor_phonemes(paper_rows(), rule="top_k", k=0)


def test_anchor_selection_skips_nan_and_aggregates_pairs():
    rows = [
        {"source": "en", "target": "zh", "emotion": "sad", "phoneme": "i", "similarity": 0.9},
        {"source": "en", "target": "zh", "emotion": "sad", "phoneme": "u", "similarity": 0.5},
        {"source": "en", "target": "zh", "emotion": "sad", "phoneme": "a", "similarity": float("nan")},
        {"source": "en", "target": "de", "emotion": "sad", "phoneme": "i", "similarity": 0.1},
        {"source": "en", "target": "de", "emotion": "sad", "phoneme": "u", "similarity": 0.4},
        {"source": "en", "target": "de", "emotion": "sad", "phoneme": "a", "similarity": None},
    ]
    assert select_anchor_phonemes(rows, rule="top_k", k=3)["sad"] == ["i", "u"]  # means 0.5, 0.45; /a/ is NaN
    assert select_anchor_phonemes(rows, rule="top_k", k=1, aggregate="mean")["sad"] == ["i"]  # 0.5 > 0.45
    assert select_anchor_phonemes(rows, rule="top_k", k=1, aggregate="min")["sad"] == ["u"]  # 0.4 > 0.1
    assert select_anchor_phonemes(rows, rule="top_k", k=1, source="en", target="zh")["sad"] == ["i"]
    assert select_anchor_phonemes(rows, rule="top_k", k=1, source="de")["sad"] == ["u"]
    assert select_anchor_phonemes(rows, rule="threshold", threshold=0.0)["sad"] == ["i", "u"]  # NaN never chosen


def test_anchors_from_a_similarity_table():
    table = phoneme_similarity_table(*arrays())
    anchors = select_anchor_phonemes(table, rule="top_k", k=2)
    assert anchors == {"neutral": ["i"], "happy": ["@"], "angry": [], "sad": ["u"]}
    expected = {"emotion": "neutral", "anchors": ["i"], "anchor_labels": ["/i/"], "num_anchors": 1}
    assert anchor_rows(anchors)[0] == expected


def test_json_and_csv_files_round_trip(tmp_path):
    table = phoneme_similarity_table(*arrays())
    rows = read_table(table.save(tmp_path / "sim.csv"))
    assert len(rows) == 24 and rows[0]["similarity"] == pytest.approx(table.matrix()[0, 0])
    assert math.isnan(rows[1]["similarity"])
    loaded = json.loads((table.save(tmp_path / "sim.json")).read_text())
    assert loaded[0]["source_count"] == 2 and loaded[1]["similarity"] is None
    again = select_anchor_phonemes(read_table(tmp_path / "sim.csv"), rule="top_k", k=2)
    assert again == select_anchor_phonemes(table, rule="top_k", k=2)
    save_rows(anchor_rows(again), tmp_path / "anchors.csv")
    assert read_table(tmp_path / "anchors.csv")[0]["anchors"] == "i"


def test_heatmap_is_a_png(tmp_path):
    table = phoneme_similarity_table(*arrays())
    assert isinstance(table, PhonemeSimilarity)
    paths = plot_phoneme_similarity(table, tmp_path, anchors={"neutral": ["i"]})
    assert [p.name for p in paths] == ["phoneme_similarity_en_vs_zh.png"]
    assert paths[0].read_bytes()[:8] == PNG_SIGNATURE
