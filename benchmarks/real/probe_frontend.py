#!/usr/bin/env python
"""Linear probes on frozen front-end features, leave-one-corpus-out: which encoder layer, which Whisper input mode
(unpadded vs padded to 30 s) and which feature normalisation. The numbers behind the defaults in
``docs/real_speech.md``.

Reads the manifests written by ``benchmarks/real/prepare.py``::

    python benchmarks/real/probe_frontend.py --prepared data/real --output benchmarks/real/results \\
        --backbone whisper-base-offline --modes unpadded --normalizations none,corpus,speaker
    python benchmarks/real/probe_frontend.py --prepared data/real --output benchmarks/real/results \\
        --modes unpadded,pad_30s --limit_per_corpus 160 --normalizations corpus --tag modes

For every fold (a corpus with two or more speakers held out; the others are the source) and every (mode, layer,
normalisation), a logistic regression (balanced class weights, C = 0.1) is trained on the source corpora and scored
(UAR) on the held-out corpus. Features are the mean and standard deviation over time of one hidden state (or the mean
over all layers), from `hf_cser.encoders.SpeechFrontEnd` (cached per file). Normalisation statistics come from the
source rows per training group and, for the held-out corpus, from its own unlabelled rows. Logistic regression is
deterministic, so one run is one seed. Output: ``probe_<tag>.csv`` (one row per fold) and ``probe_<tag>.md`` (mean UAR
per setting, seconds per utterance per mode).
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import sys
import time
from collections import defaultdict

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from linear_probe import EMOTIONS, fit_probe, normalized, uar  # noqa: E402


def read_manifests(prepared: str, limit_per_corpus: int | None, seed: int = 0) -> list[dict]:
    folder = os.path.join(prepared, "manifests")
    if not os.path.isdir(folder):
        raise SystemExit(f"probe_frontend.py: {folder} does not exist; run benchmarks/real/prepare.py first.")
    rows = []
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".csv"):
            continue
        corpus_rows = list(csv.DictReader(open(os.path.join(folder, name), encoding="utf-8")))
        if limit_per_corpus and len(corpus_rows) > limit_per_corpus:
            corpus_rows = random.Random(seed).sample(corpus_rows, limit_per_corpus)
        rows += corpus_rows
    return rows


def probe(
    features: np.ndarray,
    labels: np.ndarray,
    corpora: np.ndarray,
    groups: dict[str, np.ndarray],
    normalization: str,
    targets: list[str],
) -> dict[str, float]:
    """UAR of a linear probe (C = 0.1) per held-out corpus."""
    scores = {}
    for target in targets:
        train, test = corpora != target, corpora == target
        group = groups.get(normalization)
        z_train, z_test = normalized(
            normalization,
            features[train],
            None if group is None else group[train],
            [(features[test], None if group is None else group[test])],
        )
        scores[target] = uar(fit_probe(z_train, labels[train], 0.1), z_test, labels[test])
    return scores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prepared", required=True, help="output folder of prepare.py")
    parser.add_argument("--output", required=True)
    parser.add_argument("--backbone", default="whisper-base-offline")
    parser.add_argument("--modes", default="unpadded", help="Whisper input modes: unpadded,pad_30s")
    parser.add_argument("--layers", default="all", help="'all' (every layer and their mean) or e.g. '3,6,mean'")
    parser.add_argument("--normalizations", default="none,corpus,speaker")
    parser.add_argument("--limit_per_corpus", type=int, default=None, help="random subset per corpus (speed)")
    parser.add_argument("--cache_dir", default=None, help="front-end feature cache")
    parser.add_argument("--tag", default="layers")
    parser.add_argument("--no_progress", action="store_true")
    args = parser.parse_args(argv)

    from hf_cser.encoders import SpeechFrontEnd

    rows = read_manifests(args.prepared, args.limit_per_corpus)
    labels = np.array([EMOTIONS.index(r["emotion"]) for r in rows])
    corpora = np.array([r["corpus"] for r in rows])
    groups = {"corpus": corpora, "speaker": np.array([r["speaker"] for r in rows]), "global": None}
    speakers_per_corpus = defaultdict(set)
    for row in rows:
        speakers_per_corpus[row["corpus"]].add(row["speaker"])
    targets = sorted(c for c, s in speakers_per_corpus.items() if len(s) >= 2)
    if not targets:
        raise SystemExit("probe_frontend.py: no corpus with two or more speakers to hold out.")
    os.makedirs(args.output, exist_ok=True)
    results, timing = [], {}
    for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
        front_end = SpeechFrontEnd(args.backbone, whisper_mode=mode, cache_dir=args.cache_dir)
        start = time.perf_counter()
        stacked = front_end.pooled_features([r["path"] for r in rows], layer="all", progress=not args.no_progress)
        timing[mode] = (time.perf_counter() - start) / len(rows)
        layers = (
            list(range(stacked.shape[1])) + ["mean"]
            if args.layers == "all"
            else [v if v == "mean" else int(v) for v in args.layers.split(",")]
        )
        for normalization in [n.strip() for n in args.normalizations.split(",") if n.strip()]:
            for layer in layers:
                features = stacked.mean(axis=1) if layer == "mean" else stacked[:, layer]
                scores = probe(features, labels, corpora, groups, normalization, targets)
                for target, score in scores.items():
                    results.append(
                        {
                            "mode": mode,
                            "layer": layer,
                            "normalization": normalization,
                            "target": target,
                            "uar": round(score, 4),
                            "num_test": int((corpora == target).sum()),
                        }
                    )
                print(
                    f"{mode} {normalization} layer {layer}: "
                    + " ".join(f"{t} {u:.3f}" for t, u in scores.items())
                    + f" | mean {np.mean(list(scores.values())):.4f}",
                    flush=True,
                )
    with open(os.path.join(args.output, f"probe_{args.tag}.csv"), "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(results[0]))
        writer.writeheader()
        writer.writerows(results)
    cells = defaultdict(list)
    for row in results:
        cells[(row["mode"], row["normalization"], str(row["layer"]))].append(row["uar"])
    lines = [
        f"Linear probe, leave-one-corpus-out ({', '.join(targets)} held out in turn), {len(rows)} utterances, "
        f"backbone {args.backbone}; mean UAR % over folds (deterministic: 1 run).",
        "",
        "| mode | normalisation | layer | mean UAR | " + " | ".join(targets) + " |",
        "|---|---|---|---|" + "---|" * len(targets),
    ]
    for (mode, norm, layer), uars in cells.items():
        per = {
            r["target"]: r["uar"]
            for r in results
            if (r["mode"], r["normalization"], str(r["layer"])) == (mode, norm, layer)
        }
        lines.append(
            f"| {mode} | {norm} | {layer} | {100 * np.mean(uars):.1f} | "
            + " | ".join(f"{100 * per[t]:.1f}" for t in targets)
            + " |"
        )
    timings = ", ".join(f"{m} {t:.3f}" for m, t in timing.items())
    lines += [
        "",
        "Seconds per utterance of feature extraction in this run (files found in the cache are only read; "
        f"other work may share the machine): {timings}",
    ]
    with open(os.path.join(args.output, f"probe_{args.tag}.md"), "w") as handle:
        handle.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
