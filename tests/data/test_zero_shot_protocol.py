import pytest

from hf_cser.data import build_dataset_dict
from hf_cser.data.zero_shot_protocol import (
    PAPER_SETTINGS,
    PAPER_TABLE1_SIZES,
    SYSTEMS,
    UPPER_BOUND,
    ZERO_SHOT_SYSTEMS,
    TargetLeakageError,
    ZeroShotSetting,
    build_zero_shot_splits,
    check_no_target_leakage,
    get_paper_setting,
    training_languages,
)
from hf_cser.labels import EMOTIONS

LANGUAGES = ("en", "zh", "de", "fr", "ur")
EN_DE = ZeroShotSetting(source="en", target="de", non_target=("zh", "ur", "fr"))


def records(language, split, n=4):
    # two speakers per (language, split), corpus-prefixed like the real loaders
    return [
        dict(
            audio=f"/fake/{language}/{split}/{i}.wav",
            emotion=EMOTIONS[i % len(EMOTIONS)],
            language=language,
            speaker=f"{language}_{split}_{i % 2}",
        )
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def per_language():
    splits = ("train", "validation", "test")
    return {lang: build_dataset_dict({s: records(lang, s) for s in splits}) for lang in LANGUAGES}


@pytest.fixture(scope="module")
def combined():
    return build_dataset_dict(
        {s: [r for lang in LANGUAGES for r in records(lang, s)] for s in ("train", "validation", "test")}
    )


def test_paper_settings_are_table1():
    assert len(PAPER_SETTINGS) == 9
    assert [s.name for s in PAPER_SETTINGS] == list(PAPER_TABLE1_SIZES)
    assert PAPER_SETTINGS[0] == EN_DE
    for setting in PAPER_SETTINGS:
        # every setting uses all five languages once: source, three non-target, target
        assert sorted(setting.languages) == sorted(LANGUAGES)
        assert len(setting.non_target) == 3
    # as printed in Table 1: only DE, FR and CN are targets; UR is always non-target, EN never a target
    assert {s.target for s in PAPER_SETTINGS} == {"de", "fr", "zh"}
    assert all("ur" in s.non_target for s in PAPER_SETTINGS)
    assert {s.source for s in PAPER_SETTINGS} == {"en", "zh", "de", "fr"}
    assert len({(s.source, s.target) for s in PAPER_SETTINGS}) == 9


@pytest.mark.parametrize("name", ["en->de", "EN->DE", "EN→DE", "ENDE"])
def test_get_paper_setting(name):
    assert get_paper_setting(name) == EN_DE
    with pytest.raises(ValueError, match="`name`"):
        get_paper_setting("ur->en")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(source="en", target="en"), "`target`"),
        (dict(source="en", target="de", non_target=("de", "fr")), "`target`"),
        (dict(source="en", target="de", non_target=("en",)), "`source`"),
        (dict(source="en", target="de", non_target=("fr", "fr")), "`non_target`"),
        (dict(source="en", target="de", non_target="fr"), "`non_target`"),
        (dict(source="", target="de"), "`source`"),
    ],
)
def test_setting_validation_names_the_field(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ZeroShotSetting(**kwargs)


def test_training_languages_per_system():
    assert training_languages(EN_DE, "baseline1") == ("en",)
    for system in ("baseline2", "proposed", "proposed_wo_scl", "proposed_wo_adversarial"):
        assert training_languages(EN_DE, system) == ("en", "zh", "ur", "fr")
    assert training_languages(EN_DE, UPPER_BOUND) == ("en", "zh", "ur", "fr", "de")
    assert set(SYSTEMS) == {*ZERO_SHOT_SYSTEMS, UPPER_BOUND}
    with pytest.raises(ValueError, match="`system`"):
        training_languages(EN_DE, "oracle")


@pytest.mark.parametrize("system", list(SYSTEMS))
@pytest.mark.parametrize("layout", ["combined", "per_language"])
def test_splits_hold_the_right_languages(system, layout, request):
    data = request.getfixturevalue(layout)
    splits, speaker2id = build_zero_shot_splits(data, EN_DE, system)
    assert list(splits) == ["train", "validation", "test"]
    expected = set(training_languages(EN_DE, system))
    assert set(splits["train"]["language"]) == expected
    assert set(splits["validation"]["language"]) == expected
    assert set(splits["test"]["language"]) == {"de"}
    assert set(splits["test"]["audio"]) == {r["audio"] for r in records("de", "test")}
    assert ("de" in splits["train"]["language"]) == (system == UPPER_BOUND)
    # the speaker map holds exactly the train speakers, never validation/test speakers
    assert sorted(speaker2id) == sorted(set(splits["train"]["speaker"]))
    assert sorted(speaker2id.values()) == list(range(len(speaker2id)))
    assert not set(speaker2id) & set(splits["test"]["speaker"])


def test_missing_target_test_rows_is_an_error(per_language):
    data = {lang: dd for lang, dd in per_language.items() if lang != "de"}
    with pytest.raises(ValueError, match=r"\['de'\]"):
        build_zero_shot_splits(data, EN_DE, "proposed")


@pytest.fixture(scope="module")
def clean(combined):
    splits, speaker2id = build_zero_shot_splits(combined, EN_DE, "proposed")
    return dict(
        train=splits["train"],
        validation=splits["validation"],
        sampler_languages=["en", "zh", "ur", "fr"],
        speaker_map=speaker2id,
        normalization_languages=["en", "zh", "ur", "fr"],
        selection_languages=["en", "zh", "ur", "fr"],
        target_speakers=splits["test"]["speaker"],
    )


def test_leakage_check_passes_on_clean_inputs(clean):
    for system in SYSTEMS:
        check_no_target_leakage(EN_DE, system, **clean)


def with_target_rows(dataset, n):
    from datasets import concatenate_datasets

    extra = build_dataset_dict({"x": records("de", "test", n)})["x"]
    return concatenate_datasets([dataset, extra])


@pytest.mark.parametrize(
    "component, inject, match",
    [
        ("train", lambda v: with_target_rows(v, 3), "train contains 3 rows of target language 'de'"),
        (
            "validation",
            lambda v: with_target_rows(v, 12),
            r"validation \(model selection\) contains 12 rows of target language 'de'",
        ),
        ("sampler_languages", lambda v: [*v, "de"], "sampler languages include target language 'de'"),
        ("normalization_languages", lambda v: [*v, "de"], "normalization statistics languages include .*'de'"),
        ("selection_languages", lambda v: "de", "selection languages include target language 'de'"),
        ("speaker_map", lambda v: {**v, "de_test_0": len(v)}, r"speaker map contains 1 target speaker\(s\)"),
    ],
)
def test_leakage_check_names_the_component(clean, component, inject, match):
    inputs = {**clean, component: inject(clean[component])}
    with pytest.raises(TargetLeakageError, match=match):
        check_no_target_leakage(EN_DE, "proposed", **inputs)
    assert issubclass(TargetLeakageError, ValueError)
    check_no_target_leakage(EN_DE, UPPER_BOUND, **inputs)  # upper bound is not zero-shot: nothing to check


def test_target_speakers_under_another_language_and_unknown_map_speakers(clean):
    relabelled = build_dataset_dict({"x": [dict(records("de", "test")[0], language="fr")]})["x"]
    from datasets import concatenate_datasets

    train = concatenate_datasets([clean["train"], relabelled])
    with pytest.raises(TargetLeakageError, match=r"train contains 1 target speaker\(s\) under other language"):
        check_no_target_leakage(EN_DE, "baseline2", train=train, target_speakers=clean["target_speakers"])
    # without the target speaker list, a map speaker that is in no training split is still caught
    with pytest.raises(TargetLeakageError, match="speaker map contains 1 speaker"):
        check_no_target_leakage(
            EN_DE, "baseline2", train=clean["train"], speaker_map={**clean["speaker_map"], "de_test_1": 99}
        )


# ---- check_target_disjoint: the leakage guard shared by the cross-corpus scripts ----


def _rows(audio, speakers, corpus=None, **extra):
    from datasets import Dataset

    data = {"audio": list(audio), "speaker": list(speakers), **extra}
    if corpus is not None:
        data["corpus"] = [corpus] * len(data["audio"])
    return Dataset.from_dict(data)


TARGET = dict(audio=["/t/a.wav", "/t/b.wav"], speakers=["t1", "t2"])


@pytest.mark.parametrize("component", ["train", "validation", "normalization", "selection"])
def test_target_disjoint_names_the_component_the_files_and_speakers(component):
    from hf_cser.data import check_target_disjoint

    target = _rows(TARGET["audio"], TARGET["speakers"])
    clean = _rows(["/s/x.wav"], ["s1"])
    check_target_disjoint(target, **{component: clean})  # disjoint: no error
    leaked_audio = _rows(["/s/x.wav", "/t/b.wav"], ["s1", "s9"])
    with pytest.raises(TargetLeakageError, match=rf"{component}.*1 audio file\(s\).*'/t/b.wav'"):
        check_target_disjoint(target, **{component: leaked_audio})
    leaked_speaker = _rows(["/s/y.wav"], ["t2"])
    with pytest.raises(TargetLeakageError, match=rf"{component}.*1 speaker\(s\).*'t2'.*disjoint speakers"):
        check_target_disjoint(target, **{component: leaked_speaker})


def test_target_disjoint_compares_speakers_within_a_corpus():
    from hf_cser.data import check_target_disjoint

    target = _rows(TARGET["audio"], TARGET["speakers"], corpus="iemocap")
    # the same speaker name in another corpus is another person
    check_target_disjoint(target, train=_rows(["/s/x.wav"], ["t1"], corpus="esd"))
    with pytest.raises(TargetLeakageError, match="1 speaker"):
        check_target_disjoint(target, train=_rows(["/s/x.wav"], ["t1"], corpus="iemocap"))


def test_unlabelled_target_data_must_not_carry_labels():
    from hf_cser.data import check_target_disjoint

    target = _rows(TARGET["audio"], TARGET["speakers"])
    # adaptation data may be the target's own audio, as long as it has no labels
    check_target_disjoint(target, unlabelled=_rows(TARGET["audio"], TARGET["speakers"]))
    check_target_disjoint(target, unlabelled=_rows(TARGET["audio"], TARGET["speakers"], labels=[-100, -100]))
    with pytest.raises(TargetLeakageError, match=r"`emotion` column.*remove_columns\('emotion'\)"):
        check_target_disjoint(target, unlabelled=_rows(TARGET["audio"], TARGET["speakers"], emotion=[0, 3]))
