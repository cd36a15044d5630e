"""Every CLTM diagnostic against values computed by hand on small matrices (asymmetric, negative, undefined rows)."""

import math

import numpy as np
import pytest

from hf_cser.cltm import (
    asym_rel,
    cltm_diagnostics,
    compute_cltm,
    intra_family_pairs,
    intra_family_positive,
    intra_family_positive_mass,
    mean_row_cosine,
    prop_positive,
    reciprocity_positive,
    reciprocity_positive_weighted,
    rfd_1,
    rms,
)

LANGS = ["en", "de", "fr"]  # en, de: Indo-European (Germanic); fr: Indo-European (Romance)
M = np.array(
    [
        [1.0, 0.5, -0.5],
        [2.0, 1.0, 0.25],
        [0.0, -1.0, 1.0],
    ]
)


def test_rfd_and_rms_by_hand():
    # (M - 1)^2 summed: 0 + .25 + 2.25 + 1 + 0 + .5625 + 1 + 4 + 0 = 9.0625
    assert rfd_1(M) == pytest.approx(math.sqrt(9.0625) / 3)
    # M^2 summed: 1 + .25 + .25 + 4 + 1 + .0625 + 0 + 1 + 1 = 8.5625
    assert rms(M) == pytest.approx(math.sqrt(8.5625) / 3)


def test_asymmetry_by_hand():
    # M - M^T off-diagonal: (0,1) -1.5, (0,2) -0.5, (1,2) 1.25, each twice
    assert asym_rel(M) == pytest.approx(math.sqrt(2 * (2.25 + 0.25 + 1.5625)) / math.sqrt(8.5625))
    assert asym_rel(M + M.T) == 0.0


def test_mean_row_cosine_by_hand():
    c01 = 2.375 / (math.sqrt(1.5) * 2.25)  # r0.r1 = 2 + .5 - .125; |r1| = sqrt(5.0625)
    c02 = -1.0 / (math.sqrt(1.5) * math.sqrt(2))  # r0.r2 = 0 - .5 - .5
    c12 = -0.75 / (2.25 * math.sqrt(2))  # r1.r2 = 0 - 1 + .25
    assert mean_row_cosine(M) == pytest.approx(2 * (c01 + c02 + c12) / 6)


def test_sign_statistics_by_hand():
    # off-diagonal: .5, -.5, 2, .25, 0, -1 -> three positive (0 is not positive)
    assert prop_positive(M) == pytest.approx(3 / 6)
    # pairs: {en,de} both positive, {en,fr} none, {de,fr} one -> 1 of the 2 pairs with a positive direction
    assert reciprocity_positive(M) == pytest.approx(1 / 2)
    # released-code weighting: (min(.5, 2) + 0 + min(.25, 0)) / (2 + 0 + .25)
    assert reciprocity_positive_weighted(M) == pytest.approx(0.5 / 2.25)


def test_family_statistics_by_hand():
    # positive off-diagonal: en<-de (.5, intra), de<-en (2, intra), de<-fr (.25, not)
    assert intra_family_positive(M, LANGS) == pytest.approx(2 / 3)
    assert intra_family_positive_mass(M, LANGS) == pytest.approx(2.5 / 2.75)
    assert intra_family_pairs(LANGS) == pytest.approx(2 / 6)
    # a user table that puts all three in one family
    same = {"en": "X", "de": "X", "fr": "X"}
    assert intra_family_positive(M, LANGS, same) == 1.0
    # at the coarse "family" level en, de and fr are all Indo-European
    from hf_cser.cltm import load_language_families

    assert intra_family_positive(M, LANGS, load_language_families(level="family")) == 1.0


def test_language_agnostic_matrix():
    ones = np.ones((4, 4))
    d = cltm_diagnostics(ones, ["en", "de", "fr", "zh"])
    assert d.rfd_1 == 0.0 and d.asym_rel == 0.0 and d.rms == 1.0
    assert d.mean_row_cosine == pytest.approx(1.0)
    assert d.prop_positive == 1.0 and d.reciprocity_positive == 1.0
    # positive transfer everywhere: the intra-family share equals the share of intra-family pairs
    assert d.intra_family_positive == pytest.approx(d.intra_family_pairs) == pytest.approx(2 / 12)


def test_all_negative_has_no_reciprocity():
    neg = np.array([[1.0, -0.5], [-2.0, 1.0]])
    assert prop_positive(neg) == 0.0
    assert math.isnan(reciprocity_positive(neg)) and math.isnan(intra_family_positive(neg, ["en", "de"]))


