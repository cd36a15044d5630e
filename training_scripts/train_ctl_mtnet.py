#!/usr/bin/env python
"""CTL-MTNet (paper 002): CPAC capsule network on MFCCs (single-corpus) and CAAM with MDD (cross-corpus).

Single-corpus task: k-fold cross-validation on one corpus (speaker-independent folds by default, 10 as in the paper)::

    accelerate launch training_scripts/train_ctl_mtnet.py --task single_corpus --data synthetic:en
    accelerate launch training_scripts/train_ctl_mtnet.py --task single_corpus --data corpus:emodb:/data/emodb \\
        --num_folds 10 --fold_by utterance --seeds 0,1,2

Cross-corpus task: labelled source train split, unlabelled target train split, model selection on the source
validation split, evaluation on the target test split (`--transductive`: adapt to and evaluate on the whole target
corpus, as the paper does); `--no_mdd` is the paper's "Algorithm 4" ablation (source only, no target data)::

    accelerate launch training_scripts/train_ctl_mtnet.py --task cross_corpus --source synthetic:en \\
        --target synthetic:de
    accelerate launch training_scripts/train_ctl_mtnet.py --task cross_corpus --source corpus:casia:/data/casia \\
        --target corpus:emodb:/data/emodb --transductive --seeds 0,1,2

MFCCs are computed once per corpus and cached (`--feature_cache_dir`, default `OUTPUT_DIR/mfcc_cache`). Outputs in
`--output_dir`: `ctl_mtnet_runs.csv` (one row per seed and fold), `ctl_mtnet_summary.csv` and `ctl_mtnet_results.md`
(mean and std of UAR and WAR), and `model/`, the last run's model as a Hub-style folder (weights, config, feature
extractor, model card) that loads with `AutoModelForAudioClassification` and `pipeline("audio-classification")`;
each run folder (`runs/<run>/`) keeps its test predictions (`test_predictions.csv`).
UAR = unweighted average recall (mean per-class recall), WAR = accuracy (paper 002's text swaps the two names).

Crash safety: each seed / fold trains in `OUTPUT_DIR/runs/<run>/` with Trainer checkpoints (`--save_strategy`,
`--save_steps`: model, optimizer, scheduler, RNG and random-crop generator states); a restarted command skips the runs
that finished (`run_result.json`) and resumes an interrupted one from its last checkpoint (`--resume_from_checkpoint
PATH` for a given checkpoint of that run, `none` to start it from scratch). The output folder is checked (writable,
free space) before any data is loaded; every audio file is decoded once before training (a bad file raises naming
it, or with `--skip_bad_audio` is dropped and counted in `bad_audio_skipped`); leakage guards refuse target files or
speakers in the source training / validation / selection data, labelled "unlabelled" target data, and test folds
sharing files (or, with speaker folds, speakers) with their training folds.
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
from dataclasses import dataclass, field

import numpy as np
from transformers import HfArgumentParser, set_seed

import hf_cser  # noqa: F401  (registers the models)
from hf_cser.audio import BadAudioCounter
from hf_cser.cache import file_identities, write_atomically
from hf_cser.data import check_target_disjoint, drop_bad_audio
from hf_cser.data.schema import SKIP_BAD_AUDIO_HELP
from hf_cser.run_record import RunRecord, write_run_records
from hf_cser.trainers.checkpointing import (
    check_output_dir,
    default_output_dir,
    finish_distributed,
    resolve_run_resume,
    train_or_restore,
)
from hf_cser.trainers.ctl_mtnet_config import CtlMtNetTrainingArguments
from hf_cser.trainers.ctl_mtnet_trainer import CtlMtNetTrainer, strip_label_columns

logger = logging.getLogger("train_ctl_mtnet")

TASKS = ("single_corpus", "cross_corpus")
RUN_FIELDS = [
    "task",
    "source",
    "target",
    "mdd",
    "seed",
    "fold",
    "uar",
    "war",
    "macro_f1",
    "num_test",
    "validation_uar",
    "world_size",
]
SUMMARY_FIELDS = [
    "task",
    "source",
    "target",
    "mdd",
    "runs",
    "uar_mean",
    "uar_std",
    "war_mean",
    "war_std",
    "bad_audio_skipped",
]
RUN_RESULT_NAME = "run_result.json"
"""Written (atomically) in a run's folder when it finished: a restarted command skips that run."""
PREDICTIONS_NAME = "test_predictions.csv"
"""In every run folder: one row per test utterance (file, speaker, language, corpus, true and predicted emotion, class
scores); the run's UAR / WAR / macro-F1 recompute from it."""
FINAL_MODEL_DIR = "final_model"
"""Sub-folder of the grid's last run holding its trained model (for `OUTPUT_DIR/model` after a resume)."""


