"""Leakage guards shared by every protocol: the held-out (target) data never reaches training, model selection,
normalisation statistics or early stopping.

- :func:`check_target_disjoint`: the target's audio files and speakers are absent from every training-side split (and
  labels are absent from unlabelled adaptation data).
- :func:`check_no_target_language_leak`: an evaluation set used for model selection holds no target-language row.
- :func:`check_no_target_rows`: the zero-shot trainer's guard: no training or evaluation set holds a target-language
  row (unless the run is the upper bound).
- :func:`dataset_languages`: the languages of a dataset's rows (for the checks above).

The zero-shot protocol's own per-system check (`hf_cser.data.zero_shot_protocol.check_no_target_leakage`) builds
on these.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from transformers.utils import logging

logger = logging.get_logger(__name__)


class TargetLeakageError(ValueError):
    """Target-language data (rows, speakers, languages or statistics) reached a zero-shot system's training."""


def dataset_languages(dataset: Any) -> set[str] | None:
    """The set of ``language`` values of a dataset's rows, or ``None`` when the rows do not say."""
    languages = getattr(dataset, "languages", None)
    if isinstance(languages, Sequence) and not isinstance(languages, str):
        return {str(lang) for lang in languages}
    column_names = getattr(dataset, "column_names", None)
    if isinstance(column_names, (list, tuple)):  # datasets.Dataset: read one column, no features decoded
        return {str(lang) for lang in dataset["language"]} if "language" in column_names else None
    try:
        found = set()
        for row in dataset:
            if not isinstance(row, Mapping) or "language" not in row:
                return None
            found.add(str(row["language"]))
        return found
    except TypeError:  # not iterable
        return None


def check_no_target_language_leak(eval_dataset: Any, target_languages: Sequence[str]) -> None:
    """Raise if an eval dataset holds rows of a target language (model selection must never see the target).

    Args:
        eval_dataset (`Dataset` or `dict[str, Dataset]`): the eval set(s) given to the trainer.
        target_languages (`Sequence[str]`): languages that must not be used for model selection.
    """
    targets = {str(lang) for lang in target_languages}
    datasets = eval_dataset.items() if isinstance(eval_dataset, Mapping) else [("eval_dataset", eval_dataset)]
    for name, dataset in datasets:
        languages = dataset_languages(dataset)
        if languages is None:
            logger.warning(
                f"Cannot check `{name}` for target-language leakage: its rows carry no `language`. Make sure it is "
                f"the source-language validation set, not {sorted(targets)}."
            )
            continue
        leaked = sorted(languages & targets)
        if leaked:
            raise ValueError(
                f"`{name}` holds rows of the target language(s) {leaked}. Model selection and early stopping use the "
                "eval dataset, so it must be the source-language validation split; evaluate the target language only "
                "after training, e.g. `trainer.evaluate(target_test, metric_key_prefix='test')`."
            )


def check_no_target_rows(datasets: Mapping[str, Any], target_languages: Sequence[str]) -> None:
    """Raise `TargetLeakageError` naming the language when a dataset holds rows of a target language.

    Args:
        datasets (`Mapping[str, Dataset]`): ``{"train_dataset": ..., "eval_dataset": ...}``; `None` values are skipped
            and a mapping value (several eval sets) is checked set by set.
        target_languages (`Sequence[str]`): the zero-shot target language codes.
    """
    targets = {str(lang) for lang in target_languages}
    for name, dataset in datasets.items():
        if dataset is None:
            continue
        parts = dataset.items() if isinstance(dataset, Mapping) else [(name, dataset)]
        for part_name, part in parts:
            part_name = part_name if part_name == name else f"{name}[{part_name!r}]"
            languages = dataset_languages(part)
            if languages is None:
                logger.warning(f"Cannot check `{part_name}` for target leakage: its rows carry no `language`.")
                continue
            leaked = sorted(languages & targets)
            if leaked:
                raise TargetLeakageError(
                    f"`{part_name}` holds rows of the target language(s) {leaked}: a zero-shot system never trains or "
                    f"selects models on the target. Remove those rows, or set `upper_bound=True` for the Upper bound "
                    "system."
                )


