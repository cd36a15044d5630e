"""The runs of the CTL-MTNet experiment: single-corpus k-fold (capsule head) and cross-corpus with or without MDD
(linear head), each resumable in its own folder with its predictions, result and run record."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil

import numpy as np
from transformers import set_seed

from hf_cser.cache import write_atomically
from hf_cser.data import check_target_disjoint
from hf_cser.run_record import RunRecord, write_run_records
from hf_cser.trainers.checkpointing import resolve_run_resume, train_or_restore
from hf_cser.trainers.ctl_mtnet_trainer import CtlMtNetTrainer, strip_label_columns

from .arguments import FINAL_MODEL_DIR, PREDICTIONS_NAME, RUN_RESULT_NAME, ModelArguments
from .data import feature_rows, load_checked, protocol_rows

logger = logging.getLogger(__name__)


def finished_run(run_dir: str, label: str = "") -> dict | None:
    """The result row of a finished run (its `run_result.json`; logged as skipped, named by `label`), or `None`."""
    path = os.path.join(run_dir, RUN_RESULT_NAME)
    if not os.path.isfile(path):
        return None
    logger.info(f"{label or run_dir}: finished in an earlier run ({run_dir}), skipped")
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


def result_row(trainer, report: dict, task: str, source: str, target: str, mdd: bool, seed: int, fold) -> dict:
    """One run's row of `ctl_mtnet_runs.csv` (and its `run_result.json`): the protocol, the test metrics, the
    validation UAR of model selection ('' without selection) and the number of processes."""
    return {
        "task": task,
        "source": source,
        "target": target,
        "mdd": mdd,
        "seed": seed,
        "fold": fold,
        "uar": report["uar"],
        "war": report["war"],
        "macro_f1": report["macro_f1"],
        "num_test": report["num_samples"],
        "validation_uar": "" if trainer.state.best_metric is None else trainer.state.best_metric,
        "world_size": trainer.args.world_size,
    }


def build_model(model_args: ModelArguments, head: str, use_mdd: bool):
    from hf_cser.models.ctl_mtnet import CtlMtNetConfig, CtlMtNetForEmotionClassification

    config = CtlMtNetConfig(head=head, use_mdd=use_mdd, **dataclasses.asdict(model_args))
    return CtlMtNetForEmotionClassification(config)


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
            protocol_rows(rows, test_index, by_speaker),
            target_name=f"fold {fold} test set",
            train=protocol_rows(rows, train_index, by_speaker),
        )
    grid = [(seed, fold) for seed in seeds for fold in range(len(folds))]
    for seed, fold in grid:
        train_index, test_index = folds[fold]
        run_dir = os.path.join(base_args.output_dir, "runs", f"seed{seed}_fold{fold}")
        done = finished_run(run_dir, f"seed {seed} fold {fold}")
        if done is not None:
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
        row = result_row(trainer, report, "single_corpus", protocol.data, protocol.data, False, seed, fold)
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
        done = finished_run(run_dir, f"seed {seed}")
        if done is not None:
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
        row = result_row(trainer, report, "cross_corpus", protocol.source, protocol.target, use_mdd, seed, "-")
        finish_run(run_dir, row, trainer.is_world_process_zero())
        yield run_dir, row
