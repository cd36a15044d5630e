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

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field

import numpy as np
from transformers import HfArgumentParser

from hf_cser.data.schema import SKIP_BAD_AUDIO_HELP

logger = logging.getLogger("run_cltm")

DEFAULT_GRIDS = {"ser": "16,32,64,128", "gender": "4,8,16,32,64,128", "sv": "16,32,64,128"}


@dataclass
class ProtocolArguments:
    task: str = field(default="ser", metadata={"help": "ser (UAR) | gender (macro-F1) | sv (verification AUC)."})
    data: str = field(default="synthetic", metadata={"help": "Data spec (`hf_cser.data.specs`), all splits are used."})
    languages: str = field(default="", metadata={"help": "Comma-separated languages (default: every language)."})
    seeds: str = field(default="0,1,2,3,4,5,6,7,8,9", metadata={"help": "Comma-separated seeds (paper: 10)."})
    n_samples: str = field(default="auto", metadata={"help": "N per subset, or 'auto' (learning-curve sweep)."})
    n_grid: str = field(
        default="",
        metadata={"help": "Candidate N for 'auto' (default per task: ser/sv 16,32,64,128; gender 4,...,128)."},
    )
    speakers_per_subset: int = field(default=4, metadata={"help": "Speakers in each of D and D'."})
    eval_speakers: int = field(default=4, metadata={"help": "Held-out evaluation speakers per language."})
    eval_split: str | None = field(default=None, metadata={"help": "Evaluate on this split instead (e.g. test)."})
    resample_speakers_per_seed: bool = field(default=True, metadata={"help": "New speaker partition per seed."})
    tau: float = field(default=0.05, metadata={"help": "Dynamic-interval rule: minimum relative gain."})
    z: float = field(default=1.3, metadata={"help": "Dynamic-interval rule: minimum gain in standard errors."})
    epsilon: float = field(default=0.05, metadata={"help": "Dynamic-interval rule: minimum slope per log-unit."})
    ci_threshold: float = field(default=1.0, metadata={"help": "Dynamic-interval rule: minimum median CI_min."})
    se_method: str = field(default="jackknife", metadata={"help": "CLTM standard errors: jackknife | per_seed."})
    nan_policy: str = field(default="drop", metadata={"help": "Diagnostics with undefined rows: drop|omit|raise."})
    skip_bad_audio: bool = field(default=False, metadata={"help": SKIP_BAD_AUDIO_HELP})


@dataclass
class ModelArguments:
    model: str = field(
        default="mlp",
        metadata={
            "help": "mlp (cached log-mel statistics + MLP) | audio (fine-tune a speech classifier on waveforms)."
        },
    )
    hidden_size: int = field(default=64, metadata={"help": "mlp: hidden (embedding) size."})
    epochs: int = field(default=40, metadata={"help": "mlp: epochs; audio: use --audio_epochs."})
    batch_size: int = field(default=16, metadata={"help": "Mini-batch size."})
    learning_rate: float = field(default=3e-3, metadata={"help": "mlp: AdamW learning rate."})
    dropout: float = field(default=0.1, metadata={"help": "mlp: dropout."})
    backbone: str | None = field(
        default=None, metadata={"help": "audio: Hub id or folder for AutoModelForAudioClassification."}
    )
    audio_learning_rate: float = field(default=1e-5, metadata={"help": "audio: constant AdamW lr (paper)."})
    audio_epochs: int = field(default=1, metadata={"help": "audio: epochs (paper: 1)."})
    max_seconds: float = field(default=4.0, metadata={"help": "audio: crop waveforms to this many seconds."})
    features: str = field(
        default="logmel",
        metadata={
            "help": "mlp: utterance features: 'logmel' (log-mel statistics, "
            "library default) or a speech encoder (Hub id, folder, "
            "'whisper-base-offline') through hf_cser's front end: "
            "mean+std of one hidden state (--features_layer)."
        },
    )
    features_layer: str = field(
        default="middle",
        metadata={"help": "mlp with an encoder: hidden state pooled ('middle', 'last', 'mean' or an int)."},
    )
    speaker_normalization: str = field(
        default="auto",
        metadata={"help": "mlp: z-normalise features per speaker (auto: on for ser, off for gender/sv)."},
    )
    feature_cache_dir: str | None = field(default=None, metadata={"help": "mlp: feature cache folder."})
    num_threads: int = field(default=1, metadata={"help": "torch threads per process (tiny models: 1 is fastest)."})


