import numpy as np
import pytest
import soundfile as sf

from hf_cser.data import build_dataset_dict, make_record, speaker_independent_split, with_decoded_audio
from hf_cser.labels import EMOTIONS


def record(i, speaker, emotion="happy", **kw):
    return dict(audio=f"/x/{i}.wav", emotion=emotion, language="en", speaker=speaker, **kw)


def test_make_record_fills_optional_fields_and_maps_names_to_ids():
    r = make_record(**record(0, "c_1", emotion="sad"))
    assert r["emotion"] == EMOTIONS.index("sad")
    assert (r["gender"], r["corpus"], r["transcript"], r["phonemes"]) == ("unknown", "", "", [])


@pytest.mark.parametrize(
    "fields, match",
    [
        (dict(audio="/a.wav", emotion="happy", language="en"), "`speaker`"),
        (dict(audio="/a.wav", emotion="fear", language="en", speaker="s"), "`emotion` 'fear'"),
        (dict(audio="/a.wav", emotion=7, language="en", speaker="s"), "outside"),
        (dict(audio="/a.wav", emotion="sad", language="en", speaker="s", gender="x"), "`gender`"),
        (dict(audio="/a.wav", emotion="sad", language="en", speaker="s", mood=1), "unknown field"),
    ],
)
def test_make_record_errors_name_the_field_and_file(fields, match):
    with pytest.raises(ValueError, match=match) as info:
        make_record(**fields)
    assert "/a.wav" in str(info.value)


def test_speaker_independent_split_is_disjoint_seeded_and_complete():
    records = [record(i, f"c_{i % 10}") for i in range(100)]
    a = speaker_independent_split(records, seed=3)
    b = speaker_independent_split(records, seed=3)
    c = speaker_independent_split(records, seed=4)
    speakers = {k: {r["speaker"] for r in v} for k, v in a.items()}
    assert [len(speakers[k]) for k in ("train", "validation", "test")] == [8, 1, 1]
    assert not (speakers["train"] & speakers["validation"]) and not (speakers["train"] & speakers["test"])
    assert sum(len(v) for v in a.values()) == 100
    assert a == b
    assert a != c


def test_split_with_too_few_speakers_and_bad_ratios():
    two = speaker_independent_split([record(0, "a"), record(1, "b")], ratios=(0.8, 0.1, 0.1))
    assert sum(len(v) > 0 for v in two.values()) >= 1 and sum(len(v) for v in two.values()) == 2
    with pytest.raises(ValueError, match="ratios"):
        speaker_independent_split([record(0, "a")], ratios=(1.0, -1.0, 0.0))


def test_dataset_dict_and_lazy_decoding(tmp_path):
    path = tmp_path / "a.wav"
    sf.write(path, 0.1 * np.ones(441, dtype=np.float32), 44100)
    phones = [{"phone": "a", "start": 0.0, "end": 0.01}]
    dd = build_dataset_dict({"train": [record(0, "c_1") | {"audio": str(path), "phonemes": phones}], "test": []})
    assert dd["train"].features["emotion"].names == list(EMOTIONS)
    assert len(dd["test"]) == 0
    row = with_decoded_audio(dd["train"])[0]
    assert row["audio"]["sampling_rate"] == 16000
    assert row["audio"]["array"].shape == (160,)
    assert row["phonemes"][0]["phone"] == "a"
    decoded = with_decoded_audio(dd["train"])
    assert decoded["speaker"] == ["c_1"]  # a column read does not try to decode audio
