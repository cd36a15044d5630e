#!/usr/bin/env python
"""Real-speech cross-corpus benchmark, leave-one-corpus-out: the linear baselines (first part of issue 16).

Reads the folds written by ``benchmarks/real/prepare.py`` and, for every held-out corpus, trains a logistic regression
on each feature set x normalisation, selects its C on the source validation speakers (never on the held-out corpus),
and scores UAR on the held-out corpus::

    python benchmarks/real/run.py --prepared data/real --output benchmarks/real/results

Rows (``--systems``): ``logmel`` (mean and standard deviation of 40 log-mel bands), ``ge2e`` (the GE2E utterance
embedding), ``whisper`` (mean and standard deviation over time of Whisper base's middle encoder layer, hf_cser's
front end), ``whisper+ge2e`` (both), ``egemaps`` (openSMILE eGeMAPSv02 functionals; only with the optional
``opensmile`` package, whose audEERING licence is research-only, so never a default), each with ``none``, ``corpus``
and ``speaker`` normalisation (training statistics per source group; validation speakers and the held-out corpus with
their own unlabelled statistics). Logistic regression is deterministic, so each cell is one run; the table gives the
mean over folds and a 95 % t-interval over the folds.

Resumable: ``real_benchmark_runs.csv`` gets one row per (system, normalisation, fold) as it finishes and a restarted
command skips those. Also written: ``real_benchmark.md`` (the table) and ``real_benchmark_folds.png`` (per-fold UAR).
Features are cached (log-mel and GE2E in ``--cache_dir``, Whisper in the front end's per-file cache).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import sys
from collections import defaultdict

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from linear_probe import EMOTIONS, fit_probe, normalized, uar  # noqa: E402

SYSTEMS = ("logmel", "ge2e", "whisper", "whisper+ge2e", "egemaps")
NORMALIZATIONS = ("none", "corpus", "speaker")
C_GRID = (0.01, 0.1, 1.0)
RUN_FIELDS = ("system", "normalization", "fold", "C", "validation_uar", "uar", "num_test")


class Ge2eUtteranceEmbedding:
    """`waveform -> GE2E utterance embedding`, with the `config` dict that keys `compute_utterance_features`' cache."""

    def __init__(self, folder: str | None = None):
        from hf_cser.encoders.ge2e import Ge2eSpeakerEncoderModel, convert_resemblyzer_checkpoint

        self.model = (Ge2eSpeakerEncoderModel.from_pretrained(folder) if folder else convert_resemblyzer_checkpoint())
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
        self.smile = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                                     feature_level=opensmile.FeatureLevel.Functionals)  # fmt: skip
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
        store[system] = compute_utterance_features(paths, LogMelStatistics(), cache_dir=args.cache_dir,
                                                   progress=progress)  # fmt: skip
    elif system == "ge2e":
        store[system] = compute_utterance_features(paths, Ge2eUtteranceEmbedding(args.ge2e), cache_dir=args.cache_dir,
                                                   progress=progress)  # fmt: skip
    elif system == "egemaps":
        store[system] = compute_utterance_features(paths, EgemapsFunctionals(), cache_dir=args.cache_dir,
                                                   progress=progress)  # fmt: skip
    elif system == "whisper":
        front_end = SpeechFrontEnd(args.backbone, cache_dir=args.frontend_cache_dir)
        store[system] = front_end.pooled_features(paths, layer=args.layer, progress=progress)
    elif system == "whisper+ge2e":
        store[system] = np.concatenate([feature_matrix("whisper", paths, args, store),
                                        feature_matrix("ge2e", paths, args, store)], axis=1)  # fmt: skip
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
    z = dict(zip(["train", *others], normalized(normalization, x["train"], groups["train"],
                                                [(x[s], groups[s]) for s in others]), strict=True))  # fmt: skip
    best = None
    for c in C_GRID:
        clf = fit_probe(z["train"], y["train"], c)
        score = uar(clf, z["validation"], y["validation"]) if len(y["validation"]) else 0.0
        if best is None or score > best[0]:
            best = (score, c, clf)
    score, c, clf = best
    return {"C": c, "validation_uar": round(score, 4), "uar": round(uar(clf, z["test"], y["test"]), 4),
            "num_test": len(y["test"])}  # fmt: skip


