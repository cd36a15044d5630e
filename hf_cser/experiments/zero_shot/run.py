"""The zero-shot experiment (paper 001): the grid of settings x systems x seeds, each run trained with the
[`ZeroShotTrainer`] after the protocol's leakage checks, evaluated on the target language's test split and saved with
its predictions, run record and card; finished runs are read back on a restart, identical runs trained once."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
from datasets import DatasetDict
from transformers import set_seed

from hf_cser.audio import BadAudioCounter
from hf_cser.console import summary_line
from hf_cser.data import (
    PAPER_SETTINGS,
    SYSTEMS,
    build_zero_shot_splits,
    check_no_target_leakage,
    check_target_disjoint,
    drop_bad_audio,
)
from hf_cser.data.schema import with_decoded_audio
from hf_cser.data.specs import load_data_spec
from hf_cser.data.zero_shot_protocol import get_paper_setting
from hf_cser.metrics import compute_ser_metrics
from hf_cser.metrics.predictions import write_predictions
from hf_cser.models.zero_shot import ZeroShotForEmotionClassification
from hf_cser.run_record import RunRecord, write_run_records
from hf_cser.trainers import (
    ZeroShotDataCollator,
    ZeroShotFrameCollator,
    ZeroShotTrainer,
    ZeroShotTrainingArguments,
    encode_backbone_frames,
    frame_statistics,
)
from hf_cser.trainers.checkpointing import (
    check_output_dir,
    check_resume_owner,
    default_output_dir,
    finish_distributed,
    train_or_restore,
)

from .arguments import (
    PREDICTIONS_NAME,
    SYSTEM_LOSSES,
    ModelArguments,
    ProtocolArguments,
    parse_language_backbones,
    parse_list,
    user_settings,
)
from .backbones import frozen_copy, group_normalized_frames, peft_options, resolve_backbone, resolve_backbone_layer
from .reports import (
    append_run,
    embeddings_of,
    identical_run_key,
    markdown_table,
    plot_tsne,
    read_finished,
    run_folder,
    run_resume_checkpoint,
    save_run_folder,
    summarize,
)

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class ZeroShotGrid:
    """What every run of one grid shares: the arguments, the data (every file checked once), the default backbone,
    the per-language backbones, the frozen frames of each backbone (computed once for the grid), the run folders and
    the results CSV."""

    model_args: ModelArguments
    protocol_args: ProtocolArguments
    base_args: ZeroShotTrainingArguments
    data: DatasetDict
    backbone: str
    seeds: list[int]
    run_dirs: list[str]
    bad_audio: BadAudioCounter
    runs_file: str
    language_backbones: dict[str, str] = dataclasses.field(default_factory=dict)
    frames_of: dict[str, dict] = dataclasses.field(default_factory=dict)  # backbone -> {path: frozen frames}

    @property
    def max_length(self) -> int:
        return int(self.protocol_args.max_seconds * 16000)

    def train_run(self, setting, system: str, seed: int, run_backbone: str) -> dict:
        """Train, evaluate and save one run; returns its row of the results CSV (appended by the main process)."""
        set_seed(seed)
        splits, speaker_map = build_zero_shot_splits(self.data, setting, system)
        upper = system == "upper_bound"
        scl_on, adv_on = SYSTEM_LOSSES[system]
        run_dir = run_folder(self.base_args.output_dir, setting, system, seed)
        args = dataclasses.replace(
            self.base_args,
            output_dir=run_dir,
            seed=seed,
            scl_weight=self.base_args.scl_weight if scl_on else 0.0,
            adversarial_weight=self.base_args.adversarial_weight if adv_on else 0.0,
            target_languages=[] if upper else [setting.target],
            upper_bound=upper,
            # baseline1 trains on one language: a batch cannot hold more languages than training has
            languages_per_batch=min(self.base_args.languages_per_batch, len(set(splits["train"]["language"]))),
        )
        layer = resolve_backbone_layer(self.model_args, run_backbone)
        options = dict(peft_options(self.model_args), backbone_layer=layer)
        if setting.source in self.language_backbones:  # recorded in the config: the paper's language matching
            model = ZeroShotForEmotionClassification.from_backbone_for_language(
                setting.source, self.language_backbones, num_speakers=len(speaker_map), **options
            )
        else:
            model = ZeroShotForEmotionClassification.from_backbone(
                self.backbone, num_speakers=len(speaker_map), **options
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
            normalization_languages=train_languages if self.model_args.normalize_frames else None,
            target_speakers=sorted(set(splits["test"]["speaker"])) if system != "upper_bound" else None,
        )
        if not upper:  # the target test split's audio and speakers: not in any component of the run
            check_target_disjoint(
                splits["test"],
                target_name=f"{setting.target} test split",
                train=splits["train"],
                validation=splits["validation"],
                selection=splits["validation"],
                normalization=normalization_rows if self.model_args.normalize_frames else None,
            )
        cached = self.model_args.cache_backbone_frames and model.backbone_is_frozen
        frames = self.frames_of.get(run_backbone)
        if frames is None and (cached or self.model_args.normalize_frames):
            # the frozen pretrained backbone's frames of every utterance (PEFT starts as the identity, so
            # they are also the starting point of a PEFT run's statistics)
            with self.base_args.main_process_first(desc="backbone frames"):  # the other ranks read the cache
                frames = encode_backbone_frames(
                    model if model.backbone_is_frozen else frozen_copy(run_backbone),
                    [p for split in self.data.values() for p in split["audio"]],
                    max_length=self.max_length,
                    progress=not self.base_args.disable_tqdm,
                    cache_dir=self.model_args.frame_cache_dir,
                )
            self.frames_of[run_backbone] = frames
        if self.model_args.normalize_frames:  # training rows only: never the target's
            model.set_frame_normalization(*frame_statistics(frames, normalization_rows["audio"]))
        run_frames = frames
        group_by = self.model_args.feature_normalization
        if cached and group_by in ("corpus", "speaker"):
            if not self.model_args.normalize_frames:
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
            collator = ZeroShotDataCollator(speaker_map=speaker_map, languages=languages, max_length=self.max_length)
        trainer = ZeroShotTrainer(
            model=model,
            args=args,
            data_collator=collator,
            train_dataset=train,
            eval_dataset=validation if len(validation) else None,
            speaker_map=speaker_map,
        )
        resume = run_resume_checkpoint(run_dir, self.base_args.resume_from_checkpoint, self.run_dirs, args.world_size)
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
            "world_size": self.base_args.world_size,
            "trained_in": setting.name,
            "output_dir": run_dir,
        }
        if trainer.is_world_process_zero():
            save_run_folder(trainer, run_dir, run_backbone, setting, system, run, self.protocol_args.data)
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
                world_size=self.base_args.world_size,
                bad_audio_skipped=self.bad_audio.total,
                predictions=PREDICTIONS_NAME,
                extra={"setting": setting.name, "data": self.protocol_args.data},
            )
            write_run_records(run_dir, [record])
            append_run(self.runs_file, run)
            if self.protocol_args.tsne and system == "proposed" and seed == self.seeds[0]:
                from datasets import concatenate_datasets

                shown = concatenate_datasets([splits["validation"], splits["test"]])
                emb = embeddings_of(trainer, shown if cached else with_decoded_audio(shown))
                plot_tsne(
                    emb,
                    shown["emotion"],
                    shown["language"],
                    os.path.join(self.base_args.output_dir, f"tsne_{setting.name.replace('->', '_to_')}.png"),
                    f"{setting.name}: proposed (validation + target test)",
                    seed=seed,
                )
        return run


def run_zero_shot(
    model_args: ModelArguments,
    protocol_args: ProtocolArguments,
    base_args: ZeroShotTrainingArguments,
    echo: Callable[[str], None] | None = None,
) -> list[dict]:
    """The experiment of `training_scripts/train_zero_shot.py`: every run of the grid (settings x systems x seeds),
    then `zero_shot_table.md` and `zero_shot_summary.json` in `base_args.output_dir`; returns the table's rows.

    `echo` receives the run's report lines (tables, the summary line, the final JSON line); default: this module's
    logger at INFO. The training script passes `print` (its console report)."""
    echo = echo or logger.info
    start = time.time()
    default_output_dir(base_args, "outputs/zero_shot")
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
    language_backbones = parse_language_backbones(model_args.language_backbones)
    grid = ZeroShotGrid(
        model_args, protocol_args, base_args, data, backbone, seeds, run_dirs, bad_audio, runs_file, language_backbones
    )
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
                run = grid.train_run(setting, system, seed, run_backbone)
                runs.append(run)
                trained[same] = run
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
        echo(table)
        averages = {
            f"{system} UAR": statistics.fmean(r["uar_mean"] for r in rows if r["system"] == system) / 100
            for system in dict.fromkeys(r["system"] for r in rows)
        }
        name = f"Zero-shot SER ({len(runs)} run{'' if len(runs) == 1 else 's'})"
        echo(summary_line(name, time.time() - start, averages, base_args.output_dir))
        echo(json.dumps({"runs": len(runs), "rows": rows, "bad_audio_skipped": bad_audio.total}))
    finish_distributed()  # every process reaches the end before the process group goes
    return rows
