"""CtlMtNetTrainer: single-corpus margin-loss training, cross-corpus CE - eta * MDD with source and target batches
drawn together, the warm-start GRL schedule, logged terms, and target labels that are never read."""

import numpy as np
import pytest
import torch

from hf_cser.losses import warm_start_grl_schedule
from hf_cser.models.ctl_mtnet import CtlMtNetConfig, CtlMtNetForEmotionClassification
from hf_cser.trainers.ctl_mtnet_arguments import CtlMtNetTrainingArguments
from hf_cser.trainers.ctl_mtnet_trainer import (
    CtlMtNetDataCollator,
    CtlMtNetTrainer,
    SourceTargetPairs,
    random_crop,
    strip_label_columns,
)

TINY = dict(conv_filters=4, primary_capsule_types=2, primary_capsule_dim=4, digit_capsule_dim=3)


def rows(n, seed, with_labels=True, label_offset=0):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        row = {
            "input_features": rng.standard_normal((int(rng.integers(20, 40)), 39)).astype(np.float32) * 10,
            "speaker": f"s{i % 3}",
        }
        if with_labels:
            row["emotion"] = (i + label_offset) % 4
        out.append(row)
    return out


def model(seed=0, **kwargs):
    torch.manual_seed(seed)
    return CtlMtNetForEmotionClassification(CtlMtNetConfig(**{**TINY, **kwargs}))


def args(tmp_path, **kwargs):
    values = dict(
        output_dir=str(tmp_path),
        max_steps=4,
        per_device_train_batch_size=4,
        learning_rate=1e-2,
        eval_strategy="no",
        save_strategy="no",
        load_best_model_at_end=False,
        logging_steps=1,
        use_cpu=True,
        disable_tqdm=True,
        seed=0,
        grl_warm_start_steps=4,
    )
    values.update(kwargs)
    return CtlMtNetTrainingArguments(**values)


def test_single_corpus_margin_loss_training_changes_every_parameter(tmp_path):
    net = model()
    before = {n: p.detach().clone() for n, p in net.named_parameters()}
    trainer = CtlMtNetTrainer(net, args(tmp_path, max_train_frames=16), train_dataset=rows(16, 0))
    trainer.train()
    for name, param in net.named_parameters():
        assert not torch.equal(before[name], param.detach()), f"{name} did not change"
    logs = [h for h in trainer.state.log_history if "margin_loss" in h]
    assert logs and "mdd_discrepancy" not in logs[0] and "ce_loss" not in logs[0]


def test_cross_corpus_logs_every_term_and_the_warm_start_grl(tmp_path):
    net = model(head="linear", use_mdd=True)
    trainer = CtlMtNetTrainer(net, args(tmp_path), train_dataset=rows(16, 0), target_dataset=rows(12, 1))
    trainer.train()
    logs = [h for h in trainer.state.log_history if "mdd_discrepancy" in h]
    assert len(logs) == 4
    for entry in logs:
        assert {"ce_loss", "mdd_source_disparity", "mdd_target_disparity", "total_loss", "grl_coeff"} <= set(entry)
        # D = target_disparity - gamma * source_disparity (batch means of one step)
        assert entry["mdd_discrepancy"] == pytest.approx(
            entry["mdd_target_disparity"] - 1.5 * entry["mdd_source_disparity"], rel=1e-4, abs=1e-5
        )
        assert entry["total_loss"] == pytest.approx(entry["ce_loss"] - entry["mdd_discrepancy"], rel=1e-4, abs=1e-5)
    coeffs = [entry["grl_coeff"] for entry in logs]
    expected = [warm_start_grl_schedule(step, 4, lo=0.0, hi=0.1, alpha=10.0) for step in range(4)]
    assert coeffs == pytest.approx(expected, abs=1e-7)
    assert coeffs[0] == 0.0 and coeffs == sorted(coeffs)
    assert net.grl.coeff == pytest.approx(warm_start_grl_schedule(4, 4, hi=0.1))