@dataclass
class ModelArguments:
    conv_filters: int = field(default=64, metadata={"help": "Filters of the CNN-pooling convs (paper: 64)."})
    primary_capsule_types: int = field(default=8, metadata={"help": "PrimaryCaps capsule channels (ours: 8)."})
    primary_capsule_dim: int = field(default=8, metadata={"help": "PrimaryCaps vector length (8)."})
    digit_capsule_dim: int = field(default=16, metadata={"help": "DigitCaps vector length (16)."})
    routing_iterations: int = field(default=3, metadata={"help": "Dynamic routing iterations (3)."})
    use_attention: bool = field(default=True, metadata={"help": "Self-attention across capsules (CPAC)."})


@dataclass
class ProtocolArguments:
    task: str = field(default="single_corpus", metadata={"help": "single_corpus or cross_corpus.", "choices": TASKS})
    data: str = field(default="synthetic:en", metadata={"help": "Single-corpus data spec (all its splits pooled)."})
    source: str | None = field(default=None, metadata={"help": "Cross-corpus source data spec (labelled)."})
    target: str | None = field(default=None, metadata={"help": "Cross-corpus target data spec (labels unused)."})
    num_folds: int = field(default=10, metadata={"help": "Single-corpus folds (paper: 10)."})
    fold_by: str = field(
        default="speaker", metadata={"help": "speaker (speaker-independent folds) or utterance (stratified)."}
    )
    fold_seed: int = field(default=0, metadata={"help": "Seed of the fold assignment (the same for every seed)."})
    seeds: str = field(default="0", metadata={"help": "Comma-separated training seeds."})
    transductive: bool = field(
        default=False, metadata={"help": "Cross-corpus: adapt to and evaluate on the whole target corpus (paper)."}
    )
    no_mdd: bool = field(default=False, metadata={"help": "Cross-corpus ablation without MDD (paper Algorithm 4)."})
    feature_cache_dir: str | None = field(
        default=None, metadata={"help": "MFCC cache folder (default: OUTPUT_DIR/mfcc_cache)."}
    )
    synthetic_dir: str | None = field(default=None, metadata={"help": "Folder of the default synthetic corpus."})
    num_proc: int = field(default=2, metadata={"help": "Processes for generating the synthetic corpus."})
    skip_bad_audio: bool = field(default=False, metadata={"help": SKIP_BAD_AUDIO_HELP})
    save_model: bool = field(default=True, metadata={"help": "Save the last run's model to OUTPUT_DIR/model."})


def parse_seeds(text: str) -> list[int]:
    seeds = [int(s) for s in text.split(",") if s.strip()]
    if not seeds:
        raise ValueError(f"`--seeds` must list at least one integer, got {text!r}.")
    return seeds


def feature_rows(dataset, extractor, cache_dir: str) -> list[dict]:
    """Rows ``{input_features, emotion, speaker, language, corpus, audio}`` of ``dataset`` with MFCCs computed once
    and cached in ``cache_dir`` (keyed by the extractor settings and the audio files)."""
    from tqdm.auto import tqdm

    from hf_cser.audio import load_audio

    paths = list(dataset["audio"])
    # keyed on the extractor settings and every file's identity (path, size, modification time): an edited file is
    # recomputed
    identity = json.dumps([extractor.to_json_string(), file_identities(paths)])
    key = hashlib.sha1(identity.encode()).hexdigest()[:16]
    cache = os.path.join(cache_dir, f"mfcc_{key}.npz")
    if os.path.isfile(cache):
        with np.load(cache) as stored:
            flat, offsets = stored["features"], stored["offsets"]
        features = [flat[offsets[i] : offsets[i + 1]] for i in range(len(paths))]
    else:
        features = [extractor.extract(load_audio(p, extractor.sampling_rate)) for p in tqdm(paths, desc="MFCC")]
        offsets = np.cumsum([0] + [len(f) for f in features])
        flat = np.concatenate(features)

        def write(tmp: str) -> None:  # ranks of a distributed launch write alike: each its own temporary file
            with open(tmp, "wb") as handle:  # a file object: np.savez would append ".npz" to a temporary name
                np.savez(handle, features=flat, offsets=offsets)

        write_atomically(cache, write)
    present = [name for name in ("emotion", "speaker", "language", "corpus") if name in dataset.column_names]
    columns = {name: list(dataset[name]) for name in present}  # unlabelled target data has no `emotion`
    return [
        {"input_features": f, "audio": p, **{name: values[i] for name, values in columns.items()}}
        for i, (f, p) in enumerate(zip(features, paths, strict=True))
    ]


