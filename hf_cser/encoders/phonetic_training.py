"""The training loop of the phonetic encoder (split out of [`~hf_cser.encoders.phonetic_pretraining`]).

Holds [`train_phonetic_encoder`] (plain PyTorch pretraining of the tiny WavLM on a corpus' phoneme alignments, then
evaluation and saving as a Hub-style model folder), its library defaults [`DEFAULT_TRAINING_SETTINGS`], the
[`PRETRAINING_VERSION`] that keys cached encoders, the name of the saved report ([`REPORT_FILE`]) and the model card
template written next to the weights.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers.utils import logging

from ..audio import TARGET_SAMPLING_RATE, load_audio
from ..data.phones import SHARED_VOWELS
from .content_encoder import conv_frame_geometry
from .phonetic_data import Utterances, batch_inputs, corpus_fingerprint, labels_batch
from .phonetic_evaluation import confusion_report, evaluate_phonetic_encoder, format_percentage, format_phonetic_report
from .phonetic_labels import IGNORE_INDEX, PHONETIC_LABELS, phonetic_feature_extractor, tiny_wavlm_config

logger = logging.get_logger(__name__)

REPORT_FILE = "phonetic_report.json"
PRETRAINING_VERSION = "1"
"""Bumped when training changes, so cached encoders trained by older code are retrained."""

DEFAULT_TRAINING_SETTINGS: dict[str, Any] = {
    "epochs": 3,
    "batch_size": 8,
    "learning_rate": 2e-3,
    "weight_decay": 0.01,
    "warmup_ratio": 0.05,
    "crop_seconds": 2.0,
    "seed": 0,
    "max_steps": None,
}
"""Library defaults of [`train_phonetic_encoder`] (our choice: about 2 minutes on one CPU core for the default
synthetic corpus)."""


def _load_corpus(corpus):
    """A `DatasetDict` from a DatasetDict, a synthetic corpus folder or a `save_to_disk` folder."""
    if not isinstance(corpus, (str, os.PathLike)):
        return corpus
    path = Path(corpus)
    if (path / "synthetic_config.json").is_file():
        from ..data.synthetic import load_synthetic_corpus

        return load_synthetic_corpus(path)
    from datasets import load_from_disk

    return load_from_disk(str(path))


# ---------------------------------------------------------------------------------------------------- training


MODEL_CARD_TEMPLATE = """---
library_name: transformers
tags:
- hf_cser
- wavlm
- audio-frame-classification
- phonetic-encoder
- synthetic-data
language:
{languages}
---

# hf_cser phonetic content encoder (tiny WavLM)

A tiny WavLM (`WavLMForAudioFrameClassification`, {num_parameters:,} parameters) trained from scratch by
hf_cser for frame-level classification of {num_labels} phone classes: the shared
cross-lingual vowels {vowels}, `consonant` and `silence`. It is the default content encoder f_c of SAPA
(speaker-style aware phoneme anchoring) when no pretrained self-supervised speech model (WavLM, HuBERT, wav2vec 2.0)
is available.

**Trained on synthetic data only**: espeak-ng speech of the hf_cser synthetic corpus (corpus fingerprint
`{fingerprint}`), labels from espeak-ng's phoneme timings. It is not a general speech model; do not expect it to
work on natural speech.

## Use

```python
from transformers import AutoModel
from hf_cser.encoders import ContentEncoder

backbone = AutoModel.from_pretrained("{folder_name}")  # WavLMModel; the frame classifier is not loaded
encoder = ContentEncoder.from_pretrained("{folder_name}", layer=None)
```

## Training

- data: train split, {train_utterances} utterances, random {crop_seconds} s crops
- {epochs} epoch(s), {steps} steps, batch size {batch_size}, AdamW lr {learning_rate}, weight decay
  {weight_decay}, linear warm-up ({warmup_ratio:.0%}) and decay, seed {seed}
- loss: frame cross-entropy; {train_seconds:.0f} s wall clock, {train_cpu_seconds:.0f} s CPU time

