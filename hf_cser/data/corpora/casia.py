"""CASIA, the Chinese emotional speech corpus of the Institute of Automation, Chinese Academy of Sciences."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from .layout import assemble_corpus, find_files, map_label, no_audio_error, require_data_dir
from .registry import register_corpus
from .report import CorpusLoadReport

EXPECTED = "CASIA/\n  liuchanhg/angry/201.wav   (<speaker>/<emotion>/<id>.wav)\n  wangzhe/neutral/213.wav"

# The four speakers of the released corpus (2 female, 2 male) as listed by its distributors; override with
# `speaker_genders` if your copy differs.
CASIA_SPEAKER_GENDERS: dict[str, str] = {
    "liuchanhg": "female",
    "zhaoquanyin": "female",
    "wangzhe": "male",
    "zhaozuoxiang": "male",
}


@register_corpus(
    "casia",
    languages=("zh",),
    description="CASIA Chinese emotional speech corpus (Mandarin, acted, 4 speakers)",
    expected=EXPECTED,
)
def load_casia(
    data_dir: str | os.PathLike,
    *,
    speaker_genders: Mapping[str, str] | None = None,
    seed: int = 0,
    ratios: Sequence[float] = (0.8, 0.1, 0.1),
):
    """Load CASIA as distributed: one folder per speaker, one sub-folder per emotion.

    Layout:

    ```
    CASIA/
    ├── liuchanhg/
    │   ├── angry/201.wav
    │   ├── fear/...  happy/...  neutral/...  sad/...  surprise/...
    ├── wangzhe/...
    ├── zhaoquanyin/...
    └── ZhaoZuoxiang/...
    ```

    Emotions are the folder names: angry, happy, neutral, sad are kept; fear and surprise are dropped and counted.
    The speaker is the folder above the emotion folder (``casia_liuchanhg``); genders come from
    :data:`CASIA_SPEAKER_GENDERS` (``unknown`` for other names). No official split: the split is
    speaker-independent; with 4 speakers the default ratios give 2/1/1 speakers.

    Args:
        data_dir (`str` or `os.PathLike`): the corpus folder.
        speaker_genders (`Mapping[str, str]`, *optional*): extra or corrected ``{speaker folder: gender}``.
        seed (`int`, *optional*, defaults to 0): seed of the speaker-independent split.
        ratios (`Sequence[float]`, *optional*, defaults to `(0.8, 0.1, 0.1)`): train/validation/test speaker ratios.
    """
    root = require_data_dir(data_dir, "casia", EXPECTED)
    genders = {**CASIA_SPEAKER_GENDERS, **{k.lower(): v for k, v in (speaker_genders or {}).items()}}
    report = CorpusLoadReport("casia", str(root))
    records = []
    for path in find_files(root):
        if path.parent == root:
            report.drop("unparsed_name", path.name)
            continue
        label, speaker = path.parent.name, path.parent.parent.name
        known, emotion = map_label("casia", label)
        if not known:
            report.drop("unparsed_name", path.relative_to(root))
            continue
        if emotion is None:
            report.drop_emotion(label.lower(), path.relative_to(root))
            continue
        records.append(
            {
                "audio": str(path),
                "emotion": emotion,
                "language": "zh",
                "speaker": f"casia_{speaker}",
                "gender": genders.get(speaker.lower(), "unknown"),
                "corpus": "casia",
            }
        )
    if not records and not report.dropped:
        raise no_audio_error("casia", root, EXPECTED)
    return assemble_corpus(records, report, seed=seed, ratios=ratios)