def test_target_labels_are_never_read(tmp_path):
    """Same run with the target's labels changed, or removed: identical weights."""
    results = []
    for target in (rows(12, 1), rows(12, 1, label_offset=1), rows(12, 1, with_labels=False)):
        net = model(head="linear", use_mdd=True)
        CtlMtNetTrainer(net, args(tmp_path), train_dataset=rows(16, 0), target_dataset=target).train()
        results.append(torch.cat([p.detach().flatten() for p in net.parameters()]))
    torch.testing.assert_close(results[0], results[1], rtol=0, atol=0)
    torch.testing.assert_close(results[0], results[2], rtol=0, atol=0)


def test_target_data_loses_its_label_columns_and_the_collator_pairs_batches():
    from datasets import Dataset

    dataset = Dataset.from_dict({"input_features": [np.zeros((3, 39))], "emotion": [2], "label": [2]})
    assert strip_label_columns(dataset).column_names == ["input_features"]
    assert strip_label_columns([{"input_features": 1, "labels": 0}]) == [{"input_features": 1}]
    pairs = SourceTargetPairs(rows(5, 0), strip_label_columns(rows(3, 1)), seed=0)
    assert len(pairs) == 5 and all("emotion" not in pairs[i]["target"] for i in range(5))
    batch = CtlMtNetDataCollator()([pairs[i] for i in range(4)])
    assert batch["input_features"].shape[1] == batch["target_input_features"].shape[1]
    assert batch["labels"].tolist() == [0, 1, 2, 3] and batch["target_attention_mask"].shape[0] == 4
    first = [int(i) for i in pairs.order]
    pairs.set_epoch(1)
    assert sorted(first) == sorted(int(i) for i in pairs.order) == [0, 1, 2]


def test_random_crop_stays_inside_each_utterance():
    features = torch.arange(2 * 10 * 1, dtype=torch.float32).view(2, 10, 1) + 1
    mask = torch.ones(2, 10, dtype=torch.long)
    mask[1, 6:] = 0
    features[1, 6:] = 0
    generator = torch.Generator().manual_seed(0)
    for _ in range(20):
        cropped, new_mask = random_crop(features, mask, 4, generator)
        assert cropped.shape == (2, 4, 1) and new_mask.sum(1).tolist() == [4, 4]
        for b in range(2):
            values = cropped[b, :, 0]
            assert bool((values[1:] - values[:-1] == 1).all())  # a contiguous window
            assert bool((values > 0).all())  # never a padded frame


def test_target_needs_the_auxiliary_classifier(tmp_path):
    with pytest.raises(ValueError, match="use_mdd=True"):
        CtlMtNetTrainer(model(head="linear"), args(tmp_path), train_dataset=rows(4, 0), target_dataset=rows(4, 1))
    with pytest.raises(TypeError, match="CtlMtNetTrainingArguments"):
        from transformers import TrainingArguments

        CtlMtNetTrainer(model(), TrainingArguments(output_dir=str(tmp_path)), train_dataset=rows(4, 0))


def test_default_crops_bound_the_cost_of_a_step_and_zero_means_whole_utterances(tmp_path):
    """Real corpora reach 14 s: by default a training step sees 300-frame (3.75 s) windows, whatever the longest
    utterance of the batch; `max_train_frames=0` (or None) is whole utterances; fewer than 8 frames is refused."""
    args = CtlMtNetTrainingArguments(output_dir=str(tmp_path), use_cpu=True)
    assert (args.max_train_frames, args.num_train_epochs) == (300, 5)
    features = torch.randn(2, 1120, 39)  # 14 s of MFCC frames
    mask = torch.ones(2, 1120, dtype=torch.long)
    mask[1, 500:] = 0
    cropped, cropped_mask = random_crop(features, mask, args.max_train_frames, torch.Generator().manual_seed(0))
    assert cropped.shape == (2, 300, 39) and cropped_mask.sum(-1).tolist() == [300, 300]
    assert (
        CtlMtNetTrainingArguments(output_dir=str(tmp_path), use_cpu=True, max_train_frames=0).max_train_frames is None
    )
    with pytest.raises(ValueError, match="`max_train_frames` must be >= 8"):
        CtlMtNetTrainingArguments(output_dir=str(tmp_path), use_cpu=True, max_train_frames=4)
