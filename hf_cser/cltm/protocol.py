"""The CLTM protocol of paper 003 (sections 2.2, 3.1, 3.2): balanced subsets, the dynamic interval [N, 2N], run
planning and a resumable runner.

Balanced subsets (:func:`partition_language`, :meth:`CltmRunner.training_indices`). For each language and seed the
speakers are split into three disjoint groups: ``D`` (``speakers_per_subset`` speakers), ``D'`` (as many) and the
evaluation speakers (``eval_speakers``; or the corpus's own ``eval_split``, as the paper uses the official test set).
Speakers are dealt alternately by gender, so every group of every language has the same number of speakers and the
same gender mix. A subset of N samples takes N / speakers samples from each speaker of its group (the paper's fixed
number of samples per speaker) and, within a speaker, deals the emotion classes round-robin, so every language gets
the same number of samples, speakers and classes. D_i, D'_i and D_j of one seed are the same in every run of that
seed (the single run of a seed is the paired reference of its self and dual runs). Every random choice is drawn from
a generator keyed by ``(seed, language, role, N)``: runs are reproducible in any order, which makes resuming exact.

Training sets: ``single`` = D_i, ``self`` = D_i + D'_i, ``dual`` = D_i + D_j, each scored on the target's
evaluation speakers.

Dynamic interval (:class:`DynamicIntervalRule`, :func:`select_dynamic_interval`). The learning-curve sweep runs the
single and self runs for every candidate N of a grid (so its points are Perf_i(D_i) at N and Perf_i(D_i + D'_i) at
2N, exactly the two quantities the CLTM needs to be in the dynamic regime; they are reused as the CLTM's runs at the
chosen N). For each language and N, with Delta = mean over seeds of the paired self-gain Perf(2N) - Perf(N), its
standard error SE over seeds, and P_N = mean Perf(N), the confidence index of the authors' released code is

    CI_min = min( Delta / (tau * P_N),  Delta / (z * SE),  (Delta / log 2) / epsilon )     (0 when Delta <= 0)

(relative gain >= tau, gain >= z standard errors, slope per log-unit of data >= epsilon; CI_min >= 1 meets all
three). The rule keeps the N whose median CI_min over languages is at least ``threshold`` and, with
``require_positive_self_gain``, whose mean self-gain is positive for every language, and picks the one with the
largest median CI_min (ties: the smaller N). When no N qualifies it falls back to the largest median CI_min among
the N with all self-gains positive (or among all N), and says so. Defaults (tau 0.05, z 1.3, epsilon 0.05) are those
of the released code; the released code also smooths the median curve over a dense grid of N, which a grid of a few
doublings does not need.

Resumable runs (:class:`RunLog`): every finished run is appended to a CSV (flushed and fsynced, under a file lock so
several processes of one ``accelerate launch`` can share it); on restart the runs already in the file are skipped, so
a crash loses at most the run in flight.

The code is split by responsibility; every name stays importable from here: :mod:`hf_cser.cltm.runs` (run specs,
planning, the run log) and :mod:`hf_cser.cltm.dynamic_interval` (the dynamic-interval rule); this module keeps the
corpus table, the balanced subsets and the runner.
"""

from __future__ import annotations

import time
import zlib
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from transformers.utils import logging

from .dynamic_interval import (  # noqa: F401
    DynamicIntervalRule,
    DynamicIntervalSelection,
    learning_curve_points,
    select_dynamic_interval,
)
from .runs import RUN_FIELDS, RunLog, RunSpec, check_run_config, plan_cltm_runs, plan_self_runs, run_key  # noqa: F401

logger = logging.get_logger(__name__)


# ----------------------------------------------------------------------------------------------------------------
# The corpus as arrays


