"""The CSV manifest loader and the registry (names, errors, synthetic dispatch)."""

from __future__ import annotations

import pytest

from hf_cser.data import list_corpora, load_corpus
from hf_cser.data.corpora import CorpusLayoutError

HEADER = "path,emotion,language,speaker,corpus,gender,transcript,split\n"


def test_manifest_with_split(make_tree, rows_by_name):
    root = make_tree(["clips/a.wav", "clips/b.wav", "clips/c.wav", "other/d.wav"])
    (root / "m.csv").write_text(
        HEADER
        + "clips/a.wav,happy,en,spk1,mine,female,Hello.,train\n"
        + "clips/b.wav,ANGER,de,spk2,mine,m,,dev\n"
        + f"{root / 'other/d.wav'},sad,en,spk3,,,,test\n"
        + "clips/c.wav,exc,en,Ses01F,iemocap,F,,train\n"
        + "clips/a.wav,happy,en,spk1,mine,female,Hello.,train\n"  # identical duplicate: de-duplicated and counted
    )
    dataset, report = load_corpus("manifest", root / "m.csv", return_report=True)
    rows = rows_by_name(dataset)
    fields = ("split", "emotion", "language", "speaker", "gender", "corpus")
    assert {n: tuple(r[f] for f in fields) for n, r in rows.items()} == {
        # several corpora: speaker ids are scoped by corpus
        "a.wav": ("train", "happy", "en", "mine_spk1", "female", "mine"),
        "b.wav": ("validation", "angry", "de", "mine_spk2", "male", "mine"),
        "d.wav": ("test", "sad", "en", "manifest_spk3", "unknown", "manifest"),
        "c.wav": ("train", "happy", "en", "iemocap_Ses01F", "female", "iemocap"),
    }
    assert rows["a.wav"]["audio"] == str(root / "clips/a.wav")
    assert rows["a.wav"]["transcript"] == "Hello."
    assert dict(report.dropped) == {"duplicate": 1}


def test_manifest_errors(make_tree):
    root = make_tree(["a.wav", "b.wav"])
    (root / "cols.csv").write_text("path,emotion\na.wav,happy\n")
    with pytest.raises(ValueError, match=r"cols\.csv'.*missing required column\(s\) \['language', 'speaker'\]"):
        load_corpus("manifest", root / "cols.csv")
    (root / "emo.csv").write_text("path,emotion,language,speaker\na.wav,happy,en,s1\nb.wav,bored,en,s2\n")
    with pytest.raises(ValueError, match=r"emo\.csv', line 3: emotion 'bored'"):
        load_corpus("manifest", root / "emo.csv")
    dataset, report = load_corpus("manifest", root / "emo.csv", drop_unknown_emotions=True, return_report=True)
    assert dict(report.dropped) == {"emotion=bored": 1} and report.total_kept == 1
    (root / "dup.csv").write_text("path,emotion,language,speaker\na.wav,happy,en,s1\na.wav,sad,en,s1\n")
    with pytest.raises(ValueError, match="different values than on line 2"):
        load_corpus("manifest", root / "dup.csv")
    (root / "miss.csv").write_text("path,emotion,language,speaker\na.wav,happy,en,s1\nnope.wav,sad,en,s2\n")
    with pytest.raises(FileNotFoundError, match=r"line 3: audio file '.*nope\.wav' does not exist"):
        load_corpus("manifest", root / "miss.csv")
    _, report = load_corpus("manifest", root / "miss.csv", skip_missing=True, return_report=True)
    assert dict(report.dropped) == {"missing_audio": 1}
    with pytest.raises(CorpusLayoutError, match="does not exist"):
        load_corpus("manifest", root / "absent.csv")


def test_speakers_of_different_corpora_are_different_people(make_tree, rows_by_name):
    root = make_tree(["a.wav", "b.wav", "c.wav"])
    (root / "m.csv").write_text(
        "path,emotion,language,speaker,corpus,split\n"
        "a.wav,happy,en,01,ravdess,train\nb.wav,sad,zh,01,casia,train\nc.wav,sad,zh,casia_02,casia,test\n"
    )
    rows = rows_by_name(load_corpus("manifest", root / "m.csv"))
    assert [rows[n]["speaker"] for n in ("a.wav", "b.wav", "c.wav")] == ["ravdess_01", "casia_01", "casia_02"]
    (root / "one.csv").write_text("path,emotion,language,speaker,corpus,split\na.wav,happy,en,01,ravdess,train\n")
    assert rows_by_name(load_corpus("manifest", root / "one.csv"))["a.wav"]["speaker"] == "01"  # one corpus: as given


@pytest.mark.parametrize(
    "row, message",
    [
        ("a.wav,happy,English,s1,mine", r"line 2: language 'English' is not a language code; use ISO 639-1"),
        ("a.wav,happy,en,s1,my corpus", r"line 2: corpus 'my corpus' is not a usable corpus name"),
    ],
)
def test_language_and_corpus_columns_are_validated(make_tree, row, message):
    root = make_tree(["a.wav"])
    (root / "m.csv").write_text("path,emotion,language,speaker,corpus\n" + row + "\n")
    with pytest.raises(ValueError, match=message):
        load_corpus("manifest", root / "m.csv")


def test_manifest_without_split_is_speaker_independent(make_tree, speakers_by_split):
    files = [f"s{s}_{i}.wav" for s in range(10) for i in range(2)]
    root = make_tree(files)
    rows = "".join(f"{f},neutral,en,s{f[1]}\n" for f in files)
    (root / "m.csv").write_text("path,emotion,language,speaker\n" + rows)
    dataset, report = load_corpus("manifest", root / "m.csv", seed=3, return_report=True)
    speakers = speakers_by_split(dataset)
    assert [len(speakers[s]) for s in ("train", "validation", "test")] == [8, 1, 1]
    assert not (speakers["train"] & speakers["test"]) and not (speakers["validation"] & speakers["test"])
    assert report.split_source == "speaker-independent (seed=3, ratios=[0.8, 0.1, 0.1])"


def test_registry_names_and_errors(tmp_path, make_tree):
    assert list_corpora() == [
        "biic-podcast",
        "cafe",
        "casia",
        "emodb",
        "esd",
        "iemocap",
        "manifest",
        "meld",
        "msp-improv",
        "msp-podcast",
        "ravdess",
        "savee",
        "synthetic",
        "turev",
        "urdu",
    ]
    with pytest.raises(ValueError, match=r"Unknown corpus 'crema'; known corpora: biic-podcast, cafe, .*urdu"):
        load_corpus("crema", tmp_path)
    with pytest.raises(CorpusLayoutError, match=r"(?s)emodb: data_dir '.*nowhere' does not exist.*03a01Fa\.wav"):
        load_corpus("emodb", tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorpusLayoutError, match=r"data_dir '.*empty' is empty"):
        load_corpus("ravdess", tmp_path / "empty")
    with pytest.raises(CorpusLayoutError, match=r"(?s)no audio file.*searched recursively for \*\.wav.*Actor_01"):
        load_corpus("ravdess", make_tree([], {"readme.txt": "x"}))
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['langauge'\]"):
        load_corpus("esd", tmp_path, langauge="en")


def test_synthetic_dispatch(monkeypatch, tmp_path):
    import hf_cser.data.synthetic as synthetic

    calls = []
    monkeypatch.setattr(synthetic, "load_synthetic_corpus", lambda output_dir: calls.append(output_dir) or "dd")
    assert load_corpus("synthetic", tmp_path) == "dd"
    assert calls == [tmp_path]
