"""Tests of the SAPA trainer: equation 8 recomputed by hand, variants, logging, model selection, leak guard, DDP."""

from __future__ import annotations

import copy
import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.nn import functional as F
from transformers import EarlyStoppingCallback

from hf_cser.losses import PhonemeTripletLoss, SpeakerTripletLoss
from hf_cser.models.sapa import SapaConfig
from hf_cser.models.sapa.feature_cache import collate_window_features
from hf_cser.trainers import (
    SAPA_VARIANTS,
    VARIANT_LOSSES,
    SapaDataCollator,
    SapaTrainer,
    SapaTrainingArguments,
    check_no_target_language_leak,
)

sys.path.insert(0, str(Path(__file__).parent))
from _sapa_ddp_worker import synthetic_rows, tiny_sapa_model  # noqa: E402

TERM_KEYS = ("ce_loss", "phoneme_triplet_loss", "speaker_triplet_loss", "total_loss")


@pytest.fixture(scope="module")
def base_models():
    return {variant: tiny_sapa_model(seed=0, variant=variant) for variant in SAPA_VARIANTS}


@pytest.fixture
def model(base_models):
    return copy.deepcopy(base_models["sapa"])


@pytest.fixture(scope="module")
def train_rows():
    return synthetic_rows(32, seed=1)


@pytest.fixture(scope="module")
def eval_rows():
    return synthetic_rows(16, seed=2)


def make_args(tmp_path, **kwargs) -> SapaTrainingArguments:
    defaults = {
        "output_dir": str(tmp_path / "out"),
        "use_cpu": True,
        "per_device_train_batch_size": 8,
        "per_device_eval_batch_size": 16,
        "learning_rate": 1e-2,
        "logging_steps": 1,
        "disable_tqdm": True,
        "dataloader_num_workers": 0,
        "seed": 0,
    }
    defaults.update(kwargs)
    return SapaTrainingArguments(**defaults)


def reference_total(model, rows, variant="sapa", w_p=0.5, w_s=0.5, l2=False):
    """Equation 8 recomputed with the loss classes directly (no trainer code): window by window, in Python; `l2`:
    the embeddings divided by their norms first."""
    batch = collate_window_features(rows)
    model.eval()
    with torch.no_grad():
        out = model(
            content_features=batch["content_features"],
            speaker_features=batch["speaker_features"],
            window_mask=batch["window_mask"],
        )
    labels = torch.tensor([r["emotion"] for r in rows])
    ce = F.cross_entropy(out.logits, labels)
    windows, phones, emotions, clusters = [], [], [], []
    for i, row in enumerate(rows):
        for j in range(len(row["window_phones"])):  # every real window, unaligned ones (-1) included
            z = out.window_content_embeddings[i, j]
            windows.append(z / z.norm() if l2 else z)
            phones.append(int(row["window_phones"][j]))
            emotions.append(row["emotion"])
            clusters.append(row["cluster_id"])
    l_p = PhonemeTripletLoss(margin=0.4)(
        torch.stack(windows), torch.tensor(emotions), torch.tensor(clusters), phone_ids=torch.tensor(phones)
    )
    speaker_index = {name: k for k, name in enumerate(sorted({r["speaker"] for r in rows}))}
    l_s = SpeakerTripletLoss(margin=0.6)(
        out.speaker_embeddings / out.speaker_embeddings.norm(dim=1, keepdim=True) if l2 else out.speaker_embeddings,
        torch.tensor([r["cluster_id"] for r in rows]),
        speaker_ids=torch.tensor([speaker_index[r["speaker"]] for r in rows]),
    )
    use_p, use_s = {"sapa": (1, 1), "sapa_only_p": (1, 0), "sapa_only_s": (0, 1)}.get(variant, (0, 0))
    return ce, l_p, l_s, ce + use_p * w_p * l_p + use_s * w_s * l_s


# ---------------------------------------------------------------- arguments


def test_training_arguments_paper_defaults(tmp_path):
    args = SapaTrainingArguments(output_dir=str(tmp_path))
    assert args.learning_rate == 1e-4 and args.weight_decay == 1e-3 and args.coupled_weight_decay
    assert args.num_train_epochs == 70 and args.per_device_train_batch_size == 64
    assert args.eval_strategy == "epoch" and args.save_strategy == "epoch"
    assert args.metric_for_best_model == "uar" and args.greater_is_better and args.load_best_model_at_end
    assert args.early_stopping_patience == 10 and args.remove_unused_columns is False
    assert args.report_to == []  # "none"
    assert args.triplet_mining == "batch_all" and args.variant is None


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"variant": "sapa_plus"}, "variant"),
        ({"phoneme_loss_weight": -1.0}, "phoneme_loss_weight"),
        ({"speaker_margin": -0.1}, "speaker_margin"),
        ({"triplet_mining": "semi_hard"}, "triplet_mining"),
        ({"remove_unused_columns": True}, "remove_unused_columns"),
        ({"early_stopping_patience": 0}, "early_stopping_patience"),
        ({"eval_strategy": "no", "save_strategy": "no", "load_best_model_at_end": False}, "early_stopping_patience"),
    ],
)
def test_training_arguments_validation_names_the_field(tmp_path, kwargs, field):
    with pytest.raises(ValueError, match=f"`{field}"):
        SapaTrainingArguments(output_dir=str(tmp_path), **kwargs)


