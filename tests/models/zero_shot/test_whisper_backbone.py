"""The zero-shot model on a Whisper encoder: PEFT really changes the forward pass, layer choice, cached frames,
save / reload (tiny Whisper built in code)."""

import numpy as np
import pytest
import torch

from hf_cser.encoders.whisper.encoding import encode_whisper_frames
from hf_cser.models.zero_shot import ZeroShotForEmotionClassification

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny_whisper_folder(tiny_whisper_dir):
    return tiny_whisper_dir


def batch(seed=0):
    rng = np.random.default_rng(seed)
    input_values = torch.zeros(2, 12000)
    attention_mask = torch.zeros(2, 12000, dtype=torch.long)
    for i, n in enumerate((12000, 7000)):
        input_values[i, :n] = torch.from_numpy(rng.standard_normal(n).astype(np.float32) * 0.1)
        attention_mask[i, :n] = 1
    return input_values, attention_mask


@pytest.mark.parametrize("peft", ["lora", "adapters", "gating"])
def test_peft_weights_reach_the_output(tiny_whisper_folder, peft):
    torch.manual_seed(1)
    model = ZeroShotForEmotionClassification.from_backbone(tiny_whisper_folder, **{peft: True}).eval()
    assert type(model.backbone).__name__ == "WhisperEncoder"
    trainable = [n for n, p in model.backbone.named_parameters() if p.requires_grad]
    assert trainable and all(("lora_" in n) or ("bottleneck_adapter" in n) or ("weight_gate" in n) for n in trainable)
    inputs = batch()
    with torch.no_grad():
        before = model(*inputs).embeddings.clone()
        for parameter in model.backbone.parameters():
            if parameter.requires_grad:
                parameter.normal_(0, 0.5)
        after = model(*inputs).embeddings
    assert not torch.allclose(before, after, atol=1e-4), f"{peft} weights do not reach the forward pass"
    # and a gradient flows into them
    model.train()
    model(*inputs).embeddings.pow(2).sum().backward()
    grads = [p.grad for p in model.backbone.parameters() if p.requires_grad]
    assert all(g is not None and torch.any(g != 0) for g in grads)


def test_backbone_layer_pools_that_layer_and_cached_frames_match(tiny_whisper_folder):
    torch.manual_seed(2)
    model = ZeroShotForEmotionClassification.from_backbone(tiny_whisper_folder, backbone_layer=1).eval()
    input_values, attention_mask = batch(1)
    with torch.no_grad():
        frames, mask = model.encode_frames(input_values, attention_mask)
        states, reference_mask = encode_whisper_frames(
            model.backbone, [input_values[0], input_values[1, :7000]], num_layers=2
        )
        from_waves = model(input_values, attention_mask)
        from_frames = model(backbone_hidden_states=frames, frame_mask=mask)
    assert mask.sum(dim=1).tolist() == [38, 22]  # ceil((12000 // 160) / 2), ceil((7000 // 160) / 2)
    torch.testing.assert_close(frames[mask.bool()], states[1][reference_mask])
    torch.testing.assert_close(from_waves.logits, from_frames.logits)
    with pytest.raises(ValueError, match="backbone_layer"):
        ZeroShotForEmotionClassification.from_backbone(tiny_whisper_folder, backbone_layer=3)


def test_save_and_reload_with_auto_class(tiny_whisper_folder, tmp_path):
    from transformers import AutoModelForAudioClassification

    torch.manual_seed(3)
    model = ZeroShotForEmotionClassification.from_backbone(tiny_whisper_folder, lora=True, num_speakers=3).eval()
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.3)
    model.save_pretrained(tmp_path / "zs")
    reloaded = AutoModelForAudioClassification.from_pretrained(tmp_path / "zs").eval()
    inputs = batch(2)
    with torch.no_grad():
        torch.testing.assert_close(model(*inputs).logits, reloaded(*inputs).logits)
