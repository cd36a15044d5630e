"""Hierarchical cross-lingual batch sampler (``papers/001``, section 2.2; METHODS.md section 2).

Every batch holds ``L`` distinct languages x ``E`` emotion classes x ``K`` instances per (language, emotion) cell,
so each anchor of the language-aware supervised contrastive loss has same-emotion positives in its own and in other
languages.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from math import comb
from typing import Any

import numpy as np
from torch.utils.data import Sampler
from transformers.utils import logging

logger = logging.get_logger(__name__)

_MAX_EMOTION_SUBSETS = 100_000


def _distributed_defaults(num_replicas: int | None, rank: int | None) -> tuple[int, int]:
    if num_replicas is None or rank is None:
        import torch.distributed as dist

        initialised = dist.is_available() and dist.is_initialized()
        if num_replicas is None:
            num_replicas = dist.get_world_size() if initialised else 1
        if rank is None:
            rank = dist.get_rank() if initialised else 0
    return int(num_replicas), int(rank)


class HierarchicalLanguageEmotionSampler(Sampler[list[int]]):
    """Batch sampler drawing ``L`` languages, then ``E`` emotions, then ``K`` samples per (language, emotion).

    Each batch has ``batch_size = L * E * K`` indices, ordered language by language, then emotion by emotion, ``K``
    samples each. The same ``E`` emotions are used for all ``L`` languages of a batch (the paper samples the
    emotions once, from the shared label space), so a language can only be drawn together with emotions it has.

    **Epoch.** (library definition; the paper does not define one) Every (language, emotion) cell is shuffled and
    cut into groups of ``K``; the last group of a cell is topped up with other samples of the same cell, and a cell
    with fewer than ``K`` samples is topped up by re-sampling it with replacement (reported once with a warning).
    Batches are then built greedily until every group was used once: each batch is anchored on the cell with the
    most unused groups, completed with the emotion set and languages that have the most unused groups, and a cell
    whose groups are used up contributes ``K`` freshly re-sampled instances. So every sample appears at least once
    per epoch; frequent cells are not down-sampled and rare ones are repeated. The batches are shuffled at the
    end. The number of batches can differ by a few between epochs; set ``num_batches`` to fix it (extra batches are
    random, and with fewer batches than an epoch needs, coverage is not guaranteed: a warning says so).

    **Missing emotions.** A cell that cannot be part of any valid batch (its language has fewer than ``E`` emotions
    that at least ``L`` languages share) is never drawn; the constructor warns with the cells and counts. When no
    valid batch exists at all, the constructor raises a `ValueError` listing each language's emotions.

    **Determinism.** The batches of an epoch are a function of ``seed`` and the epoch set with :meth:`set_epoch`
    only (same on every process); call ``set_epoch(epoch)`` before each epoch, as with `DistributedSampler`
    (transformers' `Trainer` does it).

    **Several processes.** Two ways, pick one:

    - *the sampler shards itself*: with ``num_replicas > 1`` (the default when `torch.distributed` is initialised),
      the global batch list is padded by wrap-around to a multiple of ``num_replicas`` and rank ``r`` takes batches
      ``r, r + W, r + 2W, ...``: distinct batches per rank, the same number on every rank. Use a plain
      ``DataLoader(ds, batch_sampler=sampler)`` and do **not** pass it through ``accelerator.prepare`` (that would
      shard it a second time).
    - *Accelerate shards it*: build the sampler with ``num_replicas=1, rank=0`` so every process yields the same
      global batches, then ``accelerator.prepare(DataLoader(ds, batch_sampler=sampler))``: accelerate (1.15) wraps
      it in ``BatchSamplerShard``, which gives process ``r`` global batches ``r, r + W, ...`` and, with
      ``even_batches=True`` (default), pads the last round with the first batches. ``BatchSamplerShard`` does not
      forward ``set_epoch``: call ``sampler.set_epoch(epoch)`` yourself (the `Trainer` does).

    Args:
        languages (`Sequence`, *optional*): language of every sample (any hashable, e.g. ``"en"``).
        emotions (`Sequence`, *optional*): emotion of every sample (class id or name).
        dataset (`datasets.Dataset`, *optional*): read ``languages`` and ``emotions`` from its columns instead.
        language_column (`str`, *optional*, defaults to `"language"`): column of ``dataset``.
        emotion_column (`str`, *optional*, defaults to `"emotion"`): column of ``dataset``.
        languages_per_batch (`int`, *optional*, defaults to 2): ``L``, distinct languages per batch (library
            default; the paper's value was lost).
        emotions_per_batch (`int`, *optional*, defaults to 4): ``E``, emotion classes per batch (library default:
            all four classes).
        samples_per_cell (`int`, *optional*, defaults to 4): ``K``, instances per (language, emotion) (library
            default).
        seed (`int`, *optional*, defaults to 0): base seed; epoch ``e`` uses ``(seed, e)``.
        num_batches (`int`, *optional*): global batches per epoch; default: as many as the epoch needs.
        num_replicas (`int`, *optional*): number of processes; default: `torch.distributed` world size if
            initialised, else 1.
        rank (`int`, *optional*): this process; default: `torch.distributed` rank if initialised, else 0.

    Example:

    ```python
    >>> sampler = HierarchicalLanguageEmotionSampler(dataset=train, languages_per_batch=2, samples_per_cell=4)
    >>> loader = DataLoader(train, batch_sampler=sampler, collate_fn=collate)
    >>> for epoch in range(num_epochs):
    ...     sampler.set_epoch(epoch)
    ...     for batch in loader: ...
    ```
    """

    def __init__(
        self,
        languages: Sequence[Any] | None = None,
        emotions: Sequence[Any] | None = None,
        *,
        dataset: Any = None,
        language_column: str = "language",
        emotion_column: str = "emotion",
        languages_per_batch: int = 2,
        emotions_per_batch: int = 4,
        samples_per_cell: int = 4,
        seed: int = 0,
        num_batches: int | None = None,
        num_replicas: int | None = None,
        rank: int | None = None,
    ):
        if dataset is not None:
            if languages is not None or emotions is not None:
                raise ValueError("Pass either `dataset` or `languages` and `emotions`, not both.")
            for column in (language_column, emotion_column):
                if column not in dataset.column_names:
                    raise ValueError(f"`dataset` has no column {column!r}; its columns are {dataset.column_names}.")
            languages = list(dataset[language_column])
            emotions = list(dataset[emotion_column])
        if languages is None or emotions is None:
            raise ValueError("Pass the per-sample `languages` and `emotions`, or a `dataset` with those columns.")
        if len(languages) != len(emotions):
            raise ValueError(
                f"`languages` has {len(languages)} entries but `emotions` has {len(emotions)}; one per sample each."
            )
        if len(languages) == 0:
            raise ValueError("The sampler got no samples (`languages` and `emotions` are empty).")
        for name, value in (
            ("languages_per_batch", languages_per_batch),
            ("emotions_per_batch", emotions_per_batch),
            ("samples_per_cell", samples_per_cell),
        ):
            if int(value) != value or value < 1:
                raise ValueError(f"`{name}` must be an integer >= 1, got {value!r}.")
        if num_batches is not None and (int(num_batches) != num_batches or num_batches < 1):
            raise ValueError(f"`num_batches` must be an integer >= 1 or None, got {num_batches!r}.")
        if int(seed) != seed or seed < 0:
            raise ValueError(f"`seed` must be a non-negative integer, got {seed!r}.")
        num_replicas, rank = _distributed_defaults(num_replicas, rank)
        if num_replicas < 1:
            raise ValueError(f"`num_replicas` must be >= 1, got {num_replicas}.")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"`rank` must be in [0, {num_replicas - 1}] for num_replicas={num_replicas}, got {rank}.")

        self.languages_per_batch = L = int(languages_per_batch)
        self.emotions_per_batch = E = int(emotions_per_batch)
        self.samples_per_cell = K = int(samples_per_cell)
        self.batch_size = L * E * K
        self.drop_last = False  # read by accelerate's BatchSamplerShard
        self.seed = int(seed)
        self.num_batches = None if num_batches is None else int(num_batches)
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self._cache: tuple[int, np.ndarray] | None = None

        self.language_names, lang_codes = np.unique(np.asarray([str(x) for x in languages]), return_inverse=True)
        self.emotion_names, emo_codes = np.unique(np.asarray(emotions), return_inverse=True)
        n_lang, n_emo = len(self.language_names), len(self.emotion_names)
        if L > n_lang:
            raise ValueError(
                f"`languages_per_batch`={L} but the data has only {n_lang} language(s) "
                f"{self.language_names.tolist()}; lower it to at most {n_lang}."
            )
        if E > n_emo:
            raise ValueError(
                f"`emotions_per_batch`={E} but the data has only {n_emo} emotion class(es) "
                f"{self.emotion_names.tolist()}; lower it to at most {n_emo}."
            )

        # cells: (language, emotion) -> sample indices, O(N log N)
        cell_ids = lang_codes.astype(np.int64) * n_emo + emo_codes
        order = np.argsort(cell_ids, kind="stable")
        counts = np.bincount(cell_ids, minlength=n_lang * n_emo)
        self._cells: list[np.ndarray] = np.split(order, np.cumsum(counts)[:-1])
        self._counts = counts.reshape(n_lang, n_emo)
        available = self._counts > 0

        # emotion subsets of size E that at least L languages have completely
        num_subsets = comb(n_emo, E)
        if num_subsets > _MAX_EMOTION_SUBSETS:
            raise ValueError(
                f"{num_subsets} possible emotion subsets of size {E} from {n_emo} classes is too many to plan with; "
                "use fewer emotion classes or a different `emotions_per_batch`."
            )
        subsets = np.asarray(list(itertools.combinations(range(n_emo), E)), dtype=np.int64).reshape(-1, E)
        subset_langs = available[:, subsets].all(axis=2).T  # (num_subsets, n_lang)
        feasible = subset_langs.sum(axis=1) >= L
        if not feasible.any():
            have = {str(self.language_names[l]): self.emotion_names[available[l]].tolist() for l in range(n_lang)}
            raise ValueError(
                f"No batch of {L} languages x {E} emotions can be formed: fewer than {L} languages share {E} emotion "
                f"classes. Emotions per language: {have}. Lower `languages_per_batch` or `emotions_per_batch`."
            )
        self._subsets = subsets[feasible]
        self._subset_langs = subset_langs[feasible]
        self._subset_onehot = np.zeros((len(self._subsets), n_emo), dtype=np.int64)
        np.put_along_axis(self._subset_onehot, self._subsets, 1, axis=1)
        # a cell is reachable when some feasible subset contains its emotion and its language has that subset
        reachable = (self._subset_onehot[:, None, :].astype(bool) & self._subset_langs[:, :, None]).any(axis=0)
        self._reachable = reachable & available
        unreachable = available & ~reachable
        if unreachable.any():
            lost = {
                f"({self.language_names[l]}, {self.emotion_names[e]})": int(self._counts[l, e])
                for l, e in zip(*np.nonzero(unreachable), strict=True)
            }
            logger.warning(
                f"{int(self._counts[unreachable].sum())} sample(s) in {len(lost)} (language, emotion) cell(s) can "
                f"never be drawn: their language has no {E} emotions shared by {L} languages. Cells and counts: "
                f"{lost}."
            )
        small = self._reachable & (self._counts < K)
        if small.any():
            short = {
                f"({self.language_names[l]}, {self.emotion_names[e]})": int(self._counts[l, e])
                for l, e in zip(*np.nonzero(small), strict=True)
            }
            logger.warning(
                f"{len(short)} (language, emotion) cell(s) have fewer than samples_per_cell={K} samples and are "
                f"topped up by re-sampling within the cell. Cells and counts: {short}."
            )
        self._num_samples_covered = int(self._counts[self._reachable].sum())

    @classmethod
    def from_dataset(cls, dataset: Any, **kwargs: Any) -> HierarchicalLanguageEmotionSampler:
        """Build the sampler from a `datasets.Dataset` in the hf_cser schema (``language`` and ``emotion`` columns)."""
        return cls(dataset=dataset, **kwargs)

    # ----------------------------------------------------------------------------------------------------------------

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch; batches depend only on ``(seed, epoch)``."""
        self.epoch = int(epoch)

    def _make_batch(self, anchor: int, remaining: np.ndarray, groups, pointers, rng) -> np.ndarray:
        n_lang, n_emo = self._counts.shape
        L, K = self.languages_per_batch, self.samples_per_cell
        l0, e0 = divmod(int(anchor), n_emo)
        usable = (self._subset_onehot[:, e0] == 1) & self._subset_langs[:, l0]
        candidates = np.flatnonzero(usable)
        # backlog of every language over every candidate subset: (num_candidates, n_lang)
        backlog = self._subset_onehot[candidates] @ remaining.T
        others = np.where(self._subset_langs[candidates], backlog + rng.random(backlog.shape), -np.inf)
        others[:, l0] = -np.inf
        top = -np.sort(-others, axis=1)[:, : L - 1]
        score = backlog[:, l0] + top.sum(axis=1) + rng.random(len(candidates)) * 0.5
        best = int(np.argmax(score))
        subset = self._subsets[candidates[best]]
        langs = [l0] + (np.argsort(-others[best], kind="stable")[: L - 1].tolist() if L > 1 else [])
        parts = []
        for lang in langs:
            for emo in subset:
                cell = lang * n_emo + int(emo)
                if remaining[lang, emo] > 0:
                    parts.append(groups[cell][pointers[cell]])
                    pointers[cell] += 1
                    remaining[lang, emo] -= 1
                else:
                    members = self._cells[cell]
                    parts.append(rng.choice(members, K, replace=len(members) < K))
        return np.concatenate(parts)

    def _global_batches(self, epoch: int) -> np.ndarray:
        """All batches of ``epoch`` (before sharding), shape ``(num_batches, batch_size)``."""
        if self._cache is not None and self._cache[0] == epoch:
            return self._cache[1]
        rng = np.random.default_rng([self.seed, epoch])
        n_lang, n_emo = self._counts.shape
        K = self.samples_per_cell
        groups: list[np.ndarray | None] = []
        for c, members in enumerate(self._cells):
            l, e = divmod(c, n_emo)
            if not self._reachable[l, e]:
                groups.append(None)
                continue
            perm = rng.permutation(members)
            extra = -len(perm) % K
            if extra:
                pad = perm[:extra] if extra <= len(perm) else rng.choice(perm, extra, replace=True)
                perm = np.concatenate([perm, pad])
            groups.append(perm.reshape(-1, K))
        remaining = np.zeros((n_lang, n_emo), dtype=np.int64)
        for c, g in enumerate(groups):
            if g is not None:
                remaining.flat[c] = len(g)
        pointers = np.zeros(n_lang * n_emo, dtype=np.int64)
        batches = []
        while remaining.any() and (self.num_batches is None or len(batches) < self.num_batches):
            anchor = int(np.argmax(remaining.ravel() + rng.random(remaining.size) * 0.5))
            batches.append(self._make_batch(anchor, remaining, groups, pointers, rng))
        if remaining.any():
            logger.warning_once(
                f"`num_batches`={self.num_batches} is fewer than an epoch needs to cover every sample; "
                f"{int(remaining.sum())} group(s) of samples_per_cell samples are left out in this epoch."
            )
        if self.num_batches is not None and len(batches) < self.num_batches:
            weights = np.where(self._reachable, self._counts, 0).ravel().astype(np.float64)
            anchors = rng.choice(weights.size, self.num_batches - len(batches), p=weights / weights.sum())
            for anchor in anchors:
                batches.append(self._make_batch(int(anchor), remaining, groups, pointers, rng))
        plan = np.stack(batches)[rng.permutation(len(batches))]
        self._cache = (epoch, plan)
        return plan

    def _rank_batches(self, epoch: int) -> np.ndarray:
        plan = self._global_batches(epoch)
        W = self.num_replicas
        if W == 1:
            return plan
        total = -(-len(plan) // W) * W
        if total > len(plan):  # wrap around so every rank gets the same number of batches
            plan = plan[np.arange(total) % len(plan)]
        return plan[self.rank :: W]

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self._rank_batches(self.epoch):
            yield batch.tolist()

    def __len__(self) -> int:
        return -(-len(self._global_batches(self.epoch)) // self.num_replicas)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(languages={self.language_names.tolist()}, "
            f"L={self.languages_per_batch}, E={self.emotions_per_batch}, K={self.samples_per_cell}, "
            f"batch_size={self.batch_size}, num_replicas={self.num_replicas}, rank={self.rank}, seed={self.seed})"
        )
