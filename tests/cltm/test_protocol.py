"""Balanced speaker-disjoint subsets, run planning, the dynamic-interval rule and resuming an interrupted grid."""

import math
from collections import Counter

import numpy as np
import pytest

from hf_cser.cltm import (
    CltmProtocolConfig,
    CltmRunner,
    CorpusTable,
    DynamicIntervalRule,
    MlpTaskModel,
    RunLog,
    RunSpec,
    SerTask,
    balanced_subset,
    check_run_config,
    compute_cltm,
    partition_language,
    plan_cltm_runs,
    plan_self_runs,
    select_dynamic_interval,
)
from hf_cser.cltm.protocol import _rng


def make_table(languages=("en", "de", "fr"), speakers=12, per_speaker=8):
    """Speakers alternate female/male; each says every emotion per_speaker / 4 times."""
    rows = {k: [] for k in ("path", "language", "speaker", "gender", "emotion", "split")}
    for lang in languages:
        for s in range(speakers):
            for u in range(per_speaker):
                rows["path"].append(f"{lang}/{s}/{u}.wav")
                rows["language"].append(lang)
                rows["speaker"].append(f"{lang}_{s:02d}")
                rows["gender"].append("female" if s % 2 == 0 else "male")
                rows["emotion"].append(u % 4)
                rows["split"].append("test" if s >= speakers - 2 else "train")
    return CorpusTable(**{k: np.asarray(v) for k, v in rows.items()})


def test_partition_is_speaker_disjoint_and_gender_balanced():
    table = make_table()
    config = CltmProtocolConfig(speakers_per_subset=4, eval_speakers=4)
    part = partition_language(table, "en", seed=0, config=config)
    groups = [set(part.d_speakers), set(part.d_prime_speakers), set(part.eval_speakers)]
    assert [len(g) for g in groups] == [4, 4, 4]
    assert not (groups[0] & groups[1]) and not (groups[0] & groups[2]) and not (groups[1] & groups[2])
    gender = dict(zip(table.speaker, table.gender))
    for g in groups:
        assert Counter(gender[s] for s in g) == {"female": 2, "male": 2}
    assert set(table.speaker[part.eval_indices]) == groups[2] and len(part.eval_indices) == 4 * 8
    # seeded: the same seed gives the same partition, another seed (usually) another one
    assert partition_language(table, "en", 0, config).d_speakers == part.d_speakers
    others = {tuple(partition_language(table, "en", s, config).d_speakers) for s in range(1, 6)}
    assert len(others | {tuple(part.d_speakers)}) > 1
    fixed = CltmProtocolConfig(resample_speakers_per_seed=False, partition_seed=0)
    assert partition_language(table, "en", 5, fixed).d_speakers == part.d_speakers


def test_partition_with_eval_split_and_too_few_speakers():
    table = make_table()
    part = partition_language(table, "de", 0, CltmProtocolConfig(speakers_per_subset=4, eval_split="test"))
    assert set(table.split[part.eval_indices]) == {"test"} and len(part.eval_speakers) == 2
    assert not set(part.d_speakers + part.d_prime_speakers) & set(part.eval_speakers)
    with pytest.raises(ValueError, match="needs 14"):
        partition_language(table, "en", 0, CltmProtocolConfig(speakers_per_subset=5, eval_speakers=4))
    # a small corpus (CASIA has 4 speakers): the error names the language and a smaller protocol that fits
    small = make_table(languages=("zh",), speakers=4)
    with pytest.raises(ValueError, match=r"'zh' has 4 usable speakers.*--speakers_per_subset 1 --eval_speakers 2"):
        partition_language(small, "zh", 0, CltmProtocolConfig())
    part = partition_language(small, "zh", 0, CltmProtocolConfig(speakers_per_subset=1, eval_speakers=2))
    assert len(part.d_speakers) == len(part.d_prime_speakers) == 1 and len(part.eval_speakers) == 2
    with pytest.raises(ValueError, match="no usable"):
        partition_language(table, "xx", 0, CltmProtocolConfig())


