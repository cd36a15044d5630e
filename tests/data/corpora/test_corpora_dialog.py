"""ESD, MELD and IEMOCAP loaders: official splits, transcripts, missing clips."""

from __future__ import annotations

import pytest

from hf_cser.data import load_corpus
from hf_cser.data.corpora import CorpusLayoutError
from hf_cser.data.corpora.esd import esd_official_split

ESD_FILES = [
    "Emotion Speech Dataset/0001/Neutral/0001_000001.wav",  # evaluation range -> validation
    "Emotion Speech Dataset/0001/Neutral/0001_000021.wav",  # test range
    "Emotion Speech Dataset/0001/Angry/0001_000401.wav",  # train range
    "Emotion Speech Dataset/0001/Surprise/0001_001401.wav",  # dropped
    "Emotion Speech Dataset/0002/Happy/train/0002_000701.wav",  # the split folder wins over the id range
    "Emotion Speech Dataset/0011/Sad/test/0011_001071.wav",
    "Emotion Speech Dataset/0011/Angry/evaluation/0011_000351.wav",
    "Emotion Speech Dataset/0015/Happy/0015_000730.wav",
]
ESD_TEXTS = {
    "Emotion Speech Dataset/0011/0011.txt": "0011_001071\tThe nine the eggs, I keep.\t伤心\n"
    "0011_000351\tAuthor of the danger trail.\tAngry\n",
}


def test_esd_official_split_ranges():
    assert [esd_official_split(i) for i in (1, 20, 21, 50, 51, 350, 351, 371, 401, 1750)] == [
        "validation",
        "validation",
        "test",
        "test",
        "train",
        "train",
        "validation",
        "test",
        "train",
        "train",
    ]


def test_esd_all_languages(make_tree, rows_by_name):
    root = make_tree(ESD_FILES, ESD_TEXTS)
    mandarin = "0001_000001\t打远一看，它们的确很是美丽。\t中立\n"
    (root / "Emotion Speech Dataset/0001/0001.txt").write_bytes(mandarin.encode("gb18030"))  # GB18030 like the release
    dataset, report = load_corpus("esd", root, return_report=True)
    rows = rows_by_name(dataset)
    assert {n: (r["split"], r["emotion"], r["language"], r["speaker"], r["gender"]) for n, r in rows.items()} == {
        "0001_000001.wav": ("validation", "neutral", "zh", "esd_0001", "female"),
        "0001_000021.wav": ("test", "neutral", "zh", "esd_0001", "female"),
        "0001_000401.wav": ("train", "angry", "zh", "esd_0001", "female"),
        "0002_000701.wav": ("train", "happy", "zh", "esd_0002", "female"),
        "0011_001071.wav": ("test", "sad", "en", "esd_0011", "male"),
        "0011_000351.wav": ("validation", "angry", "en", "esd_0011", "male"),
        "0015_000730.wav": ("test", "happy", "en", "esd_0015", "female"),
    }
    assert rows["0011_001071.wav"]["transcript"] == "The nine the eggs, I keep."
    assert rows["0001_000001.wav"]["transcript"] == "打远一看，它们的确很是美丽。"
    assert dict(report.dropped) == {"emotion=Surprise": 1}
    assert report.split_source == "official"


def test_esd_english_speaker_split(make_tree, speakers_by_split):
    dataset = load_corpus("esd", make_tree(ESD_FILES, ESD_TEXTS), language="en", split="speaker")
    assert set().union(*speakers_by_split(dataset).values()) == {"esd_0011", "esd_0015"}
    assert set(dataset["train"]["language"]) == {"en"}
    with pytest.raises(FileNotFoundError, match="0011..0020"):
        load_corpus("esd", make_tree(ESD_FILES[:5], name="zh_only"), language="en")


MELD_HEADER = "Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,Episode,StartTime,EndTime\n"