@dataclass
class OutputArguments:
    output_dir: str | None = field(default=None, metadata={"help": "Default: outputs/cltm_<task>."})
    overwrite_output_dir: bool = field(default=False, metadata={"help": "Discard runs made with other settings."})
    families: str | None = field(default=None, metadata={"help": "Language-family JSON (default: shipped table)."})
    family_level: str = field(default="branch", metadata={"help": "branch | family."})
    vmin: float = field(default=-1.5, metadata={"help": "Heatmap colour scale minimum."})
    vmax: float = field(default=1.5, metadata={"help": "Heatmap colour scale maximum."})
    synthetic_dir: str | None = field(default=None, metadata={"help": "Folder of the default synthetic corpus."})
    num_proc: int = field(default=2, metadata={"help": "Processes for generating the synthetic corpus."})
    progress: bool = field(default=True, metadata={"help": "Progress bars."})


def parse_ints(text: str, name: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise SystemExit(f"`--{name}` must be comma-separated integers, got {text!r}.") from None
    if not values:
        raise SystemExit(f"`--{name}` is empty.")
    return values


def resolve_speaker_normalization(value: str, task: str) -> bool:
    """``auto``: on for SER (removes each speaker's baseline), off for gender and SV (it would remove the voice)."""
    if value == "auto":
        return task == "ser"
    if value.lower() in ("true", "1", "yes", "on"):
        return True
    if value.lower() in ("false", "0", "no", "off"):
        return False
    raise SystemExit(f"`--speaker_normalization` must be auto, true or false, got {value!r}.")


def build_model_factory(model_args, task_name: str):
    from hf_cser.cltm import AudioModelTaskModel, MlpTaskModel

    if model_args.model == "mlp":
        return lambda: MlpTaskModel(
            hidden_size=model_args.hidden_size,
            dropout=model_args.dropout,
            epochs=model_args.epochs,
            batch_size=model_args.batch_size,
            learning_rate=model_args.learning_rate,
        )
    if model_args.model == "audio":
        if not model_args.backbone:
            raise SystemExit("`--model audio` needs `--backbone` (a Hub id or folder).")
        from transformers import AutoModelForAudioClassification

        import hf_cser  # noqa: F401  (registers the hf_cser models with the Auto classes)

        def model_init(num_labels: int):
            return AutoModelForAudioClassification.from_pretrained(
                model_args.backbone, num_labels=num_labels, ignore_mismatched_sizes=True
            )

        return lambda: AudioModelTaskModel(
            model_init,
            learning_rate=model_args.audio_learning_rate,
            epochs=model_args.audio_epochs,
            batch_size=model_args.batch_size,
        )
    raise SystemExit(f"`--model` must be mlp or audio, got {model_args.model!r}.")


def main(argv=None):
    from hf_cser.console import quiet_library_progress_bars

    quiet_library_progress_bars()  # no per-checkpoint 'Writing model shards' lines between the stage bars
    import torch
    from accelerate import PartialState

    from hf_cser.audio import BadAudioCounter
    from hf_cser.cltm import (
        CltmProtocolConfig,
        CltmRunner,
        CorpusTable,
        DynamicIntervalRule,
        LazyWaveforms,
        RunLog,
        check_run_config,
        cltm_diagnostics,
        compute_cltm,
        compute_utterance_features,
        get_task,
        load_language_families,
        plan_cltm_runs,
        plan_self_runs,
        plot_cltm_heatmap,
        plot_learning_curves,
        select_dynamic_interval,
        speaker_normalize,
    )
    from hf_cser.data import drop_bad_audio
    from hf_cser.data.specs import load_data_spec
    from hf_cser.trainers.checkpointing import check_output_dir
    from hf_cser.trainers.launch import cpu_only_distributed_launch

    parser = HfArgumentParser((ProtocolArguments, ModelArguments, OutputArguments))
    args, model_args, out_args = parser.parse_args_into_dataclasses(args=argv)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    torch.set_num_threads(model_args.num_threads)
    # a CPU-only multi-process launch needs cpu=True to form a gloo group (else every process runs alone)
    state = PartialState(cpu=cpu_only_distributed_launch())
    task = get_task(args.task)
    output_dir = out_args.output_dir or os.path.join("outputs", f"cltm_{args.task}")
    check_output_dir(output_dir)  # before any data loading: fails fast, naming the folder
    seeds = parse_ints(args.seeds, "seeds")
    families = load_language_families(out_args.families, level=out_args.family_level)

    with state.main_process_first():
        data = load_data_spec(args.data, synthetic_dir=out_args.synthetic_dir, num_proc=out_args.num_proc)
        counter = BadAudioCounter()
        data = {
            name: drop_bad_audio(split, skip_bad_audio=args.skip_bad_audio, counter=counter, desc=name)
            for name, split in data.items()
        }
        if counter.total:
            logger.warning(counter.summary())
        table = CorpusTable.from_dataset_dict(data)
        all_languages = list(dict.fromkeys(table.language.tolist()))
        languages = [v.strip() for v in args.languages.split(",") if v.strip()] or all_languages
        missing = sorted(set(languages) - set(all_languages))
        if missing:
            raise SystemExit(f"`--languages` {missing} not in the data (it has {all_languages}).")
        if model_args.model == "mlp":
            keep = np.isin(table.language, languages)
            table = CorpusTable(**{k: v[keep] for k, v in table.__dict__.items()})
            progress = out_args.progress and state.is_main_process
            if model_args.features == "logmel":
                inputs = compute_utterance_features(
                    table.path.tolist(), cache_dir=model_args.feature_cache_dir, progress=progress
                )
            else:
                from hf_cser.encoders import SpeechFrontEnd

                front_end = SpeechFrontEnd(model_args.features, cache_dir=model_args.feature_cache_dir)
                inputs = front_end.pooled_features(
                    table.path.tolist(), layer=model_args.features_layer, progress=progress
                )
            if resolve_speaker_normalization(model_args.speaker_normalization, args.task):
                inputs = speaker_normalize(inputs, table.speaker)
        else:
            inputs = LazyWaveforms(table.path.tolist(), max_seconds=model_args.max_seconds)

    protocol = CltmProtocolConfig(
        speakers_per_subset=args.speakers_per_subset,
        eval_speakers=args.eval_speakers,
        eval_split=args.eval_split,
        resample_speakers_per_seed=args.resample_speakers_per_seed,
    )
    rule = DynamicIntervalRule(tau=args.tau, z=args.z, epsilon=args.epsilon, threshold=args.ci_threshold)
    run_settings = {  # what a run's result depends on; seeds, N and languages only add runs
        "task": args.task,
        "data": args.data,
        "protocol": asdict(protocol),
        "model": {k: v for k, v in asdict(model_args).items() if k not in ("feature_cache_dir", "num_threads")},
        "speaker_normalization": resolve_speaker_normalization(model_args.speaker_normalization, args.task),
        **({"skip_bad_audio": True} if args.skip_bad_audio else {}),  # absent when off: older folders resume
    }
    log_path = os.path.join(output_dir, "cltm_runs.csv")
    if state.is_main_process:
        if out_args.overwrite_output_dir and os.path.exists(log_path):
            os.remove(log_path)
        check_run_config(output_dir, run_settings, overwrite=out_args.overwrite_output_dir)
    state.wait_for_everyone()
    log = RunLog(log_path)
    runner = CltmRunner(table, inputs, task, build_model_factory(model_args, args.task), protocol)
    shard = {
        "process_index": state.process_index,
        "num_processes": state.num_processes,
        "progress": out_args.progress and state.is_main_process,
    }

    if args.n_samples == "auto":
        grid = parse_ints(args.n_grid or DEFAULT_GRIDS[args.task], "n_grid")
        runner.run_grid(plan_self_runs(args.task, languages, seeds, grid), log, **shard)
        state.wait_for_everyone()
        sweep = [
            r
            for r in log.rows()
            if r["task"] == args.task and r["target"] in languages and int(r["n"]) in grid and int(r["seed"]) in seeds
        ]
        selection = select_dynamic_interval(sweep, rule)
        n = selection.n
        if state.is_main_process:
            with open(os.path.join(output_dir, "dynamic_interval.json"), "w") as f:
                json.dump(selection.to_dict(), f, indent=2)
            plot_learning_curves(
                sweep,
                os.path.join(output_dir, "learning_curves.png"),
                chosen_n=n,
                metric=task.metric,
                title=f"{args.task}: learning curves ({len(seeds)} seeds)",
            )
        logger.info(f"Dynamic interval [N, 2N] = [{n}, {2 * n}]: {selection.reason}")
    else:
        n = parse_ints(args.n_samples, "n_samples")[0]

    runner.run_grid(plan_cltm_runs(args.task, languages, seeds, n), log, **shard)
    state.wait_for_everyone()
    if not state.is_main_process:
        return None
    rows = [
        r
        for r in log.rows()
        if r["task"] == args.task
        and int(r["n"]) == n
        and r["target"] in languages
        and (r["donor"] in ("", *languages))
        and int(r["seed"]) in seeds
    ]
    result = compute_cltm(rows, languages=languages, se_method=args.se_method)
    diagnostics = cltm_diagnostics(result, families=families, nan_policy=args.nan_policy)
    result.to_csv(os.path.join(output_dir, "cltm_matrix.csv"))
    result.to_csv(os.path.join(output_dir, "cltm_matrix_se.csv"), which="matrix_se")
    result.to_csv(os.path.join(output_dir, "cltm_gains.csv"), which="cross_gain")
    summary = {
        "task": args.task,
        "metric": task.metric,
        "data": args.data,
        "n": n,
        "interval": [n, 2 * n],
        "seeds": seeds,
        "languages": languages,
        "num_processes": state.num_processes,
        "bad_audio_skipped": counter.total,
        **result.to_dict(),
    }
    with open(os.path.join(output_dir, "cltm_result.json"), "w") as f:
        json.dump(summary, f, indent=2)
    with open(os.path.join(output_dir, "cltm_diagnostics.json"), "w") as f:
        json.dump(diagnostics.to_dict(), f, indent=2)
    title = (
        f"{args.task} CLTM on {args.data}, [N, 2N] = [{n}, {2 * n}], {len(seeds)} seeds ({min(seeds)}-{max(seeds)})"
    )
    markdown = diagnostics.to_markdown(title)
    with open(os.path.join(output_dir, "cltm_diagnostics.md"), "w") as f:
        f.write(markdown + "\n")
    plot_cltm_heatmap(
        result,
        os.path.join(output_dir, "cltm_heatmap.png"),
        families=families,
        vmin=out_args.vmin,
        vmax=out_args.vmax,
        title=title,
    )
    print(markdown)
    print(
        json.dumps(
            {
                "task": args.task,
                "n": n,
                "seeds": seeds,
                "undefined_targets": result.undefined_targets,
                "diagnostics": diagnostics.to_dict(),
            }
        )
    )
    return {"result": result, "diagnostics": diagnostics, "n": n}


if __name__ == "__main__":
    main()
