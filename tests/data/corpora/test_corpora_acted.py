"""EMO-DB, URDU, CaFE, CASIA, SAVEE and RAVDESS loaders on tiny fake trees in the corpora's real naming."""

from __future__ import annotations

import pytest

from hf_cser.data import load_corpus


def assert_speaker_independent(dataset_dict, expected_speaker_counts):
    speakers = {split: set(dataset["speaker"]) for split, dataset in dataset_dict.items()}
    assert [len(speakers[s]) for s in ("train", "validation", "test")] == expected_speaker_counts
    assert not speakers["train"] & speakers["validation"]
    assert not speakers["train"] & speakers["test"]
    assert not speakers["validation"] & speakers["test"]


def test_emodb(make_tree, rows_by_name, speakers_by_split):
    root = make_tree(
        [
            "wav/03a01Fa.wav",
            "wav/03a01Wa.wav",
            "wav/03a02Lb.wav",
            "wav/08b01Tc.wav",
            "wav/08a04Nb.wav",
            "wav/08a05Ea.wav",
            "wav/09b02Wa.wav",
            "wav/09a07Aa.wav",
            "wav/10b10Nc.wav",
            "wav/10b03Fb.wav",
            "wav/notes.wav",
            "lablaut/03a01Fa.wav",  # unparsable name; other folders of the archive are ignored
        ]
    )
    dataset, report = load_corpus("EMO-DB", root, return_report=True)
    rows = rows_by_name(dataset)
    assert len(rows) == 7
    assert rows["03a01Fa.wav"]["emotion"] == "happy"
    assert rows["03a01Fa.wav"]["speaker"] == "emodb_03"
    assert rows["03a01Fa.wav"]["gender"] == "male"
    assert rows["03a01Fa.wav"]["language"] == "de"
    assert rows["03a01Fa.wav"]["transcript"] == "Der Lappen liegt auf dem Eisschrank."
    assert rows["03a01Wa.wav"]["emotion"] == "angry"
    assert rows["08b01Tc.wav"]["emotion"] == "sad"
    assert rows["08b01Tc.wav"]["gender"] == "female"
    assert rows["10b10Nc.wav"]["emotion"] == "neutral"
    assert dict(report.dropped) == {"emotion=L": 1, "emotion=E": 1, "emotion=A": 1, "unparsed_name": 1}
    assert report.total_kept == 7
    assert_speaker_independent(dataset, [2, 1, 1])
    again = load_corpus("emodb", root, seed=0)
    assert speakers_by_split(again) == speakers_by_split(dataset)


def test_urdu(make_tree, rows_by_name, speakers_by_split):
    root = make_tree(
        [
            "Angry/SM1_F1_A01.wav",
            "Happy/SF2_F3_H05.wav",
            "Neutral/SM1_F2_N02.wav",
            "Sad/SF10_F4_S01.wav",
            "Sad/SM3_F1_S02.wav",
            "Angry/readme.wav",
        ]
    )
    dataset, report = load_corpus("urdu", root, return_report=True)
    rows = rows_by_name(dataset)
    assert {n: (r["emotion"], r["speaker"], r["gender"]) for n, r in rows.items()} == {
        "SM1_F1_A01.wav": ("angry", "urdu_SM1", "male"),
        "SF2_F3_H05.wav": ("happy", "urdu_SF2", "female"),
        "SM1_F2_N02.wav": ("neutral", "urdu_SM1", "male"),
        "SF10_F4_S01.wav": ("sad", "urdu_SF10", "female"),
        "SM3_F1_S02.wav": ("sad", "urdu_SM3", "male"),
    }
    assert all(r["language"] == "ur" for r in rows.values())
    assert dict(report.dropped) == {"unparsed_name": 1}
    assert_speaker_independent(dataset, [2, 1, 1])


CAFE_FILES = [
    "CaFE_48k/Colère/Faible/01-C-1-1.wav",
    "CaFE_48k/Colère/Fort/02-C-2-4.wav",
    "CaFE_48k/Joie/Fort/03-J-2-2.aiff",
    "CaFE_48k/Tristesse/Faible/04-T-1-6.wav",
    "CaFE_48k/Neutre/01-N-3.wav",
    "CaFE_48k/Peur/Fort/05-P-2-1.wav",
    "CaFE_48k/Dégoût/Faible/06-D-1-2.wav",
]


def test_cafe(make_tree, rows_by_name, speakers_by_split):
    dataset, report = load_corpus("cafe", make_tree(CAFE_FILES), return_report=True)
    rows = rows_by_name(dataset)
    assert {n: (r["emotion"], r["speaker"], r["gender"]) for n, r in rows.items()} == {
        "01-C-1-1.wav": ("angry", "cafe_01", "male"),
        "02-C-2-4.wav": ("angry", "cafe_02", "female"),
        "03-J-2-2.aiff": ("happy", "cafe_03", "male"),
        "04-T-1-6.wav": ("sad", "cafe_04", "female"),
        "01-N-3.wav": ("neutral", "cafe_01", "male"),
    }
    assert rows["01-N-3.wav"]["transcript"] == "Trois cygnes aveugles au bord du lac"
    assert rows["04-T-1-6.wav"]["transcript"] == "Six ours aimants domestiqués"
    assert dict(report.dropped) == {"emotion=P": 1, "emotion=D": 1}
    assert_speaker_independent(dataset, [2, 1, 1])


def test_cafe_intensity_filter_keeps_neutral(make_tree, rows_by_name, speakers_by_split):
    dataset, report = load_corpus("cafe", make_tree(CAFE_FILES), intensity="high", return_report=True)
    assert sorted(rows_by_name(dataset)) == ["01-N-3.wav", "02-C-2-4.wav", "03-J-2-2.aiff"]
    assert report.dropped["intensity"] == 2


