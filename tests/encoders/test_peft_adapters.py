import pytest
import torch
from transformers import (
    HubertConfig,
    HubertModel,
    Wav2Vec2Config,
    Wav2Vec2Model,
    WavLMConfig,
    WavLMModel,
)

from hf_cser.encoders.peft_adapters import (
    BottleneckAdapter,
    add_bottleneck_adapters,
    add_weight_gating,
    apply_lora,
    configure_peft,
    is_peft_parameter_name,
    load_peft_state_dict,
    peft_state_dict,
)

TINY = dict(
    conv_dim=(32,) * 7,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=37,
    num_conv_pos_embeddings=16,
    num_conv_pos_embedding_groups=2,
)
FAMILIES = {
    "wav2vec2": (Wav2Vec2Config, Wav2Vec2Model),
    "hubert": (HubertConfig, HubertModel),
    "wavlm": (WavLMConfig, WavLMModel),
}
OPTIONS = {
    "lora": dict(lora=True),
    "adapters": dict(adapters=True),
    "gating": dict(gating=dict(targets=("feed_forward.intermediate_dense", "attention.q_proj", "attention.out_proj"))),
    "all": dict(lora=dict(r=4), adapters=dict(bottleneck_size=8), gating=True),
}


def tiny_backbone(family: str, seed: int = 0, **overrides) -> torch.nn.Module:
    config_class, model_class = FAMILIES[family]
    torch.manual_seed(seed)
    return model_class(config_class(**TINY, **overrides)).eval()


@pytest.fixture(scope="module")
def waveform() -> torch.Tensor:
    return torch.randn(2, 1600, generator=torch.Generator().manual_seed(1))


def run(model: torch.nn.Module, waveform: torch.Tensor) -> torch.Tensor:
    return model(waveform).last_hidden_state


def perturb_peft_weights(model: torch.nn.Module) -> None:
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if is_peft_parameter_name(name):
                parameter.add_(0.5 * torch.randn_like(parameter))


@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("option", list(OPTIONS))
def test_identity_at_init_and_only_added_weights_train(family, option, waveform):
    reference = run(tiny_backbone(family), waveform).detach()
    model = configure_peft(tiny_backbone(family), **OPTIONS[option])
    torch.testing.assert_close(run(model, waveform), reference, rtol=0, atol=1e-6)

    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(is_peft_parameter_name(n) for n in trainable)
    if option == "all":
        assert any(".lora_" in n for n in trainable)
        assert any("bottleneck_adapter." in n for n in trainable)
        assert any(n.endswith("weight_gate") for n in trainable)

    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    target = torch.randn_like(reference)
    for _ in range(3):  # B = 0 / Up = 0 at init: A / Down only receive gradient from step 2
        optimizer.zero_grad()
        (run(model, waveform) * target).mean().backward()
        optimizer.step()
    for name, parameter in model.named_parameters():
        changed = not torch.equal(parameter, before[name])
        assert changed == (name in trainable), name


@pytest.mark.parametrize("family", list(FAMILIES))
def test_peft_state_dict_round_trip(family, waveform):
    options = OPTIONS["all"]
    model = configure_peft(tiny_backbone(family), **options)
    perturb_peft_weights(model)
    expected = run(model, waveform).detach()
    state_dict = peft_state_dict(model)
    assert state_dict and all(is_peft_parameter_name(n) for n in state_dict)
    assert set(state_dict) == {n for n, p in model.named_parameters() if p.requires_grad}

    restored = configure_peft(tiny_backbone(family), **options)
    assert not torch.equal(run(restored, waveform), expected)
    load_peft_state_dict(restored, state_dict)
    torch.testing.assert_close(run(restored, waveform), expected, rtol=0, atol=0)


def test_load_peft_state_dict_strict_errors():
    model = configure_peft(tiny_backbone("wav2vec2"), adapters=True, gating=True)
    state_dict = peft_state_dict(model)
    missing = dict(state_dict)
    missing_key = next(iter(missing))
    del missing[missing_key]
    with pytest.raises(KeyError, match="missing keys"):
        load_peft_state_dict(model, missing)
    with pytest.raises(KeyError, match="unexpected keys.*extra"):
        load_peft_state_dict(model, {**state_dict, "extra.weight_gate": torch.zeros(1)})
    wrong_shape = {**state_dict, missing_key: torch.zeros(3, 3, 3)}
    with pytest.raises(ValueError, match="Shape mismatch"):
        load_peft_state_dict(model, wrong_shape)


@pytest.mark.parametrize("family, bypassed", [("wavlm", True), ("wav2vec2", False), ("hubert", False)])
def test_lora_on_attention_projections_is_bypassed_only_in_wavlm(family, bypassed, waveform):
    """Raw peft on q_proj/v_proj: perturbing LoRA changes the output of wav2vec2/HuBERT but not of WavLM."""
    from peft import LoraConfig, inject_adapter_in_model

    model = tiny_backbone(family)
    inject_adapter_in_model(LoraConfig(r=4, target_modules=["q_proj", "v_proj"]), model)
    before = run(model, waveform).detach()
    perturb_peft_weights(model)
    after = run(model, waveform).detach()
    assert torch.equal(before, after) == bypassed

    if bypassed:
        with pytest.raises(ValueError, match="bypasses"):
            apply_lora(tiny_backbone(family), target_modules=["q_proj", "v_proj"])
    else:
        apply_lora(tiny_backbone(family), target_modules=["q_proj", "v_proj"])


def test_weight_gating_reaches_wavlm_attention(waveform):
    model = tiny_backbone("wavlm")
    gated = add_weight_gating(model, targets=["q_proj", "v_proj"])
    assert len(gated) == 4
    before = run(model, waveform).detach()
    perturb_peft_weights(model)
    assert not torch.equal(before, run(model, waveform))


def test_gating_targets_lora_base_layer():
    model = tiny_backbone("hubert")
    apply_lora(model)
    gated = add_weight_gating(model)
    assert all(name.endswith(".base_layer") for name in gated) and len(gated) == 4


def test_adapter_and_gating_errors():
    model = tiny_backbone("wav2vec2")
    assert len(add_bottleneck_adapters(model, bottleneck_size=4)) == 2
    with pytest.raises(ValueError, match="only once"):
        add_bottleneck_adapters(model)
    with pytest.raises(ValueError, match="matched no"):
        add_weight_gating(model, targets=["no_such_layer"])
    with pytest.raises(ValueError, match="activation"):
        BottleneckAdapter(8, activation="nope")
    with pytest.raises(ValueError, match="at least one"):
        configure_peft(model)


def test_stable_layer_norm_variant(waveform):
    reference = run(tiny_backbone("wav2vec2", do_stable_layer_norm=True), waveform).detach()
    model = configure_peft(tiny_backbone("wav2vec2", do_stable_layer_norm=True), **OPTIONS["all"])
    torch.testing.assert_close(run(model, waveform), reference, rtol=0, atol=1e-6)
