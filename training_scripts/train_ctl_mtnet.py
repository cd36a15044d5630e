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
extractor, model card) that loads with `AutoModelForAudioClassification` and `pipeline("audio-classification")`.
UAR = unweighted average recall (mean per-class recall), WAR = accuracy (paper 002's text swaps the two names).
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import logging
import os
import statistics
import sys
from dataclasses import dataclass, field

import numpy as np
from transformers import HfArgumentParser, set_seed

import hf_cser  # noqa: F401  (registers the models)
from hf_cser.trainers.ctl_mtnet_config import CtlMtNetTrainingArguments
from hf_cser.trainers.ctl_mtnet_trainer import CtlMtNetTrainer

logger = logging.getLogger("train_ctl_mtnet")

TASKS = ("single_corpus", "cross_corpus")
RUN_FIELDS = ["task", "source", "target", "mdd", "seed", "fold", "uar", "war", "macro_f1", "num_test", "world_size"]
SUMMARY_FIELDS = ["task", "source", "target", "mdd", "runs", "uar_mean", "uar_std", "war_mean", "war_std"]


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
    save_model: bool = field(default=True, metadata={"help": "Save the last run's model to OUTPUT_DIR/model."})


def parse_seeds(text: str) -> list[int]:
    seeds = [int(s) for s in text.split(",") if s.strip()]
    if not seeds:
        raise ValueError(f"`--seeds` must list at least one integer, got {text!r}.")
    return seeds


def feature_rows(dataset, extractor, cache_dir: str) -> list[dict]:
    """Rows ``{input_features, emotion, speaker, language, audio}`` of ``dataset`` with MFCCs computed once and cached
    in ``cache_dir`` (keyed by the extractor settings and the audio files)."""
    from tqdm.auto import tqdm

    from hf_cser.audio import load_audio

    paths = list(dataset["audio"])
    key = hashlib.sha1(
        (extractor.to_json_string() + "\n".join(f"{p}:{os.path.getsize(p)}" for p in paths)).encode()
    ).hexdigest()[:16]
    cache = os.path.join(cache_dir, f"mfcc_{key}.npz")
    if os.path.isfile(cache):
        with np.load(cache) as stored:
            flat, offsets = stored["features"], stored["offsets"]
        features = [flat[offsets[i] : offsets[i + 1]] for i in range(len(paths))]
    else:
        features = [extractor.extract(load_audio(p, extractor.sampling_rate)) for p in tqdm(paths, desc="MFCC")]
        os.makedirs(cache_dir, exist_ok=True)
        offsets = np.cumsum([0] + [len(f) for f in features])
        tmp = f"{cache}.{os.getpid()}.tmp.npz"  # one per process: ranks of a distributed launch write alike
        np.savez(tmp, features=np.concatenate(features), offsets=offsets)
        os.replace(tmp, cache)
    columns = {name: list(dataset[name]) for name in ("emotion", "speaker", "language")}
    return [
        {"input_features": f, "audio": p, **{name: values[i] for name, values in columns.items()}}
        for i, (f, p) in enumerate(zip(features, paths, strict=True))
    ]


def evaluate_rows(trainer, rows: list[dict]) -> dict:
    from hf_cser.metrics import compute_ser_metrics

    output = trainer.predict(rows, metric_key_prefix="test")
    predictions = np.asarray(output.predictions).argmax(-1)
    return compute_ser_metrics([r["emotion"] for r in rows], predictions, with_confusion=False)


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


def single_corpus_runs(model_args, protocol, base_args, extractor, cache_dir, seeds):
    from datasets import concatenate_datasets

    from hf_cser.data.folds import make_folds
    from hf_cser.data.specs import load_data_spec

    data = load_data_spec(protocol.data, synthetic_dir=protocol.synthetic_dir, num_proc=protocol.num_proc)
    pooled = concatenate_datasets([split for split in data.values() if len(split)])
    rows = feature_rows(pooled, extractor, cache_dir)
    folds = make_folds(
        protocol.fold_by, protocol.num_folds, protocol.fold_seed,
        speakers=[r["speaker"] for r in rows], labels=[r["emotion"] for r in rows],
    )  # fmt: skip
    for seed in seeds:
        for fold, (train_index, test_index) in enumerate(folds):
            set_seed(seed)
            args = dataclasses.replace(
                base_args, output_dir=os.path.join(base_args.output_dir, "runs", f"seed{seed}_fold{fold}"), seed=seed,
                eval_strategy="no", save_strategy="no", load_best_model_at_end=False,
            )  # fmt: skip
            trainer = CtlMtNetTrainer(
                model=build_model(model_args, "capsule", False), args=args,
                train_dataset=[rows[i] for i in train_index],
            )  # fmt: skip
            trainer.train()
            report = evaluate_rows(trainer, [rows[i] for i in test_index])
            yield trainer, {
                "task": "single_corpus", "source": protocol.data, "target": protocol.data, "mdd": False,
                "seed": seed, "fold": fold, "uar": report["uar"], "war": report["war"],
                "macro_f1": report["macro_f1"], "num_test": report["num_samples"], "world_size": args.world_size,
            }  # fmt: skip


def cross_corpus_runs(model_args, protocol, base_args, extractor, cache_dir, seeds):
    from datasets import concatenate_datasets

    from hf_cser.data.specs import load_data_spec

    if not protocol.source or not protocol.target:
        raise ValueError("`--task cross_corpus` needs `--source` and `--target` data specs.")
    source = load_data_spec(protocol.source, synthetic_dir=protocol.synthetic_dir, num_proc=protocol.num_proc)
    target = load_data_spec(protocol.target, synthetic_dir=protocol.synthetic_dir, num_proc=protocol.num_proc)
    source_files = {p for split in source.values() for p in split["audio"]}
    shared = source_files & {p for split in target.values() for p in split["audio"]}
    if shared:
        raise ValueError(
            f"Source {protocol.source!r} and target {protocol.target!r} share {len(shared)} audio files (e.g. "
            f"{sorted(shared)[0]}); cross-corpus evaluation needs disjoint corpora."
        )
    train = feature_rows(source["train"], extractor, cache_dir)
    validation = feature_rows(source["validation"], extractor, cache_dir) if len(source.get("validation", [])) else []
    if protocol.transductive:  # the paper's setting: the whole target corpus is adapted to and evaluated
        whole = concatenate_datasets([split for split in target.values() if len(split)])
        target_train = test = feature_rows(whole, extractor, cache_dir)
    else:
        target_train = feature_rows(target["train"], extractor, cache_dir)
        test = feature_rows(target["test"], extractor, cache_dir)
    use_mdd = not protocol.no_mdd
    for seed in seeds:
        set_seed(seed)
        selection = bool(validation) and base_args.eval_strategy != "no"
        args = dataclasses.replace(
            base_args, output_dir=os.path.join(base_args.output_dir, "runs", f"seed{seed}"), seed=seed,
            **({} if selection else {"eval_strategy": "no", "save_strategy": "no", "load_best_model_at_end": False}),
        )  # fmt: skip
        trainer = CtlMtNetTrainer(
            model=build_model(model_args, "linear", use_mdd), args=args, train_dataset=train,
            target_dataset=target_train if use_mdd else None, eval_dataset=validation if selection else None,
        )  # fmt: skip
        trainer.train()
        report = evaluate_rows(trainer, test)
        yield trainer, {
            "task": "cross_corpus", "source": protocol.source, "target": protocol.target, "mdd": use_mdd,
            "seed": seed, "fold": "-", "uar": report["uar"], "war": report["war"], "macro_f1": report["macro_f1"],
            "num_test": report["num_samples"], "world_size": args.world_size,
        }  # fmt: skip


def save_final_model(trainer, extractor, protocol, summary, output_dir: str, seeds: list[int]) -> str:
    from hf_cser.data.specs import describe_data_spec, is_synthetic_spec, parse_data_spec
    from hf_cser.model_card import render_model_card, save_model_card

    model_dir = os.path.join(output_dir, "model")
    trainer.save_model(model_dir)
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
            "uar": row["uar_mean"] / 100.0, "war": row["war_mean"] / 100.0,
        }  # fmt: skip
    languages = sorted({code for s in specs for code in (parse_data_spec(s).languages or ())})
    config = trainer.model.config
    card = render_model_card(
        "ctl_mtnet",
        model_id=os.path.basename(os.path.abspath(output_dir)) or "ctl-mtnet",
        datasets=["synthetic"] if all(is_synthetic_spec(s) for s in specs) else specs,
        languages=languages,
        eval_results=eval_results,
        training_args={
            "learning_rate": trainer.args.learning_rate, "epochs": trainer.args.num_train_epochs,
            "batch_size": trainer.args.per_device_train_batch_size, "max_train_frames": trainer.args.max_train_frames,
        },  # fmt: skip
        hyperparameters={
            "head": config.head, "use_mdd": config.use_mdd, "mdd_margin (gamma)": config.mdd_margin,
            "mdd_weight (eta)": config.mdd_weight, "grl_coefficient": config.grl_coefficient,
            "conv_filters": config.conv_filters, "routing_iterations": config.routing_iterations,
        },  # fmt: skip
        data_description="; ".join(describe_data_spec(s) for s in specs) + ".",
        seeds=len(seeds),
        extra={"task": protocol.task, "saved run": f"the last run (seed {seeds[-1]}) of the protocol"},
    )
    save_model_card(card, model_dir)
    return model_dir


