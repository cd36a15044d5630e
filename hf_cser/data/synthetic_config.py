"""Configuration and prosody profiles of the synthetic corpus (split out of :mod:`hf_cser.data.synthetic`).

Holds :class:`SyntheticCorpusConfig` (with its validation, :meth:`~SyntheticCorpusConfig.to_dict` and
:meth:`~SyntheticCorpusConfig.fingerprint`), the file layout of a rendered corpus (:data:`CONFIG_FILE`,
:data:`METADATA_FILE`, :data:`DATASET_DIR`, :data:`WAV_DIR`, :data:`METADATA_COLUMNS`), the generator version that
keys cached corpora (:data:`GENERATOR_VERSION`), the espeak-ng voices and variants, and the four prosody layers of
the generator: :data:`EMOTION_PROFILES`, :data:`STYLE_ARCHETYPES`, :data:`LANGUAGE_PROFILES` and
:data:`UTTERANCE_JITTER` over the :data:`PROSODY_DIMENSIONS`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

from transformers.utils import logging

from ..labels import EMOTIONS
from .schema import SPLITS
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
