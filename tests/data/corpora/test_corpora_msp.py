"""MSP-Podcast, BIIC-Podcast and MSP-IMPROV loaders."""

from __future__ import annotations

import pytest

from hf_cser.data import load_corpus
from hf_cser.data.corpora import CorpusLayoutError

TEXTGRID = """File type = "ooTextFile"
Object class = "TextGrid"

xmin = 0
xmax = 0.3
tiers? <exists>
size = 1
item []:
    item [1]:
        class = "IntervalTier"
        name = "phones"
        xmin = 0
        xmax = 0.3
        intervals: size = 3
        intervals [1]:
            xmin = 0
            xmax = 0.1
            text = "HH"
        intervals [2]:
            xmin = 0.1
            xmax = 0.2
            text = "AY1"
        intervals [3]:
            xmin = 0.2
            xmax = 0.3
            text = "sil"
"""
MSP_HEADER = "FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set\n"
MSP_ROWS = [
    ("MSP-PODCAST_0001_0008.wav", "N", "127", "Female", "Train"),
    ("MSP-PODCAST_0001_0009.wav", "H", "127", "Female", "Train"),
    ("MSP-PODCAST_0002_0001.wav", "A", "Unknown", "Unknown", "Development"),
    ("MSP-PODCAST_0003_0001.wav", "S", "55", "Male", "Test1"),
    ("MSP-PODCAST_0004_0001.wav", "X", "55", "Male", "Test2"),
    ("MSP-PODCAST_0004_0002.wav", "U", "60", "Male", "Test2"),
    ("MSP-PODCAST_0005_0001.wav", "H", "61", "Female", "Test2"),
]


def msp_tree(make_tree, extra_rows=()):
    rows = [*MSP_ROWS, *extra_rows]
    csv = MSP_HEADER + "".join(f"{f},{c},3.0,4.0,3.5,{s},{g},{p}\n" for f, c, s, g, p in rows)
    return make_tree(
        [f"Audios/{r[0]}" for r in MSP_ROWS],
        {
            "Labels/labels_consensus.csv": csv,
            "Transcripts/MSP-PODCAST_0001_0008.txt": "hi there\n",
            "ForceAligned/MSP-PODCAST_0001_0008.TextGrid": TEXTGRID,
        },
        name="MSP-Podcast",
    )


def test_msp_podcast(make_tree, rows_by_name):
    dataset, report = load_corpus("msp-podcast", msp_tree(make_tree), return_report=True)
    rows = rows_by_name(dataset)
    assert {n: (r["split"], r["emotion"], r["speaker"], r["gender"]) for n, r in rows.items()} == {
        "MSP-PODCAST_0001_0008.wav": ("train", "neutral", "msp-podcast_127", "female"),
        "MSP-PODCAST_0001_0009.wav": ("train", "happy", "msp-podcast_127", "female"),
        "MSP-PODCAST_0002_0001.wav": ("validation", "angry", "msp-podcast_unknown", "unknown"),
        "MSP-PODCAST_0003_0001.wav": ("test", "sad", "msp-podcast_55", "male"),
        "MSP-PODCAST_0005_0001.wav": ("test2", "happy", "msp-podcast_61", "female"),
    }
    assert list(dataset) == ["train", "validation", "test", "test2"]
    assert rows["MSP-PODCAST_0001_0008.wav"]["transcript"] == "hi there"
    phones = rows["MSP-PODCAST_0001_0008.wav"]["phonemes"]
    assert [p["phone"] for p in phones] == ["HH", "AY1"]
    assert phones[1]["end"] == pytest.approx(0.2)
    assert rows["MSP-PODCAST_0001_0009.wav"]["phonemes"] == []
    assert dict(report.dropped) == {"emotion=X": 1, "emotion=U": 1}


