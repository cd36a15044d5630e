"""Group 5 of issue 8: training throughput (samples/s) of every hf_cser trainer vs a minimal hand-written PyTorch loop.

For each trainer -- `SapaTrainer` (cached window features), `ZeroShotTrainer` (cached-frames path and waveform path),
`CtlMtNetTrainer` (single corpus, and cross corpus with MDD), `FeatureGanBaselineTrainer` (stage 1) -- the same tiny
model (built in code), the same data (random, built here: throughput does not depend on what the numbers mean) and
the same optimiser class and learning rate are trained three ways, interleaved:

- **trainer**: ``trainer.train()`` with ``max_steps`` steps; its data loader collates the rows with the trainer's own
  collator (a cost every user pays), logging every 10 steps (the trainers' per-step loss-term bookkeeping included),
  no evaluation, no checkpoints, no progress bar, ``dataloader_num_workers=0``;
- **loop doing the same work** (the target's reference): ``for batch in loader: loss = <same objective>;
  loss.backward(); clip_grad_norm_(params, max_grad_norm); opt.step(); opt.zero_grad()`` over the trainer's own data
  loader (its sampler and collator: collation inside the timed steps) with the trainer's gradient clipping, so both
  sides compute the same thing and the ratio is the trainer's own overhead (logging, loss-term bookkeeping, scheduler,
  callbacks);
- **pre-collated loop** (information): the same loop over the very batches the trainer's loader yields, collated
  **beforehand**, without gradient clipping: on these tiny models collation and clipping are a large part of a step
  (e.g. the zero-shot cached-frames case: a 2 ms step, 1.7 ms collation of 768-wide frames, 0.8 ms clipping), so this
  ratio says what that work costs, not what the Trainer adds.

Steady-state throughput: samples / s between the end of warm-up step ``WARMUP`` and the last step (a callback
records step-end times; the trainer's one-off setup is excluded, as is the loop's first ``WARMUP`` steps). Each pair
is measured ``repeat`` times A/B interleaved; medians reported. Threads: ``torch.set_num_threads(1)`` inside
:func:`run` (restored after), so that the 2-core machine's other load perturbs both sides alike.

The second part runs the zero-shot cached-frames trainer under ``torch.distributed.run --nproc_per_node 2`` (gloo,
``OMP_NUM_THREADS=1``) and under 1 process with the same per-process batch, and reports samples/s and the scaling
ratio (no target).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(__file__))
from _common import markdown_table, result  # noqa: E402

GROUP = "5. training throughput"
TARGET = ">= 0.85x the hand-written loop's samples/s"
WARMUP = 3
FRAME_SIZE = 768  # width of the cached backbone frames (wav2vec2-base / WavLM-base)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ============================================================================================ models and data


def _sapa_case(batch_size: int, num_rows: int) -> dict[str, Any]:
    import numpy as np
    import torch
    from transformers import WavLMConfig

    from hf_cser.encoders.ge2e import Ge2eSpeakerEncoderConfig
    from hf_cser.losses import PhonemeTripletLoss, SpeakerTripletLoss
    from hf_cser.models.sapa import SapaConfig, SapaForEmotionClassification
    from hf_cser.trainers import SapaDataCollator, SapaTrainer, SapaTrainingArguments

    content_size, speaker_size = 32, 16

    def model_fn():
        torch.manual_seed(0)
        config = SapaConfig(
            content_encoder_config=WavLMConfig(
                hidden_size=content_size,
                num_hidden_layers=1,
                num_attention_heads=2,
                intermediate_size=32,
                conv_dim=(8, 8),
                conv_stride=(5, 4),
                conv_kernel=(10, 8),
                num_conv_pos_embeddings=8,
                num_conv_pos_embedding_groups=2,
            ).to_dict(),
            speaker_encoder_config=Ge2eSpeakerEncoderConfig(
                hidden_size=8, num_layers=1, embedding_size=speaker_size
            ).to_dict(),
            content_projection_size=32,
            speaker_projection_size=32,
            hidden_size=64,
            num_transformer_layers=2,
            num_attention_heads=4,
            intermediate_size=128,
            classifier_hidden_sizes=(64, 32, 16),
            dropout=0.0,
        )
        return SapaForEmotionClassification(config)

    rng = np.random.default_rng(0)
    rows = []
    for i in range(num_rows):
        n = int(rng.integers(8, 24))
        phones = rng.integers(0, 6, size=n)
        phones[rng.random(n) < 0.2] = -1
        rows.append(
            {
                "content_features": rng.standard_normal((n, content_size)).astype(np.float32),
                "speaker_features": rng.standard_normal((n, speaker_size)).astype(np.float32),
                "window_phones": phones.astype(np.int64),
                "emotion": i % 4,
                "speaker": f"spk{i % 8}",
                "language": "en",
                "cluster_id": 2 * (i % 4) + (i % 8) % 2,
            }
        )
    collator = SapaDataCollator()
    phoneme_loss, speaker_loss = PhonemeTripletLoss(margin=1.0), SpeakerTripletLoss(margin=1.0)

    def loop_loss(model, batch):  # eq. 8 with the loss classes directly (the trainer's window selection)
        inputs = {
            k: v for k, v in batch.items() if k not in ("cluster_ids", "speaker_ids", "window_phones", "metadata")
        }
        out = model(**inputs)
        mask = out.window_mask.bool() if getattr(out, "window_mask", None) is not None else batch["window_mask"].bool()
        phones = batch["window_phones"]
        keep = mask & (phones >= 0)
        b, n = mask.shape
        labels, clusters = batch["labels"], batch["cluster_ids"]
        lp = phoneme_loss(
            out.window_content_embeddings[keep],
            labels[:, None].expand(b, n)[keep],
            clusters[:, None].expand(b, n)[keep],
            phone_ids=phones[keep],
        )
        ls = speaker_loss(out.speaker_embeddings, clusters, speaker_ids=batch["speaker_ids"])
        return out.loss + 0.5 * lp + 0.5 * ls

    def trainer_fn(model, steps, out_dir, callback):
        args = SapaTrainingArguments(
            output_dir=out_dir,
            **_common_args(steps),
            learning_rate=1e-4,
            per_device_train_batch_size=batch_size,
            early_stopping_patience=None,
            coupled_weight_decay=True,
            phoneme_loss_weight=0.5,
            speaker_loss_weight=0.5,
            phoneme_margin=1.0,
            speaker_margin=1.0,
        )
        return SapaTrainer(model=model, args=args, train_dataset=rows, callbacks=[callback])

    return {
        "name": "SapaTrainer (cached window features)",
        "model_fn": model_fn,
        "rows": rows,
        "collator": collator,
        "batch_size": batch_size,
        "loop_loss": loop_loss,
        "trainer_fn": trainer_fn,
        "optimizer": lambda params: torch.optim.Adam(params, lr=1e-4, weight_decay=0.0),
    }


def _zero_shot_model(num_speakers: int, hidden_size: int):
    import torch
    from transformers import Wav2Vec2Config

    from hf_cser.models.zero_shot import ZeroShotConfig, ZeroShotForEmotionClassification

    torch.manual_seed(0)
    backbone = Wav2Vec2Config(
        conv_dim=(32,) * 7,
        hidden_size=hidden_size,
        num_hidden_layers=1,
        num_attention_heads=4,
        intermediate_size=256,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        feat_extract_norm="layer",
    )
    return ZeroShotForEmotionClassification(ZeroShotConfig(backbone_config=backbone, num_speakers=num_speakers))


def _zero_shot_case(frames_path: bool, num_rows: int, seconds: float) -> dict[str, Any]:
    import numpy as np
    import torch
    import torch.nn.functional as F

    from hf_cser.losses import LanguageAwareSupConLoss
    from hf_cser.trainers import (
        ZeroShotDataCollator,
        ZeroShotFrameCollator,
        ZeroShotTrainer,
        ZeroShotTrainingArguments,
    )

    # cached frames as wide as a base-size backbone's (what users cache); a small backbone for the waveform path
    hidden = FRAME_SIZE if frames_path else 64
    languages, speakers = ["de", "en"], [f"{lang}_s{k}" for lang in ("de", "en") for k in range(4)]
    speaker_map = {s: i for i, s in enumerate(speakers)}
    rng = np.random.default_rng(0)
    rows, frames = [], {}
    for i in range(num_rows):
        language = languages[i % 2]
        row = {
            "emotion": (i // 2) % 4,
            "language": language,
            "speaker": f"{language}_s{(i // 8) % 4}",
            "audio": f"utt{i}.wav",
        }
        length = int(16000 * seconds * rng.uniform(0.7, 1.0))
        if frames_path:
            frames[row["audio"]] = torch.from_numpy(rng.standard_normal((length // 320, hidden)).astype(np.float32))
        else:
            row["input_values"] = (0.1 * rng.standard_normal(length)).astype(np.float32)
        rows.append(row)
    if frames_path:
        collator = ZeroShotFrameCollator(frames=frames, speaker_map=speaker_map, languages=languages)
    else:
        collator = ZeroShotDataCollator(speaker_map=speaker_map, languages=languages)
    scl = LanguageAwareSupConLoss(temperature=0.1, gamma=0.5)

    def loop_loss(model, batch):  # L_CE + lambda1 L_SCL + lambda2 L_adv (the GRL is inside the model)
        inputs = {k: v for k, v in batch.items() if k not in ("speaker_labels", "language_ids")}
        out = model(**inputs)
        loss = out["loss"] + 0.5 * scl(out["embeddings"], batch["labels"], batch["language_ids"])
        return loss + 0.1 * F.cross_entropy(out["speaker_logits"].float(), batch["speaker_labels"], ignore_index=-100)

    def trainer_fn(model, steps, out_dir, callback):
        args = ZeroShotTrainingArguments(
            output_dir=out_dir,
            **_common_args(steps),
            languages_per_batch=2,
            emotions_per_batch=4,
            samples_per_cell=2,
            learning_rate=1e-4,
            scl_weight=0.5,
            adversarial_weight=0.1,
        )
        return ZeroShotTrainer(
            model=model,
            args=args,
            data_collator=collator,
            train_dataset=_as_dataset(rows),
            speaker_map=speaker_map,
            callbacks=[callback],
        )

    name = "ZeroShotTrainer (" + ("cached backbone frames)" if frames_path else f"waveforms, {seconds:g} s)")
    return {
        "name": name,
        "model_fn": lambda: _zero_shot_model(len(speakers), hidden),
        "rows": rows,
        "collator": collator,
        "batch_size": 16,
        "loop_loss": loop_loss,
        "trainer_fn": trainer_fn,
        "optimizer": lambda params: torch.optim.AdamW(params, lr=1e-4, weight_decay=0.0),
    }


def _as_dataset(rows: list[dict]):
    from datasets import Dataset

    return Dataset.from_list([{k: v for k, v in r.items()} for r in rows])


def _ctl_case(with_mdd: bool, batch_size: int, num_rows: int) -> dict[str, Any]:
    import numpy as np
    import torch
    import torch.nn.functional as F

    from hf_cser.losses import MarginDisparityDiscrepancyLoss
    from hf_cser.models.ctl_mtnet import CtlMtNetConfig, CtlMtNetForEmotionClassification
    from hf_cser.trainers import CtlMtNetDataCollator, CtlMtNetTrainer, CtlMtNetTrainingArguments

    head = "linear" if with_mdd else "capsule"

    def model_fn():
        torch.manual_seed(0)
        return CtlMtNetForEmotionClassification(
            CtlMtNetConfig(
                head=head,
                use_mdd=with_mdd,
                conv_filters=16,
                primary_capsule_types=4,
                primary_capsule_dim=8,
                digit_capsule_dim=8,
            )
        )

    rng = np.random.default_rng(0)

    def make(n, labelled):
        return [
            {
                "input_features": (10 * rng.standard_normal((int(rng.integers(80, 120)), 39))).astype(np.float32),
                **({"emotion": i % 4} if labelled else {}),
            }
            for i in range(n)
        ]

    source, target = make(num_rows, True), (make(num_rows, False) if with_mdd else None)
    collator = CtlMtNetDataCollator()
    mdd = MarginDisparityDiscrepancyLoss(margin=1.5)

    def loop_loss(model, batch):
        if not with_mdd:
            out = model(input_features=batch["input_features"], attention_mask=batch["attention_mask"])
            return _margin_loss(model, out["capsule_lengths"].float(), batch["labels"])
        n = batch["input_features"].shape[0]
        joint = model(
            input_features=torch.cat([batch["input_features"], batch["target_input_features"]]),
            attention_mask=torch.cat([batch["attention_mask"], batch["target_attention_mask"]]),
        )
        logits, aux = joint["logits"], joint["auxiliary_logits"]
        d = mdd(logits[:n], aux[:n], logits[n:], aux[n:]).discrepancy
        return F.cross_entropy(logits[:n].float(), batch["labels"]) - 1.0 * d

    def trainer_fn(model, steps, out_dir, callback):
        args = CtlMtNetTrainingArguments(
            output_dir=out_dir,
            **_common_args(steps),
            learning_rate=1e-3,
            per_device_train_batch_size=batch_size,
            load_best_model_at_end=False,
        )
        return CtlMtNetTrainer(
            model=model, args=args, train_dataset=source, target_dataset=target, callbacks=[callback]
        )

    return {
        "name": "CtlMtNetTrainer (" + ("cross corpus, CE - MDD)" if with_mdd else "single corpus, margin loss)"),
        "model_fn": model_fn,
        "rows": source,
        "collator": collator,
        "batch_size": batch_size,
        "loop_loss": loop_loss,
        "trainer_fn": trainer_fn,
        "optimizer": lambda params: torch.optim.AdamW(params, lr=1e-3, weight_decay=0.0),
    }


def _margin_loss(model, lengths, labels):
    from hf_cser.losses import MarginLoss

    c = model.config
    return MarginLoss(c.margin_positive, c.margin_negative, c.margin_downweight)(lengths, labels)


def _feature_gan_case(batch_size: int, num_rows: int) -> dict[str, Any]:
    import numpy as np
    import torch

    from hf_cser.losses.contrastive import ClapContrastiveLoss, info_nce_loss
    from hf_cser.models.feature_gan import FeatureGanConfig, FeatureGanForEmotionClassification
    from hf_cser.trainers import FeatureGanBaselineTrainer, FeatureGanTrainingArguments
    from hf_cser.trainers.feature_gan import FeatureGanDataCollator

    def model_fn():
        torch.manual_seed(0)
        config = FeatureGanConfig(text_hidden_size=32)
        config.backbone_config["num_mel_bins"] = 40
        return FeatureGanForEmotionClassification(config)

    rng = np.random.default_rng(0)
    rows = [
        {
            "input_values": rng.standard_normal((int(rng.integers(80, 120)), 40)).astype(np.float32),
            "text_embeds": rng.standard_normal(32).astype(np.float32),
            "labels": i % 4,
        }
        for i in range(num_rows)
    ]
    collator = FeatureGanDataCollator()
    clap = ClapContrastiveLoss(temperature=0.07)

    def loop_loss(model, batch):  # eq. 7: L_SER + alpha L_CL + beta L_MI
        text = batch["text_embeds"]
        out = model(
            input_values=batch["input_values"],
            attention_mask=batch["attention_mask"],
            labels=batch["labels"],
            return_dict=True,
        )
        return out.loss + clap(text, out.audio_text_embeds) + info_nce_loss(text, out.projected_text, 0.07)

    def trainer_fn(model, steps, out_dir, callback):
        args = FeatureGanTrainingArguments(
            output_dir=out_dir, **_common_args(steps), per_device_train_batch_size=batch_size, learning_rate=1e-3
        )
        return FeatureGanBaselineTrainer(
            model=model, args=args, train_dataset=rows, data_collator=collator, callbacks=[callback]
        )

    return {
        "name": "FeatureGanBaselineTrainer (stage 1, log-mel encoder)",
        "model_fn": model_fn,
        "rows": rows,
        "collator": collator,
        "batch_size": batch_size,
        "loop_loss": loop_loss,
        "trainer_fn": trainer_fn,
        "optimizer": lambda params: torch.optim.AdamW(params, lr=1e-3, weight_decay=0.0),
    }


def _common_args(steps: int) -> dict[str, Any]:
    """The settings a user timing a training run would use: no evaluation, no checkpoints, no progress bar."""
    return dict(
        max_steps=steps,
        use_cpu=True,
        eval_strategy="no",
        save_strategy="no",
        logging_steps=10,
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
        seed=0,
    )


# ============================================================================================ measurement


def _step_timer():
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.times: list[float] = []

        def on_step_end(self, args, state, control, **kwargs):
            self.times.append(time.perf_counter())

    return StepTimer()


def _trainer_seconds_per_step(case: dict[str, Any], steps: int) -> float:
    with tempfile.TemporaryDirectory() as out_dir, open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
        timer = _step_timer()
        trainer = case["trainer_fn"](case["model_fn"](), steps, out_dir, timer)
        trainer.train()  # its log lines (printed every `logging_steps`) go to /dev/null, not the report
    times = timer.times
    return (times[-1] - times[WARMUP - 1]) / (len(times) - WARMUP)


def _trainer_batches(case: dict[str, Any], steps: int) -> list[dict]:
    """The first ``steps`` batches the trainer's own data loader (sampler + collator) yields, collated up front."""
    with tempfile.TemporaryDirectory() as out_dir, open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
        trainer = case["trainer_fn"](case["model_fn"](), steps, out_dir, _step_timer())
        batches: list[dict] = []
        while len(batches) < steps:
            for batch in trainer.get_train_dataloader():
                batches.append(batch)
                if len(batches) == steps:
                    break
    return batches


