"""ESD, the Emotional Speech Dataset of Zhou et al. (2021): 10 Mandarin and 10 English speakers, 5 emotions."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from .layout import assemble_corpus, find_files, map_label, read_text, require_data_dir
from .registry import register_corpus
from .report import CorpusLoadReport

EXPECTED = (
    "ESD/  (or 'Emotion Speech Dataset/')\n  0011/0011.txt\n  0011/Angry/0011_000351.wav   "
    "(or 0011/Angry/train/0011_000351.wav)\n  0001/Neutral/evaluation/0001_000001.wav"
)

# from the ESD README
ESD_SPEAKER_GENDERS: dict[str, str] = {
    "0001": "female",
    "0002": "female",
    "0003": "female",
    "0004": "male",
    "0005": "male",
    "0006": "male",
    "0007": "female",
    "0008": "male",
    "0009": "female",
    "0010": "male",
    "0011": "male",
    "0012": "male",
    "0013": "male",
    "0014": "male",
    "0015": "female",
    "0016": "female",
    "0017": "female",
    "0018": "female",
    "0019": "female",
    "0020": "male",
}
LANGUAGES = {"zh": range(1, 11), "en": range(11, 21)}
_SPLIT_FOLDERS = {"train": "train", "evaluation": "validation", "test": "test"}
_NAME = re.compile(r"^(?P<speaker>\d{4})_(?P<index>\d{6})$")


def esd_official_split(utterance_index: int) -> str:
    """The official ESD split of an utterance number (1..1750).

    Each emotion holds 350 consecutive numbers (neutral 1-350, angry 351-700, happy 701-1050, sad 1051-1400,
    surprise 1401-1750); within each block the first 20 are ``evaluation`` (here ``validation``), the next 30
    ``test`` and the last 300 ``train``, as in the distributed ``evaluation/``, ``test/``, ``train/`` folders.
    """
    position = (utterance_index - 1) % 350
    return "validation" if position < 20 else "test" if position < 50 else "train"


def _read_transcripts(path) -> dict[str, str]:
    texts = {}
    for line in read_text(path).splitlines():
        parts = line.strip().split("\t")
        if len(parts) >= 2 and _NAME.match(parts[0].strip()):
            texts[parts[0].strip()] = parts[1].strip()
    return texts


@register_corpus(
    "esd",
    languages=("zh", "en"),
    description="Emotional Speech Dataset (Mandarin and English, 20 speakers, parallel text)",
    expected=EXPECTED,
)
def load_esd(
    data_dir: str | os.PathLike,
    *,
    language: str = "all",
    split: str = "official",
    seed: int = 0,
    ratios: Sequence[float] = (0.8, 0.1, 0.1),
):
    """Load ESD as distributed (github.com/HLTSingapore/Emotional-Speech-Data).

    Layout (speakers 0001-0010 Mandarin, 0011-0020 English; the split folders are optional):

    ```
    Emotion Speech Dataset/
    ├── 0001/
    │   ├── 0001.txt                     # "0001_000001<TAB>text<TAB>emotion" per line
    │   ├── Angry/train/0001_000401.wav  # or Angry/0001_000401.wav without split folders
    │   ├── Happy/  Neutral/  Sad/  Surprise/
    └── 0020/...
    ```

    Emotion folders: Neutral, Happy, Angry, Sad are kept; Surprise is dropped and counted. Transcripts come from
    ``<spk>/<spk>.txt`` (UTF-8, UTF-16 or GB18030). Genders come from the README speaker list.

    Args:
        data_dir (`str` or `os.PathLike`): the corpus root (the folder holding ``0001`` ... ``0020``, or above it).
        language (`str`, *optional*, defaults to `"all"`): ``"zh"`` (0001-0010), ``"en"`` (0011-0020) or ``"all"``.
            The other speakers are not read (and not counted as dropped).
        split (`str`, *optional*, defaults to `"official"`): ``"official"`` uses the ``train``/``evaluation``/``test``
            folders, or without them the utterance-number ranges of :func:`esd_official_split` (the official split
            shares speakers across splits); ``"speaker"`` makes a speaker-independent split with ``seed``.
        seed (`int`, *optional*, defaults to 0): seed of the speaker-independent split.
        ratios (`Sequence[float]`, *optional*, defaults to `(0.8, 0.1, 0.1)`): train/validation/test speaker ratios.
    """
    if language not in (*LANGUAGES, "all"):
        raise ValueError(f"esd: `language` must be 'zh', 'en' or 'all', got {language!r}.")
    if split not in ("official", "speaker"):
        raise ValueError(f"esd: `split` must be 'official' or 'speaker', got {split!r}.")
    root = require_data_dir(data_dir, "esd", EXPECTED)
    wanted = {f"{i:04d}" for lang, ids in LANGUAGES.items() if language in (lang, "all") for i in ids}
    speaker_dirs = []
    for folder, subfolders, _ in os.walk(root):  # stop at speaker folders: their content is read below
        speaker_dirs += [Path(folder) / d for d in subfolders if d in wanted]
        subfolders[:] = sorted(
            d for d in subfolders if d not in ESD_SPEAKER_GENDERS and not d.startswith(".") and d != "__MACOSX"
        )
    speaker_dirs.sort()
    if not speaker_dirs:
        raise FileNotFoundError(
            f"esd: no speaker folder {min(wanted)}..{max(wanted)} (language={language!r}) found under '{root}'. "
            f"Expected a layout like:\n{EXPECTED}"
        )
    report = CorpusLoadReport("esd", str(root))
    records, splits = [], []
    for speaker_dir in speaker_dirs:
        speaker = speaker_dir.name
        lang = "zh" if int(speaker) <= 10 else "en"
        transcript_file = speaker_dir / f"{speaker}.txt"
        texts = _read_transcripts(transcript_file) if transcript_file.is_file() else {}
        for path in find_files(speaker_dir):
            match = _NAME.match(path.stem)
            relative = path.relative_to(speaker_dir)
            if match is None or match["speaker"] != speaker or len(relative.parts) < 2:
                report.drop("unparsed_name", path.relative_to(root))
                continue
            label = relative.parts[0]
            known, emotion = map_label("esd", label)
            if emotion is None:
                report.drop_emotion(label if known else f"unknown:{label}", path.relative_to(root))
                continue
            folder_split = relative.parts[1].lower() if len(relative.parts) > 2 else None
            splits.append(_SPLIT_FOLDERS.get(folder_split) or esd_official_split(int(match["index"])))
            records.append(
                {
                    "audio": str(path),
                    "emotion": emotion,
                    "language": lang,
                    "speaker": f"esd_{speaker}",
                    "gender": ESD_SPEAKER_GENDERS.get(speaker, "unknown"),
                    "corpus": "esd",
                    "transcript": texts.get(path.stem, ""),
                }
            )
    if split == "speaker":
        return assemble_corpus(records, report, seed=seed, ratios=ratios)
    return assemble_corpus(records, report, splits=splits)