def main(argv=None):
    from hf_cser.models.ctl_mtnet import CtlMtNetFeatureExtractor

    parser = HfArgumentParser((ModelArguments, ProtocolArguments, CtlMtNetTrainingArguments))
    model_args, protocol, base_args = parser.parse_args_into_dataclasses(args=argv)
    if base_args.output_dir is None or base_args.output_dir == "trainer_output":
        base_args.output_dir = "outputs/ctl_mtnet"
    if protocol.task not in TASKS:
        raise ValueError(f"`--task` must be one of {list(TASKS)}, got {protocol.task!r}.")
    logging.basicConfig(
        format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=base_args.get_process_log_level()
    )
    seeds = parse_seeds(protocol.seeds)
    os.makedirs(base_args.output_dir, exist_ok=True)
    cache_dir = protocol.feature_cache_dir or os.path.join(base_args.output_dir, "mfcc_cache")
    extractor = CtlMtNetFeatureExtractor()
    runner = single_corpus_runs if protocol.task == "single_corpus" else cross_corpus_runs
    runs, trainer = [], None
    for trainer, run in runner(model_args, protocol, base_args, extractor, cache_dir, seeds):
        runs.append(run)
        logger.info(f"run {run}")
    summary = summarize(runs)
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
        if protocol.save_model and trainer is not None:
            save_final_model(trainer, extractor, protocol, summary, base_args.output_dir, seeds)
        print(table)
        print(json.dumps({"runs": len(runs), "summary": summary}))
    return summary


if __name__ == "__main__":
    sys.exit(0 if main() is not None else 1)
