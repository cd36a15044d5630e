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

import logging
import sys

from transformers import HfArgumentParser

import hf_cser  # noqa: F401  (registers the models)
from hf_cser.console import quiet_library_progress_bars, set_progress_bars
from hf_cser.experiments.feature_gan import DataArguments, ModelArguments, RunArguments, run_feature_gan


def main(argv=None) -> dict:
    quiet_library_progress_bars()  # no per-checkpoint 'Writing model shards' lines between the stage bars
    parser = HfArgumentParser((ModelArguments, DataArguments, RunArguments))
    model_args, data_args, run_args = parser.parse_args_into_dataclasses(args=argv)
    set_progress_bars(not run_args.disable_tqdm)  # every hf_cser stage bar follows --disable_tqdm
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # the report (tables, summary line, final JSON line) goes to the console
    return run_feature_gan(model_args, data_args, run_args, echo=print)


if __name__ == "__main__":
    main(sys.argv[1:])
