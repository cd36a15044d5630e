"""CLTM from a runs table: hand-computed gains, ratios and standard errors; undefined rows; input validation."""

import math
import warnings

import numpy as np
import pytest
from transformers.testing_utils import CaptureLogger
from transformers.utils import logging

from hf_cser.cltm import CltmRun, compute_cltm, read_runs_csv
from hf_cser.cltm import matrix as matrix_module


def runs_for(perfs):
    """perfs: {(target, donor_or_kind, seed): performance} with donor_or_kind 'single', 'self' or a donor language."""
    runs = []
    for (target, what, seed), perf in perfs.items():
        kind = what if what in ("single", "self") else "dual"
        runs.append(
            {
                "target": target,
                "donor": None if kind != "dual" else what,
                "kind": kind,
                "seed": seed,
                "performance": perf,
            }
        )
    return runs


# two seeds, three languages; gains are chosen so every number below is easy to check by hand
PERFS = {
    ("en", "single", 0): 0.50,
    ("en", "self", 0): 0.60,
    ("en", "de", 0): 0.55,
    ("en", "fr", 0): 0.40,
    ("en", "single", 1): 0.40,
    ("en", "self", 1): 0.60,
    ("en", "de", 1): 0.50,
    ("en", "fr", 1): 0.45,
    ("de", "single", 0): 0.30,
    ("de", "self", 0): 0.40,
    ("de", "en", 0): 0.42,
    ("de", "fr", 0): 0.30,
    ("de", "single", 1): 0.30,
    ("de", "self", 1): 0.50,
    ("de", "en", 1): 0.44,
    ("de", "fr", 1): 0.35,
    ("fr", "single", 0): 0.60,
    ("fr", "self", 0): 0.58,
    ("fr", "en", 0): 0.61,
    ("fr", "de", 0): 0.65,
    ("fr", "single", 1): 0.60,
    ("fr", "self", 1): 0.60,
    ("fr", "en", 1): 0.62,
    ("fr", "de", 1): 0.55,
}


def test_gains_matrix_and_diagonal_by_hand():
    result = compute_cltm(runs_for(PERFS), languages=["en", "de", "fr"])
    # en: self-gains 0.10, 0.20 -> 0.15; de-gains 0.05, 0.10 -> 0.075; fr-gains -0.10, 0.05 -> -0.025
    # de: self 0.10, 0.20 -> 0.15; en 0.12, 0.14 -> 0.13; fr 0.00, 0.05 -> 0.025
    np.testing.assert_allclose(result.self_gain[:2], [0.15, 0.15])
    np.testing.assert_allclose(result.cross_gain[0], [0.15, 0.075, -0.025])
    np.testing.assert_allclose(result.cross_gain[1], [0.13, 0.15, 0.025])
    np.testing.assert_allclose(result.matrix[0], [1.0, 0.5, -0.025 / 0.15])
    np.testing.assert_allclose(result.matrix[1], [0.13 / 0.15, 1.0, 0.025 / 0.15])
    # CLTM[i, i] is exactly 1 for every defined row (set, not computed as a ratio)
    assert result.matrix[0, 0] == 1.0 and result.matrix[1, 1] == 1.0
    assert result.matrix_se[0, 0] == 0.0
    # SE of the en self-gain: std([0.1, 0.2], ddof=1) / sqrt(2) = 0.05
    assert result.self_gain_se[0] == pytest.approx(0.05)
    np.testing.assert_array_equal(result.num_seeds[0], [2, 2, 2])


def test_undefined_row_is_nan_listed_and_warned():
    # fr: self-gains -0.02 and 0.0 -> mean -0.01 <= 0: undefined
    logger = logging.get_logger(matrix_module.__name__)
    with CaptureLogger(logger) as cap, warnings.catch_warnings():
        warnings.simplefilter("error")  # no division by zero, no invalid-value warning
        result = compute_cltm(runs_for(PERFS), languages=["en", "de", "fr"])
    assert result.undefined_targets == ["fr"]
    assert np.isnan(result.matrix[2]).all()  # the whole row, diagonal included
    assert np.isfinite(result.matrix[:2]).all()
    assert "fr" in cap.out and "not positive" in cap.out