def test_casia(make_tree, rows_by_name, speakers_by_split):
    root = make_tree(
        [
            "CASIA/liuchanhg/angry/201.wav",
            "CASIA/liuchanhg/fear/202.wav",
            "CASIA/wangzhe/happy/203.wav",
            "CASIA/zhaoquanyin/sad/204.wav",
            "CASIA/ZhaoZuoxiang/neutral/205.wav",
            "CASIA/ZhaoZuoxiang/surprise/206.wav",
        ]
    )
    dataset, report = load_corpus("casia", root, return_report=True)
    rows = rows_by_name(dataset)
    assert {n: (r["emotion"], r["speaker"], r["gender"]) for n, r in rows.items()} == {
        "201.wav": ("angry", "casia_liuchanhg", "female"),
        "203.wav": ("happy", "casia_wangzhe", "male"),
        "204.wav": ("sad", "casia_zhaoquanyin", "female"),
        "205.wav": ("neutral", "casia_ZhaoZuoxiang", "male"),
    }
    assert dict(report.dropped) == {"emotion=fear": 1, "emotion=surprise": 1}
    assert_speaker_independent(dataset, [2, 1, 1])


@pytest.mark.parametrize("calm_as_neutral", [True, False])
def test_turev(make_tree, rows_by_name, calm_as_neutral):
    root = make_tree(
        [
            "TurEV-DB/Sound Source/Angry/1157_kz_acik.wav",
            "TurEV-DB/Sound Source/Calm/1234_sk_beste.wav",
            "TurEV-DB/Sound Source/Happy/1358_mt_yol.wav",
            "TurEV-DB/Sound Source/Sad/1984_hl_ev.wav",
            "TurEV-DB/Sound Source/Sad/1984_kz_kapi.wav",
            "TurEV-DB/Sound Source/Sad/notes.wav",
        ]
    )
    dataset, report = load_corpus("turev", root, calm_as_neutral=calm_as_neutral, return_report=True)
    rows = rows_by_name(dataset)
    expected = {
        "1157_kz_acik.wav": ("angry", "turev_1157", "tr"),
        "1358_mt_yol.wav": ("happy", "turev_1358", "tr"),
        "1984_hl_ev.wav": ("sad", "turev_1984", "tr"),
    }
    dropped = {"code_folder_mismatch": 1, "unparsed_name": 1}
    if calm_as_neutral:
        expected["1234_sk_beste.wav"] = ("neutral", "turev_1234", "tr")
    else:
        dropped["emotion=calm"] = 1
    assert {n: (r["emotion"], r["speaker"], r["language"]) for n, r in rows.items()} == expected
    assert dict(report.dropped) == dropped


@pytest.mark.parametrize("flat", [False, True])
def test_savee_both_layouts(make_tree, rows_by_name, speakers_by_split, flat):
    names = ["DC/a01", "DC/sa02", "JE/h01", "JE/su01", "JK/n01", "KL/d03", "KL/f01", "KL/sa05"]
    files = [f"ALL/{n.replace('/', '_')}.wav" if flat else f"AudioData/{n}.wav" for n in names]
    dataset, report = load_corpus("savee", make_tree(files), return_report=True)
    rows = {r["audio"].split("/")[-1].split("_")[-1]: r for r in rows_by_name(dataset).values()}
    assert {(r["speaker"], r["emotion"]) for r in rows.values()} == {
        ("savee_DC", "angry"),
        ("savee_DC", "sad"),
        ("savee_JE", "happy"),
        ("savee_JK", "neutral"),
        ("savee_KL", "sad"),
    }
    assert {r["gender"] for r in rows.values()} == {"male"}
    assert dict(report.dropped) == {"emotion=su": 1, "emotion=d": 1, "emotion=f": 1}
    assert_speaker_independent(dataset, [2, 1, 1])


def test_ravdess(make_tree, rows_by_name, speakers_by_split):
    files = [
        "Actor_01/03-01-05-01-02-01-01.wav",  # angry, male
        "Actor_02/03-01-01-01-01-01-02.wav",  # neutral, female
        "Actor_02/03-01-02-02-01-01-02.wav",  # calm: dropped
        "Actor_03/03-02-03-01-01-01-03.wav",  # song: dropped
        "Actor_04/03-01-04-02-02-02-04.wav",  # sad, strong
        "Actor_05/03-01-03-01-01-01-05.wav",  # happy
    ]
    dataset, report = load_corpus("ravdess", make_tree(files), return_report=True)
    rows = rows_by_name(dataset)
    assert {n: (r["emotion"], r["speaker"], r["gender"]) for n, r in rows.items()} == {
        "03-01-05-01-02-01-01.wav": ("angry", "ravdess_01", "male"),
        "03-01-01-01-01-01-02.wav": ("neutral", "ravdess_02", "female"),
        "03-01-04-02-02-02-04.wav": ("sad", "ravdess_04", "female"),
        "03-01-03-01-01-01-05.wav": ("happy", "ravdess_05", "male"),
    }
    assert rows["03-01-01-01-01-01-02.wav"]["transcript"] == "Kids are talking by the door"
    assert dict(report.dropped) == {"emotion=02": 1, "song": 1}
    assert_speaker_independent(dataset, [2, 1, 1])
    normal = load_corpus("ravdess", make_tree(files), intensity="normal")
    assert "03-01-04-02-02-02-04.wav" not in rows_by_name(normal)
