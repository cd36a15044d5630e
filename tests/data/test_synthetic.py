"""Tests of the synthetic corpus (hf_cser/data/synthetic.py, espeak.py, commands/synth.py), on tiny configs."""

from __future__ import annotations

import csv
import os
import shutil

import numpy as np
import pytest
import soundfile as sf

from hf_cser.data import synthetic
from hf_cser.data.synthetic import (
    SyntheticCorpusConfig,
    load_synthetic_corpus,
    plan_speakers,
    plan_utterances,
    render_utterance,
    synthesize_corpus,
)
from hf_cser.labels import EMOTIONS

TINY = {"languages": ("en", "zh"), "speakers_per_language": 3, "utterances_per_speaker": 4, "seed": 7}


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("synthetic") / "corpus"
    corpus = synthesize_corpus(SyntheticCorpusConfig(**TINY), out, num_proc=1, progress=False)
    return out, corpus


def _files(root):
    found = {}
    for dirpath, _, names in os.walk(os.path.join(root, "wavs")):
        for name in names:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as f:
                found[os.path.relpath(path, root)] = f.read()
    return found


def test_corpus_shape_and_schema(tiny_corpus):
    out, corpus = tiny_corpus
    assert set(corpus) == {"train", "validation", "test"}
    rows = [r for split in corpus.values() for r in split]
    assert len(rows) == 2 * 3 * 4
    assert {r["language"] for r in rows} == {"en", "zh"}
    assert {r["corpus"] for r in rows} == {"synthetic"}
    assert all(r["speaker"].startswith(f"synthetic_{r['language']}_") for r in rows)
    assert {r["gender"] for r in rows} == {"female", "male"}
    # every speaker says all four emotions once (balanced)
    for spk in {r["speaker"] for r in rows}:
        assert sorted(r["emotion"] for r in rows if r["speaker"] == spk) == [0, 1, 2, 3]
    for r in rows:
        assert os.path.isabs(r["audio"]) and r["transcript"]
        info = sf.info(r["audio"])
        assert info.samplerate == 16000 and info.channels == 1 and info.subtype == "PCM_16"
        assert info.duration > 0.5


def test_metadata_manifest(tiny_corpus):
    out, corpus = tiny_corpus
    with open(os.path.join(out, "metadata.csv"), encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["path", "emotion", "language", "speaker", "gender", "corpus", "transcript", "split"]
    assert len(rows) == sum(len(ds) for ds in corpus.values())
    for row in rows:
        assert not os.path.isabs(row["path"]) and os.path.isfile(os.path.join(out, row["path"]))
        assert row["emotion"] in EMOTIONS and row["split"] in corpus
    by_path = {os.path.join(str(out), r["path"]): r for r in rows}
    for split, ds in corpus.items():
        for r in ds:
            assert by_path[r["audio"]]["split"] == split
            assert by_path[r["audio"]]["emotion"] == EMOTIONS[r["emotion"]]


def test_phoneme_alignment_valid(tiny_corpus):
    _, corpus = tiny_corpus
    for split in corpus.values():
        for r in split:
            duration = sf.info(r["audio"]).duration
            phones = r["phonemes"]
            assert len(phones) >= 5, r["audio"]
            starts = [p["start"] for p in phones]
            assert starts == sorted(starts)
            for p, nxt in zip(phones, phones[1:] + [None]):
                assert p["phone"] and 0.0 <= p["start"] < p["end"] <= duration + 1e-3
                if nxt is not None:
                    assert p["end"] <= nxt["start"] + 1e-4
            # the alignment covers the speech, not just its beginning
            assert phones[-1]["end"] > 0.8 * duration


def test_split_is_speaker_independent_per_language(tiny_corpus):
    _, corpus = tiny_corpus
    speakers = {split: {r["speaker"] for r in ds} for split, ds in corpus.items()}
    assert not speakers["train"] & speakers["validation"]
    assert not speakers["train"] & speakers["test"]
    assert not speakers["validation"] & speakers["test"]
    for language in ("en", "zh"):  # 3 speakers per language: one in each split
        for split, ds in corpus.items():
            assert any(r["language"] == language for r in ds), (language, split)


def test_deterministic_and_independent_of_num_proc(tiny_corpus, tmp_path):
    out, corpus = tiny_corpus
    again = synthesize_corpus(SyntheticCorpusConfig(**TINY), tmp_path / "again", num_proc=2, progress=False)
    first, second = _files(out), _files(tmp_path / "again")
    assert first.keys() == second.keys() and len(first) == 24
    assert all(first[k] == second[k] for k in first)
    with open(os.path.join(out, "metadata.csv"), "rb") as a, open(tmp_path / "again" / "metadata.csv", "rb") as b:
        assert a.read() == b.read()
    assert corpus["train"]["phonemes"] == again["train"]["phonemes"]
    # another seed gives other audio
    other = SyntheticCorpusConfig(**{**TINY, "seed": 8, "languages": ("en",), "speakers_per_language": 1})
    synthesize_corpus(other, tmp_path / "other", progress=False)
    other_files = _files(tmp_path / "other")
    assert other_files and not set(other_files.values()) & set(first.values())


def test_cache_hit_does_not_synthesise(tiny_corpus, monkeypatch):
    out, corpus = tiny_corpus

    def fail(*args, **kwargs):
        raise AssertionError("synthesised although the corpus is cached")

    monkeypatch.setattr(synthetic, "_run_render_tasks", fail)
    cached = synthesize_corpus(SyntheticCorpusConfig(**TINY), out, progress=False)
    assert cached["test"]["audio"] == corpus["test"]["audio"]
    assert load_synthetic_corpus(out)["train"]["speaker"] == corpus["train"]["speaker"]


def test_other_config_regenerates_and_foreign_dir_is_refused(tiny_corpus, tmp_path, monkeypatch):
    out, _ = tiny_corpus
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)

    class Rendered(Exception):
        pass

    def rendered(*args, **kwargs):
        raise Rendered

    monkeypatch.setattr(synthetic, "_run_render_tasks", rendered)
    with pytest.raises(Rendered):
        synthesize_corpus(SyntheticCorpusConfig(**{**TINY, "separability": 0.5}), copy, progress=False)
    assert not os.path.exists(copy / "wavs")  # the stale corpus was cleared first

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty"):
        synthesize_corpus(SyntheticCorpusConfig(**TINY), foreign, progress=False)
    assert (foreign / "notes.txt").read_text() == "mine"
    with pytest.raises(FileNotFoundError, match="no complete synthetic corpus"):
        load_synthetic_corpus(foreign)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"languages": ("en", "xx")}, "languages"),
        ({"languages": ()}, "languages"),
        ({"languages": ("en", "en")}, "languages"),
        ({"speakers_per_language": 0}, "speakers_per_language"),
        ({"utterances_per_speaker": 2.5}, "utterances_per_speaker"),
        ({"seed": -1}, "seed"),
        ({"separability": -0.1}, "separability"),
        ({"separability": float("nan")}, "separability"),
        ({"num_style_archetypes": 4}, "num_style_archetypes"),
        ({"split_ratios": (0.8, 0.2)}, "split_ratios"),
        ({"noise_level_db": 0.0}, "noise_level_db"),
        ({"sampling_rate": 100}, "sampling_rate"),
    ],
)
def test_config_validation_names_the_field(kwargs, field):
    with pytest.raises(ValueError, match=f"`{field}`"):
        SyntheticCorpusConfig(**kwargs)


