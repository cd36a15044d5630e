"""The tasks the CLTM is computed for: what a run trains on and how its target performance is scored.

- :class:`SerTask` (``ser``): speech emotion recognition over ``hf_cser.labels.EMOTIONS``, scored by UAR (macro
  recall), hf_cser's main task (paper 003 does not cover it; we apply the method to it).
- :class:`GenderTask` (``gender``): binary gender recognition (female / male), scored by macro-F1 (paper 003).
  Utterances of unknown gender are left out of this task.
- :class:`SpeakerVerificationTask` (``sv``): paper 003's two-stage protocol. The model is trained for speaker
  identification (SID) over the speakers of the training set; its classification head is then ignored and each
  evaluation utterance is embedded (:meth:`~hf_cser.cltm.models.CltmTaskModel.embed`: the pooled representation the
  head reads), L2-normalised and compared by cosine similarity. Trials are all pairs of evaluation utterances: targets
  are same-speaker pairs, non-targets are pairs of different speakers **of the same gender** (the paper's
  gender-controlled protocol, so that gender cannot separate them); the score is the ROC AUC.

A task reads the corpus through a table with array attributes ``emotion`` (class ids), ``gender`` and ``speaker``
(strings), one entry per utterance (:class:`hf_cser.cltm.protocol.CorpusTable`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..labels import EMOTIONS
from ..metrics import macro_f1, unweighted_average_recall

GENDERS = ("female", "male")


def roc_auc(scores: np.ndarray, is_target: np.ndarray) -> float:
    """ROC AUC = P(score of a target trial > score of a non-target trial) + 0.5 P(tie) (Mann-Whitney U)."""
    from scipy.stats import rankdata

    scores = np.asarray(scores, dtype=np.float64)
    is_target = np.asarray(is_target, dtype=bool)
    n_pos, n_neg = int(is_target.sum()), int((~is_target).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"ROC AUC needs target and non-target trials, got {n_pos} and {n_neg}.")
    ranks = rankdata(scores)
    return float((ranks[is_target].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def verification_trials(
    speakers: Sequence[str], genders: Sequence[str], max_nontarget: int | None = None, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All same-speaker pairs and all different-speaker same-gender pairs ``i < j`` of an evaluation set.

    Args:
        speakers, genders: one entry per utterance.
        max_nontarget (`int`, *optional*): keep at most this many non-target pairs (a seeded uniform sample).
        seed (`int`, *optional*, defaults to 0): seed of that sample.

    Returns:
        ``(first, second, is_target)`` index arrays.
    """
    speakers = np.asarray(speakers).astype(str)
    genders = np.asarray(genders).astype(str)
    first, second = np.triu_indices(len(speakers), k=1)
    same_speaker = speakers[first] == speakers[second]
    same_gender = genders[first] == genders[second]
    keep = same_speaker | same_gender
    first, second, is_target = first[keep], second[keep], same_speaker[keep]
    if max_nontarget is not None and (~is_target).sum() > max_nontarget:
        rng = np.random.default_rng(seed)
        nontarget = np.flatnonzero(~is_target)
        chosen = np.sort(rng.choice(nontarget, size=max_nontarget, replace=False))
        rows = np.sort(np.concatenate([np.flatnonzero(is_target), chosen]))
        first, second, is_target = first[rows], second[rows], is_target[rows]
    return first, second, is_target


class CltmTask:
    """Base class: ``name``, ``metric`` and the two hooks the runner calls."""

    name: str = ""
    metric: str = ""

    def usable(self, table) -> np.ndarray:
        """Boolean mask of the utterances the task can use (all by default)."""
        return np.ones(len(table.speaker), dtype=bool)

    def training_labels(self, table, indices: np.ndarray) -> tuple[np.ndarray, int]:
        """``(labels, num_classes)`` of the training utterances ``indices``."""
        raise NotImplementedError

    def score(self, model, inputs, table, indices: np.ndarray, seed: int = 0) -> float:
        """The target performance of a fitted ``model`` on the evaluation utterances ``indices``."""
        raise NotImplementedError


class SerTask(CltmTask):
    """Speech emotion recognition (4 classes), UAR."""

    name, metric = "ser", "uar"

    def training_labels(self, table, indices):
        return np.asarray(table.emotion)[indices].astype(np.int64), len(EMOTIONS)

    def score(self, model, inputs, table, indices, seed=0):
        predictions = model.predict(inputs[indices])
        return unweighted_average_recall(np.asarray(table.emotion)[indices], predictions, len(EMOTIONS))


class GenderTask(CltmTask):
    """Binary gender recognition (female = 0, male = 1), macro-F1."""

    name, metric = "gender", "macro_f1"

    def usable(self, table):
        return np.isin(np.asarray(table.gender).astype(str), GENDERS)

    def _labels(self, table, indices):
        genders = np.asarray(table.gender).astype(str)[indices]
        if not np.isin(genders, GENDERS).all():
            raise ValueError(f"Gender recognition needs `female`/`male` labels, got {sorted(set(genders))}.")
        return (genders == "male").astype(np.int64)

    def training_labels(self, table, indices):
        return self._labels(table, indices), 2

    def score(self, model, inputs, table, indices, seed=0):
        return macro_f1(self._labels(table, indices), model.predict(inputs[indices]), 2)


class SpeakerVerificationTask(CltmTask):
    """SID training, then cosine scoring of L2-normalised embeddings, gender-matched non-targets, ROC AUC.

    Args:
        max_nontarget (`int`, *optional*, defaults to 200000): cap on non-target trials (seeded sample; our choice,
            it only matters for large evaluation sets).
    """

    name, metric = "sv", "auc"

    def __init__(self, max_nontarget: int | None = 200_000):
        self.max_nontarget = max_nontarget

    def training_labels(self, table, indices):
        speakers = np.asarray(table.speaker).astype(str)[indices]
        names = sorted(set(speakers.tolist()))
        lookup = {s: k for k, s in enumerate(names)}
        return np.array([lookup[s] for s in speakers], dtype=np.int64), len(names)

    def score(self, model, inputs, table, indices, seed=0):
        embeddings = np.asarray(model.embed(inputs[indices]), dtype=np.float64)
        norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
        embeddings = embeddings / np.maximum(norms, 1e-12)
        first, second, is_target = verification_trials(
            np.asarray(table.speaker)[indices], np.asarray(table.gender)[indices], self.max_nontarget, seed
        )
        if is_target.all() or not is_target.any():
            raise ValueError(
                f"Speaker verification found {int(is_target.sum())} target and {int((~is_target).sum())} non-target "
                "trials: the evaluation set needs two speakers of one gender and a speaker with two utterances. "
                "Raise `eval_speakers` (e.g. 4: two per gender)."
            )
        scores = np.sum(embeddings[first] * embeddings[second], axis=1)
        return roc_auc(scores, is_target)


TASKS: dict[str, type[CltmTask]] = {"ser": SerTask, "gender": GenderTask, "sv": SpeakerVerificationTask}


def get_task(name: str, **kwargs: Any) -> CltmTask:
    """The task called ``name`` (``ser``, ``gender`` or ``sv``)."""
    if name not in TASKS:
        raise ValueError(f"Unknown CLTM task {name!r}: choose one of {sorted(TASKS)}.")
    return TASKS[name](**kwargs)