def load_checked(spec: str, protocol: ProtocolArguments, counter: BadAudioCounter):
    """Load a data spec and decode every audio file once (`drop_bad_audio`): bad files raise naming the file, or are
    dropped and counted in `counter` with `--skip_bad_audio`."""
    from hf_cser.data.specs import load_data_spec

    data = load_data_spec(spec, synthetic_dir=protocol.synthetic_dir, num_proc=protocol.num_proc)
    return {
        name: drop_bad_audio(split, skip_bad_audio=protocol.skip_bad_audio, counter=counter, desc=f"{spec} {name}")
        for name, split in data.items()
    }


def finished_run(run_dir: str) -> dict | None:
    """The result row of a finished run (its `run_result.json`), or `None`."""
    path = os.path.join(run_dir, RUN_RESULT_NAME)
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def train_run(trainer, run_dir: str, base_args, last: bool) -> None:
    """Train (resuming from the run's last checkpoint, or `--resume_from_checkpoint`); the grid's last run also keeps
    its model in `run_dir/final_model`."""
    train_or_restore(
        trainer, resolve_run_resume(run_dir, base_args.resume_from_checkpoint, world_size=trainer.args.world_size)
    )
    if last and trainer.is_world_process_zero():
        trainer.model.save_pretrained(os.path.join(run_dir, FINAL_MODEL_DIR))


def finish_run(run_dir: str, row: dict, is_main: bool) -> None:
    """Record a finished run (atomically: its `run_result.json` and the shared run record) and drop its
    checkpoints."""
    if not is_main:
        return
    system = "capsule" if row["task"] == "single_corpus" else ("mdd" if row["mdd"] else "no_mdd")
    record = RunRecord(
        method="ctl_mtnet",
        system=system,
        seed=row["seed"],
        source=row["source"],
        target=row["target"],
        uar=row["uar"],
        war=row["war"],
        macro_f1=row["macro_f1"],
        num_test=row["num_test"],
        validation_uar=row["validation_uar"] if row["validation_uar"] != "" else None,
        world_size=row["world_size"],
        predictions=PREDICTIONS_NAME,
        extra={"task": row["task"], "fold": row["fold"]},
    )
    write_run_records(run_dir, [record])

    def write(tmp: str) -> None:
        with open(tmp, "w") as handle:
            json.dump(row, handle)

    write_atomically(os.path.join(run_dir, RUN_RESULT_NAME), write)
    for name in os.listdir(run_dir):
        if name.startswith("checkpoint-"):
            shutil.rmtree(os.path.join(run_dir, name), ignore_errors=True)


def evaluate_rows(trainer, rows: list[dict], run_dir: str) -> dict:
    """UAR / WAR / macro-F1 of the model on `rows`; the main process saves the predictions in
    `run_dir/test_predictions.csv` (class scores: the softmax of f's logits, or the capsule lengths as they are)."""
    from hf_cser.metrics import compute_ser_metrics, write_predictions

    output = trainer.predict(rows, metric_key_prefix="test")
    scores = np.asarray(output.predictions[0] if isinstance(output.predictions, tuple) else output.predictions)
    labels = [r["emotion"] for r in rows]
    if trainer.is_world_process_zero():
        write_predictions(
            os.path.join(run_dir, PREDICTIONS_NAME),
            labels,
            scores,
            scores_are_logits=trainer.model.config.head == "linear",
            **{key: [r.get(key, "") for r in rows] for key in ("audio", "speaker", "language", "corpus")},
        )
    return compute_ser_metrics(labels, scores.argmax(-1), with_confusion=False)


def summarize(runs: list[dict]) -> list[dict]:
    """Mean and population std (in %) of UAR and WAR per (task, source, target, mdd)."""
    rows = []
    for key in dict.fromkeys((r["task"], r["source"], r["target"], str(r["mdd"])) for r in runs):
        mine = [r for r in runs if (r["task"], r["source"], r["target"], str(r["mdd"])) == key]
        row = dict(zip(("task", "source", "target", "mdd"), key, strict=True), runs=len(mine))
        for metric in ("uar", "war"):
            values = [100.0 * float(r[metric]) for r in mine]
            row[f"{metric}_mean"] = statistics.fmean(values)
            row[f"{metric}_std"] = statistics.pstdev(values) if len(values) > 1 else 0.0
        rows.append(row)
    return rows