def meld_tree(make_tree, test_clips=("dia0_utt0.wav", "dia0_utt1.wav"), name="corpus"):
    return make_tree(
        [
            "MELD.Raw/train/train_splits/dia0_utt0.wav",
            "MELD.Raw/train/train_splits/dia0_utt1.wav",
            "MELD.Raw/train/train_splits/dia0_utt2.wav",
            "MELD.Raw/dev/dev_splits_complete/dia0_utt0.wav",
            *(f"MELD.Raw/test/output_repeated_splits_test/{c}" for c in test_clips),
        ],
        {
            "MELD.Raw/train_sent_emo.csv": MELD_HEADER
            + '1,"Oh, hi.",Chandler,neutral,neutral,0,0,8,21,"00:16:16,059","00:16:21,731"\n'
            + "2,Really?,The Interviewer,surprise,positive,0,1,8,21,a,b\n"
            + "3,Great!,Monica,joy,positive,0,2,8,21,a,b\n"
            + "4,Stop it.,Ross,anger,negative,1,0,8,21,a,b\n",
            "MELD.Raw/dev_sent_emo.csv": MELD_HEADER + "1,I miss him.,Rachel,sadness,negative,0,0,1,1,a,b\n",
            "MELD.Raw/test_sent_emo.csv": MELD_HEADER
            + "1,Ew.,Joey,disgust,negative,0,0,1,1,a,b\n"
            + "2,Okay.,Phoebe,neutral,neutral,0,1,1,1,a,b\n",
        },
        name=name,
    )


def test_meld(make_tree, rows_by_name):
    dataset, report = load_corpus("meld", meld_tree(make_tree) / "MELD.Raw", return_report=True)
    assert {s: len(d) for s, d in dataset.items()} == {"train": 2, "validation": 1, "test": 1}
    train = rows_by_name({"train": dataset["train"]})
    assert {n: (r["emotion"], r["speaker"], r["gender"]) for n, r in train.items()} == {
        "dia0_utt0.wav": ("neutral", "meld_Chandler", "male"),
        "dia0_utt2.wav": ("happy", "meld_Monica", "female"),
    }
    assert train["dia0_utt0.wav"]["transcript"] == "Oh, hi."
    assert dataset["validation"][0]["speaker"] == "meld_Rachel"
    assert dataset["test"][0]["transcript"] == "Okay."
    assert dict(report.dropped) == {"emotion=surprise": 1, "emotion=disgust": 1, "missing_audio": 1}
    assert report.examples["missing_audio"] == ["train/dia1_utt0.wav"]


def test_meld_missing_clip_and_mp4_errors(make_tree):
    with pytest.raises(FileNotFoundError, match="dia1_utt0.wav"):
        load_corpus("meld", meld_tree(make_tree) / "MELD.Raw", skip_missing=False)
    root = meld_tree(make_tree, test_clips=(), name="mp4_only")
    (root / "MELD.Raw/test/output_repeated_splits_test").mkdir(parents=True)
    (root / "MELD.Raw/test/output_repeated_splits_test/dia0_utt0.mp4").write_bytes(b"\x00")
    with pytest.raises(CorpusLayoutError, match=r"1 \.mp4 clip\(s\) but no \.wav.*soundfile cannot decode mp4"):
        load_corpus("meld", root / "MELD.Raw")


