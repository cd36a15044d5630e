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


def test_drop_bad_audio_keeps_good_rows_counts_bad_ones_or_raises(tmp_path):
    from datasets import Dataset

    from hf_cser.audio import BadAudioCounter, BadAudioError
    from hf_cser.data import drop_bad_audio

    good = [tmp_path / f"good{i}.wav" for i in range(3)]
    for i, p in enumerate(good):
        sf.write(p, np.random.default_rng(i).normal(0, 0.1, 1600).astype("float32"), 16000)
    silent, truncated = tmp_path / "silent.wav", tmp_path / "truncated.wav"
    sf.write(silent, np.zeros(1600, "float32"), 16000)
    truncated.write_bytes(good[0].read_bytes()[:10])
    paths = [str(good[0]), str(silent), str(good[1]), str(truncated), str(tmp_path / "missing.wav"), str(good[2])]
    ds = Dataset.from_dict({"audio": paths, "index": list(range(len(paths)))})

    counter = BadAudioCounter()
    kept = drop_bad_audio(ds, counter=counter)
    assert kept["index"] == [0, 2, 5]
    assert dict(counter.counts) == {"silent": 1, "unreadable": 1, "missing": 1}
    assert str(truncated) in counter.summary()
    with pytest.raises(BadAudioError, match="silent.wav.*all zeros"):
        drop_bad_audio(ds, skip_bad_audio=False)
    clean = ds.select([0, 2, 5])
    assert drop_bad_audio(clean) is clean  # nothing bad: the same dataset, no copy
    with pytest.raises(ValueError, match="every audio file of the data is bad"):
        drop_bad_audio(ds.select([1, 3]))