def markdown_table(summary: list[dict], runs: list[dict], note: str) -> str:
    lines = [
        note,
        "",
        "| task | source | target | MDD | runs | UAR (%) | WAR (%) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in summary:
        lines.append(
            f"| {r['task']} | {r['source']} | {r['target']} | {r['mdd']} | {r['runs']} | "
            f"{r['uar_mean']:.2f} +- {r['uar_std']:.2f} | {r['war_mean']:.2f} +- {r['war_std']:.2f} |"
        )
    lines += ["", "Per run:", "", "| seed | fold | source | target | MDD | UAR (%) | WAR (%) |"]
    lines.append("|---|---|---|---|---|---|---|")
    for r in runs:
        lines.append(
            f"| {r['seed']} | {r['fold']} | {r['source']} | {r['target']} | {r['mdd']} | "
            f"{100 * float(r['uar']):.2f} | {100 * float(r['war']):.2f} |"
        )
    return "\n".join(lines)


def build_model(model_args: ModelArguments, head: str, use_mdd: bool):
    from hf_cser.models.ctl_mtnet import CtlMtNetConfig, CtlMtNetForEmotionClassification

    config = CtlMtNetConfig(head=head, use_mdd=use_mdd, **dataclasses.asdict(model_args))
    return CtlMtNetForEmotionClassification(config)


def _protocol_rows(rows: list[dict], index, with_speakers: bool) -> dict:
    """The columns of some feature rows that the leakage guard compares (`check_target_disjoint`)."""
    columns = {"audio": [rows[i]["audio"] for i in index]}
    if with_speakers:
        columns["speaker"] = [rows[i]["speaker"] for i in index]
    return columns


def single_corpus_runs(model_args, protocol, base_args, extractor, cache_dir, seeds, counter):
    from datasets import concatenate_datasets

    from hf_cser.data.folds import make_folds

    data = load_checked(protocol.data, protocol, counter)
    pooled = concatenate_datasets([split for split in data.values() if len(split)])
    rows = feature_rows(pooled, extractor, cache_dir)
    folds = make_folds(
        protocol.fold_by,
        protocol.num_folds,
        protocol.fold_seed,
        speakers=[r["speaker"] for r in rows],
        labels=[r["emotion"] for r in rows],
    )
    for fold, (train_index, test_index) in enumerate(folds):  # utterance folds share speakers by design
        by_speaker = protocol.fold_by == "speaker"
        check_target_disjoint(
            _protocol_rows(rows, test_index, by_speaker),
            target_name=f"fold {fold} test set",
            train=_protocol_rows(rows, train_index, by_speaker),
        )
    grid = [(seed, fold) for seed in seeds for fold in range(len(folds))]
    for seed, fold in grid:
        train_index, test_index = folds[fold]
        run_dir = os.path.join(base_args.output_dir, "runs", f"seed{seed}_fold{fold}")
        done = finished_run(run_dir)
        if done is not None:
            logger.info(f"seed {seed} fold {fold}: finished in an earlier run ({run_dir}), skipped")
            yield run_dir, done
            continue
        set_seed(seed)
        args = dataclasses.replace(
            base_args,
            output_dir=run_dir,
            seed=seed,
            eval_strategy="no",
            load_best_model_at_end=False,
        )
        trainer = CtlMtNetTrainer(
            model=build_model(model_args, "capsule", False),
            args=args,
            train_dataset=[rows[i] for i in train_index],
        )
        train_run(trainer, run_dir, base_args, last=(seed, fold) == grid[-1])
        report = evaluate_rows(trainer, [rows[i] for i in test_index], run_dir)
        row = {
            "task": "single_corpus",
            "source": protocol.data,
            "target": protocol.data,
            "mdd": False,
            "seed": seed,
            "fold": fold,
            "uar": report["uar"],
            "war": report["war"],
            "macro_f1": report["macro_f1"],
            "num_test": report["num_samples"],
            "validation_uar": "" if trainer.state.best_metric is None else trainer.state.best_metric,
            "world_size": args.world_size,
        }
        finish_run(run_dir, row, trainer.is_world_process_zero())
        yield run_dir, row


def cross_corpus_runs(model_args, protocol, base_args, extractor, cache_dir, seeds, counter):
    from datasets import concatenate_datasets

    if not protocol.source or not protocol.target:
        raise ValueError("`--task cross_corpus` needs `--source` and `--target` data specs.")
    source = load_checked(protocol.source, protocol, counter)
    target = load_checked(protocol.target, protocol, counter)
    validation_set = source["validation"] if len(source.get("validation", [])) else None
    selection = validation_set is not None and base_args.eval_strategy != "no"
    if not protocol.transductive:
        missing = [s for s in ("train", "test") if s not in target or not len(target[s])]
        if missing:
            raise ValueError(
                f"`--target {protocol.target}` has no {' / '.join(missing)} split, which the inductive cross-corpus "
                "protocol needs (unlabelled adaptation on train, evaluation on test). Pass `--transductive` (adapt to "
                "and evaluate on the whole target corpus, the paper's setting), or a target with both splits."
            )
    whole = concatenate_datasets([split for split in target.values() if len(split)])
    # transductive (the paper's setting): the whole target corpus is adapted to (without labels) and evaluated
    unlabelled = strip_label_columns(whole if protocol.transductive else target["train"])
    # no target file or speaker in the source training, validation or selection data (MFCCs have no corpus
    # statistics to leak through); the target data seen by MDD carries no label
    check_target_disjoint(
        whole,
        target_name=f"target corpus {protocol.target!r}",
        train=source["train"],
        validation=validation_set,
        selection=validation_set if selection else None,
        unlabelled=unlabelled,
    )
    train = feature_rows(source["train"], extractor, cache_dir)
    validation = feature_rows(validation_set, extractor, cache_dir) if validation_set is not None else []
    target_train = feature_rows(unlabelled, extractor, cache_dir)
    test = feature_rows(whole if protocol.transductive else target["test"], extractor, cache_dir)
    use_mdd = not protocol.no_mdd
    for seed in seeds:
        run_dir = os.path.join(base_args.output_dir, "runs", f"seed{seed}")
        done = finished_run(run_dir)
        if done is not None:
            logger.info(f"seed {seed}: finished in an earlier run ({run_dir}), skipped")
            yield run_dir, done
            continue
        set_seed(seed)
        args = dataclasses.replace(
            base_args,
            output_dir=run_dir,
            seed=seed,
            **({} if selection else {"eval_strategy": "no", "load_best_model_at_end": False}),
        )
        trainer = CtlMtNetTrainer(
            model=build_model(model_args, "linear", use_mdd),
            args=args,
            train_dataset=train,
            target_dataset=target_train if use_mdd else None,
            eval_dataset=validation if selection else None,
        )
        train_run(trainer, run_dir, base_args, last=seed == seeds[-1])
        report = evaluate_rows(trainer, test, run_dir)
        row = {
            "task": "cross_corpus",
            "source": protocol.source,
            "target": protocol.target,
            "mdd": use_mdd,
            "seed": seed,
            "fold": "-",
            "uar": report["uar"],
            "war": report["war"],
            "macro_f1": report["macro_f1"],
            "num_test": report["num_samples"],
            "validation_uar": "" if trainer.state.best_metric is None else trainer.state.best_metric,
            "world_size": args.world_size,
        }
        finish_run(run_dir, row, trainer.is_world_process_zero())
        yield run_dir, row


def save_final_model(model, train_args, extractor, protocol, summary, output_dir: str, seeds: list[int]) -> str:
    from hf_cser.data.specs import describe_data_spec, is_synthetic_spec, parse_data_spec
    from hf_cser.model_card import render_model_card, save_model_card

    model_dir = os.path.join(output_dir, "model")
    model.save_pretrained(model_dir)
    extractor.save_pretrained(model_dir)
    train_spec = protocol.data if protocol.task == "single_corpus" else protocol.source
    specs = [train_spec] + ([protocol.target] if protocol.task == "cross_corpus" else [])
    eval_results = {}
    for row in summary:
        name = f"{row['task']} {row['source']} -> {row['target']} (MDD {row['mdd']})"
        language = parse_data_spec(row["target"]).languages
        eval_results[name] = {
            "dataset": "synthetic" if is_synthetic_spec(row["target"]) else row["target"],
            "language": ",".join(language) if language else None,
            "split": "k-fold" if row["task"] == "single_corpus" else ("all" if protocol.transductive else "test"),
            "uar": row["uar_mean"] / 100.0,
            "war": row["war_mean"] / 100.0,
        }
    languages = sorted({code for s in specs for code in (parse_data_spec(s).languages or ())})
    config = model.config
    card = render_model_card(
        "ctl_mtnet",
        model_id=os.path.basename(os.path.abspath(output_dir)) or "ctl-mtnet",
        datasets=["synthetic"] if all(is_synthetic_spec(s) for s in specs) else specs,
        languages=languages,
        eval_results=eval_results,
        training_args={
            "learning_rate": train_args.learning_rate,
            "epochs": train_args.num_train_epochs,
            "batch_size": train_args.per_device_train_batch_size,
            "max_train_frames": train_args.max_train_frames,
        },
        hyperparameters={
            "head": config.head,
            "use_mdd": config.use_mdd,
            "mdd_margin (gamma)": config.mdd_margin,
            "mdd_weight (eta)": config.mdd_weight,
            "grl_coefficient": config.grl_coefficient,
            "conv_filters": config.conv_filters,
            "routing_iterations": config.routing_iterations,
        },
        data_description="; ".join(describe_data_spec(s) for s in specs) + ".",
        seeds=len(seeds),
        extra={"task": protocol.task, "saved run": f"the last run (seed {seeds[-1]}) of the protocol"},
    )
    save_model_card(card, model_dir)
    return model_dir


def main(argv=None):
    from hf_cser.console import quiet_library_progress_bars

    quiet_library_progress_bars()  # no per-checkpoint 'Writing model shards' lines between the stage bars
    from hf_cser.models.ctl_mtnet import CtlMtNetFeatureExtractor

    parser = HfArgumentParser((ModelArguments, ProtocolArguments, CtlMtNetTrainingArguments))
    model_args, protocol, base_args = parser.parse_args_into_dataclasses(args=argv)
    default_output_dir(base_args, "outputs/ctl_mtnet")
    if protocol.task not in TASKS:
        raise ValueError(f"`--task` must be one of {list(TASKS)}, got {protocol.task!r}.")
    logging.basicConfig(
        format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=base_args.get_process_log_level()
    )
    seeds = parse_seeds(protocol.seeds)
    check_output_dir(base_args.output_dir)  # before any data loading: fails fast, naming the folder
    cache_dir = protocol.feature_cache_dir or os.path.join(base_args.output_dir, "mfcc_cache")
    extractor = CtlMtNetFeatureExtractor()
    runner = single_corpus_runs if protocol.task == "single_corpus" else cross_corpus_runs
    runs, run_dir, counter = [], None, BadAudioCounter()
    for run_dir, run in runner(model_args, protocol, base_args, extractor, cache_dir, seeds, counter):  # noqa: B007
        runs.append(run)
        logger.info(f"run {run}")
    if counter.total:
        logger.warning(counter.summary())
    summary = [dict(row, bad_audio_skipped=counter.total) for row in summarize(runs)]
    data_note = protocol.data if protocol.task == "single_corpus" else f"{protocol.source} -> {protocol.target}"
    note = (
        f"CTL-MTNet, {protocol.task}"
        + (f" ({protocol.num_folds}-fold, folds by {protocol.fold_by})" if protocol.task == "single_corpus" else "")
        + (", transductive" if protocol.task == "cross_corpus" and protocol.transductive else "")
        + f"; data: {data_note}; {len(seeds)} seed(s) ({', '.join(map(str, seeds))}); mean +- std over runs."
    )
    if base_args.process_index == 0:
        with open(os.path.join(base_args.output_dir, "ctl_mtnet_runs.csv"), "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=RUN_FIELDS)
            writer.writeheader()
            writer.writerows(runs)
        with open(os.path.join(base_args.output_dir, "ctl_mtnet_summary.csv"), "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=SUMMARY_FIELDS)
            writer.writeheader()
            writer.writerows(summary)
        table = markdown_table(summary, runs, note)
        with open(os.path.join(base_args.output_dir, "ctl_mtnet_results.md"), "w") as f:
            f.write(table + "\n")
        if protocol.save_model and run_dir is not None:
            from hf_cser.models.ctl_mtnet import CtlMtNetForEmotionClassification

            model = CtlMtNetForEmotionClassification.from_pretrained(os.path.join(run_dir, FINAL_MODEL_DIR))
            save_final_model(model, base_args, extractor, protocol, summary, base_args.output_dir, seeds)
        print(table)
        print(json.dumps({"runs": len(runs), "summary": summary}))
    finish_distributed()  # every process reaches the end before the process group goes
    return summary


if __name__ == "__main__":
    sys.exit(0 if main() is not None else 1)
