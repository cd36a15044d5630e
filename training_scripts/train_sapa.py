#!/usr/bin/env python
"""Train and evaluate SAPA (speaker-style aware phoneme anchoring) for cross-lingual speech emotion recognition.

With no argument it runs the library's main job on the embedded default: the synthetic corpus, source English,
target Mandarin (the paper's English -> Mandarin direction), and writes a complete, loadable model folder::

    accelerate launch training_scripts/train_sapa.py
    accelerate launch training_scripts/train_sapa.py --variant sapa_only_p --seed 3 --output_dir outputs/sapa_p3
    accelerate launch training_scripts/train_sapa.py \\
        --train_data corpus:msp-podcast:/data/MSP-Podcast --eval_data corpus:biic-podcast:/data/BIIC-Podcast \\
        --content_encoder microsoft/wavlm-base-plus --output_dir outputs/msp_to_biic

Steps: load data (``--train_data``: train + validation splits of the source; ``--eval_data``: test split of the
target) -> frozen encoders (content: a speech backbone; speaker: GE2E) -> window features computed once and cached
-> emotion-specific speaker-style graphs on the source training speakers (cluster ids for the speaker-space loss)
-> :class:`~hf_cser.trainers.SapaTrainer` with early stopping and model selection on the SOURCE validation UAR ->
evaluation on the source test and target test splits -> analyses (Table 1, Fig. 1, Tables 2/3, Table 5) -> model
folder with card. The target's labels are used only for the final evaluation and the diagnostic analyses, never for
training or model selection. The last line printed is a JSON object with the source and target UAR / WAR / macro-F1.

Run safety:

- ``--output_dir`` is checked first (created, written to, enough free space: `HF_CSER_MIN_FREE_MB`, default 200): an
  unusable folder or a full disk fails before any data is loaded, with the path in the message.
- Leakage guard: the target test split's audio files and speakers must be absent from the source train split (which
  also builds the speaker-style graphs) and the validation split (early stopping and model selection), else
  `hf_cser.data.TargetLeakageError`.
- Every audio file is decoded once before training: a bad file raises `hf_cser.audio.BadAudioError` naming it, or,
  with ``--skip_bad_audio``, is dropped and counted (``bad_audio_skipped`` in the summary and results.json).
- Checkpoints hold the weights, optimizer, scheduler, RNG states (one per process) and the trainer state (early
  stopping included); the batch order depends only on the seed and the epoch, so a resumed run continues exactly where
  the checkpoint left off. Checkpoint every N steps with ``--save_strategy steps --save_steps N`` and, since the best
  checkpoint is reloaded at the end, ``--eval_strategy steps --eval_steps N``. Rerunning the same command resumes
  automatically from the last complete ``checkpoint-*`` in ``--output_dir`` (e.g. after a crash or a killed job);
  ``--resume_from_checkpoint PATH`` picks a checkpoint, ``--resume_from_checkpoint none`` starts from scratch::

      accelerate launch training_scripts/train_sapa.py --save_strategy steps --save_steps 200 \\
          --eval_strategy steps --eval_steps 200 --output_dir outputs/sapa   # killed? run it again: it resumes
"""

import logging
import sys

import transformers
from transformers import HfArgumentParser

import hf_cser  # noqa: F401  (registers the models)
from hf_cser.console import quiet_library_progress_bars, set_progress_bars
from hf_cser.experiments.sapa import DataArguments, ModelArguments, run_sapa
from hf_cser.trainers import SapaTrainingArguments


def configure_logging(training_args) -> None:
    level = training_args.get_process_log_level()
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=level, stream=sys.stderr)
    transformers.utils.logging.set_verbosity(level)
    transformers.utils.logging.get_logger("hf_cser").setLevel(level)


def main(argv=None) -> dict:
    quiet_library_progress_bars()  # no per-checkpoint 'Writing model shards' lines between the stage bars
    parser = HfArgumentParser((ModelArguments, DataArguments, SapaTrainingArguments))
    model_args, data_args, training_args = parser.parse_args_into_dataclasses(args=argv)
    set_progress_bars(not training_args.disable_tqdm)  # every hf_cser stage bar follows --disable_tqdm
    configure_logging(training_args)
    # the report (tables, summary line, final JSON line) goes to the console
    return run_sapa(model_args, data_args, training_args, echo=print)


if __name__ == "__main__":
    main()
