import os

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoConfig, AutoModelForAudioClassification, HubertConfig, Wav2Vec2Config, Wav2Vec2Model

import hf_cser  # noqa: F401  (registers the Auto classes)
from hf_cser.encoders.peft_adapters import is_peft_parameter_name
from hf_cser.labels import EMOTIONS, ID2LABEL
from hf_cser.models.zero_shot import (
    ADAPTER_WEIGHTS_NAME,
    ZeroShotConfig,
    ZeroShotForEmotionClassification,
    ZeroShotOutput,
)

PEFT_ALL = dict(lora={"r": 4}, adapters={"bottleneck_size": 8}, gating={})


def tiny_backbone_config(**kwargs):
    # feat_extract_norm="layer": the conv stack normalises per frame, so the backbone honours the attention mask end to
    # end (padding invariance); the default "group" norm of wav2vec2-base does not.
    values = dict(
        conv_dim=(32,) * 7,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        feat_extract_norm="layer",
    )
    values.update(kwargs)
    return Wav2Vec2Config(**values)


def tiny_model(seed=0, **kwargs):
    torch.manual_seed(seed)
    values = dict(backbone_config=tiny_backbone_config(), num_speakers=5, speaker_hidden_size=16)
    values.update(kwargs)
    return ZeroShotForEmotionClassification(ZeroShotConfig(**values)).eval()


def waveforms(batch=2, samples=6000, seed=0):
    return torch.randn(batch, samples, generator=torch.Generator().manual_seed(seed))


def perturb(parameters, seed=1):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in parameters:
            parameter.add_(0.1 * torch.randn(parameter.shape, generator=g))


def trainable_names(model):
    return {name for name, p in model.named_parameters() if p.requires_grad}


def is_head(name):
    return name.startswith(("classifier.", "speaker_head.", "top_adapter.", "frame_mean", "frame_std"))


# ---------------------------------------------------------------------------------------------------- config


def test_config_defaults_and_labels():
    config = ZeroShotConfig(backbone_config=tiny_backbone_config())
    assert config.model_type == "zero_shot_ser"
    assert config.num_labels == len(EMOTIONS) == 4
    assert config.id2label == ID2LABEL
    assert config.freeze_backbone and config.num_speakers == 0 and not config.uses_peft
    assert (config.scl_weight, config.adversarial_weight, config.speaker_hidden_size) == (1.0, 0.1, 256)
    assert ZeroShotConfig().backbone_config["model_type"] == "wav2vec2"  # wav2vec 2.0 Base by default
    assert isinstance(AutoConfig.for_model("zero_shot_ser"), ZeroShotConfig)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(backbone_config={"hidden_size": 8}), "backbone_config"),
        (dict(backbone_config={"model_type": "bert"}), "backbone_config"),
        (dict(num_speakers=-1), "num_speakers"),
        (dict(num_speakers=2.5), "num_speakers"),
        (dict(speaker_hidden_size=0), "speaker_hidden_size"),
        (dict(speaker_dropout=1.0), "speaker_dropout"),
        (dict(classifier_dropout=-0.1), "classifier_dropout"),
        (dict(grl_coefficient=-1.0), "grl_coefficient"),
        (dict(grl_schedule="linear"), "grl_schedule"),
        (dict(lora="yes"), "lora"),
        (dict(adapters=3), "adapters"),
        (dict(scl_temperature=0.0), "scl_temperature"),
        (dict(scl_gamma=-0.5), "scl_gamma"),
        (dict(scl_weight=-1.0), "scl_weight"),
        (dict(adversarial_weight=-0.1), "adversarial_weight"),
        (dict(language_backbones={"en": 3}), "language_backbones"),
    ],
)
def test_config_validation_names_the_field(kwargs, field):
    kwargs.setdefault("backbone_config", tiny_backbone_config())
    with pytest.raises(ValueError, match=f"`{field}`"):
        ZeroShotConfig(**kwargs)


