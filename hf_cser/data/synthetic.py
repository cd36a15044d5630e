"""A synthetic multilingual emotional speech corpus, rendered offline with espeak-ng: the default data of hf_cser.

No real emotional corpus can be downloaded everywhere, so the library ships a generator. Every utterance is real
speech from espeak-ng (through its C API, see :mod:`hf_cser.data.espeak`) with exact phoneme timings from its
phoneme events. Emotion is carried by prosody only (the sentences are neutral), built from four layers:

1. **speaker baseline**: an espeak voice variant (``m1``..``m8``, ``f1``..``f5``, which fixes the gender), a base
   pitch, speaking rate, pitch range, loudness, pause length, a spectral tilt (a speaker "channel" EQ) and a noise
   floor;
2. **emotion profile**: rate, pitch, pitch range, loudness, pause and brightness changes relative to the speaker's
   own baseline (:data:`EMOTION_PROFILES`), scaled by :attr:`SyntheticCorpusConfig.separability`;
3. **speaker style**: each speaker belongs to one of a few latent archetypes (:data:`STYLE_ARCHETYPES`: expressive,
   reserved, idiosyncratic) that change how strongly, and for some cues which way, the speaker expresses each
   emotion, plus a personal jitter; within an emotion, speakers of one archetype form clusters (the structure the
   SAPA speaker-style graphs look for);
4. **language**: a baseline offset and a per-emotion "display rule" gain per language (:data:`LANGUAGE_PROFILES`),
   so a real cross-lingual shift exists on top of the phonetic one.

Each utterance adds random prosody jitter so classes overlap. Waveforms are post-processed (tilt, noise), resampled
from 22.05 kHz to 16 kHz mono and written as 16-bit WAV files; the corpus is saved as a `DatasetDict` in the hf_cser
schema (speaker-independent train/validation/test split per language) plus a ``metadata.csv`` manifest.

Generation is deterministic for a config: every random draw comes from a generator seeded by
``(seed, language, speaker, utterance)``, and each speaker is rendered in a fresh worker process (from a
multiprocessing ``forkserver``) so espeak-ng's
internal state (its pitch-flutter phase survives between calls) never leaks from one speaker to another; the bytes
therefore do not depend on ``num_proc``.

The code is split by responsibility; every name stays importable from here: :mod:`hf_cser.data.synthetic_config`
(the config, file layout and prosody profiles) and :mod:`hf_cser.data.synthetic_planning` (the random draws); this
module renders the planned utterances in worker processes and writes and loads the corpus.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from typing import Any

import numpy as np
from transformers.utils import logging

from .schema import SPLITS, build_dataset_dict, save_dataset_dict, speaker_independent_split
from .synthetic_config import (  # noqa: F401
    CONFIG_FILE,
    CORPUS_NAME,
    DATASET_DIR,
    EMOTION_PROFILES,
    ESPEAK_SAMPLING_RATE,
    ESPEAK_VOICES,
    FEMALE_VARIANTS,
    GENERATOR_VERSION,
    LANGUAGE_PROFILES,
    MALE_VARIANTS,
    METADATA_COLUMNS,
    METADATA_FILE,
    PROSODY_DIMENSIONS,
    STYLE_ARCHETYPES,
    SUPPORTED_LANGUAGES,
    UTTERANCE_JITTER,
    WAV_DIR,
    SyntheticCorpusConfig,
)
from .synthetic_planning import plan_speakers, plan_utterances, speaker_id  # noqa: F401

logger = logging.get_logger(__name__)


# ----------------------------------------------------------------------------------------------------------------
# Rendering: runs in worker processes.


def _to_ssml(text: str, pause_ms: int) -> str:
    from xml.sax.saxutils import escape

    brk = f'<break time="{pause_ms}ms"/>'
    for comma in (",", "،", "，", "、"):
        text = text.replace(comma, comma + "\x00")
    return "<speak>" + escape(text).replace("\x00", brk) + "</speak>"


def apply_tilt(waveform: np.ndarray, tilt: float) -> np.ndarray:
    """First-order spectral tilt: ``y = x + g * highpass(x)``, ``g = 2 * tilt`` (brighter) or ``tilt`` (darker)."""
    from scipy.signal import lfilter

    lowpass = lfilter([0.4], [1.0, -0.6], waveform)  # one-pole smoother, about 1.8 kHz at 22.05 kHz
    gain = 2.0 * tilt if tilt > 0 else tilt
    return waveform + gain * (waveform - lowpass)


def render_utterance(utterance: dict[str, Any], voice: str, sampling_rate: int) -> tuple[np.ndarray, list]:
    """Synthesise one planned utterance: espeak-ng, tilt, resampling, noise. Returns (float32 audio, phonemes)."""
    from ..audio import resample
    from .espeak import get_synthesizer

    result = get_synthesizer().synthesize(
        _to_ssml(utterance["transcript"], utterance["pause_ms"]),
        voice,
        rate=utterance["rate"],
        pitch=utterance["pitch"],
        pitch_range=utterance["pitch_range"],
        volume=utterance["volume"],
        ssml=True,
        rand_seed=utterance["noise_seed"],
    )
    if len(result.waveform) == 0:
        raise RuntimeError(f"espeak-ng returned no audio for {voice!r}: {utterance['transcript']!r}.")
    x = result.waveform.astype(np.float64) / 32768.0
    x = apply_tilt(x, utterance["tilt"])
    x = resample(x.astype(np.float32), result.sampling_rate, sampling_rate).astype(np.float64)
    noise_rms = 10.0 ** (utterance["noise_db"] / 20.0)
    x = x + np.random.default_rng(utterance["noise_seed"]).normal(0.0, noise_rms, size=x.shape)
    x = np.clip(x, -1.0, 1.0).astype(np.float32)
    duration = len(x) / float(sampling_rate)
    phonemes = []
    for phone, start, end in result.phonemes:
        start, end = round(start, 4), round(min(end, duration), 4)
        if end > start:  # drop phones that fall after the (resampled) end of the audio
            phonemes.append({"phone": phone, "start": start, "end": end})
    return x, phonemes


def _render_speaker(task: tuple[dict[str, Any], list[dict[str, Any]], str, int]) -> list[dict[str, Any]]:
    """Render and write all utterances of one speaker (one fresh worker process per speaker)."""
    import soundfile as sf

    speaker, utterances, output_dir, sampling_rate = task
    records = []
    for utt in utterances:
        audio, phonemes = render_utterance(utt, speaker["voice"], sampling_rate)
        path = os.path.join(output_dir, utt["relpath"])
        os.makedirs(os.path.dirname(path), exist_ok=True)
        sf.write(path, audio, sampling_rate, subtype="PCM_16", format="WAV")
        records.append(
            {
                "audio": utt["relpath"],
                "emotion": utt["emotion"],
                "language": speaker["language"],
                "speaker": speaker["speaker"],
                "gender": speaker["gender"],
                "corpus": CORPUS_NAME,
                "transcript": utt["transcript"],
                "phonemes": phonemes,
                "_duration": len(audio) / float(sampling_rate),
            }
        )
    return records


def _run_render_tasks(tasks: list, num_proc: int, progress: bool) -> list[list[dict[str, Any]]]:
    """Render every speaker task, each in a fresh process, and return the results in task order."""
    import multiprocessing

    from hf_cser.console import progress_bar

    # forkserver: workers fork from a clean single-threaded server (forking this process, which may run threads of
    # torch, datasets or tqdm, can deadlock); the server imports the heavy modules once, so a worker starts in ms.
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["scipy.signal", "soundfile", __name__])
    else:
        context = multiprocessing.get_context("spawn")
    results: dict[int, list[dict[str, Any]]] = {}
    total = sum(len(t[1]) for t in tasks)
    with progress_bar(total=total, desc="Synthesising speech", unit="utt", disable=not progress) as bar:
        # maxtasksperchild=1: a fresh process per speaker, so espeak-ng state never crosses speakers
        with context.Pool(processes=max(1, min(num_proc, len(tasks))), maxtasksperchild=1) as pool:
            for i, records in pool.imap_unordered(_indexed_render, list(enumerate(tasks)), chunksize=1):
                results[i] = records
                bar.update(len(records))
    return [results[i] for i in range(len(tasks))]


def _indexed_render(item):
    i, task = item
    return i, _render_speaker(task)


# ----------------------------------------------------------------------------------------------------------------
# Public API


def _read_state(output_dir: str) -> dict[str, Any] | None:
    path = os.path.join(output_dir, CONFIG_FILE)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _write_state(output_dir: str, config: SyntheticCorpusConfig, complete: bool, **extra: Any) -> None:
    state = {
        "corpus": CORPUS_NAME,
        "fingerprint": config.fingerprint(),
        "generator_version": GENERATOR_VERSION,
        "complete": complete,
        "config": config.to_dict(),
        **extra,
    }
    with open(os.path.join(output_dir, CONFIG_FILE), "w", encoding="utf-8") as f:
        json.dump(state, f, indent=2, sort_keys=True)
        f.write("\n")


def _prepare_output_dir(output_dir: str, config: SyntheticCorpusConfig) -> bool:
    """Return True when ``output_dir`` already holds this exact corpus; clear a stale synthetic corpus."""
    if not os.path.exists(output_dir):
        os.makedirs(output_dir)
        return False
    if not os.path.isdir(output_dir):
        raise NotADirectoryError(f"`output_dir` {output_dir!r} is a file; give a folder for the synthetic corpus.")
    state = _read_state(output_dir)
    if state is None:
        if os.listdir(output_dir):
            raise FileExistsError(
                f"`output_dir` {output_dir!r} is not empty and holds no synthetic corpus ({CONFIG_FILE} is "
                "missing); choose an empty or new folder, so nothing of yours is overwritten."
            )
        return False
    if state.get("complete") and state.get("fingerprint") == config.fingerprint():
        return True
    logger.warning(
        f"{output_dir} holds a synthetic corpus with another config (or an interrupted one); regenerating it."
    )
    for name in (WAV_DIR, DATASET_DIR):
        shutil.rmtree(os.path.join(output_dir, name), ignore_errors=True)
    for name in (METADATA_FILE, CONFIG_FILE):
        if os.path.exists(os.path.join(output_dir, name)):
            os.remove(os.path.join(output_dir, name))
    return False


def synthesize_corpus(
    config: SyntheticCorpusConfig | None = None,
    output_dir: str | os.PathLike = "synthetic_corpus",
    num_proc: int = 1,
    progress: bool = True,
):
    """Render the synthetic corpus into ``output_dir`` (or reuse it when it is already there) and load it.

    ``output_dir`` receives ``wavs/<language>/<speaker>/*.wav`` (16-bit mono at ``config.sampling_rate``),
    ``dataset/`` (the `DatasetDict`, ``save_to_disk``), ``metadata.csv`` (a manifest with paths relative to it) and
    ``synthetic_config.json`` (the config and its fingerprint). A second call with the same config returns at once
    without synthesising; with a different config the old corpus is replaced. A non-empty folder that is not a
    synthetic corpus raises `FileExistsError`.

    Args:
        config (:class:`SyntheticCorpusConfig`, *optional*): defaults to ``SyntheticCorpusConfig()``.
        output_dir (`str` or `os.PathLike`, *optional*, defaults to `"synthetic_corpus"`): target folder.
        num_proc (`int`, *optional*, defaults to 1): worker processes (each speaker renders in its own fresh process,
            forked from a ``forkserver``; the output does not depend on this).
        progress (`bool`, *optional*, defaults to `True`): show a tqdm progress bar.

    Returns:
        `datasets.DatasetDict`: ``train``/``validation``/``test`` in the hf_cser schema, ``audio`` as absolute paths
        (see :func:`load_synthetic_corpus`).
    """
    config = config if config is not None else SyntheticCorpusConfig()
    if not isinstance(config, SyntheticCorpusConfig):
        raise TypeError(f"`config` must be a SyntheticCorpusConfig, got {type(config).__name__}.")
    if not isinstance(num_proc, int) or num_proc < 1:
        raise ValueError(f"`num_proc` must be a positive integer, got {num_proc!r}.")
    output_dir = os.path.abspath(os.fspath(output_dir))
    if _prepare_output_dir(output_dir, config):
        logger.info(f"Reusing the synthetic corpus in {output_dir} (fingerprint {config.fingerprint()}).")
        return load_synthetic_corpus(output_dir)

    from .espeak import INSTALL_HINT

    try:
        import espeakng_loader  # noqa: F401  (fail here, before forking workers)
    except ImportError as err:
        raise ImportError(INSTALL_HINT) from err

    _write_state(output_dir, config, complete=False)
    tasks = []
    for language in config.languages:
        for speaker in plan_speakers(config, language):
            tasks.append((speaker, plan_utterances(config, speaker), output_dir, config.sampling_rate))
    results = _run_render_tasks(tasks, num_proc=num_proc, progress=progress)

    records_by_split: dict[str, list[dict[str, Any]]] = {split: [] for split in SPLITS}
    total_seconds = 0.0
    for language in config.languages:
        records = [r for speaker_records in results for r in speaker_records if r["language"] == language]
        total_seconds += sum(r.pop("_duration") for r in records)
        for split, split_records in speaker_independent_split(records, config.split_ratios, config.seed).items():
            records_by_split[split].extend(split_records)

    with open(os.path.join(output_dir, METADATA_FILE), "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(METADATA_COLUMNS)
        for split in SPLITS:
            for r in records_by_split[split]:
                writer.writerow(
                    [
                        r["audio"],
                        r["emotion"],
                        r["language"],
                        r["speaker"],
                        r["gender"],
                        r["corpus"],
                        r["transcript"],
                        split,
                    ]
                )
    save_dataset_dict(build_dataset_dict(records_by_split), os.path.join(output_dir, DATASET_DIR))
    _write_state(
        output_dir,
        config,
        complete=True,
        num_utterances=sum(len(v) for v in records_by_split.values()),
        total_audio_seconds=round(total_seconds, 2),
    )
    logger.info(f"Wrote {total_seconds / 3600:.2f} h of synthetic speech to {output_dir}.")
    return load_synthetic_corpus(output_dir)


def load_synthetic_corpus(output_dir: str | os.PathLike):
    """Load a corpus written by :func:`synthesize_corpus`, with ``audio`` as absolute paths.

    Args:
        output_dir (`str` or `os.PathLike`): the folder given to :func:`synthesize_corpus` (it may have been moved).

    Returns:
        `datasets.DatasetDict` with ``train``/``validation``/``test`` in the hf_cser schema.
    """
    from datasets import load_from_disk

    output_dir = os.path.abspath(os.fspath(output_dir))
    state = _read_state(output_dir)
    if state is None or not state.get("complete") or not os.path.isdir(os.path.join(output_dir, DATASET_DIR)):
        raise FileNotFoundError(
            f"{output_dir} holds no complete synthetic corpus; create it with "
            f"`synthesize_corpus(SyntheticCorpusConfig(), {output_dir!r})` or `hf-cser synth --output {output_dir}`."
        )
    dataset = load_from_disk(os.path.join(output_dir, DATASET_DIR))

    def absolute(batch):
        return {"audio": [os.path.join(output_dir, p) for p in batch["audio"]]}

    return dataset.map(absolute, batched=True, keep_in_memory=True, desc=None)
