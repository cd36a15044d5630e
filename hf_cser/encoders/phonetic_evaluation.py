"""Evaluation of the phonetic encoder and its report formatting (split out of
[`~hf_cser.encoders.phonetic_pretraining`]).

Holds [`evaluate_phonetic_encoder`] (frame accuracy of a `WavLMForAudioFrameClassification` over whole utterances,
overall and per language), [`confusion_report`] (the metrics of one confusion matrix over
[`~hf_cser.encoders.phonetic_labels.PHONETIC_LABELS`]) and the formatting of a training report as a markdown table
([`format_phonetic_report`], [`format_percentage`]).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from ..audio import load_audio
from ..data.phones import SHARED_VOWELS
from .phonetic_data import Utterances, batch_inputs, labels_batch
from .phonetic_labels import IGNORE_INDEX, PHONETIC_LABELS, phonetic_feature_extractor

# ---------------------------------------------------------------------------------------------------- evaluation


def confusion_report(confusion: np.ndarray) -> dict[str, Any]:
    """Frame metrics of one confusion matrix over [`PHONETIC_LABELS`] (rows: truth, columns: prediction)."""
    total = int(confusion.sum())
    correct = int(np.trace(confusion))
    support = confusion.sum(axis=1)
    recalls = {
        label: (float(confusion[i, i] / support[i]) if support[i] else None) for i, label in enumerate(PHONETIC_LABELS)
    }
    present = [r for r in recalls.values() if r is not None]
    vowels = list(range(len(SHARED_VOWELS)))
    vowel_frames = int(support[vowels].sum())
    vowel_correct = int(np.trace(confusion[np.ix_(vowels, vowels)]))
    vowel_block = confusion[np.ix_(vowels, vowels)]
    vowel_detected = int(vowel_block.sum())
    return {
        "frames": total,
        "frame_accuracy": correct / total if total else None,
        "balanced_accuracy": float(np.mean(present)) if present else None,
        "majority_baseline": float(support.max() / total) if total else None,
        "vowel_frames": vowel_frames,
        # share of vowel frames given the right vowel class (8-way prediction)
        "vowel_accuracy": vowel_correct / vowel_frames if vowel_frames else None,
        # among vowel frames predicted as some vowel: share with the right class (6-way vowel identity)
        "vowel_class_accuracy": vowel_correct / vowel_detected if vowel_detected else None,
        "per_class_recall": recalls,
        "class_frames": {label: int(support[i]) for i, label in enumerate(PHONETIC_LABELS)},
    }


@torch.no_grad()
def evaluate_phonetic_encoder(
    model,
    dataset,
    *,
    batch_size: int = 8,
    scheme: str = "espeak",
    progress: bool = True,
    description: str = "evaluate",
) -> dict[str, Any]:
    """Frame accuracy of a `WavLMForAudioFrameClassification` over whole utterances, overall and per language.

    Args:
        model (`WavLMForAudioFrameClassification`): the phonetic encoder (labels [`PHONETIC_LABELS`]).
        dataset (`datasets.Dataset`): rows in the hf_cser schema (`audio` path, `language`, `phonemes`).
        batch_size (`int`, *optional*, defaults to 8): utterances per forward pass (sorted by length).
        scheme (`str`, *optional*, defaults to `"espeak"`): phone scheme of the alignments.
        progress (`bool`, *optional*, defaults to `True`): show a tqdm bar.
        description (`str`, *optional*): the bar's label.

    Returns:
        `dict`: `{"overall": {...}, "per_language": {language: {...}}}` with `frame_accuracy`, `balanced_accuracy`,
        `majority_baseline`, `vowel_accuracy`, `vowel_class_accuracy`, `per_class_recall` and frame counts.
    """
    from hf_cser.console import progress_bar

    feature_extractor = phonetic_feature_extractor()
    utterances = Utterances(dataset)
    num_classes = len(PHONETIC_LABELS)
    confusions: dict[str, np.ndarray] = {}
    was_training = model.training
    model.eval()
    waveforms = {}
    order = list(range(len(utterances)))
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    for indices in progress_bar(batches, desc=description, disable=not progress, leave=False):
        for i in indices:
            waveforms[i] = load_audio(utterances.paths[i])
        batch_waves = [waveforms.pop(i) for i in indices]
        input_values, attention_mask = batch_inputs(feature_extractor, batch_waves)
        labels = labels_batch(
            model.config,
            [utterances.phonemes[i] for i in indices],
            [utterances.languages[i] for i in indices],
            [len(w) for w in batch_waves],
            [0.0] * len(indices),
            scheme,
        )
        logits = model(input_values, attention_mask=attention_mask).logits
        predictions = logits.argmax(dim=-1)[:, : labels.shape[1]]
        for row, i in enumerate(indices):
            valid = labels[row] != IGNORE_INDEX
            truth, guess = labels[row][valid].numpy(), predictions[row][valid].numpy()
            matrix = confusions.setdefault(utterances.languages[i], np.zeros((num_classes, num_classes), np.int64))
            np.add.at(matrix, (truth, guess), 1)
    model.train(was_training)
    overall = sum(confusions.values()) if confusions else np.zeros((num_classes, num_classes), np.int64)
    return {
        "overall": confusion_report(overall),
        "per_language": {language: confusion_report(confusions[language]) for language in sorted(confusions)},
    }


def format_percentage(value: float | None) -> str:
    """`value` as a percentage with one decimal, `"n/a"` for `None`."""
    return "n/a" if value is None else f"{100 * value:.1f}%"


def format_phonetic_report(report: Mapping[str, Any]) -> str:
    """Markdown table of a [`train_phonetic_encoder`] report: per language, then overall."""
    evaluation = report["evaluation"]
    rows = [*evaluation["per_language"].items(), ("all", evaluation["overall"])]
    return "\n".join(
        f"| {language} | {m['frames']} | {format_percentage(m['frame_accuracy'])} | "
        f"{format_percentage(m['balanced_accuracy'])} | {format_percentage(m['vowel_accuracy'])} | "
        f"{format_percentage(m['majority_baseline'])} |"
        for language, m in rows
    )