def test_balanced_subset_counts_per_speaker_and_class():
    table = make_table()
    speakers = ["en_00", "en_01", "en_02", "en_03"]
    idx = balanced_subset(table, speakers, 16, _rng(0, "en", "D", 16))
    assert len(idx) == len(set(idx.tolist())) == 16
    assert Counter(table.speaker[idx].tolist()) == {s: 4 for s in speakers}
    for s in speakers:  # 4 samples of one speaker: one per emotion
        assert sorted(table.emotion[idx][table.speaker[idx] == s].tolist()) == [0, 1, 2, 3]
    odd = balanced_subset(table, speakers, 6, _rng(0))
    assert sorted(Counter(table.speaker[odd].tolist()).values()) == [1, 1, 2, 2]
    with pytest.raises(ValueError, match="smaller N"):
        balanced_subset(table, speakers, 40, _rng(0))


def test_training_sets_of_each_kind():
    table = make_table()
    runner = CltmRunner(table, np.zeros((len(table), 2)), SerTask(), MlpTaskModel)
    single = runner.training_indices(RunSpec("ser", "single", "en", None, 16, 3))
    self_ = runner.training_indices(RunSpec("ser", "self", "en", None, 16, 3))
    dual = runner.training_indices(RunSpec("ser", "dual", "en", "fr", 16, 3))
    d_fr = runner.training_indices(RunSpec("ser", "single", "fr", None, 16, 3))
    assert len(single) == 16 and len(self_) == 32 and len(dual) == 32
    assert set(single) < set(self_) and set(single) < set(dual)  # D_i is shared by the runs of a seed
    assert set(dual) - set(single) == set(d_fr)  # the donor part is D_fr itself
    assert set(table.language[list(set(self_) - set(single))]) == {"en"}
    part = runner.partition("en", 3)
    assert set(table.speaker[list(set(self_) - set(single))]) <= set(part.d_prime_speakers)
    assert not set(self_) & set(part.eval_indices.tolist())


def test_run_planning():
    runs = plan_cltm_runs("ser", ["en", "de", "fr"], [0, 1], 16)
    kinds = Counter(r.kind for r in runs)
    assert kinds == {"single": 6, "self": 6, "dual": 12}
    assert len({r.key for r in runs}) == len(runs)
    assert {(r.target, r.donor) for r in runs if r.kind == "dual"} == {
        (t, d) for t in ("en", "de", "fr") for d in ("en", "de", "fr") if t != d
    }
    sweep = plan_self_runs("ser", ["en"], [0], [8, 16])
    assert [(r.kind, r.n) for r in sweep] == [("single", 8), ("self", 8), ("single", 16), ("self", 16)]


def curve_rows(perf):
    """perf: {(lang, n): [(single, self) per seed]}."""
    rows = []
    for (lang, n), pairs in perf.items():
        for seed, (single, self_) in enumerate(pairs):
            rows.append({"kind": "single", "target": lang, "n": n, "seed": seed, "performance": single})
            rows.append({"kind": "self", "target": lang, "n": n, "seed": seed, "performance": self_})
    return rows


def test_dynamic_interval_ci_min_by_hand():
    rule = DynamicIntervalRule(tau=0.05, z=1.3, epsilon=0.05)
    # delta 0.1 (gains 0.08, 0.12: SE = 0.02), P_N 0.5: relative 0.1/0.025 = 4, snr 0.1/0.026 = 3.846,
    # slope 0.1/ln2/0.05 = 2.885 -> CI_min 2.885
    rows = curve_rows({("en", 8): [(0.5, 0.58), (0.5, 0.62)], ("en", 16): [(0.6, 0.61), (0.6, 0.61)]})
    sel = select_dynamic_interval(rows, rule)
    first = sel.table[0]["per_language"]["en"]
    assert first["ci_min"] == pytest.approx(0.1 / math.log(2) / 0.05)
    assert first["self_gain_se"] == pytest.approx(0.02)
    # N=16: delta 0.01, SE 0 -> snr inf; relative 0.01/0.03 = 0.333; slope 0.2885 -> 0.2885
    assert sel.table[1]["per_language"]["en"]["ci_min"] == pytest.approx(0.01 / math.log(2) / 0.05)
    assert sel.n == 8 and sel.to_dict()["interval"] == [8, 16]
    assert rule.ci_min(-0.1, 0.01, 0.5) == 0.0


