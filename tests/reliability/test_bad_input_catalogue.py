"""The bad-input catalogue (issue 9): one row per bad input, with the behaviour hf_cser guarantees for it.

Every row is ``(input builder, entry point, expected behaviour)``; the expected behaviour is one of

- ``raises(Exc, regex)``: a clear error whose message names the file / field / interval AND the fix;
- ``ok(check)``: the input is accepted and ``check`` verifies the result against an independent reference;
- ``skipped(reason, count)``: with the user's opt-in (``skip_bad_audio=True``, ``skip_missing=True``,
  ``drop_unknown_emotions=True``) the input is dropped and counted, and the count is reported.

The row ids below are the ids of the parametrised tests (``pytest -k <id>``).

Audio files, ``hf_cser.audio.load_audio`` (``test_load_audio``)
    missing-file                  raises BadAudioError "<path>: file not found; check the path or the corpus folder"
    non-audio-file                raises BadAudioError "<path>: soundfile cannot decode it ...; convert it to WAV/FLAC
                                  or remove it"
    truncated-header              raises BadAudioError (unreadable), as above
    truncated-data                ok: the frames before the cut are returned (soundfile reads what is there)
    zero-length                   raises BadAudioError "<path>: the audio has zero samples; remove it or re-export it"
    nan-samples / inf-samples     raises BadAudioError "<path>: N sample(s) are NaN or inf; ... re-export it"
    all-zero                      raises BadAudioError "<path>: the audio is all zeros ...; remove it from the data"
    shorter-than-240ms            ok: returned as is (100 ms -> 1600 samples); padding happens at the model input
    stereo / 6-channel            ok: mono = mean of the channels, 16 kHz, duration kept
    8k / 22.05k / 44.1k / 48k     ok: resampled to 16 kHz, duration kept (+-1 sample), a 440 Hz tone stays 440 Hz
    skip-<reason>                 skipped: ``skip_bad_audio=True`` returns None and counts the reason in the counter

Audio columns before training, ``hf_cser.data.drop_bad_audio`` (``test_drop_bad_audio``; the scripts'
``--skip_bad_audio``)
    first-bad-file-raises         raises BadAudioError naming the first bad file (skip_bad_audio=False)
    skip-counts-each-reason       skipped: 4 bad rows dropped, counted by reason, ``counter.summary()`` names them
    all-bad                       raises ValueError "every audio file of the data is bad (...); check the corpus
                                  folder"

Corpus loaders, ``hf_cser.data.load_corpus`` (``test_corpus_loader``; fake trees in the corpora's real naming)
    emodb-unknown-emotion-code    skipped: the file with an emotion outside the four classes is counted
                                  (``emotion=unknown:<code>``) in the load report
    emodb-unparsable-name         skipped: counted as ``unparsed_name`` in the load report
    emodb-missing-folder          raises CorpusLayoutError "emodb: data_dir '<dir>' does not exist; expected ..."
    emodb-no-audio                raises CorpusLayoutError "... no audio file with the corpus's naming ... Expected"
    esd-gb18030-transcript        ok: decoded as GB18030 (the release's encoding), warning names the file + encoding
    esd-latin1-transcript         ok: decoded as Latin-1, warning names the file, the encoding and the fix (UTF-8)
    emodb-corrupt-wav             ok at load time (loaders never decode); ``drop_bad_audio`` then raises naming it

Manifests, ``load_corpus("manifest", csv)`` (``test_manifest``)
    missing-columns               raises ValueError "manifest '<csv>': missing required column(s) ['speaker'] ...
                                  Required: [...]"
    duplicate-rows                skipped: identical rows (same resolved path) are de-duplicated, counted
                                  ``duplicate``
    conflicting-duplicate         raises ValueError "<csv>, line 3: '<path>' is listed again with different values
                                  ...; keep one row per file"
    relative-paths                ok: resolved against the CSV's folder (not the working directory)
    missing-file                  raises FileNotFoundError "<csv>, line 2: audio file '<path>' does not exist; fix
                                  the path or pass `skip_missing=True`"
    missing-file-skipped          skipped: ``skip_missing=True`` counts it as ``missing_audio``
    unknown-emotion               raises ValueError "<csv>, line 2: emotion 'fear' is not one of ...; ... pass
                                  `drop_unknown_emotions=True`"
    unknown-emotion-dropped       skipped: counted as ``emotion=fear``
    missing-speaker / -language   raises ValueError "<csv>, line 2: column `speaker` is empty; fill it in ..."
    single-speaker-language       ok: kept; a warning names the language, its speaker and the one split it is in
    latin1-transcript             ok: decoded as Latin-1 with a warning naming the CSV and "re-save ... as UTF-8"

Hierarchical sampler, ``HierarchicalLanguageEmotionSampler`` (``test_sampler``)
    cell-with-fewer-than-K        ok: documented oversampling; the warning names the cell and its count; every batch
                                  still holds K samples of each of its cells
    language-missing-emotions     raises ValueError "No batch of 2 languages x 4 emotions can be formed ...
                                  Emotions per language: ... Lower `languages_per_batch` or `emotions_per_batch`"
    single-language               raises ValueError "`languages_per_batch`=2 but the data has only 1 language(s)
                                  ['en']; lower it to at most 1"

Speaker graph, ``SpeakerStyleGraph`` (``test_speaker_graph``)
    no-edge-above-tau             ok: every speaker is its own cluster, modularity 0.0, with a warning
    single-node                   ok: one cluster, modularity 0.0, with a warning
    tau-outside-[-1,1]            raises ValueError "`tau` must be a cosine-similarity threshold in [-1, 1], got 1.5"

Phone alignments, ``validate_alignment`` / ``read_textgrid`` (``test_alignment``)
    outside-the-audio             raises ValueError "<file>: phone 1 'b' [0.400, 0.700] s lies outside the audio
                                  [0, 0.500] s; re-align ... or pass `mode='clip'`"
    overlapping                   raises ValueError "<file>: phone 1 ... overlaps the previous phone ...; ...
                                  `mode='clip'`"
    inverted                      raises ValueError "<file>: phone 0 ... ends before it starts; ... `mode='clip'`"
    empty                         raises ValueError "<file>: the alignment is empty; re-run the aligner or drop ..."
    outside-clipped               ok: ``mode='clip'`` clips to [0, duration] and counts ``clipped``
    latin1-textgrid               ok: decoded as Latin-1 with a warning naming the file
    malformed-textgrid            raises ValueError "<file>, line N: expected ...; the TextGrid is malformed"

Configs (``test_config``): a ValueError at creation naming the field and the allowed range / values
    sapa-negative-phoneme-margin / sapa-negative-speaker-margin, sapa-graph-tau-outside, sapa-unknown-backbone,
    zero-shot-unknown-backbone, zero-shot-temperature-zero, zero-shot-negative-weight, ctl-mtnet-margins-inverted,
    ctl-mtnet-mdd-margin-zero, feature-gan-unknown-backbone

Model folders (``test_model_folder``; tiny SAPA model built in code)
    missing-weights-loader        raises ModelNotFoundError "'<folder>' has config.json but no weights
                                  (model.safetensors) ... `model.save_pretrained(folder)`" (hf_cser.inference)
    mismatched-weights-loader     raises ModelWeightsMismatchError "'<folder>/model.safetensors' does not match
                                  '<folder>/config.json': N tensor(s) ... restore the config.json ..."
    missing-weights-automodel     raises IncompleteModelFolderError, as above: hf_cser's model classes check a local
                                  folder in ``from_pretrained`` (also through ``AutoModel*``)
    missing-weights-pipeline      raises ValueError "Could not load model <folder> ..." (transformers) that carries the
                                  hf_cser error above (the pipeline loads through
                                  CheckedAutoModelForAudioClassification)
    mismatched-weights-pipeline   raises ValueError, likewise carrying the ModelWeightsMismatchError above
    mismatched-weights-automodel  raises ModelWeightsMismatchError, as above
    mismatched-weights-ignored    ok: ``ignore_mismatched_sizes=True`` is passed through to transformers (no check)

``pipeline("audio-classification", ...)`` (``test_pipeline``; tiny SAPA model; scores compared with the model run
on the independently converted 16 kHz mono float32 waveform)
    float64-array / int16-array / stereo-array           ok
    dict-8k / dict-22.05k / dict-44.1k / dict-48k         ok (resampled to 16 kHz)
    stereo-44.1k-file                                    ok
    shorter-than-240ms                                   ok: zero-padded to 240 ms, with a warning naming the input
    empty-array / nan-array / all-zero-array             raises BadAudioError naming the input and the fix
    missing-file / non-audio-file                        raises BadAudioError naming the file and the fix

SAPA feature extractor, ``SapaFeatureExtractor`` (``test_sapa_feature_extractor``)
    1-samples / 100-samples / 1600-samples   ok: right-padded with zeros to one 240 ms window, attention mask over the
                                             window, window centres on the real samples, a warning naming the utterance
    empty                                    raises ValueError "Utterance 0 must be a non-empty mono 1-D waveform ...
                                             `hf_cser.audio.prepare_waveform` ..."

CTL-MTNet (MFCC) and feature-GAN (log-mel) extractors (``test_frame_feature_extractor``)
    ctl-mtnet-1-samples, ctl-mtnet-1000-samples, log-mel-1-samples, log-mel-1000-samples
                                  ok: identical to the extractor on the waveform zero-padded to 240 ms, with a warning
                                  (CTL-MTNet used to crash below 8 frames: "Output size is too small")
    ctl-mtnet-empty / log-mel-empty   raises BadAudioError "...: the audio has zero samples; remove it or re-export it"

``hf_cser.inference.predict`` / ``hf-cser predict`` (``test_predict``)
    shorter-than-240ms-file       ok: zero-padded to 240 ms with a warning naming the file (same scores as the model
                                  on the padded waveform)
    missing-file / non-audio-file raises BadAudioError naming the file and the fix

Training scripts (``test_training_script``; the lead extends these rows; a manifest with one corrupt WAV)
    sapa-bad-file-in-train-data   raises BadAudioError naming the file before any model is trained or saved
    sapa-skip-bad-audio           skipped: ``--skip_bad_audio true`` drops it; the summary reports
                                  ``bad_audio_skipped == 1``
    sapa-graph-tau-outside        raises ValueError "`graph_tau` ... must be in [-1, 1], got 1.5" (no corrupt file)
    zero-shot-bad-file-in-data, ctl-mtnet-bad-file-in-data, feature-gan-bad-file-in-data, cltm-bad-file-in-data
                                  raises BadAudioError naming the file before any model is trained or saved

Decisions documented here: audio shorter than 240 ms is accepted and zero-padded to one window at the model input
(pipeline, ``predict``, the SAPA, CTL-MTNet and log-mel feature extractors) with a warning, never an obscure shape
error, while empty audio is an error; a (language, emotion) cell with fewer than K samples is oversampled within the
cell, with a warning naming the cell; non-UTF-8 metadata is decoded (GB18030, else Latin-1) with a warning naming the
file and the encoding; relative manifest paths resolve against the manifest's folder; identical duplicate manifest
rows are de-duplicated and counted.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import re
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

import hf_cser  # noqa: F401  (registers the models and the pipeline)
from hf_cser.audio import BadAudioCounter, BadAudioError, load_audio
from hf_cser.hub import IncompleteModelFolderError, ModelWeightsMismatchError
from hf_cser.inference import ModelNotFoundError

ROOT = Path(__file__).resolve().parents[2]
SR = 16_000


def _load_conftest(relative: str, name: str):
    """Import another folder's conftest by path, to reuse its fixtures and helpers here."""
    spec = importlib.util.spec_from_file_location(name, ROOT / relative)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_corpora = _load_conftest("tests/data/corpora/conftest.py", "_catalogue_corpora_conftest")
