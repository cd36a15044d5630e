"""Crash-safe custom loops of the feature GAN method (issue 9): stage-2 InfoGAN and stage-3 classifier checkpoints
(safetensors + JSON + optimizer states loadable with ``weights_only=True``, written atomically) and a resume after an
interruption that ends bit-identical to an uninterrupted run with the same seed."""

import json
import os

import pytest
import torch

from hf_cser.models.feature_gan import FeatureGanConfig, FeatureGanForEmotionClassification, LogMelConvEncoderConfig
from hf_cser.trainers.checkpointing import last_checkpoint
from hf_cser.trainers.feature_gan import (
    FeatureGanClassifierTrainer,
    FeatureGanClassifierTrainingArguments,
    FeatureInfoGanTrainer,
    FeatureInfoGanTrainingArguments,
    build_augmented_training_set,
)

from .test_feature_gan_trainer import toy_features, toy_gan

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class Interrupted(RuntimeError):
    pass


def interrupt_after(monkeypatch, cls, method: str, calls: int) -> None:
    """Make ``cls.method`` raise on its ``calls + 1``-th call (a crash in the middle of training)."""
    original = getattr(cls, method)
    count = {"n": 0}

    def wrapper(self, *args, **kwargs):
        if count["n"] == calls:
            raise Interrupted(f"simulated crash after {calls} calls")
        count["n"] += 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, method, wrapper)


def assert_same_state(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


def assert_checkpoint_folder_is_safe(folder) -> None:
    from safetensors.torch import load_file

    names = sorted(os.listdir(folder))
    assert names == ["loop_state.safetensors", "optimizers.pt", "trainer_state.json"]
    assert load_file(os.path.join(folder, "loop_state.safetensors"))
    torch.load(os.path.join(folder, "optimizers.pt"), weights_only=True)  # no pickled objects
    json.loads(open(os.path.join(folder, "trainer_state.json")).read())


def gan_run(tmp_path, name, features, labels, text, head, monkeypatch=None, crash_after=None):
    args = FeatureInfoGanTrainingArguments(
        num_train_epochs=3,
        per_device_train_batch_size=16,
        learning_rate=3e-3,
        disable_tqdm=True,
        logging_steps=2,
        seed=3,
        output_dir=str(tmp_path / name),
        save_steps=3,
    )
    gan = toy_gan(head)
    trainer = FeatureInfoGanTrainer(gan, args, features, labels, text)
    if crash_after is None:
        return gan, trainer.train(resume_from_checkpoint=last_checkpoint(args.output_dir))
    with monkeypatch.context() as m:
        interrupt_after(m, FeatureInfoGanTrainer, "_generator_step", crash_after)
        with pytest.raises(Interrupted):
            trainer.train()
    return None, None


def test_infogan_resume_after_a_crash_is_bit_identical(tmp_path, monkeypatch):
    features, labels, text, head = toy_features(n=64)  # 4 G steps per epoch, 12 in all
    reference, reference_history = gan_run(tmp_path, "reference", features, labels, text, head)

    gan_run(tmp_path, "crashed", features, labels, text, head, monkeypatch, crash_after=8)  # dies in G step 9
    found = last_checkpoint(str(tmp_path / "crashed"))
    assert os.path.basename(found) == "checkpoint-6"  # mid-epoch (epoch 2, step 2 of 4); one kept (limit 1)
    assert sorted(os.listdir(tmp_path / "crashed")) == ["checkpoint-6"]  # no temporary folder left behind
    assert_checkpoint_folder_is_safe(found)

    resumed, resumed_history = gan_run(tmp_path, "crashed", features, labels, text, head)
    assert_same_state(resumed, reference)
    assert resumed_history == reference_history
    assert resumed_history[-1]["step"] == 12


def classifier_run(tmp_path, name, features, labels, text, monkeypatch=None, crash_after=None):
    torch.manual_seed(0)
    config = FeatureGanConfig(
        backbone_config=LogMelConvEncoderConfig(num_mel_bins=8, conv_dim=[12], conv_kernel=[3], conv_stride=[1]),
        text_hidden_size=6,
        freeze_backbone=True,
    )
    model = FeatureGanForEmotionClassification(config)
    train_set = build_augmented_training_set(features[:80], labels[:80], None, None, None, "none", "audio")
    args = FeatureGanClassifierTrainingArguments(
        num_train_epochs=4,
        per_device_train_batch_size=32,
        learning_rate=1e-1,
        disable_tqdm=True,
        early_stopping_patience=3,
        seed=5,
        output_dir=str(tmp_path / name),
        save_steps=4,
    )
    trainer = FeatureGanClassifierTrainer(model, args, train_set, features[80:], labels[80:])
    if crash_after is None:
        return model, trainer.train(resume_from_checkpoint=last_checkpoint(args.output_dir))
    with monkeypatch.context() as m:
        interrupt_after(m, torch.optim.Adam, "step", crash_after)
        with pytest.raises(Interrupted):
            trainer.train()
    return None, None


def test_stage3_classifier_resume_after_a_crash_is_bit_identical(tmp_path, monkeypatch):
    features, labels, text, _ = toy_features(n=120, hidden=12, text=6)  # 80 train rows: 3 steps per epoch
    reference, reference_history = classifier_run(tmp_path, "reference", features, labels, text)

    classifier_run(tmp_path, "crashed", features, labels, text, monkeypatch, crash_after=9)  # dies in step 10
    found = last_checkpoint(str(tmp_path / "crashed"))
    assert os.path.basename(found) == "checkpoint-8"  # mid-epoch 3, with the best epoch so far saved too
    assert_checkpoint_folder_is_safe(found)

    resumed, resumed_history = classifier_run(tmp_path, "crashed", features, labels, text)
    assert_same_state(resumed, reference)
    assert resumed_history == reference_history and len(resumed_history) == 4
    uars = [entry["eval_uar"] for entry in reference_history]
    assert uars.index(max(uars)) < 2  # the kept (best) epoch is before the crash: its saved copy was restored


def test_save_settings_are_checked():
    with pytest.raises(ValueError, match="output_dir"):
        FeatureInfoGanTrainingArguments(save_steps=5)
    with pytest.raises(ValueError, match="save_steps"):
        FeatureGanClassifierTrainingArguments(save_steps=-1, output_dir="x")
