"""RAVDESS, the Ryerson Audio-Visual Database of Emotional Speech and Song (speech only; 24 actors)."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

from .layout import assemble_corpus, find_files, map_label, no_audio_error, require_data_dir
from .registry import register_corpus
from .report import CorpusLoadReport

EXPECTED = (
    "RAVDESS/\n  Actor_01/03-01-05-01-02-01-01.wav   "
    "(modality-channel-emotion-intensity-statement-repetition-actor)\n  Actor_24/03-01-01-01-01-01-24.wav"
)
RAVDESS_STATEMENTS: dict[str, str] = {"01": "Kids are talking by the door", "02": "Dogs are sitting by the door"}
INTENSITIES = {"all": ("01", "02"), "normal": ("01",), "strong": ("02",)}

_NAME = re.compile(r"^(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})$")


@register_corpus(
    "ravdess",
    languages=("en",),
    description="Ryerson Audio-Visual Database of Emotional Speech and Song, speech part (North American English)",
    expected=EXPECTED,
)
def load_ravdess(
    data_dir: str | os.PathLike,
    *,
    intensity: str = "all",
    seed: int = 0,
    ratios: Sequence[float] = (0.8, 0.1, 0.1),
):
    """Load the speech part of RAVDESS (``Audio_Speech_Actors_01-24.zip`` from Zenodo).

    Layout (7-part numeric names; the ``Actor_XX`` folders are not needed):

    ```
    RAVDESS/
    ├── Actor_01/03-01-05-01-02-01-01.wav   # audio-only, speech, angry, normal, "Dogs", 1st repetition, actor 01
    └── Actor_24/...
    ```

    Fields: modality (03 audio-only), vocal channel (01 speech, 02 song), emotion (01 neutral, 02 calm, 03 happy,
    04 sad, 05 angry, 06 fearful, 07 disgust, 08 surprised), intensity (01 normal, 02 strong), statement,
    repetition, actor (01-24; odd = male, even = female). Songs (channel 02) are dropped and counted as ``song``;
    calm, fearful, disgust and surprised are dropped and counted. No official split: the split is
    speaker-independent.

    Args:
        data_dir (`str` or `os.PathLike`): the corpus folder.
        intensity (`str`, *optional*, defaults to `"all"`): ``"all"``, ``"normal"`` or ``"strong"``; other
            intensities are dropped and counted as ``intensity`` (neutral, which has only normal, is always kept).
        seed (`int`, *optional*, defaults to 0): seed of the speaker-independent split.
        ratios (`Sequence[float]`, *optional*, defaults to `(0.8, 0.1, 0.1)`): train/validation/test speaker ratios.
    """
    if intensity not in INTENSITIES:
        raise ValueError(f"ravdess: `intensity` must be one of {list(INTENSITIES)}, got {intensity!r}.")
    root = require_data_dir(data_dir, "ravdess", EXPECTED)
    report = CorpusLoadReport("ravdess", str(root))
    records = []
    for path in find_files(root):
        match = _NAME.match(path.stem)
        if match is None:
            report.drop("unparsed_name", path.name)
            continue
        _, channel, code, level, statement, _, actor = match.groups()
        if channel != "01":
            report.drop("song", path.name)
            continue
        known, emotion = map_label("ravdess", code)
        if emotion is None:
            report.drop_emotion(code if known else f"unknown:{code}", path.name)
            continue
        if code != "01" and level not in INTENSITIES[intensity]:
            report.drop("intensity", path.name)
            continue
        records.append(
            {
                "audio": str(path),
                "emotion": emotion,
                "language": "en",
                "speaker": f"ravdess_{actor}",
                "gender": "male" if int(actor) % 2 == 1 else "female",
                "corpus": "ravdess",
                "transcript": RAVDESS_STATEMENTS.get(statement, ""),
            }
        )
    if not records and not report.dropped:
        raise no_audio_error("ravdess", root, EXPECTED)
    return assemble_corpus(records, report, seed=seed, ratios=ratios)
