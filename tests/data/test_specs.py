"""Tests of the data spec grammar (hf_cser/data/specs.py) on a tiny synthetic corpus."""

from __future__ import annotations

import csv
import logging
import os

import pytest
from datasets import Dataset

from hf_cser.data.schema import save_dataset_dict
from hf_cser.data.specs import (
    DATA_SPEC_HELP,
    DataSpecError,
    describe_data_spec,
    is_synthetic_spec,
    load_data_spec,
    parse_data_spec,
    synthetic_cache_dir,
)
from hf_cser.data.synthetic import SyntheticCorpusConfig, synthesize_corpus

TINY = SyntheticCorpusConfig(languages=("en", "de"), speakers_per_language=3, utterances_per_speaker=4)


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("specs") / "synthetic"
    corpus = synthesize_corpus(TINY, out, num_proc=1, progress=False)
    return str(out), corpus


def _languages(dataset_dict):
    return {lang for ds in dataset_dict.values() for lang in ds["language"]}


def _rows(dataset_dict):
    return sum(len(ds) for ds in dataset_dict.values())


@pytest.mark.parametrize(
    "spec, kind, name, path, languages",
    [
        ("synthetic", "synthetic", None, None, None),
        ("synthetic:en", "synthetic", None, None, ("en",)),
        ("synthetic:en,de", "synthetic", None, None, ("en", "de")),
        ("synthetic@/data/syn", "synthetic_dir", None, "/data/syn", None),
        ("synthetic:zh@/data/syn", "synthetic_dir", None, "/data/syn", ("zh",)),
        ("corpus:emodb:/data/emodb", "corpus", "emodb", "/data/emodb", None),
        ("corpus:esd:/data/ESD:en,zh", "corpus", "esd", "/data/ESD", ("en", "zh")),
        ("corpus:msp-podcast:/d/msp:en", "corpus", "msp-podcast", "/d/msp", ("en",)),
        ("corpus:manifest:/d/m.csv", "corpus", "manifest", "/d/m.csv", None),
        ("/d/my_data.csv", "manifest", "manifest", "/d/my_data.csv", None),
    ],
)
def test_parse_grammar(spec, kind, name, path, languages):
    parsed = parse_data_spec(spec)
    assert (parsed.kind, parsed.name, parsed.path, parsed.languages) == (kind, name, path, languages)


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "synthetic:",
        "synthetic@",
        "synthetic:en_US",
        "synthetic;en",
        "corpus:emodb",
        "corpus::/x",
        "hello",
        "./no/such/folder",
    ],
)
def test_malformed_specs_show_the_grammar(spec):
    with pytest.raises(DataSpecError) as info:
        load_data_spec(spec)
    message = str(info.value)
    assert DATA_SPEC_HELP in message and "synthetic:en,de" in message and "corpus:NAME:DIR" in message


def test_unknown_corpus_and_missing_folder(tmp_path):
    with pytest.raises(DataSpecError, match="Unknown corpus 'nope'.*emodb"):
        load_data_spec(f"corpus:nope:{tmp_path}")
    with pytest.raises(DataSpecError, match="does not exist"):
        load_data_spec(f"corpus:emodb:{tmp_path / 'missing'}")
    with pytest.raises(DataSpecError, match="does not exist"):
        load_data_spec(str(tmp_path / "missing.csv"))
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(DataSpecError, match="not a `.csv`"):
        load_data_spec(str(tmp_path / "notes.txt"))


def test_default_synthetic_uses_a_given_corpus_folder(tiny_corpus):
    folder, corpus = tiny_corpus
    loaded = load_data_spec("synthetic", synthetic_dir=folder)
    assert {split: len(ds) for split, ds in loaded.items()} == {split: len(ds) for split, ds in corpus.items()}
    only_en = load_data_spec("synthetic:en", synthetic_dir=folder)
    assert _languages(only_en) == {"en"} and _rows(only_en) == 3 * 4
    assert set(only_en) == {"train", "validation", "test"}
    both = load_data_spec("synthetic:en,de", synthetic_dir=folder)
    assert _rows(both) == _rows(corpus)


