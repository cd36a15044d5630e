"""The frozen-backbone fast path: frames encoded once, their statistics, and the collator that batches them."""

from __future__ import annotations

import os

import numpy as np
import pytest
import soundfile as sf
import torch
from transformers import Wav2Vec2Config

from hf_cser.audio import load_audio
from hf_cser.models.zero_shot import ZeroShotConfig, ZeroShotForEmotionClassification
from hf_cser.trainers import ZeroShotFrameCollator, encode_backbone_frames, frame_statistics


def tiny_model(**kwargs):
    torch.manual_seed(0)
    backbone = Wav2Vec2Config(
        conv_dim=(32,) * 7,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=37,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        feat_extract_norm="layer",
    )
    return ZeroShotForEmotionClassification(ZeroShotConfig(backbone_config=backbone, **kwargs)).eval()


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
    rows = [
        {"audio": "x.wav", "emotion": 2, "speaker": "s1", "language": "en"},
        {"audio": {"path": "y.wav"}, "emotion": 0, "speaker": "s9", "language": "de"},
    ]
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
    frames = {
        "a": torch.randn(7, 3, generator=g),
        "b": torch.zeros(0, 3),
        "c": torch.randn(4, 3, generator=g).double(),
    }
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


# ------------------------------------------------------------------------------------ on-disk frame cache


@pytest.fixture(autouse=True)
def _isolated_default_cache(tmp_path, monkeypatch):
    """Calls without `cache_dir` write under this test's folder, never under the user's ~/.cache."""
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf_datasets_cache"))


def count_backbone_calls(model) -> list:
    """Wrap `model.encode_frames` so that every backbone call is recorded (the cache must skip them all)."""
    calls, original = [], model.encode_frames

    def wrapper(*args, **kwargs):
        calls.append(args[0].shape[0])
        return original(*args, **kwargs)

    model.encode_frames = wrapper
    return calls


def assert_same_frames(a, b):
    assert sorted(a) == sorted(b)
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_frame_cache_hit_reads_the_frames_back_without_the_backbone(wav_files, tmp_path):
    from hf_cser.trainers.zero_shot_frames import backbone_frame_fingerprint, default_frame_cache_dir

    cache = tmp_path / "frames"
    first_model = tiny_model()
    first_calls = count_backbone_calls(first_model)
    first = encode_backbone_frames(first_model, wav_files, batch_size=2, progress=False, cache_dir=cache)
    assert sum(first_calls) == len(wav_files)
    fingerprint = backbone_frame_fingerprint(first_model, wav_files, batch_size=2)
    assert [p.name for p in cache.iterdir()] == [f"{fingerprint}.safetensors"]  # no temporary file left behind
    # a new model object with the same weights (another head: not part of the frames), paths in another order
    second = tiny_model(top_adapter_size=4)
    calls = count_backbone_calls(second)
    again = encode_backbone_frames(
        second, wav_files[::-1] + wav_files[:1], batch_size=2, progress=False, cache_dir=cache
    )
    assert calls == []
    assert_same_frames(again, first)
    # the same frames as an encoding without any cache
    assert_same_frames(
        again, encode_backbone_frames(tiny_model(), wav_files, batch_size=2, progress=False, use_cache=False)
    )
    # default location: $HF_DATASETS_CACHE/hf_cser_zero_shot_frames
    encode_backbone_frames(tiny_model(), wav_files, batch_size=2, progress=False)
    assert os.listdir(default_frame_cache_dir()) == [f"{fingerprint}.safetensors"]


