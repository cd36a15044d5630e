#!/usr/bin/env python
"""Cross-lingual transfer matrix (CLTM, paper 003) for SER, gender recognition or speaker verification.

For languages L1..Ln of a dataset: balanced speaker-disjoint subsets D_i, D'_i (same number of samples, speakers
and classes per language), a learning-curve sweep of the single (D_i) and self (D_i + D'_i) runs over a grid of N
that picks the dynamic interval [N, 2N] (`hf_cser.cltm.protocol.select_dynamic_interval`), then the dual runs
(D_i + D_j) of every ordered pair, over several seeds with every source of randomness seeded. Every finished run is
appended to `cltm_runs.csv` at once; a restarted command skips the runs already there (a crash loses at most the run
in flight). Writes to `--output_dir`:

- `cltm_runs.csv` (one row per run), `cltm_config.json` (settings; a resume with other settings is refused),
- `dynamic_interval.json` and `learning_curves.png` (the sweep and the chosen [N, 2N], highlighted),
- `cltm_matrix.csv`, `cltm_matrix_se.csv`, `cltm_gains.csv`, `cltm_result.json` (gains, SEs, undefined rows),
- `cltm_diagnostics.json`, `cltm_diagnostics.md`, `cltm_heatmap.png` (colour scale [-1.5, 1.5], family order).

    accelerate launch training_scripts/run_cltm.py --task ser                      # synthetic corpus, 5 languages
    accelerate launch training_scripts/run_cltm.py --task gender --seeds 0,1,2,3,4
    accelerate launch training_scripts/run_cltm.py --task sv --n_samples 64
    accelerate launch training_scripts/run_cltm.py --task ser --data corpus:esd:/data/ESD --eval_split test \\
        --model audio --backbone utter-project/mHuBERT-147 --n_grid 250,500,1000

The output folder is checked (writable, free space) before any data is loaded; every audio file is decoded once first
(a bad file raises naming it; `--skip_bad_audio` drops and counts it: `bad_audio_skipped` in `cltm_result.json`);
every run refuses to train if an evaluation speaker or file of its cell is in its training rows.

The default task model is a small MLP on cached log-mel statistics, z-normalised per speaker for SER
(`--speaker_normalization auto`): the 5-language SER CLTM with 10 seeds (600 runs) takes about 5 CPU-minutes (18 min
wall on the 2-core machine while shared). `--model audio --backbone ID_OR_FOLDER` fine-tunes any speech classifier
that `AutoModelForAudioClassification` can build from that folder (transformers' wav2vec2 / HuBERT / WavLM
classifiers, hf_cser's zero-shot SER model), with the paper's recipe. Several processes (`accelerate launch` with
`training_scripts/accelerate_configs/cpu_ddp_2proc.yaml`, or `--num_processes K` on GPUs) share the runs of each
phase.
"""

import logging

from transformers import HfArgumentParser

from hf_cser.console import quiet_library_progress_bars, set_progress_bars
from hf_cser.experiments.cltm import ModelArguments, OutputArguments, ProtocolArguments, run_cltm


def main(argv=None) -> dict | None:
    import torch

    quiet_library_progress_bars()  # no per-checkpoint 'Writing model shards' lines between the stage bars
    parser = HfArgumentParser((ProtocolArguments, ModelArguments, OutputArguments))
    args, model_args, out_args = parser.parse_args_into_dataclasses(args=argv)
    set_progress_bars(out_args.progress)  # every hf_cser stage bar follows --progress
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    torch.set_num_threads(model_args.num_threads)
    # the report (tables, summary line, final JSON line) goes to the console
    return run_cltm(args, model_args, out_args, echo=print)


if __name__ == "__main__":
    main()