_scripts = _load_conftest("tests/training_scripts/conftest.py", "_catalogue_scripts_conftest")
wav_bytes = _corpora.wav_bytes  # fixtures: fake corpus trees in the corpora's real naming
make_tree = _corpora.make_tree
tiny_backbone = _scripts.tiny_backbone


# ---------------------------------------------------------------------------------------------------------------------
# Expected behaviours


@dataclass
class Expected:
    kind: str  # "raises", "ok", "skipped"
    exception: type | tuple = ()
    match: str = ""
    check: Callable | None = None
    reason: str = ""
    count: int = 0


def raises(exception, match: str) -> Expected:
    """The entry point raises ``exception`` with a message matching ``match`` (the file/field and the fix)."""
    return Expected("raises", exception=exception, match=match)


def ok(check: Callable) -> Expected:
    """The entry point accepts the input; ``check(result, case)`` verifies the result."""
    return Expected("ok", check=check)


def skipped(reason: str, count: int) -> Expected:
    """With the user's opt-in, ``count`` inputs are dropped and counted under ``reason``."""
    return Expected("skipped", reason=reason, count=count)


def run_row(expected: Expected, call: Callable[[], Any], case: dict, counts: Callable[[Any], Counter] | None = None):
    """Run one row: ``call()`` raises, passes its check, or reports ``expected.count`` skips of ``expected.reason``."""
    if expected.kind == "raises":
        with pytest.raises(expected.exception, match=expected.match.format(**case)):
            call()
        return
    result = call()
    if expected.kind == "ok":
        expected.check(result, case)
    else:
        assert counts is not None, "a skipped row needs a way to read the skip counts"
        assert counts(result)[expected.reason] == expected.count, counts(result)


def esc(path) -> str:
    """A path as a regex literal (for ``match``)."""
    return re.escape(str(path))


# ---------------------------------------------------------------------------------------------------------------------
# Audio builders


def tone(seconds: float, sr: int = SR, freq: float = 440.0, channels: int = 0) -> np.ndarray:
    t = np.arange(int(round(seconds * sr))) / sr
    x = (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    if channels:
        return np.stack([x * (k + 1) / channels for k in range(channels)], axis=1)
    return x


def dominant_frequency(x: np.ndarray, sr: int = SR) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / sr)[np.argmax(spectrum)])


def write_wav(path: Path, data: np.ndarray, sr: int = SR, subtype: str = "FLOAT") -> Path:
    sf.write(path, data, sr, subtype=subtype)
    return path