@dataclass
class CorpusTable:
    """One entry per utterance (numpy arrays): ``path``, ``language``, ``speaker``, ``gender``, ``emotion`` (class
    ids) and ``split`` (the corpus split each row came from)."""

    path: np.ndarray
    language: np.ndarray
    speaker: np.ndarray
    gender: np.ndarray
    emotion: np.ndarray
    split: np.ndarray

    def __len__(self) -> int:
        return len(self.path)

    @classmethod
    def from_dataset_dict(cls, dataset_dict, splits: Sequence[str] | None = None) -> CorpusTable:
        """Concatenate the splits of an hf_cser `DatasetDict` (columns are read without decoding audio)."""
        columns = defaultdict(list)
        for split in splits if splits is not None else list(dataset_dict):
            ds = dataset_dict[split]
            if len(ds) == 0:
                continue
            if getattr(ds, "_indices", None) is not None:  # a `select`ed view (e.g. bad audio dropped)
                ds = ds.flatten_indices()
            for name in ("audio", "language", "speaker", "gender", "emotion"):
                columns[name].extend(ds.data.column(name).to_pylist())
            columns["split"].extend([split] * len(ds))
        if not columns:
            raise ValueError("The dataset has no rows: nothing to compute a CLTM on.")
        return cls(
            path=np.asarray([a if isinstance(a, str) else a["path"] for a in columns["audio"]]),
            language=np.asarray(columns["language"]).astype(str),
            speaker=np.asarray(columns["speaker"]).astype(str),
            gender=np.asarray(columns["gender"]).astype(str),
            emotion=np.asarray(columns["emotion"], dtype=np.int64),
            split=np.asarray(columns["split"]).astype(str),
        )


# ----------------------------------------------------------------------------------------------------------------
# Balanced, speaker-disjoint subsets


@dataclass
class CltmProtocolConfig:
    """How subsets are drawn.

    Args:
        speakers_per_subset (`int`, *optional*, defaults to 4): speakers in each of D and D' (even keeps genders
            balanced).
        eval_speakers (`int`, *optional*, defaults to 4): evaluation speakers per language (ignored with
            ``eval_split``).
        eval_split (`str`, *optional*): evaluate on this corpus split (e.g. ``test``) instead of held-out speakers;
            D and D' then come from the speakers of the other splits.
        resample_speakers_per_seed (`bool`, *optional*, defaults to `True`): draw the speaker partition anew for
            every seed (the standard errors then include the choice of speakers); ``False`` keeps the partition of
            ``partition_seed`` for every seed. Our choice.
        partition_seed (`int`, *optional*, defaults to 0): the partition seed when not resampling.

    All defaults are our choices, sized for the synthetic corpus (12 speakers per language).
    """

    speakers_per_subset: int = 4
    eval_speakers: int = 4
    eval_split: str | None = None
    resample_speakers_per_seed: bool = True
    partition_seed: int = 0

    def __post_init__(self):
        if self.speakers_per_subset < 1:
            raise ValueError(f"`speakers_per_subset` must be >= 1, got {self.speakers_per_subset}.")
        if self.eval_split is None and self.eval_speakers < 1:
            raise ValueError(f"`eval_speakers` must be >= 1, got {self.eval_speakers}.")


@dataclass
class LanguagePartition:
    """Speaker-disjoint groups of one language for one seed: D speakers, D' speakers and evaluation rows."""

    language: str
    d_speakers: list[str]
    d_prime_speakers: list[str]
    eval_indices: np.ndarray
    eval_speakers: list[str] = field(default_factory=list)


def _rng(*keys: Any) -> np.random.Generator:
    entropy = [int(k) if isinstance(k, (int, np.integer)) else zlib.crc32(str(k).encode()) for k in keys]
    return np.random.default_rng(entropy)


def _deal_by_gender(speakers: Sequence[str], gender_of: Mapping[str, str], rng: np.random.Generator) -> list[str]:
    """Speakers shuffled within gender, then interleaved (F, M, F, M... from a random first gender)."""
    groups = defaultdict(list)
    for s in speakers:
        groups[gender_of[s]].append(s)
    names = sorted(groups)
    for g in names:
        groups[g] = [groups[g][k] for k in rng.permutation(len(groups[g]))]
    names = [names[k] for k in rng.permutation(len(names))]
    dealt, k = [], 0
    while any(groups[g] for g in names):
        g = names[k % len(names)]
        if groups[g]:
            dealt.append(groups[g].pop(0))
        k += 1
    return dealt