def t_interval(values: list[float]) -> float:
    """Half-width of the 95 % t-interval of the mean (0 for fewer than two values)."""
    if len(values) < 2:
        return 0.0
    from scipy import stats

    return float(stats.t.ppf(0.975, len(values) - 1) * np.std(values, ddof=1) / np.sqrt(len(values)))


def write_report(runs: list[dict], folds: list[str], output: str) -> str:
    cells = defaultdict(dict)
    for run in runs:
        cells[(run["system"], run["normalization"])][run["fold"]] = float(run["uar"])
    lines = [f"Leave-one-corpus-out UAR % ({', '.join(folds)} held out in turn), logistic regression with C chosen on "
             "the source validation speakers; deterministic (1 run per cell); mean over folds +- 95 % t-interval over "
             "folds.", "", "| system | normalisation | mean UAR | " + " | ".join(folds) + " |",
             "|---|---|---|" + "---|" * len(folds)]  # fmt: skip
    ranked = sorted(cells.items(), key=lambda kv: -np.mean(list(kv[1].values())))
    for (system, norm), per in ranked:
        values = [per[f] for f in folds if f in per]
        lines.append(f"| {system} | {norm} | {100 * np.mean(values):.1f} +- {100 * t_interval(values):.1f} | "
                     + " | ".join(f"{100 * per[f]:.1f}" if f in per else "-" for f in folds) + " |")  # fmt: skip
    text = "\n".join(lines) + "\n"
    with open(os.path.join(output, "real_benchmark.md"), "w") as handle:
        handle.write(text)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(ranked)), 4))
        width = 0.8 / max(1, len(folds))
        for i, fold in enumerate(folds):
            ax.bar([k + i * width for k in range(len(ranked))], [100 * per.get(fold, np.nan) for _, per in ranked],
                   width, label=fold)  # fmt: skip
        ax.set_xticks([k + 0.4 - width / 2 for k in range(len(ranked))])
        ax.set_xticklabels([f"{s}\n{n}" for (s, n), _ in ranked], fontsize=7)
        ax.axhline(25, color="grey", linestyle=":", linewidth=1)
        ax.set_ylabel("UAR % (held-out corpus)")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(os.path.join(output, "real_benchmark_folds.png"), dpi=120)
        plt.close(fig)
    except ImportError:  # pragma: no cover - matplotlib is a dependency
        pass
    return text


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
    parser.add_argument("--no_progress", action="store_true")
    args = parser.parse_args(argv)
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    normalizations = [n.strip() for n in args.normalizations.split(",") if n.strip()]
    unknown = sorted(set(systems) - set(SYSTEMS)) + sorted(set(normalizations) - set(NORMALIZATIONS))
    if unknown:
        parser.error(f"unknown system(s) / normalisation(s) {unknown}; systems: {SYSTEMS}, normalisations: "
                     f"{NORMALIZATIONS}")  # fmt: skip
    folds_dir = os.path.join(args.prepared, "folds")
    if not os.path.isdir(folds_dir):
        raise SystemExit(f"run.py: {folds_dir} does not exist; run benchmarks/real/prepare.py first.")
    folds = sorted(os.listdir(folds_dir))
    fold_rows = {f: list(csv.DictReader(open(os.path.join(folds_dir, f, "fold.csv"), encoding="utf-8")))
                 for f in folds}  # fmt: skip
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
                run = {"system": system, "normalization": normalization, "fold": fold,
                       **run_cell(features, rows, index, normalization)}  # fmt: skip
                new = not os.path.isfile(runs_file)
                with open(runs_file, "a", newline="") as handle:
                    writer = csv.DictWriter(handle, fieldnames=RUN_FIELDS)
                    if new:
                        writer.writeheader()
                    writer.writerow(run)
                runs.append(run)
                print(json.dumps(run), flush=True)
    print(write_report(runs, folds, args.output))
    return 0


if __name__ == "__main__":
    sys.exit(main())
