import json
import logging
import os
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from hf_cser.data.sampler import HierarchicalLanguageEmotionSampler


def _toy(sizes: dict[tuple[str, int], int]):
    languages, emotions = [], []
    for (lang, emo), n in sizes.items():
        languages += [lang] * n
        emotions += [emo] * n
    return languages, emotions


SIZES = {(lang, emo): 5 + 3 * i + emo for i, lang in enumerate(["en", "zh", "de", "fr"]) for emo in range(4)}


def _check_composition(batches, languages, emotions, L, E, K):
    for batch in batches:
        assert len(batch) == L * E * K
        cells = Counter((languages[i], emotions[i]) for i in batch)
        langs = {lang for lang, _ in cells}
        emos = {emo for _, emo in cells}
        assert len(langs) == L and len(emos) == E
        assert set(cells) == {(lang, emo) for lang in langs for emo in emos}
        assert set(cells.values()) == {K}


def test_batch_composition_coverage_and_determinism():
    languages, emotions = _toy(SIZES)
    kwargs = dict(languages_per_batch=2, emotions_per_batch=3, samples_per_cell=2, seed=5, num_replicas=1, rank=0)
    sampler = HierarchicalLanguageEmotionSampler(languages, emotions, **kwargs)
    assert sampler.batch_size == 12
    epoch0 = list(sampler)
    assert len(epoch0) == len(sampler) > 0
    _check_composition(epoch0, languages, emotions, 2, 3, 2)
    assert set(np.concatenate(epoch0).tolist()) == set(range(len(languages)))
    # language-major, then emotion, K consecutive samples per cell
    first = epoch0[0]
    assert [languages[i] for i in first[:6]] == [languages[first[0]]] * 6
    assert emotions[first[0]] == emotions[first[1]]

    again = HierarchicalLanguageEmotionSampler(languages, emotions, **kwargs)
    assert list(again) == epoch0
    again.set_epoch(1)
    epoch1 = list(again)
    assert epoch1 != epoch0
    assert set(np.concatenate(epoch1).tolist()) == set(range(len(languages)))
    sampler.set_epoch(1)
    assert list(sampler) == epoch1
    other_seed = HierarchicalLanguageEmotionSampler(languages, emotions, **{**kwargs, "seed": 6})
    assert list(other_seed) != epoch0


def test_small_cells_are_topped_up_with_one_warning(caplog):
    sizes = {("en", 0): 1, ("en", 1): 9, ("zh", 0): 4, ("zh", 1): 2, ("de", 0): 6, ("de", 1): 6}
    languages, emotions = _toy(sizes)
    from transformers.utils import logging as hf_logging

    hf_logging.enable_propagation()
    try:
        with caplog.at_level(logging.WARNING):
            sampler = HierarchicalLanguageEmotionSampler(
                languages, emotions, languages_per_batch=3, emotions_per_batch=2, samples_per_cell=4, num_replicas=1
            )
    finally:
        hf_logging.disable_propagation()
    messages = [r.getMessage() for r in caplog.records if "fewer than samples_per_cell" in r.getMessage()]
    assert len(messages) == 1
    assert "(en, 0)': 1" in messages[0] and "(zh, 1)': 2" in messages[0] and "(de" not in messages[0]
    batches = list(sampler)
    _check_composition(batches, languages, emotions, 3, 2, 4)
    # en/1 has 9 samples -> 3 groups of 4 -> every batch holds all three languages, so 3 batches
    assert len(batches) == 3
    assert set(np.concatenate(batches).tolist()) == set(range(len(languages)))
    assert all(Counter(b)[0] == 4 for b in batches)  # the single (en, 0) sample is re-sampled 4 times per batch


def test_languages_missing_emotions():
    # fr has only emotion 0: with E=2 it can never be drawn (warned); with E=2 and L=3 no batch exists (error)
    sizes = {("en", 0): 4, ("en", 1): 4, ("zh", 0): 4, ("zh", 1): 4, ("fr", 0): 4}
    languages, emotions = _toy(sizes)
    sampler = HierarchicalLanguageEmotionSampler(
        languages, emotions, languages_per_batch=2, emotions_per_batch=2, samples_per_cell=2, num_replicas=1
    )
    used = set(np.concatenate(list(sampler)).tolist())
    assert used == set(range(16))  # everything except the 4 fr samples
    with pytest.raises(ValueError, match=r"No batch of 3 languages x 2 emotions.*'fr': \[0\]"):
        HierarchicalLanguageEmotionSampler(
            languages, emotions, languages_per_batch=3, emotions_per_batch=2, samples_per_cell=2, num_replicas=1
        )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"languages_per_batch": 0}, "`languages_per_batch` must be an integer >= 1, got 0"),
        ({"emotions_per_batch": 0}, "`emotions_per_batch` must be an integer >= 1"),
        ({"samples_per_cell": -1}, "`samples_per_cell` must be an integer >= 1"),
        ({"languages_per_batch": 5}, r"`languages_per_batch`=5 but the data has only 4 language\(s\)"),
        ({"emotions_per_batch": 5}, r"`emotions_per_batch`=5 but the data has only 4 emotion"),
        ({"num_replicas": 2, "rank": 2}, r"`rank` must be in \[0, 1\]"),
        ({"num_batches": 0}, "`num_batches` must be an integer >= 1"),
    ],
)
def test_errors(kwargs, message):
    languages, emotions = _toy(SIZES)
    with pytest.raises(ValueError, match=message):
        HierarchicalLanguageEmotionSampler(languages, emotions, **{"num_replicas": 1, "rank": 0, **kwargs})
    with pytest.raises(ValueError, match="`languages` has 3 entries but `emotions` has 2"):
        HierarchicalLanguageEmotionSampler(["en"] * 3, [0, 1], num_replicas=1)


