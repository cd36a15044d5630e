"""One CTL-MTNet experiment (paper 002): the runs of the single-corpus or cross-corpus protocol, the results
tables and the saved model."""

from __future__ import annotations

import csv
import json
import logging
import os
import time
from collections.abc import Callable

from hf_cser.audio import BadAudioCounter
from hf_cser.console import summary_line
from hf_cser.models.ctl_mtnet import CtlMtNetFeatureExtractor, CtlMtNetForEmotionClassification
from hf_cser.trainers.checkpointing import check_output_dir, default_output_dir, finish_distributed
from hf_cser.trainers.ctl_mtnet_arguments import CtlMtNetTrainingArguments

from .arguments import (
    FINAL_MODEL_DIR,
    RUN_FIELDS,
    SUMMARY_FIELDS,
    TASKS,
    ModelArguments,
    ProtocolArguments,
    parse_seeds,
)
from .reports import markdown_table, save_final_model, summarize
from .runs import cross_corpus_runs, single_corpus_runs

logger = logging.getLogger(__name__)


def run_ctl_mtnet(
    model_args: ModelArguments,
    protocol: ProtocolArguments,
    base_args: CtlMtNetTrainingArguments,
    echo: Callable[[str], None] | None = None,
) -> list[dict]:
    """The experiment of `training_scripts/train_ctl_mtnet.py`: every run of the protocol (folds x seeds, or seeds),
    then `ctl_mtnet_runs.csv`, `ctl_mtnet_summary.csv`, `ctl_mtnet_results.md` and the last run's model in
    `base_args.output_dir`; returns the summary rows.

    `echo` receives the run's report lines (tables, the summary line, the final JSON line); default: this module's
    logger at INFO. The training script passes `print` (its console report)."""
    echo = echo or logger.info
    start = time.time()
    default_output_dir(base_args, "outputs/ctl_mtnet")
    if protocol.task not in TASKS:
        raise ValueError(f"`--task` must be one of {list(TASKS)}, got {protocol.task!r}.")
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
            model = CtlMtNetForEmotionClassification.from_pretrained(os.path.join(run_dir, FINAL_MODEL_DIR))
            save_final_model(model, base_args, extractor, protocol, summary, base_args.output_dir, seeds)
        echo(table)
        metrics = {f"UAR (MDD {row['mdd']})": row["uar_mean"] / 100 for row in summary}
        name = f"CTL-MTNet {protocol.task} ({len(runs)} run{'' if len(runs) == 1 else 's'})"
        echo(summary_line(name, time.time() - start, metrics, base_args.output_dir))
        echo(json.dumps({"runs": len(runs), "summary": summary}))
    finish_distributed()  # every process reaches the end before the process group goes
    return summary
