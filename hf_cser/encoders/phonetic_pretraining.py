"""The default content encoder: a tiny WavLM pretrained by the project for frame-level phone-class recognition.

No pretrained self-supervised speech weights (WavLM, HuBERT, wav2vec 2.0) can be downloaded everywhere, so the
library trains its own small phonetic encoder on the synthetic corpus' phoneme alignments (library choice, not in
the SAPA paper): a `WavLMForAudioFrameClassification` with a shrunken convolutional feature encoder (same kernels
and strides as WavLM, so frames are 20 ms, narrower channels), 2 transformer layers, and a linear frame classifier
over the shared cross-lingual inventory [`PHONETIC_LABELS`] = the six shared vowels of
[`~hf_cser.data.phones.SHARED_VOWELS`] + `"consonant"` + `"silence"`.

The saved folder is a regular Hub-style model (`config.json` with `id2label`, `model.safetensors`,
`preprocessor_config.json` of a `Wav2Vec2FeatureExtractor`, `README.md`, `phonetic_report.json`):
`AutoModel.from_pretrained(folder)` returns the `WavLMModel` backbone (the classifier head is dropped), so
[`~hf_cser.encoders.content_encoder.ContentEncoder.from_pretrained`] treats it exactly like a Hub WavLM.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers.utils import logging

from ..audio import TARGET_SAMPLING_RATE, load_audio
from ..data.phones import SHARED_VOWELS, strip_phone_marks, to_shared_phone
from .content_encoder import DEFAULT_FRAME_OFFSET, DEFAULT_FRAME_PERIOD, conv_frame_geometry, conv_output_lengths

logger = logging.get_logger(__name__)

PHONETIC_LABELS: tuple[str, ...] = (*SHARED_VOWELS, "consonant", "silence")
"""Frame classes of the phonetic pretraining: the six shared vowels, then any other phone, then no phone / pause."""
CONSONANT_LABEL = PHONETIC_LABELS.index("consonant")
SILENCE_LABEL = PHONETIC_LABELS.index("silence")
IGNORE_INDEX = -100
SILENCE_PHONES = frozenset({"", "sil", "sp", "spn", "pau", "<eps>", "<sil>", "h#", "epi"})
"""Phone names that mean silence in common aligners (MFA, TIMIT, Kaldi); espeak pauses start with `_`."""
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


# ---------------------------------------------------------------------------------------------------- labels


def phone_class(phone: str, language: str, scheme: str = "espeak") -> int:
    """Index in [`PHONETIC_LABELS`] of one aligned phone: its shared vowel, else `"silence"` for pauses (espeak `_`,
    `_:`, `_!`, language-switch markers, aligner silence symbols), else `"consonant"` (any other phone, including
    vowels outside the shared inventory)."""
    vowel = to_shared_phone(phone, scheme=scheme, language=language)
    if vowel is not None:
        return SHARED_VOWELS.index(vowel)
    stripped = strip_phone_marks(phone, scheme)
    if stripped.lower() in SILENCE_PHONES or stripped.startswith(("_", "(")):
        return SILENCE_LABEL
    return CONSONANT_LABEL


def frame_labels(
    phonemes: Sequence[Mapping[str, Any]],
    num_frames: int,
    language: str,
    *,
    scheme: str = "espeak",
    frame_period: float = DEFAULT_FRAME_PERIOD,
    frame_offset: float = DEFAULT_FRAME_OFFSET,
    start_time: float = 0.0,
) -> np.ndarray:
    """Frame-level phone classes from a phoneme alignment.

    Frame `t` is centred at `start_time + frame_offset + t * frame_period` seconds; it gets the class
    ([`phone_class`]) of the phone whose interval `[start, end)` covers that centre, or `"silence"` when none does.

    Args:
        phonemes (`Sequence[Mapping]`): `{"phone", "start", "end"}` dicts, times in seconds (the hf_cser schema).
        num_frames (`int`): number of frames to label.
        language (`str`): language code for the phone mapping.
        scheme (`str`, *optional*, defaults to `"espeak"`): phone scheme, see [`~hf_cser.data.phones.to_shared_phone`].
        frame_period (`float`, *optional*, defaults to 0.02): frame hop in seconds.
        frame_offset (`float`, *optional*, defaults to 0.0125): centre of frame 0 in seconds.
        start_time (`float`, *optional*, defaults to 0.0): time of the first sample (for cropped audio).

    Returns:
        `np.ndarray` of shape `(num_frames,)`, dtype int64, values in `range(len(PHONETIC_LABELS))`.
    """
    labels = np.full(num_frames, SILENCE_LABEL, dtype=np.int64)
    if num_frames <= 0 or not phonemes:
        return labels
    order = sorted(range(len(phonemes)), key=lambda i: float(phonemes[i]["start"]))
    starts = np.array([float(phonemes[i]["start"]) for i in order])
    ends = np.array([float(phonemes[i]["end"]) for i in order])
    classes = np.array([phone_class(str(phonemes[i]["phone"]), language, scheme) for i in order], dtype=np.int64)
    centers = start_time + frame_offset + frame_period * np.arange(num_frames)
    index = np.searchsorted(starts, centers, side="right") - 1  # last phone starting at or before the centre
    valid = index >= 0
    covered = np.zeros(num_frames, dtype=bool)
    covered[valid] = centers[valid] < ends[index[valid]]
    labels[covered] = classes[index[covered]]
    return labels


# ---------------------------------------------------------------------------------------------------- model


def tiny_wavlm_config(**overrides: Any):
    """The `WavLMConfig` of the default phonetic encoder (library choice, sized for fast CPU training).

    WavLM's conv kernels `(10, 3, 3, 3, 3, 2, 2)` and strides `(5, 2, 2, 2, 2, 2, 2)` (20 ms frames, 25 ms receptive
    field) with narrow channels `(32, 32, 32, 64, 64, 64, 64)` and layer norm (so padded batches need an attention
    mask and give the same frames as unpadded ones); hidden size 96, 2 layers, 4 heads, feed-forward 256, a 32-tap
    positional convolution in 8 groups, 64 relative-position buckets; no dropout, layer drop or SpecAugment masking
    (all three draw from numpy's global generator, which would break seeded determinism). Any field can be
    overridden.
    """
    from transformers import WavLMConfig

    settings: dict[str, Any] = {
        "conv_dim": (32, 32, 32, 64, 64, 64, 64),
        "conv_kernel": (10, 3, 3, 3, 3, 2, 2),
        "conv_stride": (5, 2, 2, 2, 2, 2, 2),
        "feat_extract_norm": "layer",
        "hidden_size": 96,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "intermediate_size": 256,
        "num_conv_pos_embeddings": 32,
        "num_conv_pos_embedding_groups": 8,
        "num_buckets": 64,
        "max_bucket_distance": 200,
        "hidden_dropout": 0.0,
        "attention_dropout": 0.0,
        "activation_dropout": 0.0,
        "feat_proj_dropout": 0.0,
        "final_dropout": 0.0,
        "layerdrop": 0.0,
        "mask_time_prob": 0.0,
        "mask_feature_prob": 0.0,
        "id2label": dict(enumerate(PHONETIC_LABELS)),
        "label2id": {label: i for i, label in enumerate(PHONETIC_LABELS)},
    }
    settings.update(overrides)
    return WavLMConfig(**settings)


def phonetic_feature_extractor():
    """`Wav2Vec2FeatureExtractor` of the phonetic encoder: 16 kHz, per-utterance normalisation, attention mask."""
    from transformers import Wav2Vec2FeatureExtractor

    return Wav2Vec2FeatureExtractor(
        feature_size=1,
        sampling_rate=TARGET_SAMPLING_RATE,
        padding_value=0.0,
        do_normalize=True,
        return_attention_mask=True,
    )


# ---------------------------------------------------------------------------------------------------- data


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


def corpus_fingerprint(corpus) -> str:
    """Identity of a corpus for caching: the `fingerprint` in a synthetic corpus' `synthetic_config.json`, otherwise
    a sha256 of the splits' datasets fingerprints (or of the folder's `dataset_dict.json` and `state.json` files)."""
    if isinstance(corpus, (str, os.PathLike)):
        path = Path(corpus)
        state_file = path / "synthetic_config.json"
        if state_file.is_file():
            fingerprint = json.loads(state_file.read_text()).get("fingerprint")
            if fingerprint:
                return f"synthetic-{fingerprint}"
        digest = hashlib.sha256()
        for name in sorted(p for p in path.rglob("*.json") if p.name in ("dataset_dict.json", "state.json")):
            digest.update(str(name.relative_to(path)).encode())
            digest.update(name.read_bytes())
        return digest.hexdigest()[:16]
    digest = hashlib.sha256()
    for split in sorted(corpus):
        digest.update(f"{split}:{getattr(corpus[split], '_fingerprint', len(corpus[split]))}".encode())
    return digest.hexdigest()[:16]


class _Utterances:
    """Paths, languages and alignments of one split (columns read once; audio decoded lazily with `load_audio`)."""

    def __init__(self, dataset):
        self.paths = list(dataset["audio"])
        self.languages = list(dataset["language"])
        self.phonemes = list(dataset["phonemes"])

    def __len__(self) -> int:
        return len(self.paths)


def _batch_inputs(feature_extractor, waveforms: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    features = feature_extractor(
        waveforms, sampling_rate=TARGET_SAMPLING_RATE, padding=True, return_attention_mask=True, return_tensors="pt"
    )
    return features["input_values"], features["attention_mask"]


def _labels_batch(
    config, phonemes: list, languages: list, lengths: list[int], starts: list[float], scheme: str
) -> torch.Tensor:
    hop, receptive_field = conv_frame_geometry(config.conv_kernel, config.conv_stride)
    period, offset = hop / TARGET_SAMPLING_RATE, receptive_field / 2 / TARGET_SAMPLING_RATE
    num_frames = conv_output_lengths(torch.tensor(lengths), config.conv_kernel, config.conv_stride).tolist()
    out = torch.full((len(lengths), max(num_frames)), IGNORE_INDEX, dtype=torch.long)
    for row, (alignment, language, n, start) in enumerate(zip(phonemes, languages, num_frames, starts, strict=True)):
        labels = frame_labels(
            alignment, n, language, scheme=scheme, frame_period=period, frame_offset=offset, start_time=start
        )
        out[row, :n] = torch.from_numpy(labels)
    return out


# ---------------------------------------------------------------------------------------------------- evaluation


def _confusion_report(confusion: np.ndarray) -> dict[str, Any]:
    total = int(confusion.sum())
    correct = int(np.trace(confusion))
    support = confusion.sum(axis=1)
    recalls = {
        label: (float(confusion[i, i] / support[i]) if support[i] else None) for i, label in enumerate(PHONETIC_LABELS)
    }
    present = [r for r in recalls.values() if r is not None]
    vowels = list(range(len(SHARED_VOWELS)))
    vowel_frames = int(support[vowels].sum())
    vowel_correct = int(np.trace(confusion[np.ix_(vowels, vowels)]))
    vowel_block = confusion[np.ix_(vowels, vowels)]
    vowel_detected = int(vowel_block.sum())
    return {
        "frames": total,
        "frame_accuracy": correct / total if total else None,
        "balanced_accuracy": float(np.mean(present)) if present else None,
        "majority_baseline": float(support.max() / total) if total else None,
        "vowel_frames": vowel_frames,
        # share of vowel frames given the right vowel class (8-way prediction)
        "vowel_accuracy": vowel_correct / vowel_frames if vowel_frames else None,
        # among vowel frames predicted as some vowel: share with the right class (6-way vowel identity)
        "vowel_class_accuracy": vowel_correct / vowel_detected if vowel_detected else None,
        "per_class_recall": recalls,
        "class_frames": {label: int(support[i]) for i, label in enumerate(PHONETIC_LABELS)},
    }


@torch.no_grad()
def evaluate_phonetic_encoder(
    model,
    dataset,
    *,
    batch_size: int = 8,
    scheme: str = "espeak",
    progress: bool = True,
    description: str = "evaluate",
) -> dict[str, Any]:
    """Frame accuracy of a `WavLMForAudioFrameClassification` over whole utterances, overall and per language.

    Args:
        model (`WavLMForAudioFrameClassification`): the phonetic encoder (labels [`PHONETIC_LABELS`]).
        dataset (`datasets.Dataset`): rows in the hf_cser schema (`audio` path, `language`, `phonemes`).
        batch_size (`int`, *optional*, defaults to 8): utterances per forward pass (sorted by length).
        scheme (`str`, *optional*, defaults to `"espeak"`): phone scheme of the alignments.
        progress (`bool`, *optional*, defaults to `True`): show a tqdm bar.
        description (`str`, *optional*): the bar's label.

    Returns:
        `dict`: `{"overall": {...}, "per_language": {language: {...}}}` with `frame_accuracy`, `balanced_accuracy`,
        `majority_baseline`, `vowel_accuracy`, `vowel_class_accuracy`, `per_class_recall` and frame counts.
    """
    from hf_cser.console import progress_bar

    feature_extractor = phonetic_feature_extractor()
    utterances = _Utterances(dataset)
    num_classes = len(PHONETIC_LABELS)
    confusions: dict[str, np.ndarray] = {}
    was_training = model.training
    model.eval()
    waveforms = {}
    order = list(range(len(utterances)))
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    for indices in progress_bar(batches, desc=description, disable=not progress, leave=False):
        for i in indices:
            waveforms[i] = load_audio(utterances.paths[i])
        batch_waves = [waveforms.pop(i) for i in indices]
        input_values, attention_mask = _batch_inputs(feature_extractor, batch_waves)
        labels = _labels_batch(
            model.config,
            [utterances.phonemes[i] for i in indices],
            [utterances.languages[i] for i in indices],
            [len(w) for w in batch_waves],
            [0.0] * len(indices),
            scheme,
        )
        logits = model(input_values, attention_mask=attention_mask).logits
        predictions = logits.argmax(dim=-1)[:, : labels.shape[1]]
        for row, i in enumerate(indices):
            valid = labels[row] != IGNORE_INDEX
            truth, guess = labels[row][valid].numpy(), predictions[row][valid].numpy()
            matrix = confusions.setdefault(utterances.languages[i], np.zeros((num_classes, num_classes), np.int64))
            np.add.at(matrix, (truth, guess), 1)
    model.train(was_training)
    overall = sum(confusions.values()) if confusions else np.zeros((num_classes, num_classes), np.int64)
    return {
        "overall": _confusion_report(overall),
        "per_language": {language: _confusion_report(confusions[language]) for language in sorted(confusions)},
    }


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


def _format(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def format_phonetic_report(report: Mapping[str, Any]) -> str:
    """Markdown table of a [`train_phonetic_encoder`] report: per language, then overall."""
    evaluation = report["evaluation"]
    rows = [*evaluation["per_language"].items(), ("all", evaluation["overall"])]
    return "\n".join(
        f"| {language} | {m['frames']} | {_format(m['frame_accuracy'])} | {_format(m['balanced_accuracy'])} | "
        f"{_format(m['vowel_accuracy'])} | {_format(m['majority_baseline'])} |"
        for language, m in rows
    )


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
    train = _Utterances(dataset_dict["train"])
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
            input_values, attention_mask = _batch_inputs(feature_extractor, waveforms)
            labels = _labels_batch(
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
        evaluation = {"overall": _confusion_report(np.zeros((8, 8), np.int64)), "per_language": {}}

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
        f"{_format(evaluation['overall']['frame_accuracy'])} after {step} steps ({train_seconds:.0f} s)."
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


# ---------------------------------------------------------------------------------------------------- cache


def default_cache_dir() -> Path:
    """Root of cached phonetic encoders: `$HF_HOME/hf_cser/content_encoder/phonetic` when `HF_HOME` is set,
    otherwise `~/.cache/hf_cser/content_encoder/phonetic` (library default)."""
    hf_home = os.environ.get("HF_HOME")
    root = Path(hf_home) / "hf_cser" if hf_home else Path.home() / ".cache" / "hf_cser"
    return root / "content_encoder" / "phonetic"


def phonetic_cache_key(corpus, **train_kwargs: Any) -> str:
    """Cache key of [`default_phonetic_encoder`]: corpus fingerprint + training settings + pretraining version."""
    unknown = set(train_kwargs) - set(DEFAULT_TRAINING_SETTINGS) - {"scheme", "model_config", "eval_splits"}
    if unknown:
        raise TypeError(f"Unknown training settings {sorted(unknown)}; valid: {sorted(DEFAULT_TRAINING_SETTINGS)}.")
    settings = {**DEFAULT_TRAINING_SETTINGS, "scheme": "espeak", **train_kwargs}
    config = settings.pop("model_config", None)
    settings["model_config"] = (config if config is not None else tiny_wavlm_config()).to_json_string(use_diff=False)
    payload = json.dumps(
        {"version": PRETRAINING_VERSION, "corpus": corpus_fingerprint(corpus), "settings": settings},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def default_phonetic_encoder(
    corpus_dir, cache_dir: str | os.PathLike | None = None, *, progress: bool = True, **train_kwargs: Any
) -> str:
    """Path of the project's phonetic encoder for a corpus, trained once and cached.

    The folder `<cache_dir>/<key>` is keyed by [`phonetic_cache_key`] (the corpus fingerprint and every training
    setting); a complete folder (with `phonetic_report.json`) is returned at once, otherwise
    [`train_phonetic_encoder`] writes it (into a temporary sibling folder, renamed when complete, so an interrupted
    run never leaves a half-written cache entry).

    Args:
        corpus_dir (`str`, `os.PathLike` or `datasets.DatasetDict`): the corpus, as for [`train_phonetic_encoder`].
        cache_dir (`str` or `os.PathLike`, *optional*): defaults to [`default_cache_dir`].
        progress (`bool`, *optional*, defaults to `True`): tqdm progress bars while training.
        train_kwargs: settings for [`train_phonetic_encoder`] (`epochs`, `batch_size`, `learning_rate`, `seed`,
            `max_steps`, ...).

    Returns:
        `str`: the model folder, loadable with `AutoModel.from_pretrained` and
        [`~hf_cser.encoders.content_encoder.ContentEncoder.from_pretrained`].
    """
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = root / phonetic_cache_key(corpus_dir, **train_kwargs)
    if (target / REPORT_FILE).is_file() and (target / "config.json").is_file():
        logger.info(f"Using the cached phonetic encoder {target}.")
        return str(target)
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=root))
    try:
        train_phonetic_encoder(corpus_dir, staging, progress=progress, **train_kwargs)
        if target.exists():  # an incomplete entry from an interrupted run
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return str(target)


__all__ = [
    "DEFAULT_TRAINING_SETTINGS",
    "PHONETIC_LABELS",
    "corpus_fingerprint",
    "default_cache_dir",
    "default_phonetic_encoder",
    "evaluate_phonetic_encoder",
    "format_phonetic_report",
    "frame_labels",
    "phone_class",
    "phonetic_cache_key",
    "phonetic_feature_extractor",
    "tiny_wavlm_config",
    "train_phonetic_encoder",
]