## Evaluation (frame accuracy on validation + test)

| language | frames | frame accuracy | balanced accuracy | vowel accuracy | majority baseline |
|---|---|---|---|---|---|
{table}
"""


def _set_seed(seed: int) -> None:
    import random

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def train_phonetic_encoder(
    corpus,
    output_dir: str | os.PathLike,
    *,
    epochs: int = DEFAULT_TRAINING_SETTINGS["epochs"],
    batch_size: int = DEFAULT_TRAINING_SETTINGS["batch_size"],
    learning_rate: float = DEFAULT_TRAINING_SETTINGS["learning_rate"],
    seed: int = DEFAULT_TRAINING_SETTINGS["seed"],
    max_steps: int | None = DEFAULT_TRAINING_SETTINGS["max_steps"],
    weight_decay: float = DEFAULT_TRAINING_SETTINGS["weight_decay"],
    warmup_ratio: float = DEFAULT_TRAINING_SETTINGS["warmup_ratio"],
    crop_seconds: float | None = DEFAULT_TRAINING_SETTINGS["crop_seconds"],
    model_config=None,
    eval_splits: Sequence[str] = ("validation", "test"),
    scheme: str = "espeak",
    progress: bool = True,
) -> dict[str, Any]:
    """Pretrain the tiny WavLM phonetic encoder on a corpus' phoneme alignments and save it as a model folder.

    Plain PyTorch loop on the `train` split: random `crop_seconds` crops (hop-aligned, so frame labels stay exact),
    frame cross-entropy over [`PHONETIC_LABELS`] (padded frames ignored), AdamW with linear warm-up and decay,
    gradient clipping at 1.0. Seeded: shuffling and crops use a numpy generator seeded with `seed`, initialisation
    uses `torch.manual_seed(seed)`, so the same seed gives identical weights on CPU. Then the frame accuracy per
    language and per class is measured on `eval_splits` (whole utterances).

    Args:
        corpus (`str`, `os.PathLike` or `datasets.DatasetDict`):
            A synthetic corpus folder ([`~hf_cser.data.synthetic.synthesize_corpus`]), a `save_to_disk` folder or a
            `DatasetDict` in the hf_cser schema (`audio` paths, `language`, `phonemes`).
        output_dir (`str` or `os.PathLike`): where the model folder is written (created; files are overwritten).
        epochs (`int`, *optional*, defaults to 3): passes over the train split.
        batch_size (`int`, *optional*, defaults to 8): crops per step.
        learning_rate (`float`, *optional*, defaults to 2e-3): peak AdamW learning rate.
        seed (`int`, *optional*, defaults to 0): seed of initialisation, shuffling and cropping.
        max_steps (`int`, *optional*): total number of steps; when set it overrides `epochs` (as in
            `transformers.TrainingArguments`), cycling through the data as often as needed.
        weight_decay (`float`, *optional*, defaults to 0.01): AdamW weight decay.
        warmup_ratio (`float`, *optional*, defaults to 0.05): share of steps with linear warm-up.
        crop_seconds (`float`, *optional*, defaults to 2.0): training crop length; `None` trains on whole utterances.
        model_config (`WavLMConfig`, *optional*): defaults to [`tiny_wavlm_config`]; `id2label` is forced to
            [`PHONETIC_LABELS`].
        eval_splits (`Sequence[str]`, *optional*, defaults to `("validation", "test")`): splits to evaluate (missing
            ones are skipped).
        scheme (`str`, *optional*, defaults to `"espeak"`): phone scheme of the alignments.
        progress (`bool`, *optional*, defaults to `True`): tqdm progress bars.

    Returns:
        `dict`: the report also saved as `phonetic_report.json`: `settings`, `steps`, `loss_history` (mean loss per
        logging interval), `first_loss`, `final_loss`, `train_seconds` (wall clock), `train_cpu_seconds` (CPU time
        of the process, all threads), `evaluation` (see [`evaluate_phonetic_encoder`]) and `output_dir`.
    """
    from transformers import WavLMForAudioFrameClassification, get_linear_schedule_with_warmup

    from hf_cser.console import progress_bar

    if max_steps is not None and max_steps < 1:
        raise ValueError(f"`max_steps` must be at least 1 (or None), got {max_steps}.")
    if epochs < 1 and not max_steps:
        raise ValueError(f"`epochs` must be at least 1 (or give `max_steps`), got {epochs}.")
    if batch_size < 1:
        raise ValueError(f"`batch_size` must be at least 1, got {batch_size}.")
    if crop_seconds is not None and crop_seconds <= 0.1:
        raise ValueError(f"`crop_seconds` must be above 0.1 s (or None for whole utterances), got {crop_seconds}.")
    dataset_dict = _load_corpus(corpus)
    if "train" not in dataset_dict:
        raise ValueError(f"`corpus` needs a `train` split, got splits {list(dataset_dict)}.")
    train = Utterances(dataset_dict["train"])
    if not len(train):
        raise ValueError("The `train` split of `corpus` is empty.")

    config = model_config if model_config is not None else tiny_wavlm_config()
    config.id2label = dict(enumerate(PHONETIC_LABELS))
    config.label2id = {label: i for i, label in enumerate(PHONETIC_LABELS)}
    config.num_labels = len(PHONETIC_LABELS)
    _set_seed(seed)
    model = WavLMForAudioFrameClassification(config)
    model.train()
    feature_extractor = phonetic_feature_extractor()
    hop, _ = conv_frame_geometry(config.conv_kernel, config.conv_stride)
    crop = None if crop_seconds is None else int(round(crop_seconds * TARGET_SAMPLING_RATE))

    steps_per_epoch = math.ceil(len(train) / batch_size)
    total_steps = int(max_steps) if max_steps else steps_per_epoch * epochs
    num_epochs = math.ceil(total_steps / steps_per_epoch)
    no_decay = ("bias", "norm", "layer_norm", "rel_attn_embed")
    groups = [
        {"params": [p for n, p in model.named_parameters() if not any(k in n.lower() for k in no_decay)]},
        {
            "params": [p for n, p in model.named_parameters() if any(k in n.lower() for k in no_decay)],
            "weight_decay": 0.0,
        },
    ]
    optimizer = torch.optim.AdamW(groups, lr=learning_rate, weight_decay=weight_decay)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(warmup_ratio * total_steps), total_steps)
    loss_fn = torch.nn.CrossEntropyLoss(ignore_index=IGNORE_INDEX)
    rng = np.random.default_rng(seed)

    logger.info(
        f"Phonetic pretraining: {len(train)} utterances, {total_steps} steps, batch {batch_size}, "
        f"{sum(p.numel() for p in model.parameters()):,} parameters."
    )
    started, started_cpu = time.perf_counter(), time.process_time()
    step, losses, loss_history = 0, [], []
    log_every = max(1, min(25, total_steps // 10))
    bar = progress_bar(total=total_steps, desc="phonetic pretraining", disable=not progress)
    for _ in range(num_epochs):
        order = rng.permutation(len(train))
        for first in range(0, len(order), batch_size):
            if step >= total_steps:
                break
            indices = order[first : first + batch_size].tolist()
            waveforms, starts = [], []
            for i in indices:
                wave = load_audio(train.paths[i])
                offset = 0
                if crop is not None and len(wave) > crop:
                    offset = int(rng.integers(0, (len(wave) - crop) // hop + 1)) * hop
                    wave = wave[offset : offset + crop]
                waveforms.append(wave)
                starts.append(offset / TARGET_SAMPLING_RATE)
            input_values, attention_mask = batch_inputs(feature_extractor, waveforms)
            labels = labels_batch(
                config,
                [train.phonemes[i] for i in indices],
                [train.languages[i] for i in indices],
                [len(w) for w in waveforms],
                starts,
                scheme,
            )
            logits = model(input_values, attention_mask=attention_mask).logits
            frames = min(logits.shape[1], labels.shape[1])
            loss = loss_fn(logits[:, :frames].reshape(-1, config.num_labels), labels[:, :frames].reshape(-1))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            losses.append(loss.item())
            if step % log_every == 0 or step == total_steps:
                logged_until = loss_history[-1]["step"] if loss_history else 0
                loss_history.append({"step": step, "loss": float(np.mean(losses[logged_until:]))})
                logger.info(f"step {step}/{total_steps} loss {loss_history[-1]['loss']:.4f}")
            bar.update(1)
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
    bar.close()
    train_seconds = time.perf_counter() - started
    train_cpu_seconds = time.process_time() - started_cpu

    evaluation_splits = [s for s in eval_splits if s in dataset_dict and len(dataset_dict[s])]
    if evaluation_splits:
        from datasets import concatenate_datasets

        eval_set = concatenate_datasets([dataset_dict[s] for s in evaluation_splits])
        evaluation = evaluate_phonetic_encoder(
            model, eval_set, batch_size=batch_size, scheme=scheme, progress=progress, description="phonetic eval"
        )
    else:
        logger.warning(f"None of the splits {list(eval_splits)} is in the corpus; the report has no evaluation.")
        evaluation = {"overall": confusion_report(np.zeros((8, 8), np.int64)), "per_language": {}}

    settings = {
        "epochs": epochs,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "weight_decay": weight_decay,
        "warmup_ratio": warmup_ratio,
        "crop_seconds": crop_seconds,
        "seed": seed,
        "max_steps": max_steps,
        "scheme": scheme,
    }
    report = {
        "pretraining_version": PRETRAINING_VERSION,
        "labels": list(PHONETIC_LABELS),
        "corpus_fingerprint": corpus_fingerprint(corpus),
        "train_utterances": len(train),
        "eval_splits": evaluation_splits,
        "settings": settings,
        "steps": step,
        "first_loss": losses[0],
        "final_loss": loss_history[-1]["loss"],
        "loss_history": loss_history,
        "train_seconds": round(train_seconds, 2),
        "train_cpu_seconds": round(train_cpu_seconds, 2),
        "evaluation": evaluation,
    }
    output_dir = Path(output_dir)
    _save_phonetic_encoder(model, feature_extractor, output_dir, report, dataset_dict)
    report["output_dir"] = str(output_dir)
    logger.info(
        f"Phonetic encoder saved to {output_dir}: frame accuracy "
        f"{format_percentage(evaluation['overall']['frame_accuracy'])} after {step} steps ({train_seconds:.0f} s)."
    )
    return report


def _save_phonetic_encoder(model, feature_extractor, output_dir: Path, report: dict, dataset_dict) -> None:
    from huggingface_hub import ModelCard

    output_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output_dir)
    feature_extractor.save_pretrained(output_dir)
    languages = sorted(set(dataset_dict["train"]["language"]))
    settings = report["settings"]
    card = MODEL_CARD_TEMPLATE.format(
        languages="\n".join(f"- {language}" for language in languages),
        num_parameters=sum(p.numel() for p in model.parameters()),
        num_labels=len(PHONETIC_LABELS),
        vowels=", ".join(f"/{v}/" for v in SHARED_VOWELS),
        fingerprint=report["corpus_fingerprint"],
        folder_name=output_dir.name,
        train_utterances=report["train_utterances"],
        crop_seconds=settings["crop_seconds"] if settings["crop_seconds"] is not None else "whole-utterance",
        steps=report["steps"],
        train_seconds=report["train_seconds"],
        train_cpu_seconds=report["train_cpu_seconds"],
        table=format_phonetic_report(report),
        **{k: settings[k] for k in ("epochs", "batch_size", "learning_rate", "weight_decay", "warmup_ratio", "seed")},
    )
    ModelCard(card).save(output_dir / "README.md")
    (output_dir / REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n")
