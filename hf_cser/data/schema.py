"""The one schema every hf_cser corpus uses, and helpers to build and split datasets in it.

Columns (see :func:`corpus_features`):

- ``audio`` (`string`): path to the audio file; decoded lazily with soundfile to 16 kHz mono float32 by
  :func:`with_decoded_audio` (``{"array", "sampling_rate", "path"}``), never by datasets' ``Audio()``.
- ``emotion`` (`ClassLabel`): one of :data:`hf_cser.labels.EMOTIONS`.
- ``language`` (`string`): ISO 639-1 code where one exists (``en``, ``zh``, ``de``), else ISO 639-3; regional
  variants as BCP-47 (``zh-TW``).
- ``speaker`` (`string`): corpus-prefixed speaker id, e.g. ``emodb_03``.
- ``gender`` (`string`): ``female``, ``male`` or ``unknown``.
- ``corpus`` (`string`): corpus name, e.g. ``emodb``.
- ``transcript`` (`string`): may be empty.
- ``phonemes`` (list of ``{phone, start, end}``): optional phone alignment in seconds; empty list when unknown.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..audio import TARGET_SAMPLING_RATE, BadAudioCounter, load_audio
from ..labels import EMOTIONS, GENDERS

SPLITS: tuple[str, ...] = ("train", "validation", "test")
REQUIRED_FIELDS: tuple[str, ...] = ("audio", "emotion", "language", "speaker")
OPTIONAL_FIELDS: dict[str, Any] = {"gender": "unknown", "corpus": "", "transcript": "", "phonemes": None}


def corpus_features():
    """The `datasets.Features` of the hf_cser schema."""
    from datasets import ClassLabel, Features, List, Value

    return Features(
        {
            "audio": Value("string"),
            "emotion": ClassLabel(names=list(EMOTIONS)),
            "language": Value("string"),
            "speaker": Value("string"),
            "gender": Value("string"),
            "corpus": Value("string"),
            "transcript": Value("string"),
            "phonemes": List({"phone": Value("string"), "start": Value("float32"), "end": Value("float32")}),
        }
    )


def make_record(**fields: Any) -> dict[str, Any]:
    """Build one row of the schema, filling optional fields and checking the required ones.

    ``emotion`` may be a class name or id. Raises `ValueError` naming the field and the row's audio path.
    """
    where = fields.get("audio", "<row without audio>")
    for name in REQUIRED_FIELDS:
        if fields.get(name) in (None, ""):
            raise ValueError(f"{where}: field `{name}` is missing or empty; every row needs {list(REQUIRED_FIELDS)}.")
    unknown = set(fields) - set(REQUIRED_FIELDS) - set(OPTIONAL_FIELDS)
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {sorted(unknown)}; the schema has {list(corpus_features())}.")
    emotion = fields["emotion"]
    if isinstance(emotion, str):
        if emotion not in EMOTIONS:
            raise ValueError(f"{where}: `emotion` {emotion!r} is not one of {list(EMOTIONS)}; map it first.")
        emotion = EMOTIONS.index(emotion)
    elif not 0 <= int(emotion) < len(EMOTIONS):
        raise ValueError(f"{where}: `emotion` id {emotion} is outside 0..{len(EMOTIONS) - 1}.")
    gender = fields.get("gender") or "unknown"
    if gender not in GENDERS:
        raise ValueError(f"{where}: `gender` {gender!r} is not one of {list(GENDERS)}.")
    return {
        "audio": str(fields["audio"]),
        "emotion": int(emotion),
        "language": str(fields["language"]),
        "speaker": str(fields["speaker"]),
        "gender": gender,
        "corpus": str(fields.get("corpus") or ""),
        "transcript": str(fields.get("transcript") or ""),
        "phonemes": [
            {"phone": str(p["phone"]), "start": float(p["start"]), "end": float(p["end"])}
            for p in (fields.get("phonemes") or [])
        ],
    }


def build_dataset_dict(records_by_split: Mapping[str, Sequence[Mapping[str, Any]]]):
    """Make a `datasets.DatasetDict` in the hf_cser schema from ``{split: [record, ...]}``.

    Records go through :func:`make_record`; empty splits are kept as empty datasets so every split a corpus defines
    is present.
    """
    from datasets import Dataset, DatasetDict

    features = corpus_features()

    def to_dataset(records):
        rows = [make_record(**dict(r)) for r in records]
        columns = {name: [row[name] for row in rows] for name in features}  # from_list([]) loses the columns
        return Dataset.from_dict(columns, features=features)

    return DatasetDict({split: to_dataset(records) for split, records in records_by_split.items()})


def save_dataset_dict(dataset_dict, path) -> None:
    """``save_to_disk`` that survives empty splits.

    datasets 5.2 writes zero shards for an empty split and ``load_from_disk`` then fails with an IndexError; one
    shard per empty split avoids it.
    """
    num_shards = {split: 1 for split, ds in dataset_dict.items() if len(ds) == 0}
    dataset_dict.save_to_disk(str(path), num_shards=num_shards or None)


def speaker_independent_split(
    records: Iterable[Mapping[str, Any]],
    ratios: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    split_names: Sequence[str] = SPLITS,
) -> dict[str, list[dict[str, Any]]]:
    """Split records so that no speaker appears in two splits, with the given speaker-count ratios.

    Speakers are shuffled with ``random.Random(seed)`` (stable across Python runs) after sorting, so the split is a
    pure function of the records and the seed. Every split with a positive ratio gets at least one speaker when
    there are enough speakers; with fewer speakers than non-zero ratios the later splits stay empty.
    """
    if len(ratios) != len(split_names):
        raise ValueError(f"`ratios` has {len(ratios)} entries but `split_names` has {len(split_names)}.")
    if any(r < 0 for r in ratios) or sum(ratios) <= 0:
        raise ValueError(f"`ratios` must be non-negative with a positive sum, got {list(ratios)}.")
    records = [dict(r) for r in records]
    speakers = sorted({r["speaker"] for r in records})
    random.Random(seed).shuffle(speakers)
    n = len(speakers)
    total = float(sum(ratios))
    counts = [int(round(n * r / total)) for r in ratios]
    # make every non-zero split non-empty where possible, then fix the total on the largest split
    for i, r in enumerate(ratios):
        if r > 0 and counts[i] == 0 and n >= sum(1 for x in ratios if x > 0):
            counts[i] = 1
    largest = max(range(len(ratios)), key=lambda i: ratios[i])
    counts[largest] += n - sum(counts)
    assignment: dict[str, str] = {}
    start = 0
    for name, count in zip(split_names, counts, strict=True):
        for spk in speakers[start : start + max(count, 0)]:
            assignment[spk] = name
        start += max(count, 0)
    out: dict[str, list[dict[str, Any]]] = {name: [] for name in split_names}
    for r in records:
        out[assignment[r["speaker"]]].append(r)
    return out


def decode_audio_batch(
    batch: dict[str, list],
    sampling_rate: int = TARGET_SAMPLING_RATE,
    skip_bad_audio: bool = False,
    counter: BadAudioCounter | None = None,
) -> dict[str, list]:
    """Replace the ``audio`` paths of a batch by ``{"array", "sampling_rate", "path"}`` dicts (soundfile decode).

    With ``skip_bad_audio`` a bad file decodes to ``None`` and is counted in ``counter``.
    """
    out = dict(batch)
    if "audio" not in batch:  # a column access such as `dataset["language"]` formats only that column
        return out
    decoded = []
    for path in batch["audio"]:
        wav = load_audio(path, sampling_rate, skip_bad_audio=skip_bad_audio, counter=counter)
        decoded.append(None if wav is None else {"array": wav, "sampling_rate": sampling_rate, "path": path})
    out["audio"] = decoded
    return out


def with_decoded_audio(dataset, sampling_rate: int = TARGET_SAMPLING_RATE, columns: Sequence[str] | None = None):
    """Return ``dataset`` (a `Dataset` or `DatasetDict`) with lazy soundfile decoding of ``audio`` on access.

    Args:
        dataset (`datasets.Dataset` or `datasets.DatasetDict`): rows in the hf_cser schema.
        sampling_rate (`int`, *optional*, defaults to 16000): rate the audio is decoded (and resampled) to.
        columns (`Sequence[str]`, *optional*): the only columns an access returns (e.g. ``["audio", "emotion",
            "language", "speaker"]`` for the zero-shot collator). datasets formats every returned column of every
            row read, so leaving out the unused ones (long ``phonemes`` lists, transcripts) makes reads cheaper.
            `None` (default): every column.

    Raises:
        KeyError: a name in `columns` that is not a column of `dataset` (or of one of its splits).
    """
    from functools import partial

    transform = partial(decode_audio_batch, sampling_rate=sampling_rate)
    if columns is None:
        return dataset.with_transform(transform)
    columns = list(columns)
    split_columns = dataset.column_names  # a list, or {split: list} for a DatasetDict
    for split, names in split_columns.items() if isinstance(split_columns, dict) else [(None, split_columns)]:
        missing = [c for c in columns if c not in names]
        if missing:
            where = f"split {split!r} of the dataset" if split is not None else "the dataset"
            raise KeyError(f"`columns` names {missing}, which {where} does not have (columns: {names}).")
    return dataset.with_transform(transform, columns=columns)


#: the help of the training scripts' ``--skip_bad_audio`` flag (one wording for every script)
SKIP_BAD_AUDIO_HELP = (
    "Every audio file is decoded once before training. False: the first bad file (missing, unreadable, empty, "
    "NaN/inf, silent) stops the run before training, naming it. True: bad files are dropped and counted; the count "
    "is logged at the end and written as `bad_audio_skipped`."
)


def drop_bad_audio(
    dataset,
    *,
    skip_bad_audio: bool = True,
    counter: BadAudioCounter | None = None,
    sampling_rate: int = TARGET_SAMPLING_RATE,
    desc: str = "checking audio",
):
    """
    Decode every ``audio`` path of ``dataset`` once, before any training, and return the rows whose audio is usable.

    With ``skip_bad_audio=True`` bad files (missing, unreadable, empty, NaN/inf, silent) are dropped and counted in
    ``counter`` (log ``counter.summary()`` at the end of the run); with ``False`` the first bad file raises
    :class:`~hf_cser.audio.BadAudioError` naming it and the fix. Either way a training run cannot die mid-epoch on
    one bad file. A dataset without an ``audio`` column is returned unchanged.
    """
    if "audio" not in dataset.column_names:
        return dataset
    counter = counter if counter is not None else BadAudioCounter()
    keep = []
    from hf_cser.console import progress_bar

    paths = dataset.with_format(None)["audio"]
    for i, path in enumerate(progress_bar(paths, desc=desc, disable=len(paths) < 1000)):
        if isinstance(path, dict):  # an already-decoded or Audio(decode=False) cell
            path = path.get("path")
        if load_audio(path, sampling_rate, skip_bad_audio=skip_bad_audio, counter=counter) is not None:
            keep.append(i)
    if len(keep) == len(paths):
        return dataset
    if not keep:
        raise ValueError(f"every audio file of the data is bad ({counter.summary()}); check the corpus folder.")
    return dataset.select(keep)