def test_optimizer_is_adam_with_coupled_l2_decay(tmp_path, model, train_rows, eval_rows):
    trainer = SapaTrainer(model=model, args=make_args(tmp_path), train_dataset=train_rows, eval_dataset=eval_rows)
    optimizer = trainer.create_optimizer()
    assert type(optimizer) is torch.optim.Adam  # not AdamW: the decay is an L2 term in the gradient
    decays = sorted({group["weight_decay"] for group in optimizer.param_groups})
    assert decays == [0.0, 1e-3]
    assert not any(group.get("decoupled_weight_decay", False) for group in optimizer.param_groups)
    n_opt = sum(p.numel() for group in optimizer.param_groups for p in group["params"])
    assert n_opt == sum(p.numel() for p in model.parameters() if p.requires_grad)

    trainer = SapaTrainer(
        model=model,
        args=make_args(tmp_path, coupled_weight_decay=False),
        train_dataset=train_rows,
        eval_dataset=eval_rows,
    )
    assert type(trainer.create_optimizer()) is torch.optim.AdamW


# ---------------------------------------------------------------- loss


def test_compute_loss_is_ce_plus_half_lp_plus_half_ls(tmp_path, model, train_rows, eval_rows):
    rows = train_rows[:16]
    ce, l_p, l_s, expected = reference_total(model, rows)
    assert l_p > 0 and l_s > 0  # both anchoring terms contribute, so their weights are tested
    trainer = SapaTrainer(model=model, args=make_args(tmp_path), train_dataset=train_rows, eval_dataset=eval_rows)
    batch = trainer.data_collator(rows)
    model.eval()
    with torch.no_grad():
        loss = trainer.compute_loss(model, batch)
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-6)
    logged = {k: v[-1] for k, v in trainer._metrics["eval"].items()}
    assert logged["ce_loss"] == pytest.approx(ce.item(), rel=1e-5)
    assert logged["phoneme_triplet_loss"] == pytest.approx(l_p.item(), rel=1e-5)
    assert logged["speaker_triplet_loss"] == pytest.approx(l_s.item(), rel=1e-5)
    assert logged["total_loss"] == pytest.approx(expected.item(), rel=1e-5)


def test_loss_weights_and_margins_from_args_override_config(tmp_path, model, train_rows, eval_rows):
    rows = train_rows[:16]
    args = make_args(tmp_path, phoneme_loss_weight=2.0, speaker_loss_weight=0.0)
    trainer = SapaTrainer(model=model, args=args, train_dataset=train_rows, eval_dataset=eval_rows)
    ce, l_p, _, expected = reference_total(model, rows, w_p=2.0, w_s=0.0)
    model.eval()
    with torch.no_grad():
        loss = trainer.compute_loss(model, trainer.data_collator(rows))
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-6)
    assert model.config.phoneme_loss_weight == 2.0 and model.config.speaker_loss_weight == 0.0  # recorded


def test_triplet_l2_normalize_puts_the_triplets_on_the_unit_sphere(tmp_path, model, train_rows, eval_rows):
    rows = train_rows[:16]
    trainer = SapaTrainer(
        model=model,
        args=make_args(tmp_path, triplet_l2_normalize=True),
        train_dataset=train_rows,
        eval_dataset=eval_rows,
    )
    _, l_p, l_s, expected = reference_total(model, rows, l2=True)
    _, raw_p, raw_s, _ = reference_total(model, rows)
    assert abs(l_p - raw_p) > 1e-3 and abs(l_s - raw_s) > 1e-3  # the option changes both terms
    assert l_p <= 4 + 0.4 and l_s <= 4 + 0.6  # squared distances of unit vectors are at most 4
    model.eval()
    with torch.no_grad():
        loss = trainer.compute_loss(model, trainer.data_collator(rows))
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("variant", SAPA_VARIANTS)
def test_each_variant_activates_its_terms(tmp_path, base_models, train_rows, eval_rows, variant):
    model = copy.deepcopy(base_models[variant])
    config = SapaConfig(variant=variant)
    assert VARIANT_LOSSES[variant] == (config.uses_phoneme_loss, config.uses_speaker_loss)
    rows = train_rows[:16]
    trainer = SapaTrainer(model=model, args=make_args(tmp_path), train_dataset=train_rows, eval_dataset=eval_rows)
    model.eval()
    with torch.no_grad():
        loss = trainer.compute_loss(model, trainer.data_collator(rows))
    logged = set(trainer._metrics["eval"])
    use_p, use_s = VARIANT_LOSSES[variant]
    assert ("phoneme_triplet_loss" in logged) == use_p and ("phoneme_triplet_active_fraction" in logged) == use_p
    assert ("speaker_triplet_loss" in logged) == use_s and ("speaker_triplet_active_fraction" in logged) == use_s
    if variant in ("only_s", "only_p"):
        batch = collate_window_features(rows)
        with torch.no_grad():
            ce = model(**{k: v for k, v in batch.items() if k not in ("window_phones", "metadata")}).loss
        torch.testing.assert_close(loss, ce)
    else:
        torch.testing.assert_close(loss, reference_total(model, rows, variant)[3], rtol=1e-5, atol=1e-6)


