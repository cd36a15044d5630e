"""URDU, the spontaneous Urdu speech emotion corpus of Latif et al. (2018): talk-show clips, 38 speakers."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

from .layout import assemble_corpus, find_files, map_label, no_audio_error, require_data_dir
from .registry import register_corpus
from .report import CorpusLoadReport

EXPECTED = (
    "URDU/\n  Angry/SM1_F1_A01.wav   (S + gender M/F + speaker number, F<file>, emotion letter + index)\n"
    "  Happy/SF2_F3_H05.wav\n  Neutral/...\n  Sad/..."
)

_NAME = re.compile(r"^S(?P<gender>[MF])(?P<number>\d+)_F(?P<file>\d+)_(?P<emotion>[A-Za-z])(?P<index>\d+)$")


@register_corpus(
    "urdu",
    languages=("ur",),
    description="URDU spontaneous speech emotion corpus (Urdu, talk shows, 4 emotions)",
    expected=EXPECTED,
)
def load_urdu(data_dir: str | os.PathLike, *, seed: int = 0, ratios: Sequence[float] = (0.8, 0.1, 0.1)):
    """Load the URDU corpus as distributed (github.com/siddiquelatif/URDU-Dataset).

    Layout:

    ```
    URDU/
    ├── Angry/SM1_F1_A01.wav    # S, gender M/F, speaker 1 -> speaker "urdu_SM1"; F1 file; A(ngry), utterance 01
    ├── Happy/SF10_F2_H03.wav
    ├── Neutral/SM5_F7_N12.wav
    └── Sad/SF3_F4_S02.wav
    ```

    The emotion is read from the letter of the last field (A/H/N/S); the folder is not needed, so a flat folder of
    such files also loads. Speaker ids are ``S<gender><number>`` (the gender letter is part of the documented speaker
    code). No official split: the split is speaker-independent.

    Args:
        data_dir (`str` or `os.PathLike`): the corpus folder.
        seed (`int`, *optional*, defaults to 0): seed of the speaker-independent split.
        ratios (`Sequence[float]`, *optional*, defaults to `(0.8, 0.1, 0.1)`): train/validation/test speaker ratios.
    """
    root = require_data_dir(data_dir, "urdu", EXPECTED)
    report = CorpusLoadReport("urdu", str(root))
    records = []
    for path in find_files(root):
        match = _NAME.match(path.stem)
        if match is None:
            report.drop("unparsed_name", path.name)
            continue
        known, emotion = map_label("urdu", match["emotion"].upper())
        if emotion is None:
            report.drop_emotion(match["emotion"] if known else f"unknown:{match['emotion']}", path.name)
            continue
        records.append(
            {
                "audio": str(path),
                "emotion": emotion,
                "language": "ur",
                "speaker": f"urdu_S{match['gender']}{int(match['number'])}",
                "gender": "male" if match["gender"] == "M" else "female",
                "corpus": "urdu",
            }
        )
    if not records and not report.dropped:
        raise no_audio_error("urdu", root, EXPECTED)
    return assemble_corpus(records, report, seed=seed, ratios=ratios)