def partition_language(
    table: CorpusTable, language: str, seed: int, config: CltmProtocolConfig, usable: np.ndarray | None = None
) -> LanguagePartition:
    """Split the speakers of ``language`` into D, D' and evaluation groups (see the module docstring)."""
    rows = table.language == language
    if usable is not None:
        rows &= usable
    if not rows.any():
        raise ValueError(f"Language {language!r} has no usable utterances (languages: {sorted(set(table.language))}).")
    gender_of = {s: g for s, g in zip(table.speaker[rows], table.gender[rows])}
    key_seed = seed if config.resample_speakers_per_seed else config.partition_seed
    rng = _rng(key_seed, language, "partition")
    k = config.speakers_per_subset
    if config.eval_split is not None:
        eval_rows = rows & (table.split == config.eval_split)
        if not eval_rows.any():
            raise ValueError(f"Language {language!r} has no utterances in `eval_split` {config.eval_split!r}.")
        eval_speakers = sorted(set(table.speaker[eval_rows]))
        pool = sorted(set(table.speaker[rows & (table.split != config.eval_split)]) - set(eval_speakers))
        dealt = _deal_by_gender(pool, gender_of, rng)
        needed = 2 * k
    else:
        dealt = _deal_by_gender(sorted(gender_of), gender_of, rng)
        needed = 2 * k + config.eval_speakers
    if len(dealt) < needed:
        have = len(dealt)
        if config.eval_split is not None:
            smaller = f"`--speakers_per_subset {have // 2}`" if have >= 2 else "a corpus with more speakers"
        elif have >= 3:
            k_small = (have - 1) // 2
            smaller = f"`--speakers_per_subset {k_small} --eval_speakers {have - 2 * k_small}`"
        else:
            smaller = "a corpus with more speakers (the protocol needs at least 3: D, D' and evaluation)"
        raise ValueError(
            f"Language {language!r} has {have} usable speakers, the protocol needs {needed} "
            f"({k} for D, {k} for D'"
            + ("" if config.eval_split else f", {config.eval_speakers} for evaluation")
            + f"). Use the smaller protocol {smaller} (every language of the run, docs/cltm.md 'Small corpora'), "
            "or use a corpus with more speakers."
        )
    d, d_prime = dealt[:k], dealt[k : 2 * k]
    if config.eval_split is None:
        eval_speakers = sorted(dealt[2 * k : needed])
        eval_rows = rows & np.isin(table.speaker, eval_speakers)
    return LanguagePartition(
        language=language,
        d_speakers=d,
        d_prime_speakers=d_prime,
        eval_indices=np.flatnonzero(eval_rows),
        eval_speakers=list(eval_speakers),
    )