def build_audio(kind: str, folder: Path) -> Path:
    """Write the bad (or unusual) audio file ``kind`` into ``folder`` and return its path."""
    path = folder / f"{kind}.wav"
    if kind == "missing-file":
        return path
    if kind == "non-audio-file":
        path.write_text("this is a transcript, not audio\n")
    elif kind in ("truncated-header", "truncated-data"):
        write_wav(path, tone(1.0), subtype="PCM_16")
        raw = path.read_bytes()
        path.write_bytes(raw[:20] if kind == "truncated-header" else raw[: 44 + 2 * 8000])
    elif kind == "zero-length":
        write_wav(path, np.zeros(0, dtype=np.float32))
    elif kind in ("nan-samples", "inf-samples"):
        x = tone(0.5)
        x[100:110] = np.nan if kind == "nan-samples" else np.inf
        write_wav(path, x)
    elif kind == "all-zero":
        write_wav(path, np.zeros(SR // 2, dtype=np.float32))
    elif kind == "shorter-than-240ms":
        write_wav(path, tone(0.1))
    elif kind == "stereo":
        write_wav(path, tone(0.5, channels=2))
    elif kind == "6-channel":
        write_wav(path, tone(0.5, channels=6))
    elif kind.startswith("rate-"):
        sr = int(kind.split("-")[1])
        write_wav(path, tone(0.75, sr), sr, subtype="PCM_16")
    else:
        raise KeyError(kind)
    return path


def check_mono_16k(seconds: float, freq: float = 440.0):
    """16 kHz mono float32 of the written duration (+-1 sample), pitch and level (0.3) kept."""

    def check(result, case):
        assert result.dtype == np.float32 and result.ndim == 1
        assert abs(len(result) - seconds * SR) <= 1
        assert abs(dominant_frequency(result) - freq) < 5.0
        assert np.max(np.abs(result)) == pytest.approx(0.3, rel=0.03)

    return check


def check_truncated(result, case):
    assert len(result) == 8000  # the 0.5 s of PCM frames before the cut
    assert abs(dominant_frequency(result) - 440.0) < 5.0


def check_multichannel(channels: int):
    def check(result, case):
        path = case["path"]
        data, _ = sf.read(path, dtype="float32", always_2d=True)
        np.testing.assert_allclose(result, data.mean(axis=1), atol=1e-6)  # mean of the channels, independently
        assert data.shape[1] == channels

    return check


MISSING = r"{path}: file not found; check the path or the corpus folder"
UNREADABLE = r"{path}: soundfile cannot decode it .*; convert it to WAV/FLAC or remove it"
EMPTY = r"{path}: the audio has zero samples; remove it or re-export it"
NON_FINITE = r"{path}: 10 sample\(s\) are NaN or inf; the file is corrupt, re-export it"
SILENT = r"{path}: the audio is all zeros \(digital silence\); remove it from the data"

LOAD_AUDIO_ROWS = [
    pytest.param("missing-file", raises(BadAudioError, MISSING), id="missing-file"),
    pytest.param("non-audio-file", raises(BadAudioError, UNREADABLE), id="non-audio-file"),
    pytest.param("truncated-header", raises(BadAudioError, UNREADABLE), id="truncated-header"),
    pytest.param("truncated-data", ok(check_truncated), id="truncated-data"),
    pytest.param("zero-length", raises(BadAudioError, EMPTY), id="zero-length"),
    pytest.param("nan-samples", raises(BadAudioError, NON_FINITE), id="nan-samples"),
    pytest.param("inf-samples", raises(BadAudioError, NON_FINITE), id="inf-samples"),
    pytest.param("all-zero", raises(BadAudioError, SILENT), id="all-zero"),
    pytest.param("shorter-than-240ms", ok(check_mono_16k(0.1)), id="shorter-than-240ms"),
    pytest.param("stereo", ok(check_multichannel(2)), id="stereo"),
    pytest.param("6-channel", ok(check_multichannel(6)), id="6-channel"),
    *[
        pytest.param(f"rate-{sr}", ok(check_mono_16k(0.75)), id=f"{sr / 1000:g}k")
        for sr in (8000, 22050, 44100, 48000)
    ],
    *[
        pytest.param(kind, skipped(reason, 1), id=f"skip-{kind}")
        for kind, reason in (
            ("missing-file", "missing"),
            ("non-audio-file", "unreadable"),
            ("zero-length", "empty"),
            ("nan-samples", "non_finite"),
            ("all-zero", "silent"),
        )
    ],
]


@pytest.mark.parametrize("kind, expected", LOAD_AUDIO_ROWS)
def test_load_audio(kind, expected, tmp_path):
    path = build_audio(kind, tmp_path)
    case = {"path": esc(path) if expected.kind == "raises" else path}
    if expected.kind == "skipped":
        counter = BadAudioCounter()
        assert load_audio(path, skip_bad_audio=True, counter=counter) is None
        run_row(expected, lambda: counter, case, counts=lambda c: c.counts)
        assert str(path) in counter.summary()
        return
    run_row(expected, lambda: load_audio(path), case)


# ---------------------------------------------------------------------------------------------------------------------
# drop_bad_audio: the check the training scripts run once before training (`--skip_bad_audio`)


def audio_dataset(paths):
    from datasets import Dataset

    return Dataset.from_dict({"audio": [str(p) for p in paths], "speaker": [f"s{i}" for i in range(len(paths))]})


DROP_ROWS = [
    pytest.param(
        ["good-1", "nan-samples", "missing-file"],
        False,
        raises(BadAudioError, r"nan-samples\.wav: 10 sample\(s\) are NaN or inf; .* re-export it"),
        id="first-bad-file-raises",
    ),
    pytest.param(
        ["good-1", "missing-file", "non-audio-file", "zero-length", "all-zero", "good-2"],
        True,
        skipped("total", 4),
        id="skip-counts-each-reason",
    ),
    pytest.param(
        ["missing-file", "all-zero"],
        True,
        raises(ValueError, r"every audio file of the data is bad \(skipped 2 .*\); check the corpus folder"),
        id="all-bad",
    ),
]


@pytest.mark.parametrize("kinds, skip, expected", DROP_ROWS)
def test_drop_bad_audio(kinds, skip, expected, tmp_path):
    from hf_cser.data import drop_bad_audio

    paths = []
    for kind in kinds:
        if kind.startswith("good"):
            paths.append(write_wav(tmp_path / f"{kind}.wav", tone(0.3)))
        else:
            paths.append(build_audio(kind, tmp_path))
    dataset = audio_dataset(paths)
    counter = BadAudioCounter()

    def counts(kept):
        assert kept["audio"] == [str(p) for p, k in zip(paths, kinds) if k.startswith("good")]
        assert dict(counter.counts) == {"missing": 1, "unreadable": 1, "empty": 1, "silent": 1}
        assert all(k in counter.summary() for k in kinds if not k.startswith("good"))
        return Counter(total=counter.total)

    run_row(expected, lambda: drop_bad_audio(dataset, skip_bad_audio=skip, counter=counter), {}, counts=counts)


# ---------------------------------------------------------------------------------------------------------------------
# Corpus loaders on fake trees in the corpora's real file naming


def report_counts(result):
    from hf_cser.data import get_load_report

    return get_load_report(result).dropped


def check_transcript(expected_text: str, encoding: str):
    def check(result, case):
        rows = [r for split in result.values() for r in split if Path(r["audio"]).stem == "0001_000001"]
        assert [r["transcript"] for r in rows] == [expected_text]
        warnings = [r.getMessage() for r in case["caplog"].records]
        assert any(case["transcript_file"] in m and encoding in m and "UTF-8" in m for m in warnings), warnings

    return check


def check_corrupt_wav_caught_before_training(result, case):
    from hf_cser.data import drop_bad_audio

    train = [ds for ds in result.values() if case["corrupt"] in ds["audio"]][0]
    with pytest.raises(BadAudioError, match=rf"{esc(case['corrupt'])}: soundfile cannot decode it"):
        drop_bad_audio(train, skip_bad_audio=False)


EMODB_OK = ["wav/03a01Fa.wav", "wav/08a01Wa.wav", "wav/09b02Ta.wav", "wav/10a04Nb.wav"]
ESD_FILES = [
    "Emotion Speech Dataset/0001/Neutral/0001_000001.wav",
    "Emotion Speech Dataset/0011/Angry/0011_000351.wav",
]
MANDARIN = "打远一看，它们的确很是美丽，"

CORPUS_ROWS = [
    pytest.param(
        "emodb",
        {"audio": [*EMODB_OK, "wav/03a01Xa.wav"]},
        skipped("emotion=unknown:X", 1),
        id="emodb-unknown-emotion-code",
    ),
    pytest.param(
        "emodb", {"audio": [*EMODB_OK, "wav/recording1.wav"]}, skipped("unparsed_name", 1), id="emodb-unparsable-name"
    ),
    pytest.param(
        "emodb",
        {"root": "does_not_exist"},
        raises(FileNotFoundError, r"emodb: data_dir '.*does_not_exist' does not exist; expected a folder"),
        id="emodb-missing-folder",
    ),
    pytest.param(
        "emodb",
        {"audio": ["wav/readme.txt.bak.wav.txt"]},
        raises(FileNotFoundError, r"emodb: no audio file with the corpus's naming found under .*Expected"),
        id="emodb-no-audio",
    ),
    pytest.param(
        "esd",
        {
            "audio": ESD_FILES,
            "texts": {"Emotion Speech Dataset/0001/0001.txt": (f"0001_000001\t{MANDARIN}\t中性\n", "gb18030")},
        },
        ok(check_transcript(MANDARIN, "gb18030")),
        id="esd-gb18030-transcript",
    ),
    pytest.param(
        "esd",
        {
            "audio": ESD_FILES,
            "texts": {
                "Emotion Speech Dataset/0001/0001.txt": ("0001_000001\tCaf\xe9 na\xefve \xff\tNeutral\n", "latin-1")
            },
        },
        ok(check_transcript("Caf\xe9 na\xefve \xff", "latin-1")),
        id="esd-latin1-transcript",
    ),
    pytest.param(
        "emodb",
        {"audio": EMODB_OK, "corrupt": "wav/08a01Wa.wav"},
        ok(check_corrupt_wav_caught_before_training),
        id="emodb-corrupt-wav",
    ),
]


@pytest.mark.parametrize("corpus, tree, expected", CORPUS_ROWS)
def test_corpus_loader(corpus, tree, expected, make_tree, tmp_path, caplog):
    from hf_cser.data import load_corpus

    if "root" in tree:
        root = tmp_path / tree["root"]
    else:
        root = make_tree(tree["audio"])
        for relative, (text, encoding) in tree.get("texts", {}).items():
            (root / relative).write_bytes(text.encode(encoding))
    case = {"root": root, "caplog": caplog}
    if "corrupt" in tree:
        (root / tree["corrupt"]).write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
        case["corrupt"] = str(root / tree["corrupt"])
    for relative in tree.get("texts", {}):
        case["transcript_file"] = str(root / relative)
    with caplog.at_level(logging.WARNING):
        run_row(expected, lambda: load_corpus(corpus, root), case, counts=report_counts)


# ---------------------------------------------------------------------------------------------------------------------
# Manifests (`load_corpus("manifest", csv)`): users' own data

HEADER = "path,emotion,language,speaker,split"
GOOD_ROWS = [
    "clips/a.wav,happy,en,spk1,train",
    "clips/b.wav,sad,en,spk2,train",
    "clips/c.wav,angry,en,spk3,test",
    "clips/d.wav,neutral,zh,spk4,validation",
]


def check_relative_paths(result, case):
    paths = sorted(p for split in result.values() for p in split["audio"])
    assert paths == sorted(str(case["root"] / "clips" / f"{n}.wav") for n in "abcd")  # the CSV's folder, not cwd


def check_single_speaker_language(result, case):
    zh_splits = {split for split, ds in result.items() if "zh" in ds["language"]}
    assert len(zh_splits) == 1  # the one zh speaker is in exactly one split
    warnings = [r.getMessage() for r in case["caplog"].records]
    assert any("language 'zh' has a single speaker ('spk4')" in m and "zero-shot target" in m for m in warnings)


def check_latin1_manifest(result, case):
    assert "Caf\xe9" in [t for split in result.values() for t in split["transcript"]]
    warnings = [r.getMessage() for r in case["caplog"].records]
    assert any(str(case["csv"]) in m and "latin-1" in m and "re-save the file as UTF-8" in m for m in warnings)


MANIFEST_ROWS = [
    pytest.param(
        "path,emotion,language\nclips/a.wav,happy,en",
        {},
        raises(ValueError, r"manifest '{csv}': missing required column\(s\) \['speaker'\]; .*Required: "),
        id="missing-columns",
    ),
    pytest.param("\n".join([HEADER, *GOOD_ROWS, GOOD_ROWS[0]]), {}, skipped("duplicate", 1), id="duplicate-rows"),
    pytest.param(
        "\n".join([HEADER, GOOD_ROWS[0], "clips/a.wav,sad,en,spk1,train", *GOOD_ROWS[1:]]),
        {},
        raises(
            ValueError,
            r"manifest '{csv}', line 3: 'clips/a.wav' is listed again with different values "
            r".*keep one row per file",
        ),
        id="conflicting-duplicate",
    ),
    pytest.param("\n".join([HEADER, *GOOD_ROWS]), {}, ok(check_relative_paths), id="relative-paths"),
    pytest.param(
        "\n".join([HEADER, "clips/gone.wav,happy,en,spk1,train", *GOOD_ROWS]),
        {},
        raises(
            FileNotFoundError,
            r"manifest '{csv}', line 2: audio file '.*gone\.wav' does not exist; fix "
            r"the path or pass `skip_missing=True`",
        ),
        id="missing-file",
    ),
    pytest.param(
        "\n".join([HEADER, "clips/gone.wav,happy,en,spk1,train", *GOOD_ROWS]),
        {"skip_missing": True},
        skipped("missing_audio", 1),
        id="missing-file-skipped",
    ),
    pytest.param(
        "\n".join([HEADER, "clips/a.wav,fear,en,spk1,train", *GOOD_ROWS[1:]]),
        {},
        raises(
            ValueError,
            r"manifest '{csv}', line 2: emotion 'fear' is not one of .*"
            r"`drop_unknown_emotions=True`",
        ),
        id="unknown-emotion",
    ),
    pytest.param(
        "\n".join([HEADER, "clips/a.wav,fear,en,spk1,train", *GOOD_ROWS[1:]]),
        {"drop_unknown_emotions": True},
        skipped("emotion=fear", 1),
        id="unknown-emotion-dropped",
    ),
    pytest.param(
        "\n".join([HEADER, "clips/a.wav,happy,en,,train", *GOOD_ROWS[1:]]),
        {},
        raises(ValueError, r"manifest '{csv}', line 2: column `speaker` is empty; fill it in"),
        id="missing-speaker",
    ),
    pytest.param(
        "\n".join([HEADER, "clips/a.wav,happy,,spk1,train", *GOOD_ROWS[1:]]),
        {},
        raises(ValueError, r"manifest '{csv}', line 2: column `language` is empty; fill it in"),
        id="missing-language",
    ),
    pytest.param(
        "\n".join(["path,emotion,language,speaker", *(r.rsplit(",", 1)[0] for r in GOOD_ROWS)]),
        {},
        ok(check_single_speaker_language),
        id="single-speaker-language",
    ),
    pytest.param(
        "\n".join([HEADER + ",transcript", *(r + ",Caf\xe9" for r in GOOD_ROWS)]),
        {"encoding": "latin-1"},
        ok(check_latin1_manifest),
        id="latin1-transcript",
    ),
]


@pytest.mark.parametrize("text, options, expected", MANIFEST_ROWS)
def test_manifest(text, options, expected, make_tree, caplog):
    from hf_cser.data import load_corpus

    options = dict(options)
    encoding = options.pop("encoding", "utf-8")
    root = make_tree([f"clips/{n}.wav" for n in "abcd"], texts={"m.csv": text}, encoding=encoding)
    csv = root / "m.csv"
    case = {"csv": esc(csv) if expected.kind == "raises" else csv, "root": root, "caplog": caplog}
    with caplog.at_level(logging.WARNING):
        run_row(expected, lambda: load_corpus("manifest", csv, **options), case, counts=report_counts)


# ---------------------------------------------------------------------------------------------------------------------
# Hierarchical (language, emotion) sampler


def check_small_cell_oversampled(sampler, case):
    warnings = [r.getMessage() for r in case["caplog"].records]
    assert any("fewer than samples_per_cell=4" in m and "(zh, sad)': 2" in m for m in warnings), warnings
    languages, emotions = case["languages"], case["emotions"]
    batches = list(sampler)
    assert batches and all(len(b) == 2 * 4 * 4 for b in batches)
    for batch in batches:  # K samples of every (language, emotion) cell of the batch, the 2 zh-sad ones repeated
        cells = Counter((languages[i], emotions[i]) for i in batch)
        assert set(cells.values()) == {4}
    used = {i for b in batches for i in b}
    assert {i for i, (l, e) in enumerate(zip(languages, emotions)) if (l, e) == ("zh", "sad")} <= used


def sampler_data(counts: dict[tuple[str, str], int]):
    languages, emotions = [], []
    for (language, emotion), n in counts.items():
        languages += [language] * n
        emotions += [emotion] * n
    return languages, emotions


FULL = {(lang, emo): 8 for lang in ("en", "zh") for emo in ("neutral", "happy", "angry", "sad")}
SAMPLER_ROWS = [
    pytest.param({**FULL, ("zh", "sad"): 2}, {}, ok(check_small_cell_oversampled), id="cell-with-fewer-than-K"),
    pytest.param(
        {k: v for k, v in FULL.items() if k != ("zh", "sad")},
        {},
        raises(
            ValueError,
            r"No batch of 2 languages x 4 emotions can be formed.*Emotions per language: .*"
            r"Lower `languages_per_batch` or `emotions_per_batch`",
        ),
        id="language-missing-emotions",
    ),
    pytest.param(
        {k: v for k, v in FULL.items() if k[0] == "en"},
        {},
        raises(
            ValueError,
            r"`languages_per_batch`=2 but the data has only 1 language\(s\) \['en'\]; "
            r"lower it to at most 1",
        ),
        id="single-language",
    ),
]


@pytest.mark.parametrize("counts, options, expected", SAMPLER_ROWS)
def test_sampler(counts, options, expected, caplog):
    from hf_cser.data import HierarchicalLanguageEmotionSampler

    languages, emotions = sampler_data(counts)
    case = {"languages": languages, "emotions": emotions, "caplog": caplog}
    build = lambda: HierarchicalLanguageEmotionSampler(  # noqa: E731
        languages,
        emotions,
        languages_per_batch=2,
        emotions_per_batch=4,
        samples_per_cell=4,
        num_replicas=1,
        rank=0,
        **options,
    )
    with caplog.at_level(logging.WARNING):
        run_row(expected, build, case)


# ---------------------------------------------------------------------------------------------------------------------
# Speaker-style graph


def check_every_speaker_alone(graph, case):
    result = graph.graphs[0]
    assert result.graph.number_of_edges() == 0
    assert sorted(sorted(c) for c in result.communities) == [[s] for s in sorted(case["speakers"])]
    assert result.modularity == 0.0
    warnings = [r.getMessage() for r in case["caplog"].records]
    assert any("no edge above the threshold; each speaker is its own community" in m for m in warnings), warnings


GRAPH_ROWS = [
    pytest.param(np.eye(4), ["a", "b", "c", "d"], {"tau": 0.7}, ok(check_every_speaker_alone), id="no-edge-above-tau"),
    pytest.param(np.ones((3, 4)), ["a", "a", "a"], {"tau": 0.7}, ok(check_every_speaker_alone), id="single-node"),
    pytest.param(
        np.eye(4),
        ["a", "b", "c", "d"],
        {"tau": 1.5},
        raises(ValueError, r"`tau` must be a cosine-similarity threshold in \[-1, 1\], got 1\.5"),
        id="tau-outside-[-1,1]",
    ),
]


@pytest.mark.parametrize("embeddings, speakers, options, expected", GRAPH_ROWS)
def test_speaker_graph(embeddings, speakers, options, expected, caplog):
    from hf_cser.analysis.speaker_graph import SpeakerStyleGraph

    case = {"speakers": sorted(set(speakers)), "caplog": caplog}
    fit = lambda: SpeakerStyleGraph(**options).fit(embeddings, speakers, np.zeros(len(speakers), dtype=int))  # noqa
    with caplog.at_level(logging.WARNING):
        run_row(expected, fit, case)


# ---------------------------------------------------------------------------------------------------------------------
# Phone alignments

TEXTGRID = """File type = "ooTextFile"
Object class = "TextGrid"

xmin = 0
xmax = 0.5
tiers? <exists>
size = 1
item []:
    item [1]:
        class = "IntervalTier"
        name = "phones"
        xmin = 0
        xmax = 0.5
        intervals: size = 2
        intervals [1]:
            xmin = 0
            xmax = 0.2
            text = "{first}"
        intervals [2]:
            xmin = 0.2
            xmax = {second_end}
            text = "b"
"""


def check_clipped(phones, case):
    assert phones == [{"phone": "a", "start": 0.0, "end": 0.2}, {"phone": "b", "start": 0.4, "end": 0.5}]
    assert case["counter"] == Counter(clipped=1)


def check_latin1_textgrid(phones, case):
    assert [p["phone"] for p in phones] == ["\xe9", "b"]
    warnings = [r.getMessage() for r in case["caplog"].records]
    assert any(case["file"] in m and "Latin-1" in m for m in warnings), warnings


WHERE = r"{file}: phone {index} '{phone}' \[{start}, {end}\] s"
ALIGNMENT_ROWS = [
    pytest.param(
        "validate",
        [("a", 0.0, 0.2), ("b", 0.4, 0.7)],
        {},
        raises(
            ValueError,
            WHERE.format(file="{file}", index=1, phone="b", start="0.400", end="0.700")
            + r" lies outside the audio \[0, 0.500\] s; re-align .* `mode='clip'`",
        ),
        id="outside-the-audio",
    ),
    pytest.param(
        "validate",
        [("a", 0.0, 0.3), ("b", 0.2, 0.4)],
        {},
        raises(
            ValueError,
            WHERE.format(file="{file}", index=1, phone="b", start="0.200", end="0.400")
            + r" overlaps the previous phone, which ends at 0.300 s; .* `mode='clip'`",
        ),
        id="overlapping",
    ),
    pytest.param(
        "validate",
        [("a", 0.3, 0.1)],
        {},
        raises(
            ValueError,
            WHERE.format(file="{file}", index=0, phone="a", start="0.300", end="0.100")
            + r" ends before it starts; .* `mode='clip'`",
        ),
        id="inverted",
    ),
    pytest.param(
        "validate",
        [],
        {},
        raises(ValueError, r"{file}: the alignment is empty; re-run the aligner or drop the utterance"),
        id="empty",
    ),
    pytest.param(
        "validate", [("a", 0.0, 0.2), ("b", 0.4, 0.7)], {"mode": "clip"}, ok(check_clipped), id="outside-clipped"
    ),
    pytest.param(
        "textgrid",
        TEXTGRID.format(first="\xe9", second_end="0.5").encode("latin-1"),
        {},
        ok(check_latin1_textgrid),
        id="latin1-textgrid",
    ),
    pytest.param(
        "textgrid",
        TEXTGRID.format(first="a", second_end="oops").encode("utf-8"),
        {},
        raises(ValueError, r"{file}, line \d+: expected .*; the TextGrid is malformed"),
        id="malformed-textgrid",
    ),
]


@pytest.mark.parametrize("reader, data, options, expected", ALIGNMENT_ROWS)
def test_alignment(reader, data, options, expected, tmp_path, caplog):
    from hf_cser.data import read_textgrid, validate_alignment

    path = tmp_path / "utt1.TextGrid"
    counter = Counter()
    case = {"file": esc(path) if expected.kind == "raises" else str(path), "counter": counter, "caplog": caplog}
    if reader == "validate":
        phones = [{"phone": p, "start": s, "end": e} for p, s, e in data]
        call = lambda: validate_alignment(phones, 0.5, source=str(path), counter=counter, **options)  # noqa: E731
    else:
        path.write_bytes(data)
        call = lambda: read_textgrid(path)  # noqa: E731
    with caplog.at_level(logging.WARNING):
        run_row(expected, call, case)


# ---------------------------------------------------------------------------------------------------------------------
# Configs: invalid values fail at creation, naming the field and the allowed range


def _sapa(**kwargs):
    from hf_cser.models.sapa import SapaConfig

    return SapaConfig(**kwargs)


def _zero_shot(**kwargs):
    from hf_cser.models.zero_shot import ZeroShotConfig

    return ZeroShotConfig(**kwargs)


def _ctl_mtnet(**kwargs):
    from hf_cser.models.ctl_mtnet import CtlMtNetConfig

    return CtlMtNetConfig(**kwargs)


def _feature_gan(**kwargs):
    from hf_cser.models.feature_gan import FeatureGanConfig

    return FeatureGanConfig(**kwargs)


UNKNOWN_BACKBONE = r"unknown backbone model_type 'wavlmm'; use a transformers model type such as 'wavlm'"
CONFIG_ROWS = [
    pytest.param(
        _sapa,
        {"phoneme_margin": -0.1},
        raises(ValueError, r"`phoneme_margin` must be non-negative, got -0.1"),
        id="sapa-negative-phoneme-margin",
    ),
    pytest.param(
        _sapa,
        {"speaker_margin": -1},
        raises(ValueError, r"`speaker_margin` must be non-negative, got -1"),
        id="sapa-negative-speaker-margin",
    ),
    pytest.param(
        _sapa,
        {"graph_tau": 1.2},
        raises(ValueError, r"`graph_tau` .* must be in \[-1, 1\], got 1.2"),
        id="sapa-graph-tau-outside",
    ),
    pytest.param(
        _sapa,
        {"content_encoder_config": {"model_type": "wavlmm"}},
        raises(ValueError, r"`content_encoder_config` has the " + UNKNOWN_BACKBONE),
        id="sapa-unknown-backbone",
    ),
    pytest.param(
        _zero_shot,
        {"backbone_config": {"model_type": "bert"}},
        raises(
            ValueError,
            r"`backbone_config` must describe one of \['wav2vec2', 'hubert', 'wavlm', "
            r"'whisper'\] .*, got 'bert'; pass `AutoConfig",
        ),
        id="zero-shot-unknown-backbone",
    ),
    pytest.param(
        _zero_shot,
        {"scl_temperature": 0.0},
        raises(ValueError, r"`scl_temperature` \(tau\) must be > 0"),
        id="zero-shot-temperature-zero",
    ),
    pytest.param(
        _zero_shot,
        {"adversarial_weight": -0.5},
        raises(ValueError, r"`adversarial_weight` must be >= 0 \(0 switches the term off\), got -0.5"),
        id="zero-shot-negative-weight",
    ),
    pytest.param(
        _ctl_mtnet,
        {"margin_positive": 0.1, "margin_negative": 0.9},
        raises(ValueError, r"Need 0 <= `margin_negative` < `margin_positive` <= 1, got 0.9, 0.1"),
        id="ctl-mtnet-margins-inverted",
    ),
    pytest.param(
        _ctl_mtnet,
        {"head": "linear", "use_mdd": True, "mdd_margin": 0.0},
        raises(ValueError, r"`mdd_margin` \(gamma\) must be > 0, got 0.0"),
        id="ctl-mtnet-mdd-margin-zero",
    ),
    pytest.param(
        _feature_gan,
        {"backbone_config": {"model_type": "wavlmm", "hidden_size": 32}},
        raises(ValueError, r"`backbone_config` has the " + UNKNOWN_BACKBONE),
        id="feature-gan-unknown-backbone",
    ),
]


@pytest.mark.parametrize("make_config, values, expected", CONFIG_ROWS)
def test_config(make_config, values, expected):
    run_row(expected, lambda: make_config(**values), {})


def test_config_rows_reject_only_the_bad_value():
    """The configs of the rows above build with their defaults: each error comes from the one bad value."""
    for make_config in (_sapa, _zero_shot, _ctl_mtnet, _feature_gan):
        assert make_config().to_dict()["model_type"]


# ---------------------------------------------------------------------------------------------------------------------
# Model folders: missing or mismatched weight files (tiny SAPA model built in code)


@pytest.fixture(scope="module")
def sapa_folder(tmp_path_factory, tiny_sapa_model_factory):
    from hf_cser.models.sapa import SapaFeatureExtractor

    model = tiny_sapa_model_factory()
    folder = tmp_path_factory.mktemp("catalogue_sapa")
    model.save_pretrained(folder)
    SapaFeatureExtractor.from_sapa_arguments(model.config).save_pretrained(folder)
    return folder


def broken_folder(source: Path, target: Path, problem: str) -> Path:
    shutil.copytree(source, target)
    if problem == "missing":
        (target / "model.safetensors").unlink()
    else:  # config.json of a wider model than the weights
        config = json.loads((target / "config.json").read_text())
        config.update(hidden_size=32, classifier_hidden_sizes=[32, 8, 8])
        (target / "config.json").write_text(json.dumps(config))
    return target


def _load_with_hf_cser(folder):
    from hf_cser.inference import load_audio_classifier

    return load_audio_classifier(folder, device="cpu")


def _automodel(folder):
    from transformers import AutoModelForAudioClassification

    return AutoModelForAudioClassification.from_pretrained(folder)


def _is_sapa_classifier(model, case):
    assert type(model).__name__ == "SapaForEmotionClassification"
    assert model.config.hidden_size == 32  # the edited config.json was used, the mismatched tensors re-initialised


def _automodel_ignoring_mismatches(folder):
    from transformers import AutoModelForAudioClassification

    return AutoModelForAudioClassification.from_pretrained(folder, ignore_mismatched_sizes=True)


def _pipeline(folder):
    from transformers import pipeline

    return pipeline("audio-classification", model=str(folder))


MODEL_FOLDER_ROWS = [
    pytest.param(
        "missing",
        _load_with_hf_cser,
        raises(
            ModelNotFoundError,
            r"'{folder}' has config.json but no weights \(model.safetensors\);.*"
            r"`model.save_pretrained\(folder\)`",
        ),
        id="missing-weights-loader",
    ),
    pytest.param(
        "mismatched",
        _load_with_hf_cser,
        raises(
            ModelWeightsMismatchError,
            r"'{folder}/model.safetensors' does not match "
            r"'{folder}/config.json': \d+ tensor\(s\) have another shape "
            r"\(.*file \[16\] vs config \[32\].*restore the config.json "
            r"saved with these weights",
        ),
        id="mismatched-weights-loader",
    ),
    pytest.param(
        "missing",
        _automodel,
        raises(
            IncompleteModelFolderError,
            r"'{folder}' has config.json but no weights \(model.safetensors\);"
            r".*`model.save_pretrained\(folder\)`",
        ),
        id="missing-weights-automodel",
    ),
    pytest.param(
        "missing",
        _pipeline,
        raises(
            ValueError,
            r"(?s)Could not load model {folder}.*IncompleteModelFolderError: '{folder}' has "
            r"config.json but no weights \(model.safetensors\).*`model.save_pretrained",
        ),
        id="missing-weights-pipeline",
    ),
    pytest.param(
        "mismatched",
        _pipeline,
        raises(
            ValueError,
            r"(?s)Could not load model {folder}.*ModelWeightsMismatchError: "
            r"'{folder}/model.safetensors' does not match '{folder}/config.json'.*restore the "
            r"config.json",
        ),
        id="mismatched-weights-pipeline",
    ),
    pytest.param(
        "mismatched",
        _automodel,
        raises(
            ModelWeightsMismatchError,
            r"'{folder}/model.safetensors' does not match "
            r"'{folder}/config.json'.*restore the config.json",
        ),
        id="mismatched-weights-automodel",
    ),
    pytest.param(
        "mismatched", _automodel_ignoring_mismatches, ok(_is_sapa_classifier), id="mismatched-weights-ignored"
    ),
]


@pytest.mark.parametrize("problem, load, expected", MODEL_FOLDER_ROWS)
def test_model_folder(problem, load, expected, sapa_folder, tmp_path):
    folder = broken_folder(sapa_folder, tmp_path / f"{problem}_model", problem)
    run_row(expected, lambda: load(folder), {"folder": esc(folder)})


def test_model_folder_check_passes_on_the_intact_folder(sapa_folder):
    """The checks above fire on the broken copies only: the intact folder loads."""
    model, _ = _load_with_hf_cser(sapa_folder)
    assert type(model).__name__ == "SapaForEmotionClassification"


# ---------------------------------------------------------------------------------------------------------------------
# pipeline("audio-classification"): arrays of any dtype / layout / rate, and files


@pytest.fixture(scope="module")
def classifier(sapa_folder):
    return _pipeline(sapa_folder)


def voiced(seconds: float, sr: int = SR) -> np.ndarray:
    t = np.arange(int(round(seconds * sr))) / sr
    return (0.4 * (0.5 - 0.5 * np.cos(2 * np.pi * 3 * t)) * np.sin(2 * np.pi * 150 * t)).astype(np.float32)


def reference_scores(classifier, waveform_16k: np.ndarray) -> dict[str, float]:
    """The model run directly on a 16 kHz mono float32 waveform (converted outside the pipeline)."""
    import torch

    extractor = classifier.feature_extractor
    inputs = extractor(waveform_16k, sampling_rate=SR, return_tensors="pt")
    with torch.no_grad():
        logits = classifier.model(**{k: inputs[k] for k in extractor.model_input_names}).logits[0]
    probs = logits.softmax(-1)
    return {classifier.model.config.id2label[i]: float(probs[i]) for i in range(len(probs))}


def scores_equal(reference: Callable[[], np.ndarray]):
    def check(result, case):
        expected = reference_scores(case["classifier"], reference())
        assert sorted(r["label"] for r in result) == sorted(expected)
        for r in result:
            assert r["score"] == pytest.approx(expected[r["label"]], abs=1e-5)

    return check


def resampled(x, sr):
    """Independent 16 kHz reference: scipy's polyphase resampler called directly, channels averaged first."""
    from math import gcd

    from scipy.signal import resample_poly

    x = np.asarray(x, dtype=np.float64)
    x = x.mean(axis=1) if x.ndim == 2 else x
    g = gcd(sr, SR)
    return resample_poly(x, SR // g, sr // g).astype(np.float32)


def check_short_padded(result, case):
    padded = np.zeros(int(0.24 * SR), dtype=np.float32)
    padded[: int(0.1 * SR)] = voiced(0.1)
    scores_equal(lambda: padded)(result, case)
    warnings = [r.getMessage() for r in case["caplog"].records]
    assert any("lasts 100.0 ms, shorter than one 240 ms phoneme window; it is zero-padded" in m for m in warnings)


def pipeline_input(kind: str, folder: Path):
    """(pipeline input, what the rows' regexes call it)."""
    if kind == "float64-array":
        return voiced(0.5).astype(np.float64)
    if kind == "int16-array":
        return (voiced(0.5) * 32767).astype(np.int16)
    if kind == "stereo-array":
        return np.stack([voiced(0.5), 0.5 * voiced(0.5)], axis=1)
    if kind.startswith("dict-"):
        sr = int(kind.split("-")[1])
        return {"array": voiced(0.5, sr), "sampling_rate": sr}
    if kind == "stereo-44.1k-file":
        return str(write_wav(folder / "stereo44k.wav", np.stack([voiced(0.5, 44100)] * 2, axis=1), 44100, "PCM_16"))
    if kind == "shorter-than-240ms":
        return voiced(0.1)
    if kind == "empty-array":
        return np.zeros(0, dtype=np.float32)
    if kind == "nan-array":
        x = voiced(0.5)
        x[5] = np.nan
        return x
    if kind == "all-zero-array":
        return np.zeros(SR // 2, dtype=np.float32)
    if kind in ("missing-file", "non-audio-file"):
        return str(build_audio(kind, folder))
    raise KeyError(kind)


PIPELINE_ROWS = [
    pytest.param("float64-array", ok(scores_equal(lambda: voiced(0.5))), id="float64-array"),
    pytest.param(
        "int16-array",
        ok(scores_equal(lambda: (voiced(0.5) * 32767).astype(np.int16) / np.float32(32767))),
        id="int16-array",
    ),
    pytest.param("stereo-array", ok(scores_equal(lambda: 0.75 * voiced(0.5))), id="stereo-array"),
    *[
        pytest.param(
            f"dict-{sr}", ok(scores_equal(lambda sr=sr: resampled(voiced(0.5, sr), sr))), id=f"dict-{sr / 1000:g}k"
        )
        for sr in (8000, 22050, 44100, 48000)
    ],
    pytest.param(
        "stereo-44.1k-file",
        ok(scores_equal(lambda: resampled(np.round(voiced(0.5, 44100) * 32767) / 32768, 44100))),
        id="stereo-44.1k-file",
    ),
    pytest.param("shorter-than-240ms", ok(check_short_padded), id="shorter-than-240ms"),
    pytest.param(
        "empty-array",
        raises(
            BadAudioError,
            r"input \(numpy array\): the audio has zero samples; remove it or "
            r"re-export it",
        ),
        id="empty-array",
    ),
    pytest.param(
        "nan-array",
        raises(BadAudioError, r"1 sample\(s\) are NaN or inf; the file is corrupt, re-export it"),
        id="nan-array",
    ),
    pytest.param(
        "all-zero-array",
        raises(BadAudioError, r"the audio is all zeros \(digital silence\); remove it"),
        id="all-zero-array",
    ),
    pytest.param("missing-file", raises(BadAudioError, MISSING), id="missing-file"),
    pytest.param("non-audio-file", raises(BadAudioError, UNREADABLE), id="non-audio-file"),
]


@pytest.mark.parametrize("kind, expected", PIPELINE_ROWS)
def test_pipeline(kind, expected, classifier, tmp_path, caplog):
    inputs = pipeline_input(kind, tmp_path)
    path = inputs if isinstance(inputs, str) else ""
    case = {"classifier": classifier, "caplog": caplog, "path": esc(path)}
    with caplog.at_level(logging.WARNING):
        run_row(expected, lambda: classifier(inputs), case)


# ---------------------------------------------------------------------------------------------------------------------
# Training scripts (through tests/training_scripts/conftest.load_script). The lead extends these rows as the
# scripts gain `--skip_bad_audio`; a row failing because of a script is marked xfail(strict=True) with the reason.


def script_manifests(folder: Path, corrupt: str | None) -> tuple[Path, Path]:
    """A train manifest (en; train + validation speakers), with the file ``corrupt`` overwritten by a corrupt WAV,
    and a test manifest (zh)."""
    rows = {"train": [], "test": []}
    for language, splits in (("en", ("train", "train", "validation")), ("zh", ("test",))):
        for s, split in enumerate(splits):
            for e, emotion in enumerate(("neutral", "happy", "angry", "sad")):
                name = f"{language}_{s}_{emotion}.wav"
                write_wav(folder / name, tone(0.5, freq=120.0 + 40 * e + 10 * s), subtype="PCM_16")
                row = f"{name},{emotion},{language},{language}{s},{split}"
                rows["test" if language == "zh" else "train"].append(row)
    if corrupt:
        (folder / corrupt).write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    paths = []
    for name, lines in rows.items():
        paths.append(folder / f"{name}.csv")
        paths[-1].write_text("\n".join(["path,emotion,language,speaker,split", *lines]) + "\n")
    return paths[0], paths[1]


def sapa_args(train_csv, test_csv, backbone, out):
    return [
        "--train_data",
        str(train_csv),
        "--eval_data",
        str(test_csv),
        "--content_encoder",
        str(backbone),
        "--output_dir",
        str(out / "run"),
        "--feature_cache_dir",
        str(out / "cache"),
        "--max_steps",
        "1",
        "--per_device_train_batch_size",
        "8",
        "--hidden_size",
        "32",
        "--num_transformer_layers",
        "1",
        "--disable_tqdm",
        "true",
        "--use_cpu",
        "true",
        "--report_to",
        "none",
    ]


def zero_shot_args(train_csv, test_csv, backbone, out):
    return [
        "--data",
        str(train_csv),
        "--backbone",
        str(backbone),
        "--settings",
        "en->de",
        "--systems",
        "proposed",
        "--seeds",
        "0",
        "--max_steps",
        "1",
        "--output_dir",
        str(out / "run"),
        "--use_cpu",
        "true",
        "--report_to",
        "none",
    ]


def ctl_mtnet_args(train_csv, test_csv, backbone, out):
    return [
        "--task",
        "single_corpus",
        "--data",
        str(train_csv),
        "--num_folds",
        "2",
        "--seeds",
        "0",
        "--max_steps",
        "1",
        "--output_dir",
        str(out / "run"),
        "--feature_cache_dir",
        str(out / "cache"),
        "--use_cpu",
        "true",
        "--report_to",
        "none",
    ]


def feature_gan_args(train_csv, test_csv, backbone, out):
    both = out / "all.csv"  # this script takes one spec with train, validation and test rows
    both.write_text(train_csv.read_text() + "".join(test_csv.read_text().splitlines(keepends=True)[1:]))
    return [
        "--data",
        str(both),
        "--output_dir",
        str(out / "run"),
        "--feature_cache_dir",
        str(out / "cache"),
        "--disable_tqdm",
    ]


def cltm_args(train_csv, test_csv, backbone, out):
    return [
        "--data",
        str(train_csv),
        "--task",
        "ser",
        "--seeds",
        "0",
        "--output_dir",
        str(out / "run"),
        "--feature_cache_dir",
        str(out / "cache"),
        "--progress",
        "false",
    ]


BAD_FILE_RAISES = raises(BadAudioError, r"{corrupt}: soundfile cannot decode it .*; convert it to WAV/FLAC or remove")

SCRIPT_ROWS = [
    pytest.param(
        "train_sapa",
        sapa_args,
        [],
        True,
        raises(
            BadAudioError,
            r"{corrupt}: soundfile cannot decode it .*; convert it to WAV/FLAC or "
            r"remove it",
        ),
        id="sapa-bad-file-in-train-data",
    ),
    pytest.param(
        "train_sapa",
        sapa_args,
        ["--skip_bad_audio", "true", "--run_analyses", "false"],
        True,
        skipped("bad_audio_skipped", 1),
        id="sapa-skip-bad-audio",
    ),
    pytest.param(
        "train_sapa",
        sapa_args,
        ["--graph_tau", "1.5"],
        False,
        raises(ValueError, r"`(graph_)?tau` .*\[-1, 1\], got 1.5"),
        id="sapa-graph-tau-outside",
    ),
    pytest.param("train_zero_shot", zero_shot_args, [], True, BAD_FILE_RAISES, id="zero-shot-bad-file-in-data"),
    pytest.param("train_ctl_mtnet", ctl_mtnet_args, [], True, BAD_FILE_RAISES, id="ctl-mtnet-bad-file-in-data"),
    pytest.param("train_feature_gan", feature_gan_args, [], True, BAD_FILE_RAISES, id="feature-gan-bad-file-in-data"),
    pytest.param("run_cltm", cltm_args, [], True, BAD_FILE_RAISES, id="cltm-bad-file-in-data"),
]


@pytest.mark.parametrize("script, make_args, extra, plant_corrupt, expected", SCRIPT_ROWS)
def test_training_script(script, make_args, extra, plant_corrupt, expected, tiny_backbone, tmp_path):
    corrupt = "en_0_happy.wav"
    train_csv, test_csv = script_manifests(tmp_path, corrupt if plant_corrupt else None)
    module = _scripts.load_script(script)
    case = {"corrupt": esc(tmp_path / corrupt)}
    args = [*make_args(train_csv, test_csv, tiny_backbone, tmp_path), *extra]
    run_row(expected, lambda: module.main(args), case, counts=lambda summary: Counter(summary))
    if expected.kind == "raises":  # stopped before any model was trained and saved
        assert not (tmp_path / "run" / "model.safetensors").exists()


# ---------------------------------------------------------------------------------------------------------------------
# SAPA feature extractor (also used by the trainer and the feature cache): audio shorter than one 240 ms window


def check_padded_to_one_window(num_samples: int):
    def check(features, case):
        window = int(0.24 * SR)
        assert features["input_values"].shape == (1, window)
        np.testing.assert_array_equal(features["input_values"][0, :num_samples], case["waveform"])
        assert not features["input_values"][0, num_samples:].any()  # zeros (silence) after the real samples
        assert features["attention_mask"].tolist() == [[1] * window]
        centers = features["window_centers"][0][features["window_mask"][0] == 1]
        assert len(centers) >= 1 and np.all(centers <= num_samples / SR)  # centred on the real audio
        warnings = [r.getMessage() for r in case["caplog"].records]
        assert any("utterance 0" in m and "it is zero-padded to 240 ms" in m for m in warnings), warnings

    return check


FEATURE_EXTRACTOR_ROWS = [
    *[pytest.param(n, ok(check_padded_to_one_window(n)), id=f"{n}-samples") for n in (1, 100, 1600)],
    pytest.param(
        0,
        raises(
            ValueError,
            r"Utterance 0 must be a non-empty mono 1-D waveform, got shape \(0,\); "
            r"`hf_cser.audio.prepare_waveform`",
        ),
        id="empty",
    ),
]


@pytest.mark.parametrize("num_samples, expected", FEATURE_EXTRACTOR_ROWS)
def test_sapa_feature_extractor(num_samples, expected, caplog):
    from hf_cser.models.sapa import SapaFeatureExtractor

    waveform = voiced(1.0)[:num_samples]
    case = {"waveform": waveform, "caplog": caplog}
    with caplog.at_level(logging.WARNING):
        run_row(expected, lambda: SapaFeatureExtractor()(waveform, sampling_rate=SR, return_tensors="np"), case)


def _ctl_mtnet_extractor():
    from hf_cser.models.ctl_mtnet import CtlMtNetFeatureExtractor

    return CtlMtNetFeatureExtractor()


def _log_mel_extractor():
    from hf_cser.models.feature_gan import LogMelFeatureExtractor

    return LogMelFeatureExtractor()


def check_same_as_padded_input(features, case):
    """Equal to the extractor run on the waveform zero-padded to 240 ms by hand, with the padding warning."""
    padded = np.zeros(int(0.24 * SR), dtype=np.float32)
    padded[: len(case["waveform"])] = case["waveform"]
    with case["caplog"].at_level(logging.ERROR):
        reference = case["extractor"](padded, sampling_rate=SR, return_tensors="np")
    for key in reference:
        np.testing.assert_array_equal(features[key], reference[key])
    warnings = [r.getMessage() for r in case["caplog"].records]
    assert any("it is zero-padded to 240 ms" in m for m in warnings), warnings


FRAME_EXTRACTOR_ROWS = [
    *[
        pytest.param(make, n, ok(check_same_as_padded_input), id=f"{name}-{n}-samples")
        for make, name in ((_ctl_mtnet_extractor, "ctl-mtnet"), (_log_mel_extractor, "log-mel"))
        for n in (1, 1000)
    ],
    pytest.param(
        _ctl_mtnet_extractor,
        0,
        raises(BadAudioError, r"input: the audio has zero samples; remove it"),
        id="ctl-mtnet-empty",
    ),
    pytest.param(
        _log_mel_extractor,
        0,
        raises(BadAudioError, r"utterance 0: the audio has zero samples; remove it"),
        id="log-mel-empty",
    ),
]


@pytest.mark.parametrize("make_extractor, num_samples, expected", FRAME_EXTRACTOR_ROWS)
def test_frame_feature_extractor(make_extractor, num_samples, expected, caplog):
    """CTL-MTNet (MFCC) and feature-GAN (log-mel) extractors: short audio would leave too few frames for the models'
    poolings (CTL-MTNet crashed below 8 frames)."""
    extractor = make_extractor()
    waveform = voiced(1.0)[:num_samples]
    case = {"waveform": waveform, "caplog": caplog, "extractor": extractor}
    with caplog.at_level(logging.WARNING):
        run_row(expected, lambda: extractor(waveform, sampling_rate=SR, return_tensors="np"), case)
    if expected.kind == "ok" and make_extractor is _ctl_mtnet_extractor:  # and the model now runs on it
        import torch

        from hf_cser.models.ctl_mtnet import CtlMtNetConfig, CtlMtNetForEmotionClassification

        model = CtlMtNetForEmotionClassification(CtlMtNetConfig(conv_filters=4, primary_capsule_types=2)).eval()
        with torch.no_grad(), caplog.at_level(logging.ERROR):
            logits = model(**extractor(waveform, sampling_rate=SR, return_tensors="pt")).logits
        assert logits.shape == (1, 4) and torch.isfinite(logits).all()


# ---------------------------------------------------------------------------------------------------------------------
# hf_cser.inference.predict (`hf-cser predict`): the same guarantees as the pipeline, for files


PREDICT_ROWS = [
    pytest.param("shorter-than-240ms", ok(check_short_padded), id="shorter-than-240ms-file"),
    pytest.param("missing-file", raises(BadAudioError, MISSING), id="missing-file"),
    pytest.param("non-audio-file", raises(BadAudioError, UNREADABLE), id="non-audio-file"),
]


@pytest.mark.parametrize("kind, expected", PREDICT_ROWS)
def test_predict(kind, expected, classifier, tmp_path, caplog):
    from hf_cser.inference import predict

    if kind == "shorter-than-240ms":
        path = write_wav(tmp_path / "short.wav", voiced(0.1))
    else:
        path = build_audio(kind, tmp_path)
    case = {"classifier": classifier, "caplog": caplog, "path": esc(path)}

    def call():
        (scores,) = predict((classifier.model, classifier.feature_extractor), [str(path)], batch_size=1, device="cpu")
        return [{"label": label, "score": score} for label, score in scores.items()]

    with caplog.at_level(logging.WARNING):
        run_row(expected, call, case)