def test_msp_podcast_missing_audio(make_tree):
    extra = [("MSP-PODCAST_0009_0001.wav", "N", "70", "Male", "Train")]
    with pytest.raises(FileNotFoundError, match=r"MSP-PODCAST_0009_0001\.wav.*line 9"):
        load_corpus("msp-podcast", msp_tree(make_tree, extra))
    _, report = load_corpus("msp-podcast", msp_tree(make_tree, extra), skip_missing=True, return_report=True)
    assert report.dropped["missing_audio"] == 1


def test_biic_podcast_variant_columns(make_tree, rows_by_name, speakers_by_split):
    root = make_tree(
        ["Audios/biic_001.wav", "Audios/biic_002.wav", "Audios/biic_003.wav", "Audios/biic_004.wav"],
        {
            "Labels/labels_consensus.csv": "File_Name,Emotion,Speaker_ID,Gender\n"
            "biic_001,Neutral,A,F\nbiic_002,Angry,B,M\nbiic_003,Surprise,B,M\nbiic_004,Sad,C,F\n"
        },
        name="BIIC",
    )
    dataset, report = load_corpus("biic-podcast", root, return_report=True)  # no split column: speaker split
    rows = rows_by_name(dataset)
    assert {n: (r["emotion"], r["speaker"], r["gender"], r["language"]) for n, r in rows.items()} == {
        "biic_001.wav": ("neutral", "biic-podcast_A", "female", "zh-TW"),
        "biic_002.wav": ("angry", "biic-podcast_B", "male", "zh-TW"),
        "biic_004.wav": ("sad", "biic-podcast_C", "female", "zh-TW"),
    }
    assert dict(report.dropped) == {"emotion=unknown:Surprise": 1}
    assert report.split_source.startswith("speaker-independent")
    assert sorted(len(s) for s in speakers_by_split(dataset).values()) == [1, 1, 1]


def test_biic_podcast_bad_layout(make_tree):
    with pytest.raises(CorpusLayoutError, match="no labels CSV.*labels_consensus.csv"):
        load_corpus("biic-podcast", make_tree(["Audios/a.wav"], name="no_labels"))
    root = make_tree(["Audios/a.wav"], {"Labels/labels_consensus.csv": "a,b,c\n1,2,3\n"}, name="bad_header")
    with pytest.raises(CorpusLayoutError, match=r"has columns \['a', 'b', 'c'\]; expected a file column"):
        load_corpus("biic-podcast", root)


def test_msp_improv(make_tree, rows_by_name):
    names = [
        "MSP-IMPROV-S01A-F01-P-FM01",
        "MSP-IMPROV-S02H-M01-S-FM01",
        "MSP-IMPROV-S03S-F02-R-MF02",
        "MSP-IMPROV-S04N-M02-T-MF02",
        "MSP-IMPROV-S05A-F03-P-FM03",
    ]
    labels = "".join(
        f"UTD-IMPROV-{n[11:]}.avi; {c}; A:3.0; V:2.0; D:3.0; N:4.0;\nEvaluator1; X; A:3; V:2; D:3; N:4;\n"
        for n, c in zip([*names, "MSP-IMPROV-S06H-M03-P-FM03"], "AHSNOH", strict=True)
    )
    root = make_tree(
        [f"Audio/session{int(n[-2:])}/{n[11:15]}/{n.split('-')[-2]}/{n}.wav" for n in names],
        {"Evalution.txt": labels},
        name="MSP-IMPROV",
    )
    dataset, report = load_corpus("msp-improv", root, return_report=True)
    rows = rows_by_name(dataset)
    assert {n[:-4]: (r["emotion"], r["speaker"], r["gender"]) for n, r in rows.items()} == {
        "MSP-IMPROV-S01A-F01-P-FM01": ("angry", "msp-improv_F01", "female"),
        "MSP-IMPROV-S02H-M01-S-FM01": ("happy", "msp-improv_M01", "male"),
        "MSP-IMPROV-S03S-F02-R-MF02": ("sad", "msp-improv_F02", "female"),
        "MSP-IMPROV-S04N-M02-T-MF02": ("neutral", "msp-improv_M02", "male"),
    }
    assert dict(report.dropped) == {"emotion=O": 1, "missing_audio": 1}