def balanced_subset(
    table: CorpusTable, speakers: Sequence[str], n: int, rng: np.random.Generator, usable: np.ndarray | None = None
) -> np.ndarray:
    """``n`` utterance indices spread evenly over ``speakers`` (``n // len(speakers)`` each, the first ``n % k``
    speakers one more) and, within a speaker, round-robin over the emotion classes (random order within a class).

    Raises:
        ValueError: a speaker has fewer usable utterances than its quota.
    """
    k = len(speakers)
    if n < 1 or k == 0:
        raise ValueError(f"A subset needs n >= 1 and at least one speaker, got n={n}, {k} speakers.")
    quota = [n // k + (1 if r < n % k else 0) for r in range(k)]
    chosen = []
    for speaker, q in zip(speakers, quota):
        rows = table.speaker == speaker
        if usable is not None:
            rows &= usable
        idx = np.flatnonzero(rows)
        if len(idx) < q:
            raise ValueError(
                f"Speaker {speaker!r} has {len(idx)} usable utterances, the subset needs {q} from each speaker "
                f"(N = {n} over {k} speakers). Choose a smaller N."
            )
        by_class = defaultdict(list)
        for i in idx[rng.permutation(len(idx))]:
            by_class[int(table.emotion[i])].append(int(i))
        classes = sorted(by_class)
        classes = [classes[c] for c in rng.permutation(len(classes))]
        taken, depth = [], 0
        while len(taken) < q:
            for c in classes:
                if depth < len(by_class[c]) and len(taken) < q:
                    taken.append(by_class[c][depth])
            depth += 1
        chosen.extend(taken)
    return np.asarray(sorted(chosen), dtype=np.int64)


# ----------------------------------------------------------------------------------------------------------------
# The runner


class CltmRunner:
    """Trains and scores the runs of a CLTM grid.

    Args:
        table (:class:`CorpusTable`): the corpus.
        inputs: model inputs aligned with ``table`` (a feature array, or
            :class:`~hf_cser.cltm.features.LazyWaveforms`), indexable by an index array.
        task (:class:`~hf_cser.cltm.tasks.CltmTask`): what to train and how to score.
        model_factory (`Callable[[], CltmTaskModel]`): a fresh task model per run.
        config (:class:`CltmProtocolConfig`, *optional*): subset settings.
    """

    def __init__(
        self,
        table: CorpusTable,
        inputs,
        task,
        model_factory: Callable[[], Any],
        config: CltmProtocolConfig | None = None,
    ):
        if len(inputs) != len(table):
            raise ValueError(f"`inputs` has {len(inputs)} entries for {len(table)} utterances.")
        self.table, self.inputs, self.task = table, inputs, task
        self.model_factory = model_factory
        self.config = config if config is not None else CltmProtocolConfig()
        self.usable = task.usable(table)
        self._partitions: dict[tuple[str, int], LanguagePartition] = {}

    def partition(self, language: str, seed: int) -> LanguagePartition:
        key = (language, seed if self.config.resample_speakers_per_seed else self.config.partition_seed)
        if key not in self._partitions:
            self._partitions[key] = partition_language(self.table, language, seed, self.config, self.usable)
        return self._partitions[key]

    def subset(self, language: str, role: str, n: int, seed: int) -> np.ndarray:
        """D (``role="D"``) or D' (``role="D'"``) of ``language`` with ``n`` samples for ``seed``."""
        part = self.partition(language, seed)
        speakers = part.d_speakers if role == "D" else part.d_prime_speakers
        return balanced_subset(self.table, speakers, n, _rng(seed, language, role, n), self.usable)

    def training_indices(self, spec: RunSpec) -> np.ndarray:
        d_i = self.subset(spec.target, "D", spec.n, spec.seed)
        if spec.kind == "single":
            return d_i
        if spec.kind == "self":
            return np.concatenate([d_i, self.subset(spec.target, "D'", spec.n, spec.seed)])
        if spec.kind == "dual":
            return np.concatenate([d_i, self.subset(spec.donor, "D", spec.n, spec.seed)])
        raise ValueError(f"Unknown run kind {spec.kind!r}.")

    def _rows(self, index: np.ndarray) -> dict[str, list[str]]:
        return {"audio": self.table.path[index].tolist(), "speaker": self.table.speaker[index].tolist()}

    def run(self, spec: RunSpec) -> dict[str, Any]:
        """Train and score one run; returns its CSV row. Raises :class:`~hf_cser.data.TargetLeakageError` if an
        evaluation speaker or file of the cell is in its training data (the task models select nothing and fit
        their input statistics on the training rows only)."""
        from ..data.leakage import check_target_disjoint

        start = time.perf_counter()
        train = self.training_indices(spec)
        evaluation = self.partition(spec.target, spec.seed).eval_indices
        check_target_disjoint(
            self._rows(evaluation),
            train=self._rows(train),
            target_name=f"{spec.target} evaluation set (run {spec.kind} {spec.target}"
            f"{'+' + spec.donor if spec.donor else ''}, N={spec.n}, seed {spec.seed})",
        )
        labels, num_classes = self.task.training_labels(self.table, train)
        model = self.model_factory()
        model.fit(self.inputs[train], labels, num_classes, spec.seed)
        performance = self.task.score(model, self.inputs, self.table, evaluation, seed=spec.seed)
        return {
            "task": spec.task,
            "kind": spec.kind,
            "target": spec.target,
            "donor": spec.donor or "",
            "n": spec.n,
            "seed": spec.seed,
            "performance": repr(float(performance)),
            "metric": self.task.metric,
            "num_train": len(train),
            "num_eval": len(evaluation),
            "seconds": f"{time.perf_counter() - start:.3f}",
        }

    def run_grid(
        self,
        specs: Sequence[RunSpec],
        log: RunLog | None = None,
        progress: bool = True,
        process_index: int = 0,
        num_processes: int = 1,
    ) -> list[dict[str, Any]]:
        """Run every spec not yet in ``log`` (this process's share: specs ``process_index::num_processes``),
        appending each finished run at once; returns the rows of all ``specs`` that are finished (read back from
        the log, or run now)."""
        finished = log.finished() if log is not None else {}
        todo = [s for k, s in enumerate(specs) if k % num_processes == process_index and s.key not in finished]
        if finished and todo:
            logger.info(
                f"CLTM: {sum(s.key in finished for s in specs)} of {len(specs)} runs already finished; "
                f"{len(todo)} to run here."
            )
        iterator = todo
        if progress and todo:
            from hf_cser.console import progress_bar

            iterator = progress_bar(todo, desc="CLTM runs", unit="run")
        for spec in iterator:
            row = self.run(spec)
            finished[spec.key] = row
            if log is not None:
                log.append(row)
        return [finished[s.key] for s in specs if s.key in finished]