def test_config_save_load_round_trip(tmp_path):
    config = ZeroShotConfig(
        backbone_config=tiny_backbone_config(), num_speakers=7, language_backbones={"en": "a/b"}, **PEFT_ALL
    )
    config.save_pretrained(tmp_path)
    loaded = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(loaded, ZeroShotConfig)
    expected = {k: v for k, v in config.to_dict().items() if k != "_name_or_path"}
    assert {k: v for k, v in loaded.to_dict().items() if k != "_name_or_path"} == expected


# ---------------------------------------------------------------------------------------------------- forward


def test_forward_shapes_and_losses():
    model = tiny_model(**PEFT_ALL)
    out = model(waveforms(), labels=torch.tensor([0, 3]), speaker_labels=torch.tensor([1, -100]))
    assert isinstance(out, ZeroShotOutput)
    assert out.logits.shape == (2, 4)
    assert out.embeddings.shape == (2, 32)
    assert out.speaker_logits.shape == (2, 5)
    expected = torch.nn.functional.cross_entropy(out.logits, torch.tensor([0, 3]))
    torch.testing.assert_close(out.loss, expected)  # CE on emotion labels only
    expected_speaker = torch.nn.functional.cross_entropy(out.speaker_logits[:1], torch.tensor([1]))  # -100 ignored
    torch.testing.assert_close(out.speaker_loss, expected_speaker)
    as_tuple = model(waveforms(), labels=torch.tensor([0, 3]), return_dict=False)
    assert len(as_tuple) == 4 and torch.equal(as_tuple[1], out.logits)


def test_no_speaker_head_when_num_speakers_is_zero():
    model = tiny_model(num_speakers=0)
    assert model.speaker_head is None and model.grl is None
    out = model(waveforms(), speaker_labels=torch.tensor([0, 1]))
    assert out.speaker_logits is None and out.speaker_loss is None and out.loss is None
    model.set_grl_coefficient(0.5)  # no-op


def test_masked_pooling_is_padding_invariant():
    model = tiny_model()
    short, long = waveforms(1, 4000, seed=1)[0], waveforms(1, 7000, seed=2)[0]
    batch = torch.zeros(2, 7000)
    batch[0, :4000], batch[1] = short, long
    mask = torch.zeros(2, 7000, dtype=torch.long)
    mask[0, :4000], mask[1] = 1, 1
    with torch.no_grad():
        padded = model(batch, attention_mask=mask).embeddings
        alone = model.backbone(short.unsqueeze(0)).last_hidden_state  # (1, T_short, H)
        unmasked = model(batch).embeddings
    assert alone.shape[1] < model.backbone(long.unsqueeze(0)).last_hidden_state.shape[1]
    torch.testing.assert_close(padded[0], alone[0].mean(dim=0), atol=1e-5, rtol=1e-4)
    # the check can fail: without the mask, the padded frames enter the mean
    assert not torch.allclose(unmasked[0], alone[0].mean(dim=0), atol=1e-3)


def _speaker_grads(model, coeff):
    model.set_grl_coefficient(coeff)
    out = model(waveforms())
    head = model.speaker_head
    speakers = torch.tensor([0, 3])
    # reversed path (through the GRL)
    loss = torch.nn.functional.cross_entropy(out.speaker_logits, speakers)
    grad_reversed, grad_dense_reversed = torch.autograd.grad(loss, [out.embeddings, head.dense.weight])
    # plain head on the same embeddings, no GRL
    plain_logits = head.out_proj(head.dropout(head.activation(head.dense(out.embeddings))))
    plain_loss = torch.nn.functional.cross_entropy(plain_logits, speakers)
    grad_plain, grad_dense_plain = torch.autograd.grad(plain_loss, [out.embeddings, head.dense.weight])
    return grad_reversed, grad_plain, grad_dense_reversed, grad_dense_plain