def test_language_missing_from_the_data_lists_the_available_ones(tiny_corpus):
    folder, _ = tiny_corpus
    with pytest.raises(DataSpecError, match=r"\['fr'\].*available languages: de, en"):
        load_data_spec("synthetic:fr", synthetic_dir=folder)
    with pytest.raises(DataSpecError, match="available languages: de, en"):
        load_data_spec(f"synthetic:en,zh@{folder}")


def test_default_synthetic_is_generated_into_the_hf_home_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    config = SyntheticCorpusConfig(languages=("en",), speakers_per_language=3, utterances_per_speaker=4)
    expected = tmp_path / "hf_home" / "hf_cser" / "synthetic" / config.fingerprint()
    assert synthetic_cache_dir(config) == str(expected)
    loaded = load_data_spec("synthetic:en", synthetic_config=config)
    assert (expected / "synthetic_config.json").is_file() and _rows(loaded) == 12
    mtime = os.path.getmtime(expected / "synthetic_config.json")
    again = load_data_spec("synthetic", synthetic_config=config)  # reused, not regenerated
    assert os.path.getmtime(expected / "synthetic_config.json") == mtime and _rows(again) == 12
    assert synthetic_cache_dir().endswith(SyntheticCorpusConfig().fingerprint())


def test_synthetic_folder_and_corpus_forms(tiny_corpus):
    folder, corpus = tiny_corpus
    assert _rows(load_data_spec(f"synthetic@{folder}")) == _rows(corpus)
    de = load_data_spec(f"synthetic:de@{folder}")
    assert _languages(de) == {"de"} and _rows(de) == 12
    via_registry = load_data_spec(f"corpus:synthetic:{folder}:en")
    assert _languages(via_registry) == {"en"} and _rows(via_registry) == 12
    assert _rows(load_data_spec(folder)) == _rows(corpus)  # a bare synthetic corpus folder
    with pytest.raises(DataSpecError, match="does not exist.*hf-cser synth"):
        load_data_spec(f"synthetic@{folder}_missing")


def test_manifest_and_language_filter_keeping_an_empty_split(tiny_corpus, tmp_path, caplog):
    folder, corpus = tiny_corpus
    with open(os.path.join(folder, "metadata.csv"), encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        row["path"] = os.path.join(folder, row["path"])
        if row["language"] == "en" and row["split"] == "test":
            row["split"] = "train"  # no English test speaker left
    manifest = tmp_path / "my_data.csv"
    with open(manifest, "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    loaded = load_data_spec(str(manifest))
    assert _rows(loaded) == _rows(corpus) and _languages(loaded) == {"en", "de"}
    caplog.set_level(logging.INFO, logger="hf_cser.data.specs")
    only_en = load_data_spec(f"corpus:manifest:{manifest}:en")
    assert set(only_en) == {"train", "validation", "test"}
    assert len(only_en["test"]) == 0 and len(only_en["train"]) == 8
    assert "split `test` has no utterance in ['en']" in caplog.text


def test_save_to_disk_folder(tiny_corpus, tmp_path):
    _, corpus = tiny_corpus
    saved = tmp_path / "saved"
    save_dataset_dict(corpus, saved)
    loaded = load_data_spec(str(saved))
    assert {s: len(d) for s, d in loaded.items()} == {s: len(d) for s, d in corpus.items()}
    assert loaded["train"][0]["audio"] == corpus["train"][0]["audio"]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataSpecError, match="no `DatasetDict`"):
        load_data_spec(str(empty))
    single = tmp_path / "single"
    Dataset.from_dict({"x": [1]}).save_to_disk(str(single))
    with pytest.raises(DataSpecError, match="single `Dataset`"):
        load_data_spec(str(single))


def test_describe_says_synthetic_only_for_synthetic_data(tiny_corpus):
    folder, _ = tiny_corpus
    for spec in ("synthetic", "synthetic:en,de", f"synthetic:zh@{folder}", f"corpus:synthetic:{folder}", folder):
        assert "synthetic" in describe_data_spec(spec) and is_synthetic_spec(spec), spec
    assert "en, de" in describe_data_spec("synthetic:en,de")
    real = describe_data_spec("corpus:emodb:/data/emodb:de")
    assert "emodb" in real and "/data/emodb" in real and "de" in real and "synthetic" not in real
    assert not is_synthetic_spec("corpus:emodb:/data/emodb")