def test_variant_override(tmp_path, model, train_rows, eval_rows):
    trainer = SapaTrainer(
        model=model, args=make_args(tmp_path, variant="sapa_only_s"), train_dataset=train_rows, eval_dataset=eval_rows
    )
    assert (trainer.use_phoneme_loss, trainer.use_speaker_loss) == (False, True)
    assert model.config.variant == "sapa_only_s"
    with pytest.raises(ValueError, match="`variant='only_s'`"):
        SapaTrainer(model=model, args=make_args(tmp_path, variant="only_s"), train_dataset=train_rows)


def test_batch_without_phone_alignment_or_clusters_stays_finite(tmp_path, model, train_rows, eval_rows):
    rows = [{k: v for k, v in row.items() if k != "cluster_id"} for row in train_rows[:8]]
    for row in rows:
        row["window_phones"] = np.full_like(row["window_phones"], -1)
    trainer = SapaTrainer(model=model, args=make_args(tmp_path), train_dataset=train_rows, eval_dataset=eval_rows)
    batch = trainer.data_collator(rows)
    assert batch["cluster_ids"].tolist() == [-1] * 8
    loss = trainer.compute_loss(model, batch)
    loss.backward()
    assert torch.isfinite(loss)
    assert trainer._metrics["train"]["phoneme_triplet_loss"][-1] == 0.0
    assert trainer._metrics["train"]["speaker_triplet_loss"][-1] == 0.0


def test_collator_cluster_ids_from_speaker_graph(train_rows):
    from hf_cser.analysis.speaker_graph import SpeakerStyleGraph

    rng = np.random.default_rng(0)
    speakers = [row["speaker"] for row in train_rows]
    emotions = [row["emotion"] for row in train_rows]
    centres = {s: rng.normal(size=6) for s in set(speakers)}
    embeddings = np.stack([centres[s] + 0.1 * rng.normal(size=6) for s in speakers])
    graph = SpeakerStyleGraph(tau=0.7, seed=0).fit(embeddings, speakers, emotions)
    rows = [{k: v for k, v in row.items() if k != "cluster_id"} for row in train_rows[:8]]
    batch = SapaDataCollator(speaker_graph=graph)(rows)
    expected = graph.cluster_ids_for(speakers[:8], emotions[:8])
    assert batch["cluster_ids"].tolist() == expected.tolist()
    same = [[a == b for b in speakers[:8]] for a in speakers[:8]]
    ids = batch["speaker_ids"].tolist()
    assert [[a == b for b in ids] for a in ids] == same


# ---------------------------------------------------------------- training


def test_train_changes_trainable_parameters_only(tmp_path, model, train_rows, eval_rows):
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable and len(trainable) < len(before)  # the frozen encoders are there
    args = make_args(
        tmp_path,
        max_steps=3,
        eval_strategy="no",
        save_strategy="no",
        load_best_model_at_end=False,
        early_stopping_patience=None,
    )
    trainer = SapaTrainer(model=model, args=args, train_dataset=train_rows)
    trainer.train()
    for name, param in trainer.model.named_parameters():
        changed = not torch.equal(param.detach(), before[name])
        assert changed == (name in trainable), f"{name}: changed={changed}, trainable={name in trainable}"

    logs = [entry for entry in trainer.state.log_history if "ce_loss" in entry]
    assert len(logs) == 3
    for entry in logs:
        for key in (*TERM_KEYS, "phoneme_triplet_active_fraction", "speaker_triplet_active_fraction", "loss"):
            assert key in entry and math.isfinite(entry[key]), key
        assert 0.0 <= entry["phoneme_triplet_active_fraction"] <= 1.0
        expected = entry["ce_loss"] + 0.5 * entry["phoneme_triplet_loss"] + 0.5 * entry["speaker_triplet_loss"]
        assert entry["total_loss"] == pytest.approx(expected, rel=1e-5)
        assert entry["loss"] == pytest.approx(entry["total_loss"], rel=1e-4)