def test_top_donors_and_receivers_by_hand():
    d = cltm_diagnostics(M, LANGS, top_k=3)
    # donor (column) means off the diagonal: en (2 + 0)/2 = 1, de (.5 - 1)/2 = -.25, fr (-.5 + .25)/2 = -.125
    assert [(x["language"], x["score"]) for x in d.top_donors] == [("en", 1.0), ("fr", -0.125), ("de", -0.25)]
    # receiver (row) means: en 0, de 1.125, fr -.5
    assert [(x["language"], x["score"]) for x in d.top_receivers] == [("de", 1.125), ("en", 0.0), ("fr", -0.5)]
    assert cltm_diagnostics(M, LANGS, top_k=1).top_donors == [{"language": "en", "score": 1.0}]


UNDEFINED = np.array(
    [
        [1.0, 0.5, -0.5],
        [2.0, 1.0, 0.25],
        [np.nan, np.nan, np.nan],
    ]
)


def test_undefined_row_drop_policy():
    d = cltm_diagnostics(UNDEFINED, LANGS, nan_policy="drop")
    assert d.dropped == ["fr"] and d.languages == ["en", "de"]
    sub = np.array([[1.0, 0.5], [2.0, 1.0]])
    assert d.rfd_1 == pytest.approx(math.sqrt(0.25 + 1.0) / 2)
    assert d.asym_rel == pytest.approx(math.sqrt(2 * 1.5**2) / math.sqrt(1 + 0.25 + 4 + 1))
    cosine = float(sub[0] @ sub[1] / (np.linalg.norm(sub[0]) * np.linalg.norm(sub[1])))
    assert d.mean_row_cosine == pytest.approx(cosine)
    assert d.prop_positive == 1.0 and d.reciprocity_positive == 1.0 and d.intra_family_positive == 1.0


def test_undefined_row_omit_policy():
    d = cltm_diagnostics(UNDEFINED, LANGS, nan_policy="omit")
    assert d.dropped == [] and d.languages == LANGS
    # finite entries only: (M-1)^2 = 0, .25, 2.25, 1, 0, .5625
    assert d.rfd_1 == pytest.approx(math.sqrt(4.0625 / 6))
    assert d.rms == pytest.approx(math.sqrt(6.5625 / 6))
    # pairs finite in both directions: (0,1) and (1,0) only
    assert d.asym_rel == pytest.approx(math.sqrt(4.5) / math.sqrt(6.5625))
    # off-diagonal finite: .5, -.5, 2, .25 -> 3 of 4 positive; pair {en,de} both positive, others not comparable
    assert d.prop_positive == pytest.approx(3 / 4) and d.reciprocity_positive == 1.0
    # row cosine: only the en/de pair (the NaN row has no finite column)
    assert d.mean_row_cosine == pytest.approx(float(M[0] @ M[1] / (np.linalg.norm(M[0]) * np.linalg.norm(M[1]))))
    # positive: en<-de, de<-en (intra), de<-fr (not)
    assert d.intra_family_positive == pytest.approx(2 / 3)


def test_undefined_row_raise_policy_and_bad_input():
    with pytest.raises(ValueError, match="fr"):
        cltm_diagnostics(UNDEFINED, LANGS, nan_policy="raise")
    with pytest.raises(ValueError, match="nan_policy"):
        cltm_diagnostics(M, LANGS, nan_policy="ignore")
    with pytest.raises(ValueError, match="square"):
        rfd_1(np.ones((2, 3)))
    with pytest.raises(ValueError, match="3 names"):
        cltm_diagnostics(M[:2, :2], LANGS)


def test_diagnostics_of_a_result_with_standard_errors():
    runs = []
    for seed, (d_en, c_en, d_de, c_de) in enumerate([(0.1, 0.05, 0.2, 0.1), (0.3, 0.25, 0.2, 0.3)]):
        for target, donor, d, c in (("en", "de", d_en, c_en), ("de", "en", d_de, c_de)):
            runs += [
                {"target": target, "donor": None, "kind": "single", "seed": seed, "performance": 0.5},
                {"target": target, "donor": None, "kind": "self", "seed": seed, "performance": 0.5 + d},
                {"target": target, "donor": donor, "kind": "dual", "seed": seed, "performance": 0.5 + c},
            ]
    result = compute_cltm(runs, languages=["en", "de"])
    np.testing.assert_allclose(result.matrix, [[1.0, 0.15 / 0.2], [0.2 / 0.2, 1.0]])
    d = cltm_diagnostics(result)
    off = result.matrix_se[~np.eye(2, dtype=bool)]
    assert d.median_se == pytest.approx(np.median(off)) and d.mean_se == pytest.approx(np.mean(off))
    table = d.to_markdown("title")
    assert "| RFD_1 |" in table and "| prop_+ | 100.00 % |" in table and "title" in table
    assert d.to_dict()["languages"] == ["en", "de"]
