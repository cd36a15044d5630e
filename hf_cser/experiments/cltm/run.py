"""One CLTM experiment (paper 003): the data and its utterance inputs, the learning-curve sweep that picks the dynamic
interval [N, 2N], the single / self / dual runs of the matrix (shared by the processes of a launch, resumable), then
the matrix, its standard errors and gains, the diagnostics and the figures."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import asdict

import numpy as np
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

from .arguments import (
    DEFAULT_GRIDS,
    ModelArguments,
    OutputArguments,
    ProtocolArguments,
    build_model_factory,
    parse_ints,
    resolve_speaker_normalization,
)

logger = logging.getLogger(__name__)


def load_cltm_inputs(args: ProtocolArguments, model_args: ModelArguments, out_args: OutputArguments, state):
    """The corpus table of `--data` (every file decoded once: bad files raise or are counted), the languages of the
    matrix, and the runs' inputs: cached utterance features (speaker-normalised for SER) for the MLP, lazily loaded
    waveforms for a speech classifier. Returns ``(table, inputs, languages, bad_audio)``."""
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
    if model_args.model != "mlp":
        return table, LazyWaveforms(table.path.tolist(), max_seconds=model_args.max_seconds), languages, counter
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
        inputs = front_end.pooled_features(table.path.tolist(), layer=model_args.features_layer, progress=progress)
    if resolve_speaker_normalization(model_args.speaker_normalization, args.task):
        inputs = speaker_normalize(inputs, table.speaker)
    return table, inputs, languages, counter


def run_cltm(
    args: ProtocolArguments,
    model_args: ModelArguments,
    out_args: OutputArguments,
    echo: Callable[[str], None] | None = None,
) -> dict | None:
    """The experiment of `training_scripts/run_cltm.py`; its files go to `out_args.output_dir` (default
    `outputs/cltm_<task>`). Returns ``{"result", "diagnostics", "n"}`` on the main process, `None` on the others.

    `echo` receives the run's report lines (tables, the summary line, the final JSON line); default: this module's
    logger at INFO. The training script passes `print` (its console report)."""
    echo = echo or logger.info
    # a CPU-only multi-process launch needs cpu=True to form a gloo group (else every process runs alone)
    state = PartialState(cpu=cpu_only_distributed_launch())
    task = get_task(args.task)
    output_dir = out_args.output_dir or os.path.join("outputs", f"cltm_{args.task}")
    check_output_dir(output_dir)  # before any data loading: fails fast, naming the folder
    seeds = parse_ints(args.seeds, "seeds")
    families = load_language_families(out_args.families, level=out_args.family_level)

    with state.main_process_first():
        table, inputs, languages, counter = load_cltm_inputs(args, model_args, out_args, state)

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
    echo(markdown)
    echo(
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