@pytest.mark.parametrize("coeff", [1.0, 0.5])
def test_speaker_gradient_is_reversed_at_the_embeddings(coeff):
    model = tiny_model(**PEFT_ALL)
    reversed_, plain, dense_reversed, dense_plain = _speaker_grads(model, coeff)
    assert plain.abs().sum() > 0
    torch.testing.assert_close(reversed_, -coeff * plain)
    # the head itself still descends its own loss: its gradient is not reversed
    torch.testing.assert_close(dense_reversed, dense_plain)


def test_speaker_gradient_reaches_the_backbone_reversed():
    model = tiny_model(adapters={"bottleneck_size": 8}, classifier_dropout=0.0)
    param = model.backbone.encoder.layers[-1].feed_forward.bottleneck_adapter.up.bias
    grads = []
    for coeff in (1.0, 0.0):
        model.set_grl_coefficient(coeff)
        loss = torch.nn.functional.cross_entropy(model(waveforms()).speaker_logits, torch.tensor([0, 3]))
        grads.append(torch.autograd.grad(loss, param)[0])
    assert grads[0].abs().sum() > 0
    assert torch.count_nonzero(grads[1]) == 0  # coeff 0 blocks the speaker gradient


# ---------------------------------------------------------------------------------------------------- trainability


@pytest.mark.parametrize(
    "peft",
    [dict(lora={"r": 4}), dict(adapters={"bottleneck_size": 8}), dict(gating={}), PEFT_ALL],
    ids=["lora", "adapters", "gating", "all"],
)
def test_peft_trains_only_peft_and_heads(peft):
    model = tiny_model(**peft)
    names = trainable_names(model)
    assert names and all(is_peft_parameter_name(n) or is_head(n) for n in names)
    assert any(is_peft_parameter_name(n) for n in names)
    assert {n for n in names if is_head(n)} == {n for n, _ in model.named_parameters() if is_head(n)}
    # the identity initialisation is kept by `post_init` (LoRA B, adapter Up and gates start at zero)
    for name, parameter in model.named_parameters():
        if "lora_B" in name or "bottleneck_adapter.up" in name or name.endswith("weight_gate"):
            assert torch.count_nonzero(parameter) == 0, name


def test_frozen_backbone_without_peft_trains_heads_only_and_full_fine_tuning():
    assert all(is_head(n) for n in trainable_names(tiny_model()))
    full = tiny_model(freeze_backbone=False)
    names = trainable_names(full)
    assert any(n.startswith("backbone.encoder.") for n in names)
    assert not any(n.startswith("backbone.feature_extractor.") for n in names)  # freeze_feature_encoder


# ---------------------------------------------------------------------------------------------------- save / load


def test_save_pretrained_round_trip_through_auto_classes(tmp_path):
    model = tiny_model(**PEFT_ALL)
    perturb([p for p in model.parameters() if p.requires_grad])  # non-trivial PEFT and head weights
    model.save_pretrained(tmp_path)
    loaded = AutoModelForAudioClassification.from_pretrained(tmp_path).eval()
    assert isinstance(loaded, ZeroShotForEmotionClassification)
    x = waveforms()
    with torch.no_grad():
        expected, got = model(x), loaded(x)
    torch.testing.assert_close(got.logits, expected.logits, rtol=0, atol=0)
    torch.testing.assert_close(got.speaker_logits, expected.speaker_logits, rtol=0, atol=0)
    assert trainable_names(loaded) == trainable_names(model)


@pytest.fixture
def backbone_folder(tmp_path):
    torch.manual_seed(123)
    folder = tmp_path / "backbone"
    Wav2Vec2Model(tiny_backbone_config()).save_pretrained(folder)
    return folder


def test_from_backbone_keeps_pretrained_weights(backbone_folder):
    pretrained = Wav2Vec2Model.from_pretrained(backbone_folder)
    model = ZeroShotForEmotionClassification.from_backbone(backbone_folder, num_speakers=3, **PEFT_ALL)
    assert model.config.backbone_name_or_path == str(backbone_folder)
    torch.testing.assert_close(
        model.backbone.encoder.layers[0].attention.q_proj.weight, pretrained.encoder.layers[0].attention.q_proj.weight
    )
    # gated + LoRA-wrapped linear: the frozen base weight is the pretrained one
    ff = model.backbone.encoder.layers[1].feed_forward.output_dense.base_layer
    expected = pretrained.encoder.layers[1].feed_forward.output_dense.weight
    torch.testing.assert_close(ff.parametrizations.weight.original, expected)