def test_model_selection_on_validation_uar_with_early_stopping(tmp_path, model, train_rows, eval_rows):
    args = make_args(tmp_path, num_train_epochs=4, logging_steps=2, early_stopping_patience=3, save_total_limit=1)
    trainer = SapaTrainer(
        model=model, args=args, train_dataset=train_rows, eval_dataset=eval_rows, target_languages=["zh"]
    )
    stoppers = [cb for cb in trainer.callback_handler.callbacks if isinstance(cb, EarlyStoppingCallback)]
    assert len(stoppers) == 1 and stoppers[0].early_stopping_patience == 3
    trainer.train()

    evals = [entry for entry in trainer.state.log_history if "eval_uar" in entry]
    assert len(evals) == 4
    for entry in evals:
        for key in (
            "eval_ce_loss",
            "eval_phoneme_triplet_loss",
            "eval_speaker_triplet_loss",
            "eval_total_loss",
            "eval_loss",
            "eval_war",
            "eval_macro_f1",
        ):
            assert key in entry and math.isfinite(entry[key]), key
        assert entry["eval_loss"] == pytest.approx(entry["eval_total_loss"], rel=1e-4)
    uars = [entry["eval_uar"] for entry in evals]
    best = int(np.argmax(uars))  # first maximum: ties keep the earlier checkpoint
    assert trainer.state.best_metric == pytest.approx(uars[best])
    assert trainer.state.best_model_checkpoint.endswith(f"checkpoint-{evals[best]['step']}")
    # the best checkpoint was reloaded at the end
    assert trainer.evaluate()["eval_uar"] == pytest.approx(uars[best])
    # metrics of `evaluate(..., metric_key_prefix="test")` carry that prefix, also for the loss terms
    metrics = trainer.evaluate(eval_rows, metric_key_prefix="test")
    assert "test_ce_loss" in metrics and "eval_ce_loss" not in metrics


def test_prediction_returns_logits_with_and_without_labels(tmp_path, model, train_rows, eval_rows):
    trainer = SapaTrainer(model=model, args=make_args(tmp_path), train_dataset=train_rows, eval_dataset=eval_rows)
    output = trainer.predict(eval_rows)
    assert output.predictions.shape == (16, 4) and output.label_ids.shape == (16,)
    assert {"test_uar", "test_ce_loss"} <= set(output.metrics)
    unlabelled = [{k: v for k, v in row.items() if k not in ("emotion", "cluster_id")} for row in eval_rows]
    output = trainer.predict(unlabelled)
    assert output.predictions.shape == (16, 4)


# ---------------------------------------------------------------- leak guard


def test_leak_guard_rejects_target_language_eval_set(tmp_path, model, train_rows, eval_rows):
    target_rows = synthetic_rows(8, seed=3, language="zh")
    with pytest.raises(ValueError, match="target language"):
        SapaTrainer(
            model=model,
            args=make_args(tmp_path),
            train_dataset=train_rows,
            eval_dataset=eval_rows + target_rows,
            target_languages=["zh"],
        )
    with pytest.raises(ValueError, match="`valid_zh`"):
        check_no_target_language_leak({"valid_en": eval_rows, "valid_zh": target_rows}, ["zh"])
    from datasets import Dataset

    with pytest.raises(ValueError, match="zh"):
        check_no_target_language_leak(Dataset.from_dict({"language": ["en", "zh"]}), ["zh"])
    check_no_target_language_leak(Dataset.from_dict({"language": ["en", "en"]}), ["zh"])  # source only: fine


# ---------------------------------------------------------------- DDP


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_process_gloo_ddp_run(tmp_path):
    worker = Path(__file__).parent / "_sapa_ddp_worker.py"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(_free_port()),
        str(worker),
        str(tmp_path),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
    assert result.returncode == 0, result.stderr[-4000:]
    assert (tmp_path / "metrics.json").exists()
    infos = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in (0, 1)]
    assert [info["world_size"] for info in infos] == [2, 2]
    # DDP kept the replicas identical
    assert infos[0]["checksum"] == pytest.approx(infos[1]["checksum"], rel=1e-6)
    # every logged term is the mean over both processes, so both ranks log the same values
    logs = [[entry for entry in info["log_history"] if "ce_loss" in entry] for info in infos]
    assert len(logs[0]) == len(logs[1]) == 3
    for entry0, entry1 in zip(*logs, strict=True):
        for key in TERM_KEYS:
            assert entry0[key] == pytest.approx(entry1[key], rel=1e-6) and math.isfinite(entry0[key])
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert math.isfinite(metrics["eval_uar"]) and math.isfinite(metrics["eval_total_loss"])
    assert infos[0]["eval"]["eval_total_loss"] == pytest.approx(infos[1]["eval"]["eval_total_loss"], rel=1e-6)
