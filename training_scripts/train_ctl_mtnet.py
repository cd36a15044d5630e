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

import logging
import sys

from transformers import HfArgumentParser

import hf_cser  # noqa: F401  (registers the models)
from hf_cser.console import quiet_library_progress_bars, set_progress_bars
from hf_cser.experiments.ctl_mtnet import ModelArguments, ProtocolArguments, run_ctl_mtnet
from hf_cser.trainers.ctl_mtnet_arguments import CtlMtNetTrainingArguments


def main(argv=None) -> list[dict]:
    quiet_library_progress_bars()  # no per-checkpoint 'Writing model shards' lines between the stage bars
    parser = HfArgumentParser((ModelArguments, ProtocolArguments, CtlMtNetTrainingArguments))
    model_args, protocol, base_args = parser.parse_args_into_dataclasses(args=argv)
    set_progress_bars(not base_args.disable_tqdm)  # every hf_cser stage bar follows --disable_tqdm
    logging.basicConfig(
        format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=base_args.get_process_log_level()
    )
    # the report (tables, summary line, final JSON line) goes to the console
    return run_ctl_mtnet(model_args, protocol, base_args, echo=print)


if __name__ == "__main__":
    sys.exit(0 if main() is not None else 1)
