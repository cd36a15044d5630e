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
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import math
import os
import shutil
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from transformers.utils import logging

from ..labels import EMOTIONS
from .schema import SPLITS, build_dataset_dict, save_dataset_dict, speaker_independent_split
from .synthetic_sentences import SENTENCES

logger = logging.get_logger(__name__)

CORPUS_NAME = "synthetic"
GENERATOR_VERSION = "2"
"""Bumped whenever the rendering changes, so cached corpora made by an older generator are regenerated."""

ESPEAK_SAMPLING_RATE = 22050
CONFIG_FILE = "synthetic_config.json"
METADATA_FILE = "metadata.csv"
DATASET_DIR = "dataset"
WAV_DIR = "wavs"
METADATA_COLUMNS = ("path", "emotion", "language", "speaker", "gender", "corpus", "transcript", "split")

ESPEAK_VOICES: dict[str, str] = {"zh": "cmn"}
"""ISO 639-1 code -> espeak-ng voice where they differ (espeak names Mandarin ``cmn``)."""

MALE_VARIANTS: tuple[str, ...] = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8")
FEMALE_VARIANTS: tuple[str, ...] = ("f1", "f2", "f3", "f4", "f5")

PROSODY_DIMENSIONS: tuple[str, ...] = ("rate", "pitch", "range", "volume", "pause", "tilt")
"""The prosodic controls, in the order of every profile vector: ``rate`` (log factor on words per minute),
``pitch`` (espeak pitch units, 0-100), ``range`` (espeak pitch-range units, 0-100), ``volume`` (log factor on
amplitude), ``pause`` (milliseconds of silence at each clause boundary), ``tilt`` (spectral brightness, the gain of
a first-order high-shelf: negative is darker)."""