def test_adapter_only_save_load_reproduces_logits(backbone_folder, tmp_path):
    kwargs = dict(num_speakers=3, speaker_hidden_size=8, **PEFT_ALL)
    torch.manual_seed(0)
    model = ZeroShotForEmotionClassification.from_backbone(backbone_folder, **kwargs).eval()
    perturb([p for p in model.parameters() if p.requires_grad])
    out_dir = tmp_path / "adapter"
    model.save_adapter_weights(out_dir)
    saved = load_file(os.path.join(out_dir, ADAPTER_WEIGHTS_NAME))
    assert saved and all(k.startswith("backbone.") and is_peft_parameter_name(k) or is_head(k) for k in saved)
    assert set(saved) == trainable_names(model)

    torch.manual_seed(99)
    fresh = ZeroShotForEmotionClassification.from_backbone(backbone_folder, **kwargs).eval()
    x = waveforms()
    with torch.no_grad():
        assert not torch.allclose(fresh(x).logits, model(x).logits)
        fresh.load_adapter_weights(out_dir)
        torch.testing.assert_close(fresh(x).logits, model(x).logits, rtol=0, atol=0)
        torch.testing.assert_close(fresh(x).speaker_logits, model(x).speaker_logits, rtol=0, atol=0)


def test_adapter_weights_mismatch_and_full_fine_tuning_errors(backbone_folder, tmp_path):
    model = ZeroShotForEmotionClassification.from_backbone(backbone_folder, num_speakers=3, lora={"r": 4})
    model.save_adapter_weights(tmp_path / "a")
    other = ZeroShotForEmotionClassification.from_backbone(backbone_folder, num_speakers=3, adapters={})
    with pytest.raises(KeyError, match="missing"):
        other.load_adapter_weights(tmp_path / "a")
    no_speakers = ZeroShotForEmotionClassification.from_backbone(backbone_folder, lora={"r": 4})
    with pytest.raises(KeyError, match="speaker_head"):
        no_speakers.load_adapter_weights(tmp_path / "a")
    with pytest.raises(FileNotFoundError):
        model.load_adapter_weights(tmp_path / "missing")
    full = tiny_model(freeze_backbone=False)
    with pytest.raises(ValueError, match="save_pretrained"):
        full.save_adapter_weights(tmp_path / "b")


# ---------------------------------------------------------------------------------------------------- cached frames


def test_new_top_adapter_is_the_identity_and_trains():
    model = tiny_model(top_adapter_size=8)
    frames = torch.randn(2, 7, 32)
    torch.testing.assert_close(model.top_adapter(frames), frames, rtol=0, atol=0)
    assert {n for n in trainable_names(model) if n.startswith("top_adapter.")} == {
        f"top_adapter.{m}.{p}" for m in ("layer_norm", "down", "up") for p in ("weight", "bias")
    }
    assert model.backbone_is_frozen and not tiny_model(**PEFT_ALL).backbone_is_frozen


def test_cached_frames_give_the_waveform_path_result_with_normalisation_and_adapter():
    model = tiny_model(top_adapter_size=8, normalize_frames=True)
    perturb(model.top_adapter.parameters())
    x, mask = waveforms(), torch.ones(2, 6000, dtype=torch.long)
    mask[1, 4000:] = 0
    with torch.no_grad():
        frames, frame_mask = model.encode_frames(x, mask)
        mean, std = frames[0].mean(0), frames[0].std(0) + 0.5
        model.set_frame_normalization(mean, std)
        from_waves = model(x, attention_mask=mask)
        from_frames = model(backbone_hidden_states=frames, frame_mask=frame_mask)
        # independent computation of the embedding: standardise, adapt, mean over the valid frames
        z = model.top_adapter((frames - mean) / std)
        expected = torch.stack([z[i, frame_mask[i].bool()].mean(0) for i in range(2)])
    torch.testing.assert_close(from_frames.logits, from_waves.logits)
    torch.testing.assert_close(from_waves.embeddings, expected)
    assert frame_mask[1].sum() < frame_mask[0].sum()


