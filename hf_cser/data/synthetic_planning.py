"""Planning of the synthetic corpus: every random draw, in the parent process, as a pure function of the config
(split out of :mod:`hf_cser.data.synthetic`).

Holds :func:`plan_speakers` (the speakers of one language: voice variant, gender, baseline prosody, style archetype
and personal style), :func:`plan_utterances` (the utterances of one speaker: sentence, emotion and the final prosody
controls) and :func:`speaker_id`. Every draw comes from a generator seeded by ``(seed, purpose, language or
speaker)``, so a plan does not depend on the order or the process it is made in.
"""

from __future__ import annotations

import math
import zlib
from typing import Any

import numpy as np

from ..labels import EMOTIONS
from .synthetic_config import (
    CORPUS_NAME,
    EMOTION_PROFILES,
    ESPEAK_VOICES,
    FEMALE_VARIANTS,
    LANGUAGE_PROFILES,
    MALE_VARIANTS,
    STYLE_ARCHETYPES,
    UTTERANCE_JITTER,
    WAV_DIR,
    SyntheticCorpusConfig,
)
from .synthetic_sentences import SENTENCES


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