def _trainer_loader(case: dict[str, Any], steps: int):
    """The trainer's own data loader (sampler + collator, not yet iterated) and its `max_grad_norm`."""
    with tempfile.TemporaryDirectory() as out_dir, open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
        trainer = case["trainer_fn"](case["model_fn"](), steps, out_dir, _step_timer())
        return trainer.get_train_dataloader(), trainer.args.max_grad_norm


def _loop_seconds_per_step(case: dict[str, Any], steps: int, same_work: bool = True) -> float:
    """Seconds per step of a hand-written loop on the same model, batches and optimiser. `same_work`: it iterates the
    trainer's data loader (collation inside the timed steps) and clips gradients to the trainer's `max_grad_norm`, so
    the two sides do the same computation and the ratio is the trainer's own overhead; otherwise the batches are
    collated beforehand and gradients are not clipped (the trainer pays for work the loop skips)."""
    import torch

    model = case["model_fn"]()
    model.train()
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = case["optimizer"](parameters)
    if same_work:
        loader, max_grad_norm = _trainer_loader(case, steps)
        batches = (batch for _ in range(steps) for batch in loader)  # epochs as the trainer runs them
    else:
        batches, max_grad_norm = iter(_trainer_batches(case, steps)), 0.0  # collated up front
    times = []
    for batch in batches:
        loss = case["loop_loss"](model, batch)
        loss.backward()
        if max_grad_norm and max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(parameters, max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        times.append(time.perf_counter())
        if len(times) == steps:
            break
    return (times[-1] - times[WARMUP - 1]) / (len(times) - WARMUP)


def _measure(case: dict[str, Any], steps: int, repeat: int) -> list[dict]:
    """Two records: the trainer vs a loop doing the same work (the target), and vs a pre-collated loop without
    gradient clipping (information: what collation and clipping cost on this tiny model)."""
    ours, same, bare = [], [], []
    for _ in range(repeat):  # interleaved A/B/C: load changes on the machine hit all alike
        ours.append(_trainer_seconds_per_step(case, steps))
        same.append(_loop_seconds_per_step(case, steps, same_work=True))
        bare.append(_loop_seconds_per_step(case, steps, same_work=False))
    size = case["batch_size"]
    trainer_sps = size / statistics.median(ours)
    details = {
        "batch_size": size,
        "steps": steps,
        "warmup_steps": WARMUP,
        "repeats": repeat,
        "torch_threads": 1,
        "trainer_settings": "logging_steps=10, eval/save off, no tqdm, 0 loader workers, use_cpu",
        "trainer_step_s": [round(t, 5) for t in ours],
    }
    records = []
    for times, name, reference_name, target in (
        (
            same,
            case["name"],
            "hand-written PyTorch loop doing the same work (same model, data loader with the trainer's sampler and "
            "collator, gradient clipping to the trainer's max_grad_norm, same optimiser)",
            TARGET,
        ),
        (
            bare,
            f"{case['name']} vs a pre-collated loop (information)",
            "hand-written PyTorch loop on batches collated beforehand, no gradient clipping (same model, optimiser)",
            "",
        ),
    ):
        loop_sps = size / statistics.median(times)
        ratio = trainer_sps / loop_sps
        records.append(
            result(
                GROUP,
                name,
                ours=trainer_sps,
                reference=loop_sps,
                unit="samples/s",
                ratio=ratio,
                reference_name=reference_name,
                target=target,
                met=ratio >= 0.85 if target else None,
                details={**details, "loop_step_s": [round(t, 5) for t in times]},
            )
        )
    return records


# ============================================================================================ 2 processes


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(out_file: str, steps: int) -> None:  # pragma: no cover - runs under torchrun
    """Zero-shot cached-frames trainer, per-process batch 16: steady-state samples/s of the whole group."""
    import torch

    torch.set_num_threads(1)
    case = _zero_shot_case(True, 256, 3.0)
    with tempfile.TemporaryDirectory() as out_dir:
        timer = _step_timer()
        trainer = case["trainer_fn"](case["model_fn"](), steps, out_dir, timer)
        trainer.train()
        world = trainer.args.world_size
        seconds = (timer.times[-1] - timer.times[WARMUP - 1]) / (len(timer.times) - WARMUP)
    if trainer.is_world_process_zero():
        with open(out_file, "w") as f:
            json.dump(
                {"world_size": world, "samples_per_s": case["batch_size"] * world / seconds, "step_s": seconds}, f
            )


def _launch(nproc: int, steps: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out_file = os.path.join(tmp, "ddp.json")
        cmd = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            str(nproc),
            "--master_port",
            str(_free_port()),
            os.path.abspath(__file__),
            "--ddp-worker",
            out_file,
            str(steps),
        ]
        env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PYTHONPATH": ROOT}
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
        if proc.returncode != 0:
            raise RuntimeError(f"{nproc}-process run failed: {proc.stderr[-2000:]}")
        with open(out_file) as f:
            return json.load(f)


def _scaling(steps: int, repeat: int) -> dict:
    one, two = [], []
    for _ in range(repeat):
        one.append(_launch(1, steps))
        two.append(_launch(2, steps))
    sps1 = statistics.median(r["samples_per_s"] for r in one)
    sps2 = statistics.median(r["samples_per_s"] for r in two)
    assert all(r["world_size"] == 2 for r in two)
    return result(
        GROUP,
        "ZeroShotTrainer (cached frames): 2 processes (gloo DDP) vs 1",
        ours=sps2,
        reference=sps1,
        unit="samples/s",
        ratio=sps2 / sps1,
        reference_name="the same trainer in 1 process (torchrun)",
        target="none (report); ideal 2.0 on 2 free cores",
        met=None,
        details={
            "per_process_batch": 16,
            "steps": steps,
            "warmup_steps": WARMUP,
            "repeats": repeat,
            "OMP_NUM_THREADS": 1,
            "world_size": 2,
            "one_process_samples_per_s": [r["samples_per_s"] for r in one],
            "two_process_samples_per_s": [r["samples_per_s"] for r in two],
        },
    )


# ============================================================================================ entry points


def cases(quick: bool) -> list[Callable[[], dict[str, Any]]]:
    """Factories of the trainer cases (built lazily: each imports only what it needs)."""
    return [
        lambda: _sapa_case(batch_size=32, num_rows=128),
        lambda: _zero_shot_case(True, num_rows=128, seconds=3.0),
        lambda: _zero_shot_case(False, num_rows=64, seconds=0.5),
        lambda: _ctl_case(False, batch_size=8, num_rows=64),
        lambda: _ctl_case(True, batch_size=8, num_rows=64),
        lambda: _feature_gan_case(batch_size=32, num_rows=128),
    ]


def run(quick: bool = False) -> list[dict]:
    """Throughput of each trainer vs the hand-written loop, then 2 processes vs 1 (records of `_common.result`)."""
    import torch
    from transformers.utils import logging as hf_logging

    threads = torch.get_num_threads()
    verbosity = hf_logging.get_verbosity()
    torch.set_num_threads(1)
    hf_logging.set_verbosity_error()
    steps, repeat = (6, 1) if quick else (40, 5)  # millisecond steps: enough of them for a stable median
    records = []
    try:
        for make in cases(quick):
            records.extend(_measure(make(), steps, repeat))
        records.append(_scaling(steps=6 if quick else 20, repeat=1 if quick else 2))
    finally:
        torch.set_num_threads(threads)
        hf_logging.set_verbosity(verbosity)
    return records


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--ddp-worker":
        _ddp_worker(sys.argv[2], int(sys.argv[3]))
        sys.exit(0)
    print(markdown_table(run(quick="--quick" in sys.argv)))
