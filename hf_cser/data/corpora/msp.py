"""The MSP family: MSP-Podcast, MSP-IMPROV (UT Dallas) and BIIC-Podcast (NTHU, an MSP-Podcast-style corpus).

MSP-Podcast and BIIC-Podcast share one reader for a consensus-labels CSV; column names are matched ignoring case,
``_`` and spaces, with the variants of :data:`LABEL_COLUMNS`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from transformers.utils import logging

from .layout import (
    CorpusLayoutError,
    assemble_corpus,
    find_dir,
    find_file,
    find_files,
    map_label,
    read_csv_rows,
    read_text,
    require_data_dir,
)
from .registry import register_corpus
from .report import CorpusLoadReport

logger = logging.get_logger(__name__)

# role -> accepted column names, compared after lowercasing and removing everything but letters and digits
LABEL_COLUMNS: dict[str, tuple[str, ...]] = {
    "file": ("filename", "file", "filepath", "path", "audio", "wav", "utterance", "utteranceid", "name"),
    "emotion": ("emoclass", "emotion", "emoclassmajor", "class", "label", "category"),
    "speaker": ("spkrid", "speakerid", "speaker", "spkid", "spk"),
    "gender": ("gender", "sex", "spkrgender", "speakergender"),
    "split": ("splitset", "split", "partition", "set", "subset"),
}
SPLIT_NAMES: dict[str, str] = {
    "train": "train",
    "training": "train",
    "development": "validation",
    "dev": "validation",
    "validation": "validation",
    "valid": "validation",
    "test": "test",
    "test1": "test",
    "test2": "test2",
    "test3": "test3",
}
LABEL_CSV_NAMES = ("labels_consensus.csv", "labels.csv", "labels_concensus.csv", "consensus_labels.csv")
AUDIO_DIR_NAMES = ("Audios", "Audio", "audios", "audio", "wav", "wavs")
TRANSCRIPT_DIR_NAMES = ("Transcripts", "Transcript", "transcripts", "Transcriptions")
ALIGNMENT_DIR_NAMES = ("ForceAligned", "ForcedAligned", "ForcedAlignment", "Alignments", "alignments", "TextGrids")


def _column(header: Sequence[str], role: str) -> str | None:
    normalized = {re.sub(r"[^a-z0-9]", "", h.lower()): h for h in header}
    for candidate in LABEL_COLUMNS[role]:
        if candidate in normalized:
            return normalized[candidate]
    return None


def _gender(value: str) -> str:
    value = value.strip().lower()
    return "female" if value in ("f", "female", "woman") else "male" if value in ("m", "male", "man") else "unknown"


def _speaker(corpus: str, value: str) -> str:
    value = value.strip()
    if not value or value.lower() in ("unknown", "nan", "none", "-1", "na"):
        return f"{corpus}_unknown"
    return f"{corpus}_{value}"


def _load_alignments(alignment_dir: Path, alignment_format: str, tier: str | None):
    """``{utterance stem: () -> phones}`` for the alignment files of ``alignment_dir`` (TextGrids read lazily)."""
    from ..alignments import read_ctm, read_textgrid

    if alignment_format == "textgrid":
        files = find_files(alignment_dir, (".textgrid",))
        return {p.stem: (lambda p=p: read_textgrid(p, tier=tier)) for p in files}
    if alignment_format == "ctm":  # one file per utterance or one file for all: key by the CTM utterance id
        alignments = {}
        for path in find_files(alignment_dir, (".ctm",)):
            alignments.update(read_ctm(path))
        return {Path(utt).stem: (lambda phones=phones: phones) for utt, phones in alignments.items()}
    raise ValueError(f"`alignment_format` must be 'textgrid' or 'ctm', got {alignment_format!r}.")


def load_podcast_style_corpus(
    corpus: str,
    language: str,
    data_dir: str | os.PathLike,
    expected: str,
    *,
    labels_file: str | None = None,
    split: str = "official",
    skip_missing: bool = False,
    transcripts: bool = True,
    phonemes: bool = True,
    alignment_format: str = "textgrid",
    alignment_tier: str | None = None,
    seed: int = 0,
    ratios: Sequence[float] = (0.8, 0.1, 0.1),
):
    """Shared reader of MSP-Podcast-style corpora (see :func:`load_msp_podcast` for the layout and options)."""
    if split not in ("official", "speaker"):
        raise ValueError(f"{corpus}: `split` must be 'official' or 'speaker', got {split!r}.")
    root = require_data_dir(data_dir, corpus, expected)
    labels_path = Path(labels_file) if labels_file else find_file(root, LABEL_CSV_NAMES)
    if labels_path is None or not labels_path.is_file():
        raise CorpusLayoutError(
            f"{corpus}: no labels CSV ({', '.join(LABEL_CSV_NAMES)}) found under '{root}' (searched 3 levels deep); "
            f"pass `labels_file=` for another name. Expected a layout like:\n{expected}"
        )
    header, rows = read_csv_rows(labels_path)
    columns = {role: _column(header, role) for role in LABEL_COLUMNS}
    if columns["file"] is None or columns["emotion"] is None:
        raise CorpusLayoutError(
            f"{corpus}: '{labels_path}' has columns {header}; expected a file column (one of "
            f"{list(LABEL_COLUMNS['file'])}) and an emotion column (one of {list(LABEL_COLUMNS['emotion'])}), e.g. "
            "the MSP-Podcast header 'FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set'."
        )
    if split == "official" and columns["split"] is None:
        logger.warning(f"{corpus}: '{labels_path.name}' has no split column; using a speaker-independent split.")
        split = "speaker"
    audio_dir = find_dir(root, AUDIO_DIR_NAMES) or root
    transcript_dir = find_dir(root, TRANSCRIPT_DIR_NAMES) if transcripts else None
    alignment_dir = find_dir(root, ALIGNMENT_DIR_NAMES) if phonemes else None
    alignments = {}
    if alignment_dir is not None:
        alignments = _load_alignments(alignment_dir, alignment_format, alignment_tier)
        if not alignments:
            logger.warning(f"{corpus}: no {alignment_format} file in '{alignment_dir}'; `phonemes` stay empty.")
    fallback_index: dict[str, Path] | None = None
    report = CorpusLoadReport(corpus, str(root))
    records, splits = [], []
    for line_no, row in enumerate(rows, start=2):
        name = row[columns["file"]]
        label = row[columns["emotion"]]
        known, emotion = map_label(corpus, label)
        if emotion is None:
            report.drop_emotion(label if known else f"unknown:{label}", name)
            continue
        file_name = name if Path(name).suffix else f"{name}.wav"
        path = audio_dir / file_name
        if not path.is_file():
            if fallback_index is None:  # the audio may sit in sub-folders: index once
                fallback_index = {p.name: p for p in find_files(root)}
            path = fallback_index.get(Path(file_name).name)
        if path is None:
            if not skip_missing:
                raise FileNotFoundError(
                    f"{corpus}: audio '{file_name}' ({labels_path.name}, line {line_no}) not found in '{audio_dir}' "
                    "or below; pass `skip_missing=True` to skip and count missing files."
                )
            report.drop("missing_audio", file_name)
            continue
        stem = Path(file_name).stem
        transcript = ""
        if transcript_dir is not None and (transcript_dir / f"{stem}.txt").is_file():
            transcript = read_text(transcript_dir / f"{stem}.txt").strip()
        phones = alignments[stem]() if stem in alignments else []
        raw_split = row[columns["split"]].strip().lower() if columns["split"] else ""
        if split == "official":
            if not raw_split:
                report.drop("no_split", file_name)
                continue
            splits.append(SPLIT_NAMES.get(raw_split, raw_split))
        records.append(
            {
                "audio": str(path),
                "emotion": emotion,
                "language": language,
                "speaker": _speaker(corpus, row[columns["speaker"]] if columns["speaker"] else ""),
                "gender": _gender(row[columns["gender"]]) if columns["gender"] else "unknown",
                "corpus": corpus,
                "transcript": transcript,
                "phonemes": phones,
            }
        )
    if split == "speaker":
        return assemble_corpus(records, report, seed=seed, ratios=ratios)
    return assemble_corpus(records, report, splits=splits)


MSP_PODCAST_EXPECTED = (
    "MSP-Podcast/\n  Labels/labels_consensus.csv   "
    "(FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set)\n"
    "  Audios/MSP-PODCAST_0001_0008.wav\n  Transcripts/MSP-PODCAST_0001_0008.txt   (optional)\n"
    "  ForceAligned/MSP-PODCAST_0001_0008.TextGrid   (optional)"
)


@register_corpus(
    "msp-podcast",
    languages=("en",),
    description="MSP-Podcast (English podcast speaking turns, consensus labels, official split)",
    expected=MSP_PODCAST_EXPECTED,
)
def load_msp_podcast(
    data_dir: str | os.PathLike,
    *,
    labels_file: str | None = None,
    split: str = "official",
    skip_missing: bool = False,
    transcripts: bool = True,
    phonemes: bool = True,
    alignment_format: str = "textgrid",
    alignment_tier: str | None = None,
    seed: int = 0,
    ratios: Sequence[float] = (0.8, 0.1, 0.1),
):
    """Load MSP-Podcast (release 1.x) from its consensus labels.

    Layout:

    ```
    MSP-Podcast/
    ├── Labels/labels_consensus.csv     # FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set
    ├── Audios/MSP-PODCAST_0001_0008.wav
    ├── Transcripts/MSP-PODCAST_0001_0008.txt        # optional
    └── ForceAligned/MSP-PODCAST_0001_0008.TextGrid  # optional, see `alignment_format`
    ```

    ``EmoClass`` N/H/A/S are kept; U, F, D, C, O, X (surprise, fear, disgust, contempt, other, no agreement) are
    dropped and counted. ``Split_Set`` Train/Development/Test1/Test2/Test3 become ``train``/``validation``/``test``/
    ``test2``/``test3``. ``SpkrID`` ``Unknown`` becomes the single speaker ``msp-podcast_unknown``.
    Audio not in ``Audios/`` is looked up by name anywhere below ``data_dir``.

    The format of the release's ``ForceAligned/`` folder is not documented publicly; Praat TextGrid is assumed
    (our choice), CTM is supported with ``alignment_format="ctm"`` (one file per utterance or a single file keyed
    by utterance id stem). Without the folder ``phonemes`` stay empty.

    Args:
        data_dir (`str` or `os.PathLike`): the corpus root.
        labels_file (`str`, *optional*): the labels CSV, when not ``Labels/labels_consensus.csv``.
        split (`str`, *optional*, defaults to `"official"`): ``"official"`` (``Split_Set``) or ``"speaker"``.
        skip_missing (`bool`, *optional*, defaults to `False`): skip and count (``missing_audio``) rows whose audio is
            missing instead of raising an error naming the file.
        transcripts (`bool`, *optional*, defaults to `True`): read ``Transcripts/<name>.txt`` when present.
        phonemes (`bool`, *optional*, defaults to `True`): read forced alignments when the folder is present.
        alignment_format (`str`, *optional*, defaults to `"textgrid"`): ``"textgrid"`` or ``"ctm"``.
        alignment_tier (`str`, *optional*): TextGrid tier to read (default: the phone tier, see
            :func:`hf_cser.data.alignments.read_textgrid`).
        seed (`int`, *optional*, defaults to 0): seed of the speaker-independent split (``split="speaker"``).
        ratios (`Sequence[float]`, *optional*, defaults to `(0.8, 0.1, 0.1)`): its speaker ratios.
    """
    return load_podcast_style_corpus(
        "msp-podcast",
        "en",
        data_dir,
        MSP_PODCAST_EXPECTED,
        labels_file=labels_file,
        split=split,
        skip_missing=skip_missing,
        transcripts=transcripts,
        phonemes=phonemes,
        alignment_format=alignment_format,
        alignment_tier=alignment_tier,
        seed=seed,
        ratios=ratios,
    )


BIIC_PODCAST_EXPECTED = (
    "BIIC-Podcast/\n  Labels/labels_consensus.csv   (FileName,EmoClass,...,SpkrID,Gender,Split_Set; as MSP-Podcast)\n"
    "  Audios/<FileName>.wav"
)


@register_corpus(
    "biic-podcast",
    languages=("zh-TW",),
    description="BIIC-Podcast (Taiwanese Mandarin podcasts, MSP-Podcast-style labels)",
    expected=BIIC_PODCAST_EXPECTED,
)
def load_biic_podcast(
    data_dir: str | os.PathLike,
    *,
    labels_file: str | None = None,
    split: str = "official",
    skip_missing: bool = False,
    transcripts: bool = True,
    phonemes: bool = True,
    alignment_format: str = "textgrid",
    alignment_tier: str | None = None,
    seed: int = 0,
    ratios: Sequence[float] = (0.8, 0.1, 0.1),
):
    """Load BIIC-Podcast, assuming the MSP-Podcast layout (its public documentation does not give one).

    ```
    BIIC-Podcast/
    ├── Labels/labels_consensus.csv   # FileName,EmoClass,...,SpkrID,Gender,Split_Set (names matched loosely)
    └── Audios/<FileName>.wav
    ```

    Column variants accepted (case, ``_`` and spaces ignored): file = FileName/File/Path/Audio..., emotion =
    EmoClass/Emotion/Label..., speaker = SpkrID/SpeakerID/Speaker, gender = Gender/Sex, split =
    Split_Set/Split/Partition/Set. Emotions are MSP codes (N/H/A/S kept) or spelled-out names (Neutral, Happy...).
    Without a split column the split is speaker-independent. A CSV not matching raises an error listing its header
    and the expected columns. Options are those of :func:`load_msp_podcast`; ``language`` is ``zh-TW``.
    """
    return load_podcast_style_corpus(
        "biic-podcast",
        "zh-TW",
        data_dir,
        BIIC_PODCAST_EXPECTED,
        labels_file=labels_file,
        split=split,
        skip_missing=skip_missing,
        transcripts=transcripts,
        phonemes=phonemes,
        alignment_format=alignment_format,
        alignment_tier=alignment_tier,
        seed=seed,
        ratios=ratios,
    )


MSP_IMPROV_EXPECTED = (
    "MSP-IMPROV/\n  Evalution.txt   (release spelling; 'UTD-IMPROV-S01A-F01-P-FM01.avi; A; A:..; V:..; D:..; N:..')\n"
    "  Audio/session1/S01A/P/MSP-IMPROV-S01A-F01-P-FM01.wav"
)
_IMPROV_NAME = re.compile(r"^(?:MSP|UTD)-IMPROV-S(?P<sentence>\d+)(?P<target>[A-Z])-(?P<gender>[FM])(?P<session>\d+)-")


def _read_improv_evaluation(path: Path) -> dict[str, str]:
    """``{utterance stem (MSP-IMPROV-...): consensus label}`` from ``Evalution.txt``.

    Utterance lines are ``UTD-IMPROV-S01A-F01-P-FM01.avi; A; A:3.0; V:2.5; D:3.0; N:4.0;``; the evaluator lines
    that follow them are skipped.
    """
    labels = {}
    for line in read_text(path).splitlines():
        fields = [f.strip() for f in line.split(";")]
        if len(fields) >= 2 and re.match(r"^(UTD|MSP)-IMPROV-", fields[0]):
            stem = Path(fields[0]).stem.replace("UTD-IMPROV", "MSP-IMPROV")
            labels[stem] = fields[1]
    return labels


@register_corpus(
    "msp-improv",
    languages=("en",),
    description="MSP-IMPROV (English acted dyadic improvisations, 12 actors in 6 sessions)",
    expected=MSP_IMPROV_EXPECTED,
)
def load_msp_improv(
    data_dir: str | os.PathLike,
    *,
    labels_file: str | None = None,
    seed: int = 0,
    ratios: Sequence[float] = (0.8, 0.1, 0.1),
):
    """Load MSP-IMPROV from its consensus labels file.

    Layout:

    ```
    MSP-IMPROV/
    ├── Evalution.txt     # the release's spelling; Evaluation.txt also accepted
    └── Audio/session1/S01A/P/MSP-IMPROV-S01A-F01-P-FM01.wav   # sentence 01, target A, speaker F01, type P
    ```

    Each utterance line of the labels file is ``UTD-IMPROV-S01A-F01-P-FM01.avi; <class>; A:..; V:..; D:..; N:..``
    (class N/H/A/S kept, O and X dropped and counted; spelled-out names also accepted); audio files are found by name
    anywhere below ``data_dir``, and rows without audio are counted as ``missing_audio``. The speaker is the
    ``F01``/``M01`` field (gender and session). A ``labels_consensus.csv`` in the MSP-Podcast format is used instead
    when present. There is no official split: the split is speaker-independent.

    Args:
        data_dir (`str` or `os.PathLike`): the corpus root.
        labels_file (`str`, *optional*): the labels file when not ``Evalution.txt``/``Evaluation.txt``.
        seed (`int`, *optional*, defaults to 0): seed of the speaker-independent split.
        ratios (`Sequence[float]`, *optional*, defaults to `(0.8, 0.1, 0.1)`): train/validation/test speaker ratios.
    """
    root = require_data_dir(data_dir, "msp-improv", MSP_IMPROV_EXPECTED)
    labels_path = Path(labels_file) if labels_file else find_file(root, ("Evalution.txt", "Evaluation.txt"))
    if labels_path is None and find_file(root, LABEL_CSV_NAMES) is not None:
        return load_podcast_style_corpus(
            "msp-improv", "en", root, MSP_IMPROV_EXPECTED, split="speaker", seed=seed, ratios=ratios, skip_missing=True
        )
    if labels_path is None or not labels_path.is_file():
        raise CorpusLayoutError(
            f"msp-improv: no labels file (Evalution.txt, Evaluation.txt or labels_consensus.csv) under '{root}'; "
            f"pass `labels_file=`. Expected a layout like:\n{MSP_IMPROV_EXPECTED}"
        )
    labels = _read_improv_evaluation(labels_path)
    if not labels:
        raise CorpusLayoutError(
            f"msp-improv: no utterance line in '{labels_path}'. Expected lines like "
            "'UTD-IMPROV-S01A-F01-P-FM01.avi; A; A:3.0; V:2.5; D:3.0; N:4.0;'."
        )
    audio = {p.stem: p for p in find_files(root)}
    report = CorpusLoadReport("msp-improv", str(root))
    records = []
    for stem, label in labels.items():
        known, emotion = map_label("msp-improv", label)
        if emotion is None:
            report.drop_emotion(label if known else f"unknown:{label}", stem)
            continue
        match = _IMPROV_NAME.match(stem)
        if match is None:
            report.drop("unparsed_name", stem)
            continue
        if stem not in audio:
            report.drop("missing_audio", f"{stem}.wav")
            continue
        records.append(
            {
                "audio": str(audio[stem]),
                "emotion": emotion,
                "language": "en",
                "speaker": f"msp-improv_{match['gender']}{int(match['session']):02d}",
                "gender": "female" if match["gender"] == "F" else "male",
                "corpus": "msp-improv",
            }
        )
    return assemble_corpus(records, report, seed=seed, ratios=ratios)
