#!/usr/bin/env python
"""Zero-shot cross-lingual SER (paper 001): language-aware supervised contrastive + speaker-adversarial learning.

Runs one setting or the paper's grid of nine settings (`hf_cser.data.zero_shot_protocol.PAPER_SETTINGS`) for the
systems baseline1, baseline2, proposed, proposed_wo_scl, proposed_wo_adversarial and upper_bound, over seeds, and
writes a results table (`zero_shot_runs.csv`, one row per run, appended as runs finish so an interrupted grid resumes;
`zero_shot_table.md` with mean +- std; each run folder's `target_predictions.csv` holds its test predictions) plus a
t-SNE plot of the proposed system's embeddings per setting::

    accelerate launch training_scripts/train_zero_shot.py --settings en-\\>de --systems proposed,baseline2
    accelerate launch training_scripts/train_zero_shot.py --settings all --systems all --seeds 0,1,2
    accelerate launch training_scripts/train_zero_shot.py --data corpus:emodb:/data/emodb ... (a DatasetDict with
        all five languages: pass a manifest CSV or a saved DatasetDict folder that merges the corpora)

The target language's data never enters training, the sampler, the speaker map, the frame-normalisation statistics
or model selection (checked per run by `hf_cser.data.zero_shot_protocol.check_no_target_leakage` on languages and
speakers, `hf_cser.data.check_target_disjoint` on the target test split's audio files and speakers, and the trainer's
leak guard); only upper_bound trains on the target language (never on its test speakers).

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

import logging
import sys

from transformers import HfArgumentParser

import hf_cser  # noqa: F401  (registers the models)
from hf_cser.console import quiet_library_progress_bars, set_progress_bars
from hf_cser.experiments.zero_shot import ModelArguments, ProtocolArguments, run_zero_shot
from hf_cser.trainers import ZeroShotTrainingArguments


def main(argv=None) -> list[dict]:
    quiet_library_progress_bars()  # no per-checkpoint 'Writing model shards' lines between the stage bars
    parser = HfArgumentParser((ModelArguments, ProtocolArguments, ZeroShotTrainingArguments))
    model_args, protocol_args, base_args = parser.parse_args_into_dataclasses(args=argv)
    set_progress_bars(not base_args.disable_tqdm)  # every hf_cser stage bar follows --disable_tqdm
    logging.basicConfig(
        format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=base_args.get_process_log_level()
    )
    # the report (tables, summary line, final JSON line) goes to the console
    return run_zero_shot(model_args, protocol_args, base_args, echo=print)


if __name__ == "__main__":
    sys.exit(0 if main() is not None else 1)