def test_frame_cache_is_recomputed_when_weights_settings_or_data_change(wav_files, tmp_path):
    cache = tmp_path / "frames"
    encode_backbone_frames(tiny_model(), wav_files, progress=False, cache_dir=cache)  # fills the cache

    def recomputed(model, paths=wav_files, **settings):
        calls = count_backbone_calls(model)
        frames = encode_backbone_frames(model, paths, progress=False, cache_dir=cache, **settings)
        ran_backbone = bool(calls)
        expected = encode_backbone_frames(model, paths, progress=False, use_cache=False, **settings)
        assert_same_frames(frames, expected)  # what the changed model / settings / data give, not the old cache
        return ran_backbone

    changed = tiny_model()
    with torch.no_grad():
        changed.backbone.encoder.layers[0].feed_forward.output_dense.bias.add_(0.5)
    assert recomputed(changed)
    bigger_eps = tiny_model()
    bigger_eps.backbone.config.layer_norm_eps = 1e-2  # same weights, another backbone setting
    assert recomputed(bigger_eps)
    assert recomputed(tiny_model(), max_length=4000)
    assert recomputed(tiny_model(), batch_size=1)
    assert recomputed(tiny_model(), dtype=torch.float16)
    assert recomputed(tiny_model(), paths=wav_files[:2])  # another set of files
    head_only = tiny_model()
    with torch.no_grad():
        head_only.classifier.weight.add_(1.0)  # the frames are the backbone's output: the cache still holds
    assert not recomputed(head_only)

    # the same path with new content (another size and modification time)
    moved = tmp_path / "edited.wav"
    sf.write(moved, sf.read(wav_files[0], dtype="float32")[0], 16000)
    encode_backbone_frames(tiny_model(), [str(moved)], progress=False, cache_dir=cache)
    sf.write(moved, 0.1 * np.random.default_rng(1).standard_normal(12000).astype(np.float32), 16000)
    assert recomputed(tiny_model(), paths=[str(moved)])


@pytest.mark.parametrize("damage", ["truncated", "garbage", "other_files"])
def test_an_unreadable_frame_cache_is_recomputed_with_a_warning(wav_files, tmp_path, caplog, damage):
    import logging

    from safetensors.torch import save_file

    cache = tmp_path / "frames"
    frames = encode_backbone_frames(tiny_model(), wav_files, progress=False, cache_dir=cache)
    (cache_file,) = cache.iterdir()
    if damage == "truncated":
        cache_file.write_bytes(cache_file.read_bytes()[:-100])
    elif damage == "garbage":
        cache_file.write_bytes(b"\x80\x04not a safetensors file" * 10)
    else:  # a valid safetensors file that holds other frames under this name
        save_file({"0": torch.zeros(2, 32)}, str(cache_file), metadata={"paths": '["x.wav"]'})
    model = tiny_model()
    calls = count_backbone_calls(model)
    with caplog.at_level(logging.WARNING):
        again = encode_backbone_frames(model, wav_files, progress=False, cache_dir=cache)
    assert calls, "the damaged cache must not be used"
    assert_same_frames(again, frames)
    assert any(str(cache_file) in r.getMessage() and "recomputing" in r.getMessage() for r in caplog.records)
    # the rewritten file is a valid cache again
    calls = count_backbone_calls(model)
    assert_same_frames(encode_backbone_frames(model, wav_files, progress=False, cache_dir=cache), frames)
    assert calls == []


def test_frame_cache_write_failure_and_opt_out(wav_files, tmp_path, caplog):
    import logging

    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a regular file where the cache folder should be")
    with caplog.at_level(logging.WARNING):
        frames = encode_backbone_frames(tiny_model(), wav_files, progress=False, cache_dir=blocker / "frames")
    assert sorted(frames) == sorted(wav_files)
    assert any("Could not write the frame cache" in r.getMessage() for r in caplog.records)
    encode_backbone_frames(tiny_model(), wav_files, progress=False, cache_dir=tmp_path / "off", use_cache=False)
    assert not (tmp_path / "off").exists()
    with pytest.raises(FileNotFoundError, match="missing.wav"):
        encode_backbone_frames(tiny_model(), [str(tmp_path / "missing.wav")], progress=False, cache_dir=tmp_path)
