"""Tiny SAPA model and synthetic cached-feature rows for the trainer tests; run under torchrun it is the DDP worker.

``python -m torch.distributed.run --nproc_per_node 2 _sapa_ddp_worker.py OUT_DIR`` trains 3 steps with gloo on CPU,
evaluates once and writes ``rank<r>.json`` (log history, eval metrics, a parameter checksum) per rank and
``metrics.json`` on rank 0.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np

CONTENT_SIZE = 16  # H_c of the tiny content backbone
SPEAKER_SIZE = 12  # H_s of the tiny GE2E encoder
NUM_PHONES = 3


def tiny_sapa_arguments(**kwargs):
    from transformers import WavLMConfig

    from hf_cser.encoders.ge2e import Ge2eSpeakerEncoderConfig
    from hf_cser.models.sapa import SapaConfig

    content = WavLMConfig(
        hidden_size=CONTENT_SIZE,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        conv_dim=(8, 8),
        conv_stride=(5, 4),
        conv_kernel=(10, 8),
        num_conv_pos_embeddings=8,
        num_conv_pos_embedding_groups=2,
        num_buckets=16,
        max_bucket_distance=32,
    ).to_dict()
    speaker = Ge2eSpeakerEncoderConfig(hidden_size=8, num_layers=1, embedding_size=SPEAKER_SIZE).to_dict()
    defaults = {
        "content_encoder_config": content,
        "speaker_encoder_config": speaker,
        "content_projection_size": 8,
        "speaker_projection_size": 8,
        "hidden_size": 16,
        "num_transformer_layers": 1,
        "num_attention_heads": 2,
        "intermediate_size": 32,
        "classifier_hidden_sizes": (16, 8, 8),
        "dropout": 0.0,
    }
    defaults.update(kwargs)
    return SapaConfig(**defaults)


def tiny_sapa_model(seed: int = 0, **kwargs):
    import torch

    from hf_cser.models.sapa import SapaForEmotionClassification

    torch.manual_seed(seed)
    return SapaForEmotionClassification(tiny_sapa_arguments(**kwargs))


def synthetic_rows(num_rows: int = 32, seed: int = 0, language: str = "en", num_speakers: int = 4) -> list[dict]:
    """Rows shaped like the feature cache's: per-window frozen features, shared phone ids (-1 = unaligned),
    emotion, speaker, language and a speaker-style ``cluster_id`` (per (emotion, speaker group))."""
    rng = np.random.default_rng(seed)
    emotion_centres = rng.normal(size=(4, CONTENT_SIZE)).astype(np.float32)
    speaker_centres = rng.normal(size=(num_speakers, SPEAKER_SIZE)).astype(np.float32)
    rows = []
    for i in range(num_rows):
        emotion = i % 4
        speaker = int(rng.integers(num_speakers))
        num_windows = int(rng.integers(2, 6))
        phones = rng.integers(0, NUM_PHONES, size=num_windows)
        phones[rng.random(num_windows) < 0.2] = -1
        content = emotion_centres[emotion] + 0.8 * rng.normal(size=(num_windows, CONTENT_SIZE))
        content += 0.3 * phones[:, None]
        style = speaker_centres[speaker] + 0.3 * emotion_centres[emotion, :SPEAKER_SIZE]
        rows.append(
            {
                "content_features": content.astype(np.float32),
                "speaker_features": (style + 0.3 * rng.normal(size=(num_windows, SPEAKER_SIZE))).astype(np.float32),
                "window_phones": phones.astype(np.int64),
                "emotion": emotion,
                "speaker": f"{language}_spk{speaker}",
                "language": language,
                "cluster_id": 2 * emotion + speaker % 2,
            }
        )
    return rows


def main(out_dir: str) -> None:
    import torch

    from hf_cser.trainers import SapaTrainer, SapaTrainingArguments

    torch.set_num_threads(1)
    args = SapaTrainingArguments(
        output_dir=os.path.join(out_dir, "run"),
        use_cpu=True,
        ddp_backend="gloo",
        max_steps=3,
        per_device_train_batch_size=8,
        per_device_eval_batch_size=8,
        learning_rate=1e-2,
        eval_strategy="no",
        save_strategy="no",
        load_best_model_at_end=False,
        early_stopping_patience=None,
        logging_steps=1,
        dataloader_num_workers=0,
        disable_tqdm=True,
        seed=0,
    )
    model = tiny_sapa_model(seed=0)
    trainer = SapaTrainer(
        model=model,
        args=args,
        train_dataset=synthetic_rows(32, seed=1),
        eval_dataset=synthetic_rows(16, seed=2),
        target_languages=["zh"],
    )
    train_result = trainer.train()
    eval_metrics = trainer.evaluate()
    rank = trainer.args.process_index
    checksum = float(sum(p.detach().double().sum() for p in trainer.model.parameters() if p.requires_grad))
    info = {
        "rank": rank,
        "world_size": trainer.args.world_size,
        "log_history": trainer.state.log_history,
        "eval": eval_metrics,
        "train_loss": train_result.training_loss,
        "checksum": checksum,
    }
    with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as f:
        json.dump(info, f)
    if trainer.is_world_process_zero():
        with open(os.path.join(out_dir, "metrics.json"), "w") as f:
            json.dump({"train_loss": train_result.training_loss, **eval_metrics}, f)
    # every process reaches the end before the process group goes (else gloo can abort one at exit with
    # "terminate called without an active exception", as seen once in CI)
    from hf_cser.trainers.checkpointing import finish_distributed

    finish_distributed()


if __name__ == "__main__":
    main(sys.argv[1])
