"""MELD, the Multimodal EmotionLines Dataset (English dialogues from the TV series Friends)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from .layout import (
    CorpusLayoutError,
    assemble_corpus,
    find_dir,
    find_file,
    find_files,
    map_label,
    read_csv_rows,
    require_data_dir,
)
from .registry import register_corpus
from .report import CorpusLoadReport

EXPECTED = (
    "MELD.Raw/\n  train_sent_emo.csv  dev_sent_emo.csv  test_sent_emo.csv\n"
    "  train/train_splits/dia0_utt0.wav\n  dev/dev_splits_complete/dia0_utt0.wav\n"
    "  test/output_repeated_splits_test/dia0_utt0.wav\n"
    "(the release ships .mp4 clips: extract mono WAV next to them, e.g. "
    "`ffmpeg -i dia0_utt0.mp4 -vn -ac 1 -ar 16000 dia0_utt0.wav`)"
)
# split -> (metadata CSV, clip folders of the release and common names of extracted-audio folders)
MELD_SPLITS: dict[str, tuple[str, tuple[str, ...]]] = {
    "train": ("train_sent_emo.csv", ("train_splits", "train_splits_wav", "train_wav", "train")),
    "validation": ("dev_sent_emo.csv", ("dev_splits_complete", "dev_splits", "dev_splits_wav", "dev_wav", "dev")),
    "test": (
        "test_sent_emo.csv",
        ("output_repeated_splits_test", "test_splits", "test_splits_wav", "test_wav", "test"),
    ),
}
# the six main characters; every other speaker gets "unknown"
MELD_SPEAKER_GENDERS: dict[str, str] = {
    "Chandler": "male",
    "Joey": "male",
    "Ross": "male",
    "Monica": "female",
    "Rachel": "female",
    "Phoebe": "female",
}
REQUIRED_COLUMNS = ("Utterance", "Speaker", "Emotion", "Dialogue_ID", "Utterance_ID")
_CLIP = re.compile(r"^dia(?P<dialogue>\d+)_utt(?P<utterance>\d+)$")


def _clip_index(root: Path, folder_names: tuple[str, ...]) -> tuple[dict[tuple[int, int], Path], Path | None, int]:
    """``{(dialogue, utterance): wav}`` from the first existing clip folder, that folder, and its mp4 count."""
    for name in folder_names:
        folder = find_dir(root, [name])
        if folder is None:
            continue
        index = {}
        for path in find_files(folder, (".wav", ".flac")):
            match = _CLIP.match(path.stem)
            if match:
                index[(int(match["dialogue"]), int(match["utterance"]))] = path
        if index:
            return index, folder, 0
        videos = len(find_files(folder, (".mp4",)))
        if videos:
            return {}, folder, videos
    return {}, None, 0


@register_corpus(
    "meld",
    languages=("en",),
    description="Multimodal EmotionLines Dataset (English TV dialogues, many speakers)",
    expected=EXPECTED,
)
def load_meld(data_dir: str | os.PathLike, *, skip_missing: bool = True):
    """Load MELD (``MELD.Raw.tar.gz``) with audio extracted to WAV.

    Layout (the CSVs as released; each split's clip folder holds ``dia{Dialogue_ID}_utt{Utterance_ID}`` clips):

    ```
    MELD.Raw/
    ├── train_sent_emo.csv   # Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,...
    ├── dev_sent_emo.csv
    ├── test_sent_emo.csv
    ├── train/train_splits/dia0_utt0.wav
    ├── dev/dev_splits_complete/dia0_utt0.wav
    └── test/output_repeated_splits_test/dia0_utt0.wav
    ```

    MELD ships ``.mp4`` clips, which soundfile cannot decode: extract the audio once, keeping the names, e.g.
    ``ffmpeg -i dia0_utt0.mp4 -vn -ac 1 -ar 16000 dia0_utt0.wav``. Folders named ``train_splits_wav`` etc. are also
    searched. A split whose folder holds only mp4 clips raises an error saying so.

    Emotions: neutral, joy -> happy, anger -> angry, sadness -> sad; surprise, fear and disgust are dropped and
    counted. Speakers are the character names (``meld_Chandler``); the six main characters have a gender, the others
    ``unknown``. The official train/dev/test split is used (dev -> ``validation``).

    Args:
        data_dir (`str` or `os.PathLike`): the ``MELD.Raw`` folder.
        skip_missing (`bool`, *optional*, defaults to `True`): skip and count (``missing_audio``) rows without a clip;
            the release itself lacks a few clips. With `False` a missing clip raises an error naming it.
    """
    root = require_data_dir(data_dir, "meld", EXPECTED)
    report = CorpusLoadReport("meld", str(root))
    records, splits = [], []
    found_any = False
    for split, (csv_name, folder_names) in MELD_SPLITS.items():
        csv_path = find_file(root, [csv_name])
        if csv_path is None:
            continue
        found_any = True
        header, rows = read_csv_rows(csv_path)
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            raise CorpusLayoutError(f"meld: '{csv_path}' lacks column(s) {missing}; its header is {header}.")
        clips, folder, videos = _clip_index(csv_path.parent, folder_names)
        if not clips and folder is None:
            clips, folder, videos = _clip_index(root, folder_names)
        if not clips:
            where = f"'{folder}' holds {videos} .mp4 clip(s) but no .wav" if videos else f"no clip folder in '{root}'"
            raise CorpusLayoutError(
                f"meld: no WAV clip for the {split} split ({where}). soundfile cannot decode mp4: extract the audio "
                f"first, keeping the names. Expected a layout like:\n{EXPECTED}"
            )
        for row in rows:
            key = (int(row["Dialogue_ID"]), int(row["Utterance_ID"]))
            label = row["Emotion"].lower()
            known, emotion = map_label("meld", label)
            if emotion is None:
                report.drop_emotion(label if known else f"unknown:{label}", f"dia{key[0]}_utt{key[1]}")
                continue
            path = clips.get(key)
            if path is None:
                name = f"dia{key[0]}_utt{key[1]}.wav"
                if not skip_missing:
                    raise FileNotFoundError(f"meld: clip {name} ({split}, {csv_path.name}) is missing in '{folder}'.")
                report.drop("missing_audio", f"{split}/{name}")
                continue
            speaker = row["Speaker"].strip() or "unknown"
            records.append(
                {
                    "audio": str(path),
                    "emotion": emotion,
                    "language": "en",
                    "speaker": "meld_" + re.sub(r"\s+", "_", speaker),
                    "gender": MELD_SPEAKER_GENDERS.get(speaker, "unknown"),
                    "corpus": "meld",
                    "transcript": row["Utterance"],
                }
            )
            splits.append(split)
    if not found_any:
        raise CorpusLayoutError(
            f"meld: none of {[v[0] for v in MELD_SPLITS.values()]} found under '{root}'. "
            f"Expected a layout like:\n{EXPECTED}"
        )
    return assemble_corpus(records, report, splits=splits)