def test_dynamic_interval_requires_positive_self_gains_and_falls_back():
    rows = curve_rows(
        {
            ("en", 8): [(0.5, 0.7), (0.5, 0.7)],
            ("de", 8): [(0.5, 0.45), (0.5, 0.45)],  # de negative at 8
            ("en", 16): [(0.6, 0.62), (0.6, 0.63)],
            ("de", 16): [(0.5, 0.52), (0.5, 0.53)],
        }
    )
    sel = select_dynamic_interval(rows)
    assert sel.n == 16 and "no N meets the rule" in sel.reason  # 16: all positive, CI below 1
    loose = select_dynamic_interval(rows, DynamicIntervalRule(require_positive_self_gain=False, threshold=0.0))
    assert loose.n == 8 and "meeting the rule" in loose.reason


class CountingModel(MlpTaskModel):
    calls = 0

    def fit(self, *args, **kwargs):
        CountingModel.calls += 1
        return super().fit(*args, **kwargs)


def test_resume_after_an_interrupted_grid(tmp_path):
    table = make_table(languages=("en", "de", "fr"))
    rng = np.random.default_rng(0)
    features = rng.normal(size=(len(table), 6)).astype(np.float32) + table.emotion[:, None] * 0.5
    specs = plan_cltm_runs("ser", ["en", "de", "fr"], [0, 1], 8)

    def runner():
        return CltmRunner(table, features, SerTask(), lambda: CountingModel(hidden_size=8, epochs=3))

    reference = runner().run_grid(specs, RunLog(tmp_path / "ref.csv"), progress=False)

    # a crash in the middle of the grid: the 10th run raises
    log = RunLog(tmp_path / "runs.csv")
    crashing = runner()
    original, done = crashing.run, []

    def run_then_crash(spec):
        if len(done) == 9:
            raise KeyboardInterrupt("simulated crash")
        done.append(spec.key)
        return original(spec)

    crashing.run = run_then_crash
    with pytest.raises(KeyboardInterrupt):
        crashing.run_grid(specs, log, progress=False)
    assert [r["seed"] for r in log.rows()] and len(log.rows()) == 9  # each finished run was written at once
    # a torn half line from the crash is ignored and terminated
    with open(log.path, "a") as f:
        f.write("ser,dual,en,de,8,1,0.")

    CountingModel.calls = 0
    resumed = runner()
    started = []
    original_resumed = resumed.run
    resumed.run = lambda spec: (started.append(spec.key), original_resumed(spec))[1]
    rows = resumed.run_grid(specs, log, progress=False)
    assert CountingModel.calls == len(specs) - 9  # finished runs are not re-run
    assert not set(started) & set(done)
    assert len(log.rows()) == len(specs)
    # identical results: same performance for every run, same CLTM
    by_key = {(r["kind"], r["target"], r["donor"], r["seed"]): r["performance"] for r in reference}
    assert {(r["kind"], r["target"], r["donor"], int(r["seed"])): r["performance"] for r in rows} == by_key
    a, b = compute_cltm(reference), compute_cltm(log.rows())
    np.testing.assert_array_equal(np.nan_to_num(a.matrix, nan=9.0), np.nan_to_num(b.matrix, nan=9.0))
    # a third start runs nothing
    CountingModel.calls = 0
    runner().run_grid(specs, log, progress=False)
    assert CountingModel.calls == 0


def test_sharded_grid_splits_runs_between_processes(tmp_path):
    table = make_table(languages=("en", "de"))
    features = np.random.default_rng(1).normal(size=(len(table), 4)).astype(np.float32)
    specs = plan_cltm_runs("ser", ["en", "de"], [0], 8)
    log = RunLog(tmp_path / "runs.csv")
    r = CltmRunner(table, features, SerTask(), lambda: MlpTaskModel(hidden_size=4, epochs=1))
    first = r.run_grid(specs, log, progress=False, process_index=0, num_processes=2)
    assert len(first) == math.ceil(len(specs) / 2)
    r.run_grid(specs, log, progress=False, process_index=1, num_processes=2)
    assert sorted(RunSpec("ser", x["kind"], x["target"], x["donor"] or None, 8, 0).key for x in log.rows()) == sorted(
        s.key for s in specs
    )


def test_run_config_guard(tmp_path):
    check_run_config(tmp_path, {"task": "ser", "model": {"epochs": 40}})
    check_run_config(tmp_path, {"task": "ser", "model": {"epochs": 40}})  # same settings: fine
    with pytest.raises(ValueError, match="model"):
        check_run_config(tmp_path, {"task": "ser", "model": {"epochs": 10}})
    check_run_config(tmp_path, {"task": "ser", "model": {"epochs": 10}}, overwrite=True)