def iemocap_tree(make_tree):
    evaluation_header = "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"
    return make_tree(
        [
            "Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_F000.wav",
            "Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_M000.wav",
            "Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_F001.wav",
            "Session4/sentences/wav/Ses04M_script01_1/Ses04M_script01_1_M000.wav",
            "Session4/sentences/wav/Ses04M_script01_1/Ses04M_script01_1_F000.wav",
            "Session5/sentences/wav/Ses05F_impro02/Ses05F_impro02_F000.wav",
            "Session5/sentences/wav/Ses05F_impro02/Ses05F_impro02_M000.wav",
        ],
        {
            "Session1/dialog/EmoEvaluation/Ses01F_impro01.txt": evaluation_header
            + "[6.2901 - 8.2357]\tSes01F_impro01_F000\tneu\t[2.5000, 2.5000, 2.5000]\n"
            + "C-E2:\tNeutral;\t()\n\n"
            + "[10.0 - 11.5]\tSes01F_impro01_M000\texc\t[3.5, 4.0, 3.0]\n\n"
            + "[12.0 - 13.0]\tSes01F_impro01_F001\tfru\t[2.0, 3.5, 3.0]\n",
            "Session1/dialog/transcriptions/Ses01F_impro01.txt": "Ses01F_impro01_F000 [006.2901-008.2357]: "
            "Excuse me.\nSes01F_impro01_M000 [010.0000-011.5000]: Do you have your forms?\n",
            "Session1/sentences/ForcedAlignment/Ses01F_impro01/Ses01F_impro01_F000.phseg": " SFrm EFrm SegAScr Phone\n"
            "     0    14    -63849 SIL\n    15    21    -40131 EH1\n    22    30    -20000 K\n Total score: -1\n",
            "Session4/dialog/EmoEvaluation/Ses04M_script01_1.txt": evaluation_header
            + "[1.0 - 2.0]\tSes04M_script01_1_M000\tang\t[1.0, 4.0, 4.0]\n\n"
            + "[2.0 - 3.0]\tSes04M_script01_1_F000\tsad\t[1.5, 2.0, 2.0]\n",
            "Session5/dialog/EmoEvaluation/Ses05F_impro02.txt": evaluation_header
            + "[1.0 - 2.0]\tSes05F_impro02_F000\thap\t[4.0, 3.0, 3.0]\n\n"
            + "[2.0 - 3.0]\tSes05F_impro02_M000\txxx\t[3.0, 3.0, 3.0]\n\n"
            + "[3.0 - 4.0]\tSes05F_impro02_M001\tsad\t[2.0, 2.0, 2.0]\n",
        },
        name="IEMOCAP_full_release",
    )


def test_iemocap_session_split(make_tree, rows_by_name):
    dataset, report = load_corpus("iemocap", iemocap_tree(make_tree), phonemes=True, return_report=True)
    rows = rows_by_name(dataset)
    assert {n[:-4]: (r["split"], r["emotion"], r["speaker"], r["gender"]) for n, r in rows.items()} == {
        "Ses01F_impro01_F000": ("train", "neutral", "iemocap_Ses01F", "female"),
        "Ses01F_impro01_M000": ("train", "happy", "iemocap_Ses01M", "male"),  # exc merged into happy
        "Ses04M_script01_1_M000": ("validation", "angry", "iemocap_Ses04M", "male"),
        "Ses04M_script01_1_F000": ("validation", "sad", "iemocap_Ses04F", "female"),
        "Ses05F_impro02_F000": ("test", "happy", "iemocap_Ses05F", "female"),
    }
    assert rows["Ses01F_impro01_M000.wav"]["transcript"] == "Do you have your forms?"
    assert [p["phone"] for p in rows["Ses01F_impro01_F000.wav"]["phonemes"]] == ["SIL", "EH1", "K"]
    assert rows["Ses01F_impro01_F000.wav"]["phonemes"][1]["start"] == pytest.approx(0.15)
    assert rows["Ses01F_impro01_F000.wav"]["phonemes"][1]["end"] == pytest.approx(0.22)
    assert dict(report.dropped) == {"emotion=fru": 1, "emotion=xxx": 1, "missing_audio": 1}


def test_iemocap_errors(make_tree):
    with pytest.raises(CorpusLayoutError, match="Session1..Session5"):
        load_corpus("iemocap", make_tree(["x/y.wav"]))
    with pytest.raises(ValueError, match="both 5"):
        load_corpus("iemocap", iemocap_tree(make_tree), validation_session=5)
