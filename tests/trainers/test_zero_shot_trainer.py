"""Tests of the zero-shot cross-lingual SER trainer: sampler batches, the objective recomputed by hand, ablations,
GRL schedule logging, training updates, leak guard and the train-only speaker map."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from datasets import Dataset
from torch import nn
from torch.nn import functional as F
from transformers import PretrainedConfig, PreTrainedModel
from transformers.utils import ModelOutput

from hf_cser.data import TargetLeakageError
from hf_cser.losses import GradientReversalLayer, LanguageAwareSupConLoss
from hf_cser.losses.grl import warm_start_grl_schedule
from hf_cser.trainers import ZeroShotDataCollator, ZeroShotTrainer, ZeroShotTrainingArguments

SR = 16_000
FRAME = 400


class TinyZeroShotConfig(PretrainedConfig):
    model_type = "tiny-zero-shot-test"

    def __init__(
        self,
        hidden_size=8,
        num_labels=4,
        num_speakers=0,
        scl_temperature=0.1,
        scl_gamma=0.5,
        scl_weight=0.7,
        adversarial_weight=0.3,
        grl_coefficient=1.0,
        grl_schedule="constant",
        **kwargs,
    ):
        super().__init__(num_labels=num_labels, **kwargs)
        self.hidden_size, self.num_speakers = hidden_size, num_speakers
        self.scl_temperature, self.scl_gamma, self.scl_weight = scl_temperature, scl_gamma, scl_weight
        self.adversarial_weight = adversarial_weight
        self.grl_coefficient, self.grl_schedule = grl_coefficient, grl_schedule


@dataclass
class TinyOutput(ModelOutput):
    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    embeddings: torch.Tensor | None = None
    speaker_logits: torch.Tensor | None = None


class TinyZeroShotModel(PreTrainedModel):
    """Stand-in with the ZeroShotForEmotionClassification contract: frozen frame encoder, trainable adapter,
    masked mean pooling, emotion head, GRL speaker head."""

    config_class = TinyZeroShotConfig
    main_input_name = "input_values"

    def __init__(self, config):
        super().__init__(config)
        h = config.hidden_size
        self.frame_encoder = nn.Linear(FRAME, h)
        self.frame_encoder.requires_grad_(False)  # the "frozen backbone"
        self.adapter = nn.Linear(h, h)
        self.classifier = nn.Linear(h, config.num_labels)
        self.grl = GradientReversalLayer(config.grl_coefficient)
        self.speaker_head = nn.Sequential(
            nn.Linear(h, h), nn.ReLU(), nn.Dropout(0.0), nn.Linear(h, config.num_speakers)
        )
        self.post_init()

    def set_grl_coefficient(self, value):
        self.grl.coeff = value

    def forward(self, input_values, attention_mask=None, labels=None, speaker_labels=None):
        b, t = input_values.shape
        n = t // FRAME
        frames = input_values[:, : n * FRAME].reshape(b, n, FRAME)  # (B, N, FRAME)
        hidden = torch.tanh(self.frame_encoder(frames))  # (B, N, H)
        hidden = hidden + self.adapter(hidden)
        if attention_mask is None:
            mask = torch.ones(b, n, device=hidden.device)
        else:
            mask = attention_mask[:, : n * FRAME].reshape(b, n, FRAME).float().amin(-1)  # (B, N)
        emb = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp_min(1)  # (B, H)
        logits = self.classifier(emb)
        speaker_logits = self.speaker_head(self.grl(emb)) if self.config.num_speakers > 0 else None
        loss = F.cross_entropy(logits, labels) if labels is not None else None
        return TinyOutput(loss=loss, logits=logits, embeddings=emb, speaker_logits=speaker_logits)


def make_rows(languages, n_per_cell, speakers_per_lang, seed, speaker_prefix="spk"):
    rng = np.random.default_rng(seed)
    rows = {"input_values": [], "emotion": [], "language": [], "speaker": []}
    for lang in languages:
        for emotion in range(4):
            for k in range(n_per_cell):
                length = int(SR * 0.5) - int(rng.integers(0, 3)) * FRAME  # 0.5 s, some shorter (padding)
                rows["input_values"].append(rng.standard_normal(length).astype(np.float32) * (1 + emotion))
                rows["emotion"].append(emotion)
                rows["language"].append(lang)
                rows["speaker"].append(f"{speaker_prefix}_{lang}_{k % speakers_per_lang}")
    return Dataset.from_dict(rows)


@pytest.fixture(scope="module")
def train_ds():
    return make_rows(["en", "zh", "ur"], n_per_cell=4, speakers_per_lang=3, seed=0)  # 48 rows, 9 speakers


@pytest.fixture(scope="module")
def eval_ds():
    return make_rows(["en", "zh"], n_per_cell=2, speakers_per_lang=2, seed=1, speaker_prefix="val")


@pytest.fixture(scope="module")
def base_model():
    torch.manual_seed(0)
    return TinyZeroShotModel(TinyZeroShotConfig(num_speakers=9))


@pytest.fixture
def model(base_model):
    return copy.deepcopy(base_model)


def make_args(tmp_path, **kwargs):
    defaults = dict(
        output_dir=str(tmp_path / "out"),
        use_cpu=True,
        languages_per_batch=2,
        emotions_per_batch=4,
        samples_per_cell=2,
        learning_rate=1e-2,
        logging_steps=1,
        disable_tqdm=True,
        seed=0,
        eval_strategy="no",
        save_strategy="no",
        load_best_model_at_end=False,
    )
    defaults.update(kwargs)
    return ZeroShotTrainingArguments(**defaults)


def one_batch(trainer):
    return next(iter(trainer.get_train_dataloader()))


def reference_terms(model, batch, tau=0.1, gamma=0.5):
    """CE, SupCon and speaker CE recomputed without trainer code."""
    model.eval()
    with torch.no_grad():
        out = model(input_values=batch["input_values"], attention_mask=batch["attention_mask"], labels=batch["labels"])
    ce = F.cross_entropy(out.logits, batch["labels"])
    scl = LanguageAwareSupConLoss(temperature=tau, gamma=gamma)(out.embeddings, batch["labels"], batch["language_ids"])
    adv = F.cross_entropy(out.speaker_logits, batch["speaker_labels"], ignore_index=-100)
    return ce, scl, adv


def trainer_loss(trainer, batch):
    trainer.model.eval()
    with torch.no_grad():
        return trainer.compute_loss(trainer.model, dict(batch))


def test_sampler_batches_have_l_x_e_x_k_composition(model, train_ds, tmp_path):
    trainer = ZeroShotTrainer(model, make_args(tmp_path), train_dataset=train_ds)
    assert trainer.args.per_device_train_batch_size == 16
    loader = trainer.get_train_dataloader()
    n = 0
    for batch in loader:
        n += 1
        assert batch["input_values"].shape[0] == 16
        langs, emos = batch["language_ids"].tolist(), batch["labels"].tolist()
        assert len(set(langs)) == 2 and len(set(emos)) == 4
        cells = {}
        for cell in zip(langs, emos, strict=True):
            cells[cell] = cells.get(cell, 0) + 1
        assert sorted(cells.values()) == [2] * 8  # every (language, emotion) cell has K = 2 samples
        assert set(batch) == {"input_values", "attention_mask", "labels", "speaker_labels", "language_ids"}
        # padding: attention mask counts the real samples of each row
        assert (batch["attention_mask"].sum(1) <= batch["input_values"].shape[1]).all()
    assert n >= 48 // 16


def test_compute_loss_equals_ce_plus_weighted_scl_and_adv(model, train_ds, tmp_path):
    trainer = ZeroShotTrainer(model, make_args(tmp_path), train_dataset=train_ds)
    batch = one_batch(trainer)
    ce, scl, adv = reference_terms(trainer.model, batch)
    assert scl.item() > 0 and adv.item() > 0
    total = trainer_loss(trainer, batch)
    torch.testing.assert_close(total, ce + 0.7 * scl + 0.3 * adv)  # weights from the model config
    logged = {k: v[-1] for k, v in trainer._metrics["eval"].items()}
    assert logged["ce_loss"] == pytest.approx(ce.item(), rel=1e-6)
    assert logged["scl_loss"] == pytest.approx(scl.item(), rel=1e-6)
    assert logged["adv_loss"] == pytest.approx(adv.item(), rel=1e-6)
    # training-argument overrides win over the config
    args = make_args(tmp_path, scl_weight=2.0, adversarial_weight=0.5, scl_temperature=0.5, scl_gamma=0.0)
    trainer = ZeroShotTrainer(model, args, train_dataset=train_ds)
    ce, scl, adv = reference_terms(trainer.model, batch, tau=0.5, gamma=0.0)
    torch.testing.assert_close(trainer_loss(trainer, batch), ce + 2.0 * scl + 0.5 * adv)
    assert trainer.model.config.scl_weight == 2.0


@pytest.mark.parametrize("ablation", ["wo_scl", "wo_adv", "ce_only"])
def test_zero_weight_ablations_skip_the_term(model, train_ds, tmp_path, ablation):
    weights = {"wo_scl": (0.0, 0.3), "wo_adv": (0.7, 0.0), "ce_only": (0.0, 0.0)}[ablation]
    args = make_args(tmp_path, scl_weight=weights[0], adversarial_weight=weights[1])
    trainer = ZeroShotTrainer(model, args, train_dataset=train_ds)
    batch = one_batch(trainer)
    ce, scl, adv = reference_terms(trainer.model, batch)
    calls = []
    trainer.scl_loss_fct.forward = lambda *a, **k: calls.append("scl") or torch.tensor(0.0)
    original_adv = trainer._adversarial_loss
    trainer._adversarial_loss = lambda *a: calls.append("adv") or original_adv(*a)
    total = trainer_loss(trainer, batch)
    expected = ce + (0.3 * adv if weights[1] else 0) + (0.7 * scl if weights[0] else 0)
    if ablation == "wo_scl":
        assert calls == ["adv"]
        torch.testing.assert_close(total, ce + 0.3 * adv)
    elif ablation == "wo_adv":
        trainer.scl_loss_fct = LanguageAwareSupConLoss(temperature=0.1, gamma=0.5)
        total = trainer_loss(trainer, batch)
        assert "adv" not in calls
        torch.testing.assert_close(total, ce + 0.7 * scl)
    else:
        assert calls == []
        assert total.item() == ce.item()  # exactly CE
    torch.testing.assert_close(total, expected)
    logged = trainer._metrics["eval"]
    assert ("scl_loss" in logged) == bool(weights[0]) and ("adv_loss" in logged) == bool(weights[1])


def test_training_logs_every_term_and_follows_warm_start_grl(model, train_ds, tmp_path):
    args = make_args(tmp_path, max_steps=4, grl_schedule="warm_start", grl_coefficient=0.8)
    trainer = ZeroShotTrainer(model, args, train_dataset=train_ds)
    frozen_before = trainer.model.frame_encoder.weight.detach().clone()
    trainable_before = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if p.requires_grad}
    assert trainer.model.grl.coeff == 0.0  # warm start begins at 0
    trainer.train()
    logs = [log for log in trainer.state.log_history if "total_loss" in log]
    assert [log["step"] for log in logs] == [1, 2, 3, 4]
    for log in logs:
        assert {"ce_loss", "scl_loss", "adv_loss", "total_loss", "grl_coeff"} <= set(log)
        expected = warm_start_grl_schedule(log["step"] - 1, 4, lo=0.0, hi=0.8, alpha=10.0)
        assert log["grl_coeff"] == pytest.approx(expected)
        expected = log["ce_loss"] + 0.7 * log["scl_loss"] + 0.3 * log["adv_loss"]
        assert log["total_loss"] == pytest.approx(expected, rel=1e-5)
    coeffs = [log["grl_coeff"] for log in logs]
    assert coeffs[0] == 0.0 and coeffs == sorted(coeffs) and coeffs[-1] > 0.5
    assert trainer.model.grl.coeff == pytest.approx(warm_start_grl_schedule(4, 4, hi=0.8))  # pushed after step 4
    # a few steps move every trainable parameter, and never the frozen ones
    for name, p in trainer.model.named_parameters():
        if p.requires_grad:
            assert not torch.equal(p, trainable_before[name]), f"{name} did not change"
    assert torch.equal(trainer.model.frame_encoder.weight, frozen_before)


def test_constant_schedule_and_eval_metrics(model, train_ds, eval_ds, tmp_path):
    args = make_args(tmp_path, max_steps=2, grl_coefficient=0.25, eval_strategy="steps", eval_steps=2)
    trainer = ZeroShotTrainer(model, args, train_dataset=train_ds, eval_dataset=eval_ds)
    trainer.train()
    coeffs = [log["grl_coeff"] for log in trainer.state.log_history if "grl_coeff" in log]
    assert coeffs == [0.25, 0.25]
    eval_log = next(log for log in trainer.state.log_history if "eval_uar" in log)
    assert {"eval_ce_loss", "eval_scl_loss", "eval_adv_loss", "eval_total_loss"} <= set(eval_log)
    assert eval_log["eval_adv_loss"] == 0.0  # eval speakers are unknown to the speaker map: ignored
    assert "eval_grl_coeff" not in eval_log


def test_leak_guard_names_the_target_language(model, train_ds, eval_ds, tmp_path):
    with pytest.raises(TargetLeakageError, match="'ur'") as info:
        ZeroShotTrainer(model, make_args(tmp_path, target_languages=["ur"]), train_dataset=train_ds)
    assert "train_dataset" in str(info.value)
    with pytest.raises(TargetLeakageError, match="eval_dataset.*'zh'"):
        ZeroShotTrainer(
            model,
            make_args(tmp_path, target_languages=["zh"]),
            train_dataset=train_ds.filter(lambda r: r["language"] != "zh"),
            eval_dataset=eval_ds,
        )
    ZeroShotTrainer(model, make_args(tmp_path, target_languages=["de"]), train_dataset=train_ds, eval_dataset=eval_ds)
    ZeroShotTrainer(model, make_args(tmp_path, target_languages=["ur"], upper_bound=True), train_dataset=train_ds)


def test_speaker_map_is_built_from_train_speakers_only(model, train_ds, eval_ds, tmp_path):
    trainer = ZeroShotTrainer(model, make_args(tmp_path), train_dataset=train_ds, eval_dataset=eval_ds)
    assert sorted(trainer.speaker_map) == sorted(set(train_ds["speaker"]))
    assert not set(trainer.speaker_map) & set(eval_ds["speaker"])
    assert sorted(trainer.speaker_map.values()) == list(range(9))
    batch = trainer.data_collator([eval_ds[0], train_ds[0]])
    assert batch["speaker_labels"].tolist() == [-100, trainer.speaker_map[train_ds[0]["speaker"]]]
    with pytest.raises(ValueError, match="num_speakers"):
        model = TinyZeroShotModel(TinyZeroShotConfig(num_speakers=3))
        ZeroShotTrainer(model, make_args(tmp_path), train_dataset=train_ds)


def test_arguments_validate_and_default(tmp_path):
    args = ZeroShotTrainingArguments(output_dir=str(tmp_path), use_cpu=True)
    assert args.learning_rate == 5e-5 and args.per_device_train_batch_size == 32
    assert args.metric_for_best_model == "uar" and args.load_best_model_at_end and not args.remove_unused_columns
    assert not args.dataloader_pin_memory
    with pytest.raises(ValueError, match="`scl_weight`"):
        ZeroShotTrainingArguments(output_dir=str(tmp_path), use_cpu=True, scl_weight=-1.0)
    with pytest.raises(ValueError, match="`grl_schedule`"):
        ZeroShotTrainingArguments(output_dir=str(tmp_path), use_cpu=True, grl_schedule="linear")
    with pytest.raises(ValueError, match="remove_unused_columns"):
        ZeroShotTrainingArguments(output_dir=str(tmp_path), use_cpu=True, remove_unused_columns=True)


def test_collator_pads_and_masks():
    collator = ZeroShotDataCollator(speaker_map={"a": 0}, languages=["en"])
    batch = collator(
        [
            {"input_values": np.ones(800, np.float32), "emotion": 1, "language": "en", "speaker": "a"},
            {"audio": {"array": np.ones(400, np.float32)}, "emotion": 2, "language": "xx", "speaker": "b"},
        ]
    )
    assert batch["input_values"].shape == (2, 800)
    assert batch["attention_mask"].sum(1).tolist() == [800, 400]
    assert batch["input_values"][1, 400:].abs().sum() == 0
    assert batch["labels"].tolist() == [1, 2] and batch["speaker_labels"].tolist() == [0, -100]
    assert batch["language_ids"][0] == 0 and batch["language_ids"][1] < 0


def test_real_zero_shot_model_trains_with_lora_and_warm_start_grl(train_ds, tmp_path):
    """End to end with the library's ZeroShotForEmotionClassification (tiny wav2vec2 backbone, LoRA on the
    feed-forward layers): only LoRA and head weights move, and the GRL coefficient follows the warm start."""
    from transformers import Wav2Vec2Config

    from hf_cser.models.zero_shot import ZeroShotConfig, ZeroShotForEmotionClassification

    torch.manual_seed(0)
    backbone = Wav2Vec2Config(
        conv_dim=(32,) * 7,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        feat_extract_norm="layer",
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
    )
    config = ZeroShotConfig(
        backbone_config=backbone.to_dict(), num_speakers=9, lora={"r": 4}, grl_schedule="warm_start"
    )
    model = ZeroShotForEmotionClassification(config)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    trainer = ZeroShotTrainer(model, make_args(tmp_path, max_steps=3), train_dataset=train_ds)
    trainer.train()
    logged = [entry["grl_coeff"] for entry in trainer.state.log_history if "grl_coeff" in entry]
    assert logged == pytest.approx([warm_start_grl_schedule(step, 3) for step in range(3)], abs=1e-6)
    for name, param in model.named_parameters():
        moved = not torch.equal(param.detach(), before[name])
        assert moved == param.requires_grad, name
        assert param.requires_grad == ("lora_" in name or "classifier" in name or "speaker_head" in name), name
