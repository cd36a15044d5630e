"""CaFE, the Canadian French Emotional speech dataset (12 actors, 6 sentences, 7 emotions x 2 intensities)."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

from .layout import assemble_corpus, find_files, map_label, no_audio_error, require_data_dir
from .registry import register_corpus
from .report import CorpusLoadReport

EXPECTED = (
    "CaFE_48k/\n  Colère/Faible/01-C-1-1.wav   (actor 01, emotion C, intensity 1, sentence 1)\n"
    "  Colère/Fort/02-C-2-4.wav\n  Neutre/01-N-3.wav            (neutral has no intensity field)"
)
AUDIO_EXTENSIONS = (".wav", ".aiff", ".aif", ".flac")

# sentence number -> text, from the CaFE Readme.txt
CAFE_SENTENCES: dict[str, str] = {
    "1": "Un cheval fou dans mon jardin",
    "2": "Deux ânes aigris au pelage brun",
    "3": "Trois cygnes aveugles au bord du lac",
    "4": "Quatre vieilles truies éléphantesques",
    "5": "Cinq pumas fiers et passionnés",
    "6": "Six ours aimants domestiqués",
}
INTENSITIES = {"all": ("1", "2"), "low": ("1",), "high": ("2",)}

_NAME = re.compile(r"^(?P<actor>\d{2})-(?P<emotion>[A-Z])-(?P<a>\d)(?:-(?P<b>\d))?$")


@register_corpus(
    "cafe",
    languages=("fr",),
    description="Canadian French Emotional speech dataset (French, acted, 12 speakers)",
    expected=EXPECTED,
)
def load_cafe(
    data_dir: str | os.PathLike,
    *,
    intensity: str = "all",
    seed: int = 0,
    ratios: Sequence[float] = (0.8, 0.1, 0.1),
):
    """Load CaFE as distributed on Zenodo (``CaFE_48k.zip`` with WAV, or the 192 kHz parts with AIFF).

    Layout (emotion folders in French, then intensity folders ``Faible``/``Fort`` except for ``Neutre``; the folders
    are not needed, everything is read from the file name ``AA-E-I-S``):

    ```
    CaFE_48k/
    ├── Colère/
    │   ├── Faible/01-C-1-1.wav    # actor 01, C(olère), intensity 1 (faible), sentence 1
    │   └── Fort/02-C-2-4.wav
    ├── Joie/...  Tristesse/...  Dégoût/...  Peur/...  Surprise/...
    └── Neutre/01-N-3.wav          # neutral: AA-N-S, no intensity field
    ```

    Emotions: C (colère) -> angry, J (joie) -> happy, T (tristesse) -> sad, N (neutre) -> neutral; D, P and S
    (dégoût, peur, surprise) are dropped and counted. Odd actor numbers are men, even numbers women (Readme).
    No official split: the split is speaker-independent.

    Args:
        data_dir (`str` or `os.PathLike`): the extracted archive (one or both 192 kHz parts also work).
        intensity (`str`, *optional*, defaults to `"all"`): ``"all"``, ``"low"`` (faible) or ``"high"`` (fort);
            other intensities are dropped and counted as ``intensity``. Neutral files are always kept.
        seed (`int`, *optional*, defaults to 0): seed of the speaker-independent split.
        ratios (`Sequence[float]`, *optional*, defaults to `(0.8, 0.1, 0.1)`): train/validation/test speaker ratios.
    """
    if intensity not in INTENSITIES:
        raise ValueError(f"cafe: `intensity` must be one of {list(INTENSITIES)}, got {intensity!r}.")
    root = require_data_dir(data_dir, "cafe", EXPECTED)
    report = CorpusLoadReport("cafe", str(root))
    records = []
    for path in find_files(root, AUDIO_EXTENSIONS):
        match = _NAME.match(path.stem)
        if match is None:
            report.drop("unparsed_name", path.name)
            continue
        code = match["emotion"]
        level, sentence = (match["a"], match["b"]) if match["b"] is not None else (None, match["a"])
        known, emotion = map_label("cafe", code)
        if emotion is None:
            report.drop_emotion(code if known else f"unknown:{code}", path.name)
            continue
        if level is not None and code != "N" and level not in INTENSITIES[intensity]:
            report.drop("intensity", path.name)
            continue
        actor = match["actor"]
        records.append(
            {
                "audio": str(path),
                "emotion": emotion,
                "language": "fr",
                "speaker": f"cafe_{actor}",
                "gender": "male" if int(actor) % 2 == 1 else "female",
                "corpus": "cafe",
                "transcript": CAFE_SENTENCES.get(sentence, ""),
            }
        )
    if not records and not report.dropped:
        raise no_audio_error("cafe", root, EXPECTED, AUDIO_EXTENSIONS)
    return assemble_corpus(records, report, seed=seed, ratios=ratios)