_LABEL_COLUMNS = ("emotion", "label", "labels")


def _column(dataset, name: str) -> list | None:
    if dataset is None:
        return None
    names = dataset.column_names if hasattr(dataset, "column_names") else list(dataset)
    if name not in names:
        return None
    values = dataset.with_format(None)[name] if hasattr(dataset, "with_format") else dataset[name]
    return [v.get("path") if isinstance(v, dict) else v for v in values]


def _speaker_keys(dataset) -> set:
    speakers = _column(dataset, "speaker")
    if speakers is None:
        return set()
    corpora = _column(dataset, "corpus") or [None] * len(speakers)
    return {(c, s) for c, s in zip(corpora, speakers, strict=True) if s not in (None, "")}


def check_target_disjoint(
    target,
    *,
    target_name: str = "target test",
    train=None,
    validation=None,
    normalization=None,
    selection=None,
    unlabelled=None,
) -> None:
    """
    Leakage guard for any cross-lingual / cross-corpus protocol: raise :class:`TargetLeakageError` if the target's
    audio files or speakers reached training, validation (early stopping), normalisation statistics or model
    selection, or if rows used as *unlabelled* target data still carry emotion labels.

    Speakers are compared as ``(corpus, speaker)`` when both sides have a ``corpus`` column, so two corpora may reuse
    speaker names. Every component left as `None` is not checked.

    Args:
        target (`datasets.Dataset`): the evaluated target rows (``audio`` and ``speaker`` columns).
        target_name (`str`, *optional*): how the target is named in the error.
        train, validation, normalization, selection (`datasets.Dataset`, *optional*): the rows each stage used.
        unlabelled (`datasets.Dataset`, *optional*): target rows used without labels (domain adaptation); they may
            share audio with the target but must carry no emotion label (no ``emotion`` / ``label`` / ``labels``
            column, or only ``-100`` / ``None`` values).

    Raises:
        TargetLeakageError: every leak found, each naming the component, a count, examples and the fix.
    """
    target_audio = set(_column(target, "audio") or [])
    target_speakers = _speaker_keys(target)
    problems = []
    for component, data in (
        ("train", train),
        ("validation (early stopping / model selection)", validation),
        ("normalization statistics", normalization),
        ("model selection", selection),
    ):
        if data is None:
            continue
        audio = target_audio & set(_column(data, "audio") or [])
        if audio:
            problems.append(
                f"{component} holds {len(audio)} audio file(s) of the {target_name} (e.g. {sorted(audio)[:3]})"
            )
        speakers = _speaker_keys(data)
        if "corpus" not in (getattr(data, "column_names", None) or []) or "corpus" not in (
            getattr(target, "column_names", None) or []
        ):
            speakers = {(None, s) for _, s in speakers}
            tgt = {(None, s) for _, s in target_speakers}
        else:
            tgt = target_speakers
        shared = sorted(s for _, s in speakers & tgt)
        if shared:
            problems.append(f"{component} holds {len(shared)} speaker(s) of the {target_name} (e.g. {shared[:3]})")
    if unlabelled is not None:
        for name in _LABEL_COLUMNS:
            values = _column(unlabelled, name)
            if values is not None and any(v not in (None, -100, "") for v in values):
                problems.append(
                    f"the unlabelled target data carries a `{name}` column with labels; drop it with "
                    f"`dataset.remove_columns('{name}')` before adaptation"
                )
    if problems:
        raise TargetLeakageError(
            "Target leakage: " + "; ".join(problems) + ". Use disjoint speakers and files for the source and the "
            "target (speaker-independent splits), and never select, normalise or stop on target data."
        )


__all__ = [
    "TargetLeakageError",
    "check_no_target_language_leak",
    "check_no_target_rows",
    "check_target_disjoint",
    "dataset_languages",
]
