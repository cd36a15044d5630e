"""One feature-GAN run (paper 004): the checks of the arguments, the data, the stages the run asks for (a restarted
run reuses finished stages), the no-augmentation controls, `results.json` and the run records."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import torch

from hf_cser.console import summary_line
from hf_cser.models.feature_gan import FeatureGanConfig
from hf_cser.run_record import RunRecord, write_run_records
from hf_cser.trainers.checkpointing import check_output_dir, finish_distributed

from .arguments import PREDICTIONS_NAME, STAGE_DIRS, DataArguments, ModelArguments, RunArguments
from .data import prepare_data
from .grid import run_grid
from .stages import FeatureStore, run_stage1, run_stage2, run_stage3, write_json

logger = logging.getLogger(__name__)


def process_index() -> int:
    """Rank of this process in a multi-process launch (`torchrun`, `accelerate launch`); 0 when launched alone."""
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    """Number of processes of a multi-process launch; 1 when launched alone."""
    return int(os.environ.get("WORLD_SIZE", "1"))


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


def run_feature_gan(
    model_args: ModelArguments,
    data_args: DataArguments,
    run_args: RunArguments,
    echo: Callable[[str], None] | None = None,
) -> dict:
    """The experiment of `training_scripts/train_feature_gan.py`: stages 1-3 (or one of them, or the Table 3 grid)
    with their folders, `results.json` and `run_record.json` in `run_args.output_dir`; returns the results (the
    grid's summary with `--grid table3`).

    `echo` receives the run's report lines (tables, the summary line, the final JSON line); default: this module's
    logger at INFO. The training script passes `print` (its console report)."""
    echo = echo or logger.info
    start = time.time()
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
        if world_size() > 1:
            raise ValueError("`--grid table3` runs in a single process: launch it with `python`, not torchrun.")
        summary = run_grid(data, model_args, run_args, echo)
        echo(json.dumps(summary))
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
    if process_index() != 0:
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
    write_json(os.path.join(out, "results.json"), results)
    write_run_records(out, run_records(results, data_args.data, run_args.seed, data.bad_audio_skipped))
    summary = {
        key: {split: round(value[split]["uar"], 4) for split in ("validation", "test") if split in value}
        for key, value in results.items()
        if key.startswith(("stage1", "stage3"))
    }
    if "stage2" in results:
        summary["stage2_generated_head_accuracy"] = round(results["stage2"]["generated_train"]["head_accuracy"], 4)
    names = {"stage1": "stage-1 test UAR", "stage3_audio": "augmented", "stage3_audio_without_augmentation": "control"}
    shown = {label: results[key]["test"]["uar"] for key, label in names.items() if key in results}
    echo(summary_line("Feature GAN", time.time() - start, shown, out))
    echo(json.dumps(summary))
    return results