def test_zero_self_gain_never_divides():
    perfs = {
        ("en", "single", 0): 0.5,
        ("en", "self", 0): 0.5,
        ("en", "de", 0): 0.6,
        ("de", "single", 0): 0.5,
        ("de", "self", 0): 0.6,
        ("de", "en", 0): 0.55,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = compute_cltm(runs_for(perfs), languages=["en", "de"])
    assert result.undefined_targets == ["en"]
    assert np.isnan(result.matrix[0]).all()
    assert result.matrix[1].tolist() == pytest.approx([0.5, 1.0])


def test_jackknife_and_per_seed_standard_errors_by_hand():
    # target en, donor de, three seeds: self-gains d = (0.1, 0.2, 0.3), cross-gains c = (0.05, 0.1, 0.3)
    perfs = {}
    for seed, (d, c) in enumerate([(0.1, 0.05), (0.2, 0.1), (0.3, 0.3)]):
        perfs[("en", "single", seed)] = 0.4
        perfs[("en", "self", seed)] = 0.4 + d
        perfs[("en", "de", seed)] = 0.4 + c
    result = compute_cltm(runs_for(perfs), languages=["en", "de"])
    assert result.matrix[0, 1] == pytest.approx(0.45 / 0.6)
    # leave-one-out ratios: (0.4/0.5, 0.35/0.4, 0.15/0.3)
    theta = np.array([0.4 / 0.5, 0.35 / 0.4, 0.15 / 0.3])
    expected = math.sqrt(2 / 3 * np.sum((theta - theta.mean()) ** 2))
    assert result.matrix_se[0, 1] == pytest.approx(expected)
    per_seed = compute_cltm(runs_for(perfs), languages=["en", "de"], se_method="per_seed")
    ratios = np.array([0.5, 0.5, 1.0])
    assert per_seed.matrix_se[0, 1] == pytest.approx(np.std(ratios, ddof=1) / math.sqrt(3))
    # the target de has no runs at all: undefined, and its summary skips it
    assert result.undefined_targets == ["de"]
    summary = result.se_summary()
    assert summary["median_se"] == pytest.approx(expected) and summary["num_unstable"] == 0


def test_unstable_jackknife_is_inf():
    # a leave-one-out self-gain <= 0 -> inf, counted as unstable and left out of the mean
    perfs = {
        ("en", "single", 0): 0.5,
        ("en", "self", 0): 0.9,
        ("en", "de", 0): 0.6,
        ("en", "single", 1): 0.5,
        ("en", "self", 1): 0.4,
        ("en", "de", 1): 0.6,
    }
    result = compute_cltm(runs_for(perfs), languages=["en", "de"])
    assert result.matrix[0, 1] == pytest.approx(0.1 / 0.15)
    assert math.isinf(result.matrix_se[0, 1])
    assert result.se_summary()["num_unstable"] == 1


def test_missing_dual_run_gives_nan_entry():
    perfs = {k: v for k, v in PERFS.items() if k != ("en", "fr", 0) and k != ("en", "fr", 1)}
    result = compute_cltm(runs_for(perfs), languages=["en", "de", "fr"])
    assert np.isnan(result.matrix[0, 2]) and ("en", "fr") in result.missing_entries
    assert result.matrix[0, 1] == pytest.approx(0.5)


@pytest.mark.parametrize(
    "record, message",
    [
        ({"target": "en", "donor": None, "kind": "dual", "seed": 0, "performance": 0.5}, "needs a `donor`"),
        ({"target": "en", "donor": "en", "kind": "dual", "seed": 0, "performance": 0.5}, "is a `self` run"),
        ({"target": "en", "donor": "de", "kind": "single", "seed": 0, "performance": 0.5}, "no donor"),
        ({"target": "en", "donor": None, "kind": "triple", "seed": 0, "performance": 0.5}, "`kind`"),
        ({"target": "en", "donor": None, "kind": "self", "seed": 0, "performance": float("nan")}, "finite"),
        ({"target": "en", "kind": "self", "seed": 0}, "`performance`"),
    ],
)
def test_bad_runs_are_rejected(record, message):
    with pytest.raises(ValueError, match=message):
        CltmRun.from_record(record)


def test_duplicates_and_unlisted_languages_are_rejected():
    runs = runs_for(PERFS)
    with pytest.raises(ValueError, match="Duplicated run"):
        compute_cltm(runs + runs[:1])
    with pytest.raises(ValueError, match="not in `languages`"):
        compute_cltm(runs, languages=["en", "de"])
    with pytest.raises(ValueError, match="se_method"):
        compute_cltm(runs, se_method="bootstrap")


def test_csv_round_trip(tmp_path):
    import csv

    path = tmp_path / "runs.csv"
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["task", "kind", "target", "donor", "n", "seed", "performance"])
        writer.writeheader()
        for r in runs_for(PERFS):
            writer.writerow({**r, "donor": r["donor"] or "", "task": "ser", "n": 16})
        writer.writerow(
            {"task": "ser", "kind": "single", "target": "en", "donor": "", "n": 32, "seed": 0, "performance": 0.9}
        )
    runs = read_runs_csv(path, n=16)
    assert len(runs) == len(PERFS)
    direct = compute_cltm(runs_for(PERFS))
    from_csv = compute_cltm(runs)
    np.testing.assert_array_equal(np.nan_to_num(direct.matrix, nan=-9), np.nan_to_num(from_csv.matrix, nan=-9))
    from_csv.to_csv(tmp_path / "m.csv")
    lines = (tmp_path / "m.csv").read_text().splitlines()
    assert lines[0] == "target \\ donor,de,en,fr" and lines[3].startswith("fr,nan")
    as_dict = from_csv.to_dict()
    assert as_dict["matrix"][2] == [None, None, None] and as_dict["undefined_targets"] == ["fr"]
