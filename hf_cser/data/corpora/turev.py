"""TurEV-DB, the Turkish emotional voice database (acted single words, 6 speakers)."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

from .layout import assemble_corpus, find_files, map_label, no_audio_error, require_data_dir
from .registry import register_corpus
from .report import CorpusLoadReport

EXPECTED = (
    "TurEV-DB/\n  Sound Source/Angry/1157_kz_acik.wav   (<Emotion>/<SPK>_<code>_<word>.wav)\n  Sound Source/Calm/..."
)

NAME_PATTERN = re.compile(r"^(?P<speaker>\d{4})_(?P<code>[a-z]{2})_(?P<word>.+)$")
# the emotion code in the file name and the folder it must agree with
TUREV_CODES: dict[str, str] = {"kz": "angry", "sk": "calm", "mt": "happy", "hl": "sad"}


@register_corpus(
    "turev",
    languages=("tr",),
    description="TurEV-DB Turkish emotional voice database (acted single words, 6 speakers; Calm as neutral)",
    expected=EXPECTED,
)
def load_turev(
    data_dir: str | os.PathLike,
    *,
    calm_as_neutral: bool = True,
    seed: int = 0,
    ratios: Sequence[float] = (0.8, 0.1, 0.1),
):
    """Load TurEV-DB as distributed: ``Sound Source/<Angry|Calm|Happy|Sad>/<SPK>_<code>_<word>.wav``.

    The corpus has no neutral class; its Calm class stands for neutral by default (``calm_as_neutral=False`` drops
    and counts it instead). The emotion code of the name (kz angry, sk calm, mt happy, hl sad) must agree with the
    folder, else the file is dropped and counted as ``code_folder_mismatch``. The speaker is the 4-digit id
    (``turev_1157``); gender is not encoded (``unknown``). No official split: speaker-independent. Note that one
    speaker has only angry and sad files and another only happy ones.

    Args:
        data_dir (`str` or `os.PathLike`): the repository folder (holding ``Sound Source``) or ``Sound Source`` itself.
        calm_as_neutral (`bool`, *optional*, defaults to `True`): map Calm to neutral; `False` drops it.
        seed (`int`, *optional*, defaults to 0): seed of the speaker-independent split.
        ratios (`Sequence[float]`, *optional*, defaults to `(0.8, 0.1, 0.1)`): train/validation/test speaker ratios.
    """
    root = require_data_dir(data_dir, "turev", EXPECTED)
    report = CorpusLoadReport("turev", str(root))
    records = []
    for path in find_files(root):
        match = NAME_PATTERN.match(path.stem)
        if match is None:
            report.drop("unparsed_name", path.relative_to(root))
            continue
        folder = path.parent.name.lower()
        code_emotion = TUREV_CODES.get(match["code"])
        if code_emotion is None or code_emotion != folder:
            report.drop("code_folder_mismatch", path.relative_to(root))
            continue
        label = "neutral" if folder == "calm" and calm_as_neutral else folder
        known, emotion = map_label("turev", label)
        if not known:
            report.drop("unparsed_name", path.relative_to(root))
            continue
        if emotion is None:
            report.drop_emotion(folder, path.relative_to(root))
            continue
        records.append(
            {
                "audio": str(path),
                "emotion": emotion,
                "language": "tr",
                "speaker": f"turev_{match['speaker']}",
                "gender": "unknown",
                "corpus": "turev",
            }
        )
    if not records and not report.dropped:
        raise no_audio_error("turev", root, EXPECTED)
    return assemble_corpus(records, report, seed=seed, ratios=ratios)
