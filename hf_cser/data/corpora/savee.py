"""SAVEE, the Surrey Audio-Visual Expressed Emotion database (British English, 4 male speakers)."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

from .layout import assemble_corpus, find_files, map_label, no_audio_error, require_data_dir
from .registry import register_corpus
from .report import CorpusLoadReport

EXPECTED = (
    "SAVEE/\n  AudioData/DC/a01.wav    (<speaker>/<emotion code><index>.wav)\n"
    "or a flat folder:\n  ALL/DC_sa01.wav         (<speaker>_<emotion code><index>.wav)"
)
SAVEE_SPEAKERS: tuple[str, ...] = ("DC", "JE", "JK", "KL")

_NAME = re.compile(r"^(?:(?P<speaker>[A-Za-z]{2})_)?(?P<emotion>sa|su|[adfhn])(?P<index>\d{2})$")


@register_corpus(
    "savee",
    languages=("en",),
    description="Surrey Audio-Visual Expressed Emotion (British English, acted, 4 male speakers)",
    expected=EXPECTED,
)
def load_savee(data_dir: str | os.PathLike, *, seed: int = 0, ratios: Sequence[float] = (0.8, 0.1, 0.1)):
    """Load SAVEE in either of its two common layouts.

    ```
    SAVEE/AudioData/            # as distributed by the University of Surrey
    ├── DC/a01.wav  DC/sa15.wav  DC/n30.wav
    ├── JE/...  JK/...  KL/...
    SAVEE/ALL/                  # flat variant (e.g. the Kaggle copy)
    └── DC_a01.wav  JE_su03.wav
    ```

    Emotion codes: a (anger) -> angry, h (happiness) -> happy, sa (sadness) -> sad, n -> neutral; d, f, su (disgust,
    fear, surprise) are dropped and counted. The speaker is the ``XX_`` prefix, else the parent folder. All four
    speakers (DC, JE, JK, KL) are male. No official split: the split is speaker-independent (2/1/1 speakers with
    the default ratios).

    Args:
        data_dir (`str` or `os.PathLike`): the corpus folder.
        seed (`int`, *optional*, defaults to 0): seed of the speaker-independent split.
        ratios (`Sequence[float]`, *optional*, defaults to `(0.8, 0.1, 0.1)`): train/validation/test speaker ratios.
    """
    root = require_data_dir(data_dir, "savee", EXPECTED)
    report = CorpusLoadReport("savee", str(root))
    records = []
    for path in find_files(root):
        match = _NAME.match(path.stem)
        speaker = (match["speaker"] or path.parent.name).upper() if match else ""
        if match is None or not re.fullmatch(r"[A-Z]{2}", speaker):
            report.drop("unparsed_name", path.relative_to(root))
            continue
        known, emotion = map_label("savee", match["emotion"])
        if emotion is None:
            report.drop_emotion(match["emotion"], path.relative_to(root))
            continue
        records.append(
            {
                "audio": str(path),
                "emotion": emotion,
                "language": "en",
                "speaker": f"savee_{speaker}",
                "gender": "male" if speaker in SAVEE_SPEAKERS else "unknown",
                "corpus": "savee",
            }
        )
    if not records and not report.dropped:
        raise no_audio_error("savee", root, EXPECTED)
    return assemble_corpus(records, report, seed=seed, ratios=ratios)
