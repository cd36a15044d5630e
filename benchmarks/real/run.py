#!/usr/bin/env python
"""Real-speech cross-corpus benchmark, leave-one-corpus-out: the linear baselines and every hf_cser method, one table.

Reads the folds written by ``benchmarks/real/prepare.py``; for every held-out corpus it trains on the source corpora,
selects models on the source validation speakers (never on the held-out corpus) and scores UAR on the held-out
corpus::

    python benchmarks/real/run.py --prepared data/real --output benchmarks/real/results --methods all

Baseline rows (``--systems``): a logistic regression on ``logmel`` (mean and standard deviation of 40 log-mel bands),
``ge2e`` (the GE2E utterance embedding), ``whisper`` (mean and standard deviation over time of Whisper base's middle
encoder layer, hf_cser's front end), ``whisper+ge2e`` (both), ``egemaps`` (openSMILE eGeMAPSv02 functionals; only
with the optional ``opensmile`` package, whose audEERING licence is research-only, so never a default), each with
``none``, ``corpus`` and ``speaker`` normalisation (training statistics per source group; validation speakers and
the held-out corpus with their own unlabelled statistics), C chosen on validation. Deterministic: one run per cell.

Method rows (``--methods``, see ``methods.py``): SAPA and its Table-4 ablations, the feature-GAN augmentation and
its control, CTL-MTNet with and without MDD, the zero-shot systems; each method's own training script per (fold,
seed) in a child process (``--seeds``, ``--method_args NAME="..."`` for extra script arguments). The table gives the
mean over folds (of the seed means) and a 95 % t-interval over the folds.

Resumable: ``real_benchmark_runs.csv`` (baselines) and ``method_runs.csv`` get one row per finished cell / run and a
restarted command skips those (failed runs are retried). Also written: ``real_benchmark.md`` (the table) and
``real_benchmark_folds.png`` (per-fold UAR). Features are cached (log-mel and GE2E in ``--cache_dir``, Whisper in the
front end's per-file cache, the methods' frozen features in ``--method_cache_dir``).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import shlex
import sys
from collections import defaultdict

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from linear_probe import EMOTIONS, fit_probe, normalized, uar  # noqa: E402
from methods import METHODS, FoldFiles, parse_method_args, run_methods  # noqa: E402

SYSTEMS = ("logmel", "ge2e", "whisper", "whisper+ge2e", "egemaps")
NORMALIZATIONS = ("none", "corpus", "speaker")
C_GRID = (0.01, 0.1, 1.0)
RUN_FIELDS = ("system", "normalization", "fold", "C", "validation_uar", "uar", "num_test")


class Ge2eUtteranceEmbedding:
    """`waveform -> GE2E utterance embedding`, with the `config` dict that keys `compute_utterance_features`' cache."""

    def __init__(self, folder: str | None = None):
        from hf_cser.encoders.ge2e import Ge2eSpeakerEncoderModel, convert_resemblyzer_checkpoint

        self.model = Ge2eSpeakerEncoderModel.from_pretrained(folder) if folder else convert_resemblyzer_checkpoint()
        self.model.eval()
        digest = hashlib.sha256()
        from hf_cser.cache import hash_module_weights

        hash_module_weights(digest, self.model)
        self.config = {"name": "ge2e", "weights": digest.hexdigest()[:16]}

    def __call__(self, waveform: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            return self.model.embed_utterances([waveform]).cpu().numpy()[0]


class EgemapsFunctionals:
    """openSMILE eGeMAPSv02 functionals (88 values); needs the optional `opensmile` package (research licence)."""

    def __init__(self):
        try:
            import opensmile
        except ImportError as error:
            raise ImportError(
                "`--systems egemaps` needs `pip install opensmile` (audEERING research licence)."
            ) from error
        self.smile = opensmile.Smile(
            feature_set=opensmile.FeatureSet.eGeMAPSv02, feature_level=opensmile.FeatureLevel.Functionals
        )
        self.config = {"name": "egemaps", "feature_set": "eGeMAPSv02"}

    def __call__(self, waveform: np.ndarray) -> np.ndarray:
        return self.smile.process_signal(waveform, 16000).to_numpy()[0]


def feature_matrix(system: str, paths: list[str], args, store: dict) -> np.ndarray:
    """Features of `paths` for one system (computed once per run of this script, cached on disk)."""
    from hf_cser.cltm.features import LogMelStatistics, compute_utterance_features
    from hf_cser.encoders import SpeechFrontEnd

    if system in store:
        return store[system]
    progress = not args.no_progress
    if system == "logmel":
        store[system] = compute_utterance_features(
            paths, LogMelStatistics(), cache_dir=args.cache_dir, progress=progress
        )
    elif system == "ge2e":
        store[system] = compute_utterance_features(
            paths, Ge2eUtteranceEmbedding(args.ge2e), cache_dir=args.cache_dir, progress=progress
        )
    elif system == "egemaps":
        store[system] = compute_utterance_features(
            paths, EgemapsFunctionals(), cache_dir=args.cache_dir, progress=progress
        )
    elif system == "whisper":
        front_end = SpeechFrontEnd(args.backbone, cache_dir=args.frontend_cache_dir)
        store[system] = front_end.pooled_features(paths, layer=args.layer, progress=progress)
    elif system == "whisper+ge2e":
        store[system] = np.concatenate(
            [feature_matrix("whisper", paths, args, store), feature_matrix("ge2e", paths, args, store)], axis=1
        )
    else:
        raise ValueError(f"unknown system {system!r}; choose from {SYSTEMS}.")
    return store[system]


def check_fold(fold: str, rows: list[dict]) -> None:
    """The held-out corpus's files, speakers and corpus name must be absent from the source rows (leakage guard)."""
    held = [r for r in rows if r["split"] == "test"]
    source = [r for r in rows if r["split"] != "test"]
    for key in ("path", "speaker", "corpus"):
        leaked = sorted({r[key] for r in held} & {r[key] for r in source})
        if leaked:
            raise SystemExit(f"run.py: fold {fold}: held-out {key}(s) {leaked[:3]} also in the source rows.")


def run_cell(features: np.ndarray, rows: list[dict], index: dict[str, int], normalization: str) -> dict:
    """One (system, normalisation, fold): C chosen on the source validation speakers, UAR on the held-out corpus."""
    parts = {split: [r for r in rows if r["split"] == split] for split in ("train", "validation", "test")}
    x = {s: features[[index[r["path"]] for r in part]] for s, part in parts.items()}
    y = {s: np.array([EMOTIONS.index(r["emotion"]) for r in part]) for s, part in parts.items()}
    column = {"corpus": "corpus", "speaker": "speaker"}.get(normalization)
    groups = {s: None if column is None else [r[column] for r in part] for s, part in parts.items()}
    others = [s for s in ("validation", "test") if len(x[s])]
    z = dict(
        zip(
            ["train", *others],
            normalized(normalization, x["train"], groups["train"], [(x[s], groups[s]) for s in others]),
            strict=True,
        )
    )
    best = None
    for c in C_GRID:
        clf = fit_probe(z["train"], y["train"], c)
        score = uar(clf, z["validation"], y["validation"]) if len(y["validation"]) else 0.0
        if best is None or score > best[0]:
            best = (score, c, clf)
    score, c, clf = best
    return {
        "C": c,
        "validation_uar": round(score, 4),
        "uar": round(uar(clf, z["test"], y["test"]), 4),
        "num_test": len(y["test"]),
    }


def t_interval(values: list[float]) -> float:
    """Half-width of the 95 % t-interval of the mean (0 for fewer than two values)."""
    if len(values) < 2:
        return 0.0
    from scipy import stats

    return float(stats.t.ppf(0.975, len(values) - 1) * np.std(values, ddof=1) / np.sqrt(len(values)))


def collect_cells(runs: list[dict], method_runs: list[dict]) -> dict[tuple[str, str], dict[str, list[float]]]:
    """{(row, normalisation): {fold: [UAR of each run]}}: one run per baseline cell, one per seed for a method."""
    normalization_of = {row: m.normalization for m in METHODS.values() for row in m.rows}
    cells: dict = defaultdict(lambda: defaultdict(list))
    for run in runs:
        cells[(run["system"], run["normalization"])][run["fold"]].append(float(run["uar"]))
    for run in method_runs:
        key = (run["row"], normalization_of.get(run["row"], "-"))
        if run["status"] == "ok":
            cells[key][run["fold"]].append(float(run["uar"]))
        else:
            cells[key].setdefault(run["fold"], [])
    return cells


def write_report(runs: list[dict], folds: list[str], output: str, method_runs: list[dict] | None = None) -> str:
    method_runs = method_runs or []
    cells = collect_cells(runs, method_runs)
    seeds = sorted({int(r["seed"]) for r in method_runs if r["status"] == "ok"})
    lines = [
        f"Leave-one-corpus-out UAR % ({', '.join(folds)} held out in turn); model selection on the source "
        "validation speakers only. Baselines: logistic regression (deterministic, 1 run per fold). Methods: "
        f"mean over seeds ({', '.join(map(str, seeds)) or 'none yet'}) per fold. Mean UAR: mean over the folds "
        "+- 95 % t-interval over the folds; runs = folds x seeds per fold; vs best baseline: the paired per-fold "
        "difference to the best baseline row (mean +- 95 % t-interval, over the folds both have); min/run: mean wall "
        "minutes of one run of the row (one fold, one seed; seconds in method_runs.csv); n/a: the method does not "
        "apply to that fold (see method_runs.csv); failed: see the run's log; -: not run.",
        "",
        "| system | normalisation | runs | mean UAR | vs best baseline | min/run | " + " | ".join(folds) + " |",
        "|---|---|---|---|---|---|" + "---|" * len(folds),
    ]
    fold_means = {key: {f: float(np.mean(v)) for f, v in per.items() if v} for key, per in cells.items()}
    baselines = {(r["system"], r["normalization"]) for r in runs}
    best = max(baselines, key=lambda key: np.mean(list(fold_means[key].values())), default=None)

    def rank(item):
        values = list(fold_means[item[0]].values())
        return -np.mean(values) if values else 0.0

    ranked = sorted(cells.items(), key=rank)
    status = {(r["row"], r["fold"]): r["status"] for r in method_runs}
    minutes: dict[str, list[float]] = defaultdict(list)
    for r in method_runs:
        if r["status"] == "ok" and str(r.get("seconds", "")).strip():
            minutes[r["row"]].append(float(r["seconds"]) / 60.0)
    for (system, norm), per in ranked:
        means = fold_means[(system, norm)]
        values = [means[f] for f in folds if f in means]
        counts = sorted({len(v) for v in per.values() if v})
        runs_text = f"{len(values)}x{'/'.join(map(str, counts)) or 0}"
        mean_text = f"{100 * np.mean(values):.1f} +- {100 * t_interval(values):.1f}" if values else "-"
        shared = [f for f in folds if f in means and best is not None and f in fold_means[best]]
        differences = [means[f] - fold_means[best][f] for f in shared]
        paired = (
            "-"
            if not differences or (system, norm) == best
            else (f"{100 * np.mean(differences):+.1f} +- {100 * t_interval(differences):.1f}")
        )

        def cell(fold):
            if fold in means:
                return f"{100 * means[fold]:.1f}"
            text = status.get((system, fold), "")
            return "n/a" if text.startswith("n/a") else "failed" if text.startswith("failed") else "-"

        duration = f"{np.mean(minutes[system]):.1f}" if minutes.get(system) else "-"
        lines.append(
            f"| {system} | {norm} | {runs_text} | {mean_text} | {paired} | {duration} | "
            + " | ".join(map(cell, folds))
            + " |"
        )
    text = "\n".join(lines) + "\n"
    with open(os.path.join(output, "real_benchmark.md"), "w") as handle:
        handle.write(text)
    plot_folds([(key, fold_means[key]) for key, _ in ranked], folds, os.path.join(output, "real_benchmark_folds.png"))
    return text


def plot_folds(ranked: list, folds: list[str], path: str) -> None:
    """Grouped bars: per-fold UAR of every row, chance level dotted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(ranked)), 4))
    width = 0.8 / max(1, len(folds))
    for i, fold in enumerate(folds):
        ax.bar(
            [k + i * width for k in range(len(ranked))],
            [100 * per.get(fold, np.nan) for _, per in ranked],
            width,
            label=fold,
        )
    ax.set_xticks([k + 0.4 - width / 2 for k in range(len(ranked))])
    ax.set_xticklabels([f"{s}\n{n}" for (s, n), _ in ranked], fontsize=7, rotation=30)
    ax.axhline(25, color="grey", linestyle=":", linewidth=1)
    ax.set_ylabel("UAR % (held-out corpus)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


CLTM_DEFAULTS = (
    "--features_layer",
    "middle",
    "--speakers_per_subset",
    "1",
    "--eval_speakers",
    "2",
    "--n_grid",
    "8,16",
    "--seeds",
    "0,1,2,3,4,5,6,7,8,9",
    "--progress",
    "false",
)
"""The CLTM protocol that fits the development corpora (CASIA has 4 speakers; one RAVDESS speaker has 28 clips)."""


def run_cltm(prepared: str, output: str, backbone: str, cache_dir: str | None, extra: list[str]) -> str:
    """The CLTM (paper 003) of the corpora's languages: ``run_cltm.py`` on the union of the prepared manifests with
    the benchmark's front-end features; returns a Markdown section (matrix, standard errors, diagnostics)."""
    import subprocess

    from methods import SCRIPTS

    folder = os.path.join(output, "cltm")
    os.makedirs(folder, exist_ok=True)
    rows = []
    for name in sorted(os.listdir(os.path.join(prepared, "manifests"))):
        rows += list(csv.DictReader(open(os.path.join(prepared, "manifests", name), encoding="utf-8")))
    if not rows:
        raise SystemExit(f"run.py: no manifest rows in {prepared}/manifests for the CLTM.")
    manifest = os.path.join(folder, "all_corpora.csv")
    with open(manifest, "w", newline="", encoding="utf-8") as handle:  # every row is data for the CLTM's subsets
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows([dict(r, split="train") for r in rows])
    command = [
        sys.executable,
        os.path.join(SCRIPTS, "run_cltm.py"),
        "--data",
        manifest,
        "--features",
        backbone,
        "--output_dir",
        folder,
        *(["--feature_cache_dir", cache_dir] if cache_dir else []),
        *CLTM_DEFAULTS,
        *extra,
    ]
    with open(os.path.join(folder, "run.log"), "a") as log:
        log.write(shlex.join(command) + "\n")
        log.flush()
        if subprocess.call(command, stdout=log, stderr=subprocess.STDOUT) != 0:
            return f"CLTM: failed, see {folder}/run.log.\n"
    matrix = list(csv.reader(open(os.path.join(folder, "cltm_matrix.csv"), encoding="utf-8")))
    errors = list(csv.reader(open(os.path.join(folder, "cltm_matrix_se.csv"), encoding="utf-8")))
    result = json.load(open(os.path.join(folder, "cltm_result.json"), encoding="utf-8"))
    lines = [
        f"CLTM (target row, donor column; UAR gain of adding the donor's data relative to adding the target's own, "
        f"[N, 2N] = {result['interval']}, {len(result['seeds'])} seeds, +- standard error over seeds):",
        "",
        "| " + " | ".join(matrix[0]) + " |",
        "|---" * len(matrix[0]) + "|",
    ]
    for values, se in zip(matrix[1:], errors[1:], strict=True):
        lines.append(
            f"| {values[0]} | "
            + " | ".join(f"{float(v):.2f} +- {float(e):.2f}" for v, e in zip(values[1:], se[1:], strict=True))
            + " |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prepared", required=True, help="output folder of prepare.py")
    parser.add_argument("--output", required=True)
    parser.add_argument("--systems", default="logmel,ge2e,whisper,whisper+ge2e")
    parser.add_argument("--normalizations", default=",".join(NORMALIZATIONS))
    parser.add_argument("--backbone", default="whisper-base-offline", help="Whisper (or other) front end")
    parser.add_argument("--layer", default="middle", help="front-end layer: middle, last, mean or an int")
    parser.add_argument("--ge2e", default=None, help="GE2E folder (default: convert the resemblyzer weights)")
    parser.add_argument("--cache_dir", default=None, help="log-mel / GE2E feature cache")
    parser.add_argument("--frontend_cache_dir", default=None)
    parser.add_argument("--methods", default="", help=f"method rows, comma-separated: {','.join(METHODS)} or 'all'")
    parser.add_argument("--seeds", default="0,1,2", help="seeds of the main method rows")
    parser.add_argument(
        "--secondary_seeds",
        default="0",
        help="seeds of the secondary rows (the SAPA ablations, sapa_l2, CTL-MTNet); 'same' = --seeds",
    )
    parser.add_argument(
        "--method_args",
        action="append",
        default=[],
        metavar="NAME=ARGS",
        help="extra arguments of one method's script (repeatable), e.g. sapa='--num_train_epochs 5'",
    )
    parser.add_argument("--method_cache_dir", default=None, help="the methods' frozen-feature caches")
    parser.add_argument("--jobs", type=int, default=1, help="method runs at a time (child processes)")
    parser.add_argument("--threads", type=int, default=None, help="threads per method run (default: CPUs / jobs)")
    parser.add_argument("--cltm", action="store_true", help="also the CLTM of the corpora's languages")
    parser.add_argument("--cltm_args", default="", help="extra run_cltm.py arguments, e.g. '--languages en,zh,tr'")
    parser.add_argument("--folds", default="", help="held-out corpora to run (default: every fold of --prepared)")
    parser.add_argument("--no_progress", action="store_true")
    args = parser.parse_args(argv)
    methods = list(METHODS) if args.methods == "all" else [m.strip() for m in args.methods.split(",") if m.strip()]
    if sorted(set(methods) - set(METHODS)):
        parser.error(f"unknown method(s) {sorted(set(methods) - set(METHODS))}; choose from {list(METHODS)}.")
    try:
        method_args = parse_method_args(args.method_args)
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
        secondary_seeds = (
            None if args.secondary_seeds == "same" else [int(s) for s in args.secondary_seeds.split(",") if s.strip()]
        )
    except ValueError as error:
        parser.error(str(error))
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    normalizations = [n.strip() for n in args.normalizations.split(",") if n.strip()]
    unknown = sorted(set(systems) - set(SYSTEMS)) + sorted(set(normalizations) - set(NORMALIZATIONS))
    if unknown:
        parser.error(
            f"unknown system(s) / normalisation(s) {unknown}; systems: {SYSTEMS}, normalisations: {NORMALIZATIONS}"
        )
    folds_dir = os.path.join(args.prepared, "folds")
    if not os.path.isdir(folds_dir):
        raise SystemExit(f"run.py: {folds_dir} does not exist; run benchmarks/real/prepare.py first.")
    folds = sorted(os.listdir(folds_dir))
    if args.folds:
        chosen = [f.strip() for f in args.folds.split(",") if f.strip()]
        if sorted(set(chosen) - set(folds)):
            parser.error(f"--folds {sorted(set(chosen) - set(folds))} not in {folds_dir} ({folds}).")
        folds = chosen
    fold_rows = {
        f: list(csv.DictReader(open(os.path.join(folds_dir, f, "fold.csv"), encoding="utf-8"))) for f in folds
    }
    paths = sorted({r["path"] for rows in fold_rows.values() for r in rows})
    index = {p: i for i, p in enumerate(paths)}
    os.makedirs(args.output, exist_ok=True)
    runs_file = os.path.join(args.output, "real_benchmark_runs.csv")
    runs = list(csv.DictReader(open(runs_file))) if os.path.isfile(runs_file) else []
    done = {(r["system"], r["normalization"], r["fold"]) for r in runs}
    store: dict = {}
    for system in systems:
        for normalization in normalizations:
            for fold in folds:
                if (system, normalization, fold) in done:
                    continue
                features = feature_matrix(system, paths, args, store)
                rows = fold_rows[fold]
                check_fold(fold, rows)
                run = {
                    "system": system,
                    "normalization": normalization,
                    "fold": fold,
                    **run_cell(features, rows, index, normalization),
                }
                new = not os.path.isfile(runs_file)
                with open(runs_file, "a", newline="") as handle:
                    writer = csv.DictWriter(handle, fieldnames=RUN_FIELDS)
                    if new:
                        writer.writeheader()
                    writer.writerow(run)
                runs.append(run)
                print(json.dumps(run), flush=True)
    method_runs = []
    if methods:
        for fold in folds:
            check_fold(fold, fold_rows[fold])
        method_runs = run_methods(
            methods,
            [FoldFiles(f, os.path.join(folds_dir, f)) for f in folds],
            seeds,
            args.output,
            method_args,
            args.method_cache_dir,
            not args.no_progress,
            jobs=args.jobs,
            threads=args.threads,
            secondary_seeds=secondary_seeds,
        )
    elif os.path.isfile(os.path.join(args.output, "method_runs.csv")):  # a baselines-only rerun keeps the rows
        method_runs = list(csv.DictReader(open(os.path.join(args.output, "method_runs.csv"), encoding="utf-8")))
    report = write_report(runs, folds, args.output, method_runs)
    if args.cltm:
        report += "\n" + run_cltm(
            args.prepared, args.output, args.backbone, args.frontend_cache_dir, shlex.split(args.cltm_args)
        )
        with open(os.path.join(args.output, "real_benchmark.md"), "w") as handle:
            handle.write(report)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
