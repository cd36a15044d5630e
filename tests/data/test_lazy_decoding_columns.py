"""`with_decoded_audio(columns=...)`: only the named columns are formatted and returned, audio decoded the same."""

import numpy as np
import pytest
import soundfile as sf

from hf_cser.audio import load_audio
from hf_cser.data import build_dataset_dict, with_decoded_audio


@pytest.fixture()
def corpus(tmp_path):
    rows = []
    for i, rate in enumerate((16000, 44100, 8000)):
        path = tmp_path / f"{i}.wav"
        sf.write(path, (0.05 * np.sin(np.arange(rate // 4) * (0.01 + i / 100))).astype(np.float32), rate)
        phones = [{"phone": "a", "start": 0.01 * k, "end": 0.01 * (k + 1)} for k in range(50)]
        rows.append(
            dict(
                audio=str(path),
                emotion="happy",
                language="en",
                speaker=f"c_{i}",
                phonemes=phones,
                transcript="a long transcript " * 20,
            )
        )
    return build_dataset_dict({"train": rows[:2], "test": rows[2:]})


def test_only_the_named_columns_are_returned_and_audio_is_decoded_alike(corpus):
    keep = ["audio", "emotion", "language", "speaker"]
    narrow = with_decoded_audio(corpus["train"], columns=keep)
    full = with_decoded_audio(corpus["train"])
    batch = narrow[0:2]
    assert sorted(batch) == sorted(keep)  # no phonemes / transcript formatted
    assert sorted(narrow[1]) == sorted(keep)
    reference = full[0:2]
    for got, want, path in zip(batch["audio"], reference["audio"], corpus["train"]["audio"]):
        assert got["path"] == path and got["sampling_rate"] == 16000
        np.testing.assert_array_equal(got["array"], load_audio(path))
        np.testing.assert_array_equal(got["array"], want["array"])
    assert batch["speaker"] == reference["speaker"] and batch["emotion"] == reference["emotion"]
    assert narrow["speaker"] == ["c_0", "c_1"]  # a column read still skips decoding


def test_columns_work_on_a_dataset_dict_and_unknown_names_are_refused(corpus):
    both = with_decoded_audio(corpus, columns=["audio", "speaker"])
    assert sorted(both["test"][0]) == ["audio", "speaker"]
    assert both["test"][0]["audio"]["array"].shape == (4000,)  # 0.25 s at 8 kHz -> 16 kHz
    with pytest.raises(KeyError, match="'phonemes_v2'.*columns"):
        with_decoded_audio(corpus, columns=["audio", "phonemes_v2"])
    with pytest.raises(KeyError, match="does not have"):
        with_decoded_audio(corpus["train"], columns=["nope"])