def test_config_accepts_comma_string_and_fingerprint_tracks_fields():
    config = SyntheticCorpusConfig(languages="en, zh,ru")
    assert config.languages == ("en", "zh", "ru")
    assert config.fingerprint() == SyntheticCorpusConfig(languages=("en", "zh", "ru")).fingerprint()
    assert config.fingerprint() != SyntheticCorpusConfig(languages=("en", "zh", "ru"), seed=1).fingerprint()


def _angry_sad_gaps(separability: float) -> tuple[float, float]:
    config = SyntheticCorpusConfig(
        languages=("en",), speakers_per_language=1, utterances_per_speaker=8, separability=separability, seed=3
    )
    speaker = plan_speakers(config, "en")[0]
    durations, levels = {"angry": [], "sad": []}, {"angry": [], "sad": []}
    for utt in plan_utterances(config, speaker):
        if utt["emotion"] in durations:
            audio, _ = render_utterance(utt, speaker["voice"], 16000)
            durations[utt["emotion"]].append(len(audio) / 16000.0)
            levels[utt["emotion"]].append(20 * np.log10(np.sqrt(np.mean(audio.astype(np.float64) ** 2))))
    # same sentences in both emotions (each sentence is said once per emotion)
    return np.mean(durations["sad"]) - np.mean(durations["angry"]), np.mean(levels["angry"]) - np.mean(levels["sad"])


def test_separability_scales_the_emotion_effect():
    dur0, level0 = _angry_sad_gaps(0.0)
    dur2, level2 = _angry_sad_gaps(2.0)
    # sad is slower (and has longer pauses) and angry is louder, much more so at higher separability
    assert dur2 > dur0 + 0.3
    assert level2 > level0 + 3.0


def test_cli_writes_a_loadable_corpus(tmp_path, monkeypatch, capsys):
    from hf_cser import cli

    monkeypatch.setattr(cli, "COMMAND_MODULES", ("synth",))  # only this command is under test
    out = tmp_path / "cli"
    argv = [
        "synth",
        "--languages",
        "de",
        "--speakers-per-language",
        "3",
        "--utterances-per-speaker",
        "4",
        "--seed",
        "1",
        "--output",
        str(out),
        "--no-progress",
        "--num-proc",
        "2",
    ]
    assert cli.main(argv) == 0
    assert "synthetic corpus in" in capsys.readouterr().out
    corpus = load_synthetic_corpus(out)
    assert sum(len(ds) for ds in corpus.values()) == 12
    assert {r["language"] for ds in corpus.values() for r in ds} == {"de"}
    assert os.path.isfile(out / "metadata.csv")
