"""Users' own data: a CSV manifest with one row per utterance, loaded into the hf_cser schema."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from transformers.utils import logging

from ...labels import GENDERS, normalize_emotion
from .layout import CorpusLayoutError, assemble_corpus, read_csv_rows
from .registry import register_corpus
from .report import CorpusLoadReport

logger = logging.get_logger(__name__)

LANGUAGE_PATTERN = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
"""ISO 639-1/-3 code, optionally with BCP-47 subtags (`en`, `yue`, `zh-TW`)."""
CORPUS_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

MANIFEST_REQUIRED_COLUMNS: tuple[str, ...] = ("path", "emotion", "language", "speaker")
MANIFEST_OPTIONAL_COLUMNS: tuple[str, ...] = ("corpus", "gender", "transcript", "split")
EXPECTED = "a CSV file such as\n  path,emotion,language,speaker,gender,split\n  clips/a.wav,happy,en,spk1,female,train"
SPLIT_ALIASES: dict[str, str] = {
    "train": "train",
    "training": "train",
    "validation": "validation",
    "valid": "validation",
    "val": "validation",
    "dev": "validation",
    "development": "validation",
    "test": "test",
    "testing": "test",
    "eval": "test",
}
GENDER_ALIASES: dict[str, str] = {"f": "female", "female": "female", "m": "male", "male": "male", "": "unknown"}


@register_corpus(
    "manifest",
    languages=(),
    description="your own data: a CSV with columns path,emotion,language,speaker[,corpus,gender,transcript,split]",
    expected=EXPECTED,
    aliases=("csv",),
)
def load_manifest(
    data_dir: str | os.PathLike,
    *,
    drop_unknown_emotions: bool = False,
    skip_missing: bool = False,
    seed: int = 0,
    ratios: Sequence[float] = (0.8, 0.1, 0.1),
):
    """Load a CSV manifest of your own audio.

    ```
    path,emotion,language,speaker,corpus,gender,transcript,split
    clips/a.wav,happy,en,spk1,mydata,female,Hello there.,train
    /abs/b.flac,ANGER,de,spk2,mydata,m,,test
    ```

    Required columns: ``path`` (relative paths resolve against the CSV's folder), ``emotion`` (one of the four
    classes or a spelling of :data:`hf_cser.labels.EMOTION_ALIASES`; with a ``corpus`` column naming a known corpus,
    that corpus's codes too), ``language``, ``speaker`` (used as given). Optional: ``corpus`` (defaults to
    ``manifest``), ``gender`` (female/male/f/m/unknown or empty), ``transcript``, ``split`` (train, validation/dev/val,
    test). Without a ``split`` column the split is speaker-independent; with it, every row needs a value.

    ``language`` must be a language code (ISO 639-1 / BCP-47) and ``corpus`` a plain name, else an error names the
    line. When the manifest mixes several corpora, speaker ids are scoped by corpus (``<corpus>_<speaker>``, unless
    already written so): two corpora with a speaker ``01`` are two people.

    Duplicate rows (same resolved path) are de-duplicated and counted as ``duplicate`` when they agree on every
    other column; the same path with different values is an error naming both lines.

    Args:
        data_dir (`str` or `os.PathLike`): the CSV file.
        drop_unknown_emotions (`bool`, *optional*, defaults to `False`): drop and count rows whose emotion is not one
            of the four classes, instead of raising an error naming the line and the value.
        skip_missing (`bool`, *optional*, defaults to `False`): skip and count (``missing_audio``) rows whose file does
            not exist, instead of raising an error naming it.
        seed (`int`, *optional*, defaults to 0): seed of the speaker-independent split.
        ratios (`Sequence[float]`, *optional*, defaults to `(0.8, 0.1, 0.1)`): train/validation/test speaker ratios.
    """
    csv_path = Path(data_dir).expanduser()
    if not csv_path.is_file():
        what = "is a folder" if csv_path.is_dir() else "does not exist"
        raise CorpusLayoutError(f"manifest: '{csv_path}' {what}; expected {EXPECTED}")
    header, rows = read_csv_rows(csv_path)
    columns = {h.lower(): h for h in header}
    missing = [c for c in MANIFEST_REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise ValueError(
            f"manifest '{csv_path}': missing required column(s) {missing}; it has {header}. Required: "
            f"{list(MANIFEST_REQUIRED_COLUMNS)}, optional: {list(MANIFEST_OPTIONAL_COLUMNS)}."
        )
    if not rows:
        raise ValueError(f"manifest '{csv_path}': no data row below the header.")
    base = csv_path.parent
    report = CorpusLoadReport("manifest", str(csv_path))
    records, splits = [], []
    seen: dict[str, tuple[int, tuple]] = {}
    has_split = "split" in columns
    for line_no, raw in enumerate(rows, start=2):
        row = {name: raw.get(original, "") for name, original in columns.items()}
        where = f"manifest '{csv_path}', line {line_no}"
        for name in ("path", "language", "speaker"):
            if not row[name]:
                raise ValueError(
                    f"{where}: column `{name}` is empty; fill it in (every row needs a path, a language and a "
                    "speaker) or delete the row."
                )
        corpus = row.get("corpus") or "manifest"
        if not LANGUAGE_PATTERN.match(row["language"]):
            raise ValueError(
                f"{where}: language {row['language']!r} is not a language code; use ISO 639-1 (`en`, `zh`, `de`) or "
                "BCP-47 for regional variants (`zh-TW`, `pt-BR`)."
            )
        if not CORPUS_PATTERN.match(corpus):
            raise ValueError(
                f"{where}: corpus {corpus!r} is not a usable corpus name; use letters, digits, '-', '_' or '.' "
                "(e.g. `ravdess`, `my-corpus_v2`), starting with a letter or digit."
            )
        emotion = normalize_emotion(row["emotion"], corpus=corpus)
        if emotion is None:
            if not drop_unknown_emotions:
                raise ValueError(
                    f"{where}: emotion {row['emotion']!r} is not one of neutral, happy, angry, sad (or a known "
                    "spelling); fix the row or pass `drop_unknown_emotions=True` to drop and count such rows."
                )
            report.drop_emotion(row["emotion"], f"line {line_no}")
            continue
        gender = GENDER_ALIASES.get(row.get("gender", "").lower(), row.get("gender", "").lower())
        if gender not in GENDERS:
            raise ValueError(f"{where}: gender {row['gender']!r} is not one of {list(GENDERS)} (or f/m).")
        split = ""
        if has_split:
            split = SPLIT_ALIASES.get(row["split"].lower(), "")
            if not split:
                raise ValueError(
                    f"{where}: split {row['split']!r} is not train, validation (dev/val) or test; every row needs one "
                    "when the manifest has a `split` column."
                )
        path = Path(row["path"]).expanduser()
        path = path if path.is_absolute() else base / path
        key = os.path.normpath(str(path))
        values = (emotion, row["language"], row["speaker"], corpus, gender, row.get("transcript", ""), split)
        if key in seen:
            first_line, first_values = seen[key]
            if first_values != values:
                raise ValueError(
                    f"{where}: '{row['path']}' is listed again with different values than on line {first_line} "
                    f"({first_values} vs {values}); keep one row per file."
                )
            report.drop("duplicate", f"line {line_no}")
            continue
        seen[key] = (line_no, values)
        if not path.is_file():
            if not skip_missing:
                raise FileNotFoundError(
                    f"{where}: audio file '{path}' does not exist; fix the path or pass `skip_missing=True`."
                )
            report.drop("missing_audio", path)
            continue
        records.append(
            {
                "audio": key,
                "emotion": emotion,
                "language": row["language"],
                "speaker": row["speaker"],
                "gender": gender,
                "corpus": corpus,
                "transcript": row.get("transcript", ""),
            }
        )
        splits.append(split)
    corpora = {r["corpus"] for r in records}
    if len(corpora) > 1:
        # two corpora with a speaker "01" are two people: scope speaker ids by corpus unless already scoped
        for record in records:
            prefix = f"{record['corpus']}_"
            if not record["speaker"].startswith(prefix):
                record["speaker"] = prefix + record["speaker"]
        logger.info(f"manifest '{csv_path}': {len(corpora)} corpora; speaker ids are scoped as <corpus>_<speaker>.")
    if has_split:
        return assemble_corpus(records, report, splits=splits)
    return assemble_corpus(records, report, seed=seed, ratios=ratios)
