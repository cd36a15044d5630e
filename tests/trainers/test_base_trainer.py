"""hf_cser.trainers.base: what every hf_cser trainer shares (argument check, objective resolution, recorded config)."""

from types import SimpleNamespace

import pytest
from transformers import TrainingArguments

from hf_cser.trainers import CtlMtNetTrainer, FeatureGanBaselineTrainer, SapaTrainer, ZeroShotTrainer
from hf_cser.trainers.base import HfCserTrainer


def test_objective_resolves_argument_then_config_then_default():
    args = SimpleNamespace(a=0.3, b=None, c=None)
    config = SimpleNamespace(b=2.0)
    resolved = HfCserTrainer.resolve_objective(args, config, {"a": 1.0, "b": 1.0, "c": 5.0})
    assert resolved == {"a": 0.3, "b": 2.0, "c": 5.0}
    without_config = HfCserTrainer.resolve_objective(args, None, {"a": 1.0, "b": 1.0, "c": 5.0})
    assert without_config == {"a": 0.3, "b": 1.0, "c": 5.0}


def test_record_objective_writes_the_used_values_into_the_config():
    config = SimpleNamespace(margin=0.4)
    HfCserTrainer.record_objective(SapaTrainer.__new__(SapaTrainer), config, {"margin": 0.6, "weight": 0.5})
    assert (config.margin, config.weight) == (0.6, 0.5)
    HfCserTrainer.record_objective(SapaTrainer.__new__(SapaTrainer), None, {"margin": 0.6})  # no config: nothing


@pytest.mark.parametrize(
    "trainer, expected",
    [
        (SapaTrainer, "SapaTrainingArguments"),
        (ZeroShotTrainer, "ZeroShotTrainingArguments"),
        (CtlMtNetTrainer, "CtlMtNetTrainingArguments"),
        (FeatureGanBaselineTrainer, "FeatureGanTrainingArguments"),
    ],
)
def test_each_trainer_refuses_plain_training_arguments_naming_its_own(trainer, expected, tmp_path):
    with pytest.raises(TypeError, match=f"must be a `{expected}`, got TrainingArguments"):
        trainer.resolve_args(TrainingArguments(output_dir=str(tmp_path)))
    default = trainer.resolve_args(None)
    assert type(default).__name__ == expected and default.output_dir == trainer.default_output_dir