EMOTION_PROFILES: dict[str, tuple[float, ...]] = {
    # rate, pitch, range, volume, pause, tilt  (our choice, after the usual acoustic correlates of basic emotions)
    "neutral": (0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
    "happy": (0.08, 8.0, 16.0, 0.15, -40.0, 0.20),
    "angry": (0.12, 4.0, 6.0, 0.40, -60.0, 0.40),
    "sad": (-0.20, -7.0, -18.0, -0.30, 140.0, -0.35),
}
"""Emotion effect per prosodic dimension at ``separability=1.0``, relative to the speaker's own baseline."""

STYLE_ARCHETYPES: dict[str, dict[str, tuple[float, ...]]] = {
    # per-emotion multipliers of EMOTION_PROFILES, one per prosodic dimension; negative flips the direction
    "expressive": {e: (1.4,) * 6 for e in EMOTIONS},
    "reserved": {e: (0.45,) * 6 for e in EMOTIONS},
    "idiosyncratic": {
        "neutral": (1.0,) * 6,
        "happy": (1.3, -0.6, -0.4, 1.0, 1.0, 0.5),  # happy as fast and loud but with a lowered, flat pitch
        "angry": (0.2, 2.0, 2.2, 0.4, 0.3, 1.2),  # angry carried by pitch, hardly by loudness
        "sad": (1.0, 0.5, 1.0, 0.2, 1.6, 1.0),  # sad as slow with long pauses, loudness almost unchanged
    },
}
"""Latent speaker style archetypes: how strongly (and which way) a speaker expresses each emotion."""

# language -> (baseline offset per dimension, display-rule gain per emotion: one number, or one per dimension where a
# language expresses an emotion through other cues, e.g. happy in zh with lowered loudness)
LANGUAGE_PROFILES: dict[str, tuple[tuple[float, ...], dict[str, float | tuple[float, ...]]]] = {
    "en": ((0.0, 0.0, 0.0, 0.0, 0.0, 0.0), {"happy": 1.0, "angry": 1.0, "sad": 1.0}),
    "zh": (
        (0.05, 6.0, -10.0, -0.25, -20.0, 0.35),
        {"happy": (0.6, 0.6, 0.3, -0.5, 1.0, 0.6), "angry": 0.7, "sad": 1.4},
    ),
    "de": (
        (-0.05, -5.0, -4.0, 0.25, 20.0, -0.30),
        {"happy": 0.7, "angry": (1.4, -0.5, 0.5, 1.6, 1.0, 1.4), "sad": 0.8},
    ),
    "fr": (
        (0.06, 3.0, 8.0, -0.15, -10.0, 0.20),
        {"happy": 1.4, "angry": 0.8, "sad": (1.0, 1.0, 1.0, -0.3, 0.6, -0.5)},
    ),
    "ur": (
        (-0.08, -3.0, 10.0, 0.20, 40.0, -0.25),
        {"happy": 1.2, "angry": (0.7, 1.5, 1.5, -0.2, 1.0, 0.3), "sad": 1.4},
    ),
    "es": ((0.08, 2.0, 5.0, 0.15, -20.0, 0.15), {"happy": 1.4, "angry": 1.2, "sad": 0.8}),
    "it": ((0.04, 4.0, 12.0, 0.10, -10.0, -0.10), {"happy": 1.3, "angry": 1.3, "sad": 1.0}),
    "ru": ((-0.03, -5.0, -8.0, -0.10, 10.0, -0.20), {"happy": 0.7, "angry": 1.0, "sad": 1.2}),
}
"""Language offsets (our choice): a baseline shift per dimension (speaking style plus a corpus "channel": loudness and
tilt) and a per-emotion display-rule gain on the emotion effect."""

UTTERANCE_JITTER: tuple[float, ...] = (0.07, 4.0, 8.0, 0.12, 40.0, 0.12)
"""Standard deviation of the per-utterance random prosody, per dimension, at ``utterance_jitter=1.0``."""

SUPPORTED_LANGUAGES: tuple[str, ...] = tuple(SENTENCES)


@dataclass
class SyntheticCorpusConfig:
    """Configuration of the synthetic emotional speech corpus (:func:`synthesize_corpus`).

    All magnitudes are our own choices, tuned so that a linear classifier on log-mel statistics learns emotion well
    above chance but far from perfectly, and transfers worse across languages (see
    ``benchmarks/synthetic_reference.py``).

    Args:
        languages (`tuple[str, ...]`, *optional*, defaults to `("en", "zh", "de", "fr", "ur")`):
            ISO 639-1 codes of the languages to render, any of :data:`SUPPORTED_LANGUAGES`
            (``en, zh, de, fr, ur, es, it, ru``).
        speakers_per_language (`int`, *optional*, defaults to 12):
            Speakers per language, alternating female/male (the first gender is drawn from the seed). At least 3
            give every split a speaker.
        utterances_per_speaker (`int`, *optional*, defaults to 32):
            Utterances per speaker, cycling through the four emotions (balanced when a multiple of 4); each chosen
            sentence is said once in every emotion so the text carries no emotion.
        seed (`int`, *optional*, defaults to 0):
            Seed of every random draw (speakers, styles, sentences, jitter, noise, split). Same config and seed give
            byte-identical files.
        separability (`float`, *optional*, defaults to 1.5):
            Scale of the emotion effects (:data:`EMOTION_PROFILES`) relative to speaker and utterance variation
            (our tuned default: learnable, far from trivial). 0 makes emotion inaudible; larger is easier.
        speaker_style_strength (`float`, *optional*, defaults to 1.0):
            How far the style archetypes move a speaker's emotion expression from the common profile (0: every
            speaker expresses emotion the same way).
        num_style_archetypes (`int`, *optional*, defaults to 3):
            How many of :data:`STYLE_ARCHETYPES` speakers are drawn from (1 to 3, in the order expressive,
            reserved, idiosyncratic).
        speaker_style_jitter (`float`, *optional*, defaults to 0.2):
            Standard deviation of each speaker's personal deviation from its archetype's multipliers.
        language_shift (`float`, *optional*, defaults to 1.0):
            Scale of the per-language offsets and display-rule gains (:data:`LANGUAGE_PROFILES`); 0 leaves only the
            phonetic differences between languages.
        utterance_jitter (`float`, *optional*, defaults to 1.0):
            Scale of the per-utterance random prosody (:data:`UTTERANCE_JITTER`).
        noise_level_db (`float`, *optional*, defaults to -50.0):
            Mean level of the additive white noise floor in dBFS (each speaker's floor is drawn around it, each
            utterance moves it by up to 3 dB). A very low value such as -120 makes the noise negligible.
        split_ratios (`tuple[float, float, float]`, *optional*, defaults to `(0.75, 0.125, 0.125)`):
            Speaker-count ratios of train/validation/test, applied per language (12 speakers: 8/2/2).
        sampling_rate (`int`, *optional*, defaults to 16000):
            Rate of the written WAV files (espeak-ng renders at 22050 Hz; resampled with a polyphase filter).
    """

    languages: tuple[str, ...] = ("en", "zh", "de", "fr", "ur")
    speakers_per_language: int = 12
    utterances_per_speaker: int = 32
    seed: int = 0
    separability: float = 1.5
    speaker_style_strength: float = 1.0
    num_style_archetypes: int = 3
    speaker_style_jitter: float = 0.2
    language_shift: float = 1.0
    utterance_jitter: float = 1.0
    noise_level_db: float = -50.0
    split_ratios: tuple[float, ...] = field(default=(0.75, 0.125, 0.125))
    sampling_rate: int = 16000

    def __post_init__(self):
        if isinstance(self.languages, str):
            self.languages = tuple(code.strip() for code in self.languages.split(",") if code.strip())
        self.languages = tuple(self.languages)
        self.split_ratios = tuple(float(r) for r in self.split_ratios)
        if not self.languages:
            raise ValueError("`languages` is empty; give at least one ISO 639-1 code such as ('en',).")
        unknown = [code for code in self.languages if code not in SUPPORTED_LANGUAGES]
        if unknown:
            raise ValueError(
                f"`languages` has unsupported code(s) {unknown}; the synthetic corpus has sentences for "
                f"{list(SUPPORTED_LANGUAGES)} (ISO 639-1, `zh` for Mandarin)."
            )
        if len(set(self.languages)) != len(self.languages):
            raise ValueError(f"`languages` lists a language twice: {list(self.languages)}.")
        for name in ("speakers_per_language", "utterances_per_speaker"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ValueError(f"`seed` must be a non-negative integer, got {self.seed!r}.")
        for name in (
            "separability",
            "speaker_style_strength",
            "speaker_style_jitter",
            "language_shift",
            "utterance_jitter",
        ):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(f"`{name}` must be a finite number >= 0, got {value!r}.")
            setattr(self, name, float(value))
        if not 1 <= self.num_style_archetypes <= len(STYLE_ARCHETYPES):
            raise ValueError(
                f"`num_style_archetypes` must be between 1 and {len(STYLE_ARCHETYPES)}, got "
                f"{self.num_style_archetypes!r}."
            )
        if not isinstance(self.noise_level_db, (int, float)) or not -150.0 <= self.noise_level_db <= -10.0:
            raise ValueError(f"`noise_level_db` must be in [-150, -10] dBFS, got {self.noise_level_db!r}.")
        self.noise_level_db = float(self.noise_level_db)
        if (
            len(self.split_ratios) != len(SPLITS)
            or any(r < 0 for r in self.split_ratios)
            or not any(self.split_ratios)
        ):
            raise ValueError(
                f"`split_ratios` must be {len(SPLITS)} non-negative numbers for {list(SPLITS)} with a positive "
                f"sum, got {list(self.split_ratios)}."
            )
        if not isinstance(self.sampling_rate, int) or not 8000 <= self.sampling_rate <= 48000:
            raise ValueError(f"`sampling_rate` must be an integer in [8000, 48000] Hz, got {self.sampling_rate!r}.")
        if self.speakers_per_language < 3:
            logger.warning(
                f"`speakers_per_language`={self.speakers_per_language} leaves some of the train/validation/test "
                "splits without speakers; use at least 3."
            )

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["languages"] = list(self.languages)
        out["split_ratios"] = list(self.split_ratios)
        return out

    def fingerprint(self) -> str:
        """A hash of the config and :data:`GENERATOR_VERSION`: equal fingerprints mean identical corpora."""
        payload = json.dumps({"config": self.to_dict(), "generator": GENERATOR_VERSION}, sort_keys=True)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


# ----------------------------------------------------------------------------------------------------------------
# Planning: every random draw, in the parent process, as a pure function of the config.


def _rng(seed: int, *keys: Any) -> np.random.Generator:
    entropy = [int(seed)] + [zlib.crc32(str(k).encode("utf-8")) for k in keys]
    return np.random.default_rng(entropy)


def _language_profile(language: str) -> tuple[np.ndarray, dict[str, Any]]:
    offset, gains = LANGUAGE_PROFILES[language]
    return np.asarray(offset, dtype=np.float64), {"neutral": 1.0, **gains}


def speaker_id(language: str, index: int) -> str:
    """The corpus-prefixed speaker id, e.g. ``synthetic_en_03``."""
    return f"{CORPUS_NAME}_{language}_{index:02d}"


def plan_speakers(config: SyntheticCorpusConfig, language: str) -> list[dict[str, Any]]:
    """Draw the speakers of one language: voice variant, gender, baseline prosody and expressive style."""
    rng = _rng(config.seed, "speakers", language)
    first_female = bool(rng.integers(2))
    male_order = list(rng.permutation(len(MALE_VARIANTS)))
    female_order = list(rng.permutation(len(FEMALE_VARIANTS)))
    archetypes = list(STYLE_ARCHETYPES)[: config.num_style_archetypes]
    speakers = []
    n_male = n_female = 0
    for index in range(config.speakers_per_language):
        female = (index % 2 == 0) == first_female
        if female:
            variant = FEMALE_VARIANTS[female_order[n_female % len(FEMALE_VARIANTS)]]
            n_female += 1
        else:
            variant = MALE_VARIANTS[male_order[n_male % len(MALE_VARIANTS)]]
            n_male += 1
        base_pitch = rng.normal(60.0 if female else 40.0, 6.0)
        baseline = np.array(
            [
                rng.normal(0.0, 0.08),  # rate: log factor around 170 wpm
                base_pitch,
                rng.normal(50.0, 8.0),  # pitch range
                rng.normal(0.0, 0.15),  # volume: log factor around 100
                max(0.0, rng.normal(90.0, 30.0)),  # pause at clause boundaries, ms
                rng.normal(0.0, 0.25),  # spectral tilt of the speaker's "channel"
            ]
        )
        archetype = archetypes[int(rng.integers(len(archetypes)))]
        style = {}
        for emotion in EMOTIONS:
            multipliers = np.asarray(STYLE_ARCHETYPES[archetype][emotion], dtype=np.float64)
            multipliers = 1.0 + config.speaker_style_strength * (multipliers - 1.0)
            multipliers = multipliers + rng.normal(0.0, config.speaker_style_jitter, size=multipliers.shape)
            style[emotion] = multipliers
        speakers.append(
            {
                "language": language,
                "index": index,
                "speaker": speaker_id(language, index),
                "gender": "female" if female else "male",
                "voice": f"{ESPEAK_VOICES.get(language, language)}+{variant}",
                "baseline": baseline,
                "archetype": archetype,
                "style": style,
                "noise_db": config.noise_level_db + rng.normal(0.0, 4.0),
            }
        )
    return speakers


def plan_utterances(config: SyntheticCorpusConfig, speaker: dict[str, Any]) -> list[dict[str, Any]]:
    """Draw the utterances of one speaker: sentence, emotion and the final prosody controls."""
    language = speaker["language"]
    rng = _rng(config.seed, "utterances", speaker["speaker"])
    sentences = SENTENCES[language]
    order = rng.permutation(len(sentences))
    lang_offset, lang_gains = _language_profile(language)
    shift = config.language_shift
    jitter_std = np.asarray(UTTERANCE_JITTER) * config.utterance_jitter
    utterances = []
    for i in range(config.utterances_per_speaker):
        emotion = EMOTIONS[i % len(EMOTIONS)]
        sentence = sentences[int(order[(i // len(EMOTIONS)) % len(sentences)])]
        gain = 1.0 + shift * (np.asarray(lang_gains[emotion], dtype=np.float64) - 1.0)
        effect = config.separability * gain * speaker["style"][emotion] * np.asarray(EMOTION_PROFILES[emotion])
        values = speaker["baseline"] + shift * lang_offset + effect + rng.normal(0.0, 1.0, size=6) * jitter_std
        rate, pitch, pitch_range, volume, pause, tilt = (float(v) for v in values)
        utterances.append(
            {
                "index": i,
                "emotion": emotion,
                "transcript": sentence,
                "rate": int(round(min(max(170.0 * math.exp(rate), 80.0), 450.0))),
                "pitch": int(round(min(max(pitch, 0.0), 100.0))),
                "pitch_range": int(round(min(max(pitch_range, 0.0), 100.0))),
                "volume": int(round(min(max(100.0 * math.exp(volume), 10.0), 200.0))),
                "pause_ms": int(round(min(max(pause, 0.0), 1000.0))),
                "tilt": float(min(max(tilt, -0.9), 1.5)),
                "noise_db": float(speaker["noise_db"] + rng.uniform(-3.0, 3.0)),
                "noise_seed": int(rng.integers(2**31 - 1)),
                "relpath": f"{WAV_DIR}/{language}/{speaker['speaker']}/{speaker['speaker']}_{i:03d}_{emotion}.wav",
            }
        )
    return utterances


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
