"""The frozen-backbone fast path: frames encoded once, their statistics, and the collator that batches them."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch
from transformers import Wav2Vec2Config

from hf_cser.audio import load_audio
from hf_cser.models.zero_shot import ZeroShotSerConfig, ZeroShotSerForEmotionClassification
from hf_cser.trainers import ZeroShotFrameCollator, encode_backbone_frames, frame_statistics


def tiny_model(**kwargs):
    torch.manual_seed(0)
    backbone = Wav2Vec2Config(conv_dim=(32,) * 7, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                              intermediate_size=37, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
                              feat_extract_norm="layer")  # fmt: skip
    return ZeroShotSerForEmotionClassification(ZeroShotSerConfig(backbone_config=backbone, **kwargs)).eval()


@pytest.fixture(scope="module")
def wav_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("frames")
    rng = np.random.default_rng(0)
    paths = []
    for i, seconds in enumerate((0.5, 0.8, 0.3)):
        path = folder / f"utt{i}.wav"
        sf.write(path, (0.1 * rng.standard_normal(int(16000 * seconds))).astype(np.float32), 16000)
        paths.append(str(path))
    return paths


def test_cached_frames_are_each_utterance_alone_through_the_backbone(wav_files):
    model = tiny_model()
    frames = encode_backbone_frames(model, wav_files + wav_files[:1], batch_size=2, progress=False)
    assert sorted(frames) == sorted(wav_files)  # duplicates encoded once
    for path in wav_files:
        with torch.no_grad():
            alone, _ = model.encode_frames(torch.from_numpy(load_audio(path))[None])  # (1, T, H), no padding
        torch.testing.assert_close(frames[path], alone[0], atol=1e-5, rtol=1e-4)
    cropped = encode_backbone_frames(model, wav_files[1:2], max_length=4000, progress=False)
    assert cropped[wav_files[1]].shape[0] < frames[wav_files[1]].shape[0]


def test_a_trainable_backbone_is_not_cached(wav_files):
    with pytest.raises(ValueError, match="cannot be cached"):
        encode_backbone_frames(tiny_model(lora={"r": 2}), wav_files, progress=False)


def test_frame_statistics_pool_every_frame_of_the_listed_files():
    frames = {"a": torch.randn(5, 3), "b": torch.randn(2, 3) + 4.0, "c": torch.randn(7, 3) * 10}
    mean, std = frame_statistics(frames, ["a", "b", "a"])
    pooled = torch.cat([frames["a"], frames["b"]]).double()
    torch.testing.assert_close(mean, pooled.mean(0).float())
    torch.testing.assert_close(std, pooled.std(0, unbiased=False).float())
    with pytest.raises(KeyError, match="missing.wav"):
        frame_statistics(frames, ["missing.wav"])
    with pytest.raises(ValueError, match="No frames"):
        frame_statistics(frames, [])


def test_collator_pads_frames_and_adds_the_objective_ids():
    frames = {"x.wav": torch.ones(3, 4), "y.wav": 2 * torch.ones(5, 4)}
    collator = ZeroShotFrameCollator(frames=frames, speaker_map={"s1": 0}, languages=["de", "en"])
    rows = [{"audio": "x.wav", "emotion": 2, "speaker": "s1", "language": "en"},
            {"audio": {"path": "y.wav"}, "emotion": 0, "speaker": "s9", "language": "de"}]  # fmt: skip
    batch = collator(rows)
    assert batch["backbone_hidden_states"].shape == (2, 5, 4)
    assert batch["frame_mask"].tolist() == [[1, 1, 1, 0, 0], [1] * 5]
    assert batch["backbone_hidden_states"][0, 3:].abs().sum() == 0 and batch["backbone_hidden_states"][1].eq(2).all()
    assert batch["labels"].tolist() == [2, 0]
    assert batch["speaker_labels"].tolist() == [0, -100]
    assert batch["language_ids"].tolist() == [1, 0]
    with pytest.raises(KeyError, match="z.wav"):
        collator([{"audio": "z.wav", "emotion": 0}])


def test_model_on_collated_frames_matches_the_waveform_collator(wav_files):
    from hf_cser.trainers import ZeroShotDataCollator

    model = tiny_model(top_adapter_size=4, normalize_frames=True)
    frames = encode_backbone_frames(model, wav_files, progress=False)
    model.set_frame_normalization(*frame_statistics(frames, wav_files[:2]))
    rows = [{"audio": p, "emotion": i % 4, "speaker": "s", "language": "en"} for i, p in enumerate(wav_files)]
    by_frames = ZeroShotFrameCollator(frames=frames)(rows)
    by_waves = ZeroShotDataCollator()([{**r, "input_values": load_audio(r["audio"])} for r in rows])
    with torch.no_grad():
        a = model(backbone_hidden_states=by_frames["backbone_hidden_states"], frame_mask=by_frames["frame_mask"])
        b = model(input_values=by_waves["input_values"], attention_mask=by_waves["attention_mask"])
    torch.testing.assert_close(a.logits, b.logits, atol=1e-4, rtol=1e-4)


def test_frame_collator_padding_matches_a_row_by_row_reference():
    """Frames of different lengths (one empty, one float64) are zero padded exactly as a per-row copy would."""
    g = torch.Generator().manual_seed(0)
    frames = {"a": torch.randn(7, 3, generator=g), "b": torch.zeros(0, 3),
              "c": torch.randn(4, 3, generator=g).double()}
    rows = [{"audio": key, "emotion": 1} for key in ("c", "a", "b")]
    batch = ZeroShotFrameCollator(frames=frames)(rows)
    expected = torch.zeros(3, 7, 3)
    mask = torch.zeros(3, 7, dtype=torch.long)
    for i, key in enumerate(("c", "a", "b")):
        n = frames[key].shape[0]
        expected[i, :n], mask[i, :n] = frames[key].float(), 1
    assert batch["backbone_hidden_states"].dtype == torch.float32
    torch.testing.assert_close(batch["backbone_hidden_states"], expected, rtol=0, atol=0)
    assert torch.equal(batch["frame_mask"], mask)
    empty = ZeroShotFrameCollator(frames=frames)([{"audio": "b", "emotion": 0}])
    assert empty["backbone_hidden_states"].shape == (1, 1, 3) and empty["frame_mask"].tolist() == [[0]]