def test_fixed_num_batches_and_dataset_input():
    from datasets import Dataset

    languages, emotions = _toy(SIZES)
    ds = Dataset.from_dict({"language": languages, "emotion": emotions})
    sampler = HierarchicalLanguageEmotionSampler.from_dataset(
        ds, languages_per_batch=2, emotions_per_batch=4, samples_per_cell=2, num_batches=40, num_replicas=1
    )
    batches = list(sampler)
    assert len(sampler) == len(batches) == 40
    _check_composition(batches, languages, emotions, 2, 4, 2)
    assert set(np.concatenate(batches).tolist()) == set(range(len(languages)))


def test_two_simulated_ranks_and_accelerate_sharding():
    languages, emotions = _toy(SIZES)
    kwargs = dict(languages_per_batch=2, emotions_per_batch=2, samples_per_cell=3, seed=1)
    ranks = [HierarchicalLanguageEmotionSampler(languages, emotions, num_replicas=2, rank=r, **kwargs) for r in (0, 1)]
    glob = HierarchicalLanguageEmotionSampler(languages, emotions, num_replicas=1, rank=0, **kwargs)
    for s in (*ranks, glob):
        s.set_epoch(2)
    global_batches = list(glob)
    per_rank = [list(s) for s in ranks]
    assert len(ranks[0]) == len(ranks[1]) == len(per_rank[0]) == len(per_rank[1]) == -(-len(global_batches) // 2)
    assert len(global_batches) % 2 == 0  # data chosen so that no padding batch repeats a batch of the other rank
    if len(global_batches) % 2 == 0:
        assert not {tuple(b) for b in per_rank[0]} & {tuple(b) for b in per_rank[1]}
    assert per_rank[0] == global_batches[0::2] + ([global_batches[0]] if len(global_batches) % 2 else [])
    union = set(np.concatenate(per_rank[0] + per_rank[1]).tolist())
    assert union == set(range(len(languages)))

    # mode (b): global batches sharded by accelerate's BatchSamplerShard give the same split
    from accelerate.data_loader import BatchSamplerShard

    for r in (0, 1):
        shard = BatchSamplerShard(glob, num_processes=2, process_index=r)
        assert len(shard) == len(per_rank[r])
        assert list(shard) == per_rank[r]


def test_100k_samples_every_sample_once_per_epoch():
    """At corpus scale (100k samples, unbalanced cells) every sample is drawn in an epoch; the speed of this is a
    benchmark (`benchmarks/bench_sampler.py`), not a test."""
    rng = np.random.default_rng(0)
    n = 100_000
    languages = rng.choice(["en", "zh", "de", "fr", "ur"], n, p=[0.4, 0.2, 0.2, 0.1, 0.1])
    emotions = rng.choice(4, n, p=[0.4, 0.3, 0.2, 0.1])
    sampler = HierarchicalLanguageEmotionSampler(languages, emotions, samples_per_cell=8, num_replicas=1)
    batches = list(sampler)
    assert len(np.unique(np.concatenate(batches))) == n


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_real_two_process_torchrun(tmp_path):
    worker = Path(__file__).with_name("_sampler_ddp_worker.py")
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(_free_port()),
        str(worker),
        str(tmp_path),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    infos = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [info["world"] for info in infos] == [2, 2]
    assert infos[0]["len"] == infos[1]["len"] == len(infos[0]["batches"]) == len(infos[1]["batches"]) > 0
    # the same sampler built in one process gives the global batches the two ranks split between them
    languages = ["en"] * 40 + ["zh"] * 24 + ["de"] * 17
    emotions = [i % 4 for i in range(40)] + [i % 4 for i in range(24)] + [i % 4 for i in range(17)]
    glob = HierarchicalLanguageEmotionSampler(
        languages, emotions, languages_per_batch=2, emotions_per_batch=2, samples_per_cell=3, seed=7, num_replicas=1
    )
    glob.set_epoch(3)
    global_batches = list(glob)
    padded = [global_batches[i % len(global_batches)] for i in range(2 * infos[0]["len"])]
    assert infos[0]["batches"] == padded[0::2] and infos[1]["batches"] == padded[1::2]
    assert len(global_batches) % 2 == 0
    if len(global_batches) % 2 == 0:
        assert not {tuple(b) for b in infos[0]["batches"]} & {tuple(b) for b in infos[1]["batches"]}
    union = {i for info in infos for batch in info["batches"] for i in batch}
    assert union == set(range(len(languages)))