def test_cached_frames_are_refused_while_backbone_weights_train():
    model = tiny_model(lora={"r": 4}).train()
    with pytest.raises(ValueError, match="input_values"):
        model(backbone_hidden_states=torch.randn(2, 5, 32))
    with pytest.raises(ValueError, match="exactly one"):
        model()
    with pytest.raises(ValueError, match="normalize_frames=True"):
        tiny_model().set_frame_normalization(torch.zeros(32), torch.ones(32))
    with pytest.raises(ValueError, match=r"shape \(32,\)"):
        tiny_model(normalize_frames=True).set_frame_normalization(torch.zeros(31), torch.ones(31))


def test_top_adapter_and_statistics_survive_both_save_formats(backbone_folder, tmp_path):
    kwargs = dict(num_speakers=3, speaker_hidden_size=8, top_adapter_size=4, normalize_frames=True)
    torch.manual_seed(0)
    model = ZeroShotForEmotionClassification.from_backbone(backbone_folder, **kwargs).eval()
    perturb([p for p in model.parameters() if p.requires_grad])
    model.set_frame_normalization(torch.linspace(-1, 1, 32), torch.linspace(0.5, 2, 32))
    model.save_pretrained(tmp_path / "full")
    model.save_adapter_weights(tmp_path / "adapter")
    assert {"frame_mean", "frame_std", "top_adapter.up.weight"} <= set(
        load_file(os.path.join(tmp_path / "adapter", ADAPTER_WEIGHTS_NAME))
    )
    full = AutoModelForAudioClassification.from_pretrained(tmp_path / "full").eval()
    fresh = ZeroShotForEmotionClassification.from_backbone(backbone_folder, **kwargs).eval()
    fresh.load_adapter_weights(tmp_path / "adapter")
    x = waveforms()
    with torch.no_grad():
        expected = model(x).logits
        torch.testing.assert_close(full(x).logits, expected, rtol=0, atol=0)
        torch.testing.assert_close(fresh(x).logits, expected, rtol=0, atol=0)
    torch.testing.assert_close(full.frame_std, torch.linspace(0.5, 2, 32))


def test_hubert_backbone_forward():
    config = HubertConfig(
        conv_dim=(32,) * 7,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=37,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
    )
    model = tiny_model(backbone_config=config, lora={"r": 2})
    assert model(waveforms(), attention_mask=torch.ones(2, 6000, dtype=torch.long)).embeddings.shape == (2, 32)


def test_the_old_class_names_still_work_and_old_folders_load_by_model_type(tmp_path):
    """Renamed `ZeroShotSer*` -> `ZeroShot*` (issue 17): the old names are the same classes, and a folder saved under
    the old architecture name loads with the Auto classes (they read `model_type`, which did not change)."""
    import json

    from transformers import AutoModelForAudioClassification

    from hf_cser.models import zero_shot

    assert zero_shot.ZeroShotSerForEmotionClassification is zero_shot.ZeroShotForEmotionClassification
    assert (
        zero_shot.ZeroShotSerConfig is zero_shot.ZeroShotConfig
        and zero_shot.ZeroShotConfig.model_type == "zero_shot_ser"
    )
    model = tiny_model()
    model.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["architectures"] = ["ZeroShotSerForEmotionClassification"]  # as written before the rename
    (tmp_path / "config.json").write_text(json.dumps(config))
    assert isinstance(
        AutoModelForAudioClassification.from_pretrained(tmp_path), zero_shot.ZeroShotForEmotionClassification
    )
