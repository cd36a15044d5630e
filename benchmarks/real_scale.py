#!/usr/bin/env python
"""Every method at real-corpus scale on this machine (issue 19), without real data.

Builds one leave-one-corpus-out fold the size and shape of a real one from the synthetic espeak-ng corpus, then times
the method scripts on it exactly as the real-speech benchmark runs them (``benchmarks/real/methods.py``: same
arguments, a child process per run), first with empty feature caches (cold) and then again with the caches the cold
run filled (warm)::

    python benchmarks/real_scale.py --output /tmp/scale                       # 5,000 source + 800 target utterances
    python benchmarks/real_scale.py --output /tmp/scale --methods sapa --phases warm --threads 2
    python benchmarks/real_scale.py --output /tmp/scale --methods linear_probes   # run.py's baselines on the fold

The fold: a base synthetic corpus (5 languages x 12 speakers x 16 utterances, rendered once) is cut into new
utterances whose durations are drawn from a log-normal (median 3 s, sigma 0.6, clipped to 0.4-14 s: the shape of
the development corpora's durations): each new utterance concatenates one speaker's utterances of one emotion (with
150 ms pauses) and is cut to its drawn length. Four languages are the source corpora (20 % of each one's speakers
for validation), the fifth is held out. The files and manifests follow ``benchmarks/real/prepare.py``'s layout
(``<output>/data/folds/<target>/{source,target,fold}.csv``), so ``benchmarks/real/run.py --prepared <output>/data``
runs on it too.

Per run: wall time of the whole script (data checks, feature extraction when cold, training, evaluation) and the
peak resident memory of its process (``ru_maxrss``), with the fold's size and durations. Targets (issue 19, 2 CPU
cores, warm caches): every method <= 30 minutes, SAPA <= 10 minutes, peak RSS <= 8 GB. Results:
``<output>/real_scale_runs.csv`` and ``<output>/real_scale.md`` (copied to ``benchmarks/results/real_scale.md``).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import shutil
import sys
import time
from collections import defaultdict

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "real"))
from methods import METHODS, FoldFiles, parse_method_args, run_measured, run_method  # noqa: E402

DEFAULT_METHODS = ("sapa", "zero_shot_proposed", "feature_gan", "ctl_mtnet", "ctl_mtnet_no_mdd")
LANGUAGES = ("en", "de", "fr", "zh", "ur")
"""The base corpus's languages; the last one is held out."""
MANIFEST_COLUMNS = ("path", "emotion", "language", "speaker", "corpus", "gender", "split")
MINUTES_TARGET = {"sapa": 10.0}
"""Warm-cache wall-time targets in minutes (issue 19); every other method: :data:`DEFAULT_MINUTES_TARGET`."""
DEFAULT_MINUTES_TARGET = 30.0
RSS_TARGET_MB = 8 * 1024
CACHE_FAMILIES = {"ctl_mtnet": "mfcc", "ctl_mtnet_no_mdd": "mfcc", "sapa_l2": "sapa"}
LINEAR_PROBES = "linear_probes"
"""The baselines of the real-speech table: ``benchmarks/real/run.py`` on the fold (log-mel, GE2E, Whisper middle
layer and Whisper + GE2E features, each with none / speaker / corpus normalisation, logistic-regression probes)."""
"""Methods whose feature caches hold the same features share one cache folder (a warm run of one may follow a cold run
of the other); every other method has its own."""
RUN_FIELDS = ("method", "phase", "status", "seconds", "peak_rss_mb", "uar", "num_source", "num_target", "threads")
PAUSE_SECONDS = 0.15


def draw_durations(count: int, seed: int, median: float = 3.0, sigma: float = 0.6, low=0.4, high=14.0) -> np.ndarray:
    """`count` utterance durations in seconds: log-normal around `median`, clipped to [`low`, `high`]; the shortest
    and the longest are pinned to `low` and `high` so a fold always has both extremes."""
    rng = np.random.default_rng(seed)
    durations = np.clip(np.exp(rng.normal(np.log(median), sigma, size=count)), low, high)
    if count >= 2:
        durations[np.argmin(durations)] = low
        durations[np.argmax(durations)] = high
    return durations


def pick(i: int, languages, speakers, emotions) -> tuple[str, str, str]:
    """The (language, speaker, emotion) of a fold's `i`-th utterance: languages take turns; within a language the
    emotion turns fastest (shifted by the language's index, so the corpora's leftover utterances spread over the
    emotions) and then the speaker: every prefix of the fold is balanced in languages, speakers and emotions."""
    index, j = i % len(languages), i // len(languages)
    language = languages[index]
    mine = [s for s in speakers if s[0] == language]
    return language, mine[(j // len(emotions)) % len(mine)][1], emotions[(j + index) % len(emotions)]


def build_fold(
    folder: str,
    num_source: int,
    num_target: int,
    seed: int = 0,
    progress: bool = True,
    base_speakers: int = 12,
    base_utterances: int = 16,
) -> FoldFiles:
    """Write the scale fold under `folder` (reused when its ``scale_config.json`` matches) and return its files; the
    base corpus has `base_speakers` speakers per language with `base_utterances` utterances each."""
    import soundfile as sf
    from tqdm.auto import tqdm

    from hf_cser.audio import load_audio
    from hf_cser.data import SyntheticCorpusConfig, synthesize_corpus

    config = {
        "num_source": num_source,
        "num_target": num_target,
        "seed": seed,
        "languages": list(LANGUAGES),
        "base": [base_speakers, base_utterances],
        "version": 1,
    }
    data = os.path.join(folder, "data")
    fold = FoldFiles(LANGUAGES[-1], os.path.join(data, "folds", LANGUAGES[-1]))
    stamp = os.path.join(data, "scale_config.json")
    if os.path.isfile(stamp) and json.load(open(stamp)) == config and os.path.isfile(fold.both):
        return fold
    shutil.rmtree(data, ignore_errors=True)
    base = os.path.join(folder, "base_corpus")
    synthesize_corpus(
        SyntheticCorpusConfig(
            languages=LANGUAGES,
            speakers_per_language=base_speakers,
            utterances_per_speaker=base_utterances,
            seed=seed,
        ),
        base,
        progress=progress,
    )
    groups: dict[tuple, list[dict]] = defaultdict(list)  # (language, speaker, emotion) -> base utterances
    for row in csv.DictReader(open(os.path.join(base, "metadata.csv"), encoding="utf-8")):
        groups[(row["language"], row["speaker"], row["emotion"])].append(row)
    rng = random.Random(seed)
    rows = []
    counts = {"source": num_source, "target": num_target}
    durations = draw_durations(num_source + num_target, seed)
    bar = tqdm(total=len(durations), desc="scale fold", unit="utt", disable=not progress)
    waves: dict[str, np.ndarray] = {}
    for side, count in counts.items():
        languages = LANGUAGES[:-1] if side == "source" else LANGUAGES[-1:]
        speakers = sorted({(k[0], k[1]) for k in groups if k[0] in languages})
        emotions = sorted({k[2] for k in groups})
        validation = set()
        if side == "source":
            for language in languages:  # 20 % of each source corpus's speakers for validation (prepare.py's rule)
                mine = sorted(s for s in speakers if s[0] == language)
                validation.update(rng.sample(mine, max(1, round(0.2 * len(mine)))))
        for i in range(count):
            key = pick(i, languages, speakers, emotions)
            target = int(round(durations[len(rows)] * 16000))
            pieces, total, j = [], 0, rng.randrange(len(groups[key]))
            while total < target:
                path = os.path.join(base, groups[key][j % len(groups[key])]["path"])
                if path not in waves:
                    waves[path] = load_audio(path, 16000)
                pieces += [waves[path], np.zeros(int(PAUSE_SECONDS * 16000), np.float32)]
                total += len(pieces[-2]) + len(pieces[-1])
                j += 1
            audio = np.concatenate(pieces)[:target]
            language, speaker, emotion = key
            out = os.path.join(data, "audio", language, f"{side}_{i:05d}.wav")
            os.makedirs(os.path.dirname(out), exist_ok=True)
            sf.write(out, audio, 16000, subtype="PCM_16")
            gender = groups[key][0].get("gender", "")
            split = "test" if side == "target" else ("validation" if (language, speaker) in validation else "train")
            corpus = f"synthetic_{language}"
            rows.append(
                dict(
                    path=out,
                    emotion=emotion,
                    language=language,
                    speaker=f"{corpus}_{speaker}",
                    corpus=corpus,
                    gender=gender,
                    split=split,
                )
            )
            bar.update(1)
    bar.close()
    os.makedirs(fold.folder, exist_ok=True)
    os.makedirs(os.path.join(data, "manifests"), exist_ok=True)
    files = [
        (fold.source, [r for r in rows if r["split"] != "test"]),
        (fold.target, [r for r in rows if r["split"] == "test"]),
        (fold.both, rows),
    ]
    for lang in LANGUAGES:
        files.append(
            (os.path.join(data, "manifests", f"synthetic_{lang}.csv"), [r for r in rows if r["language"] == lang])
        )
    for name, subset in files:
        with open(name, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=MANIFEST_COLUMNS)
            writer.writeheader()
            writer.writerows(subset)
    with open(stamp, "w") as handle:
        json.dump(config, handle)
    return fold


def fold_durations(fold: FoldFiles) -> dict:
    import soundfile as sf

    seconds = [sf.info(r["path"]).duration for r in csv.DictReader(open(fold.both, encoding="utf-8"))]
    return {
        "utterances": len(seconds),
        "hours": round(sum(seconds) / 3600, 2),
        "min_s": round(min(seconds), 2),
        "median_s": round(float(np.median(seconds)), 2),
        "max_s": round(max(seconds), 2),
    }


def run_linear_probes(fold: FoldFiles, output: str, cache: str, threads: int, extra: list[str] | None = None) -> dict:
    """``run.py``'s baselines on the fold in a child process (`extra`: more ``run.py`` arguments, e.g.
    ``--systems logmel``); its row (wall time, peak RSS)."""
    out = os.path.join(output, "runs", LINEAR_PROBES)
    os.makedirs(out, exist_ok=True)
    prepared = os.path.dirname(os.path.dirname(fold.folder))  # <output>/data (folds/<target>/ below it)
    command = [sys.executable, os.path.join(HERE, "real", "run.py"), "--prepared", prepared, "--output", out]
    command += ["--folds", fold.name, "--cache_dir", os.path.join(cache, "features")]
    command += ["--frontend_cache_dir", os.path.join(cache, "frontend"), "--no_progress", *(extra or [])]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    start = time.time()
    with open(os.path.join(out, "run.log"), "w") as log:
        code, peak_rss_mb = run_measured(command, log, os.path.dirname(HERE), env)
    row = {"seconds": round(time.time() - start, 1), "peak_rss_mb": peak_rss_mb, "uar": ""}
    row["status"] = "ok" if code == 0 else f"failed (exit {code}; see {out}/run.log)"
    return row


def minutes_target(method: str) -> float:
    return MINUTES_TARGET.get(method, DEFAULT_MINUTES_TARGET)


def report(runs: list[dict], sizes: dict, machine: dict) -> str:
    """The Markdown table: one row per method and phase, the targets and whether each is met."""
    lines = [
        f"Scale fold: {sizes['utterances']} utterances ({sizes['hours']} h; {sizes['min_s']}-{sizes['max_s']} s, "
        f"median {sizes['median_s']} s), synthetic espeak-ng speech; machine: {machine['cpus']} CPUs, "
        f"{machine['processor'] or machine['platform']}, {machine['date']}. One seed; cold = empty feature caches, "
        "warm = the caches the cold run filled. Targets (2 cores, warm caches): every method <= 30 min, SAPA <= 10 "
        "min, peak RSS <= 8 GB; a cold run within them meets them too.",
        "",
        "| method | phase | threads | wall (min) | target (min) | peak RSS (GB) | status |",
        "|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        minutes = float(run["seconds"]) / 60.0
        rss = float(run["peak_rss_mb"] or 0) / 1024.0
        target = minutes_target(run["method"])
        verdict = run["status"]
        if run["status"] == "ok":  # the targets are for warm caches: a cold run within them meets them a fortiori
            met = minutes <= target and rss * 1024 <= RSS_TARGET_MB
            if run["phase"] == "warm" or met:
                verdict = "**met**" if met else "**not met**"
            else:
                verdict = "over (cold: the target is for warm caches)"
        target_text = f"<= {target:.0f}"
        lines.append(
            f"| {run['method']} | {run['phase']} | {run['threads']} | {minutes:.1f} | {target_text} | {rss:.2f} | "
            f"{verdict} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", required=True, help="working folder (fold, caches, runs, results)")
    parser.add_argument("--num_source", type=int, default=5000, help="labelled source utterances")
    parser.add_argument("--num_target", type=int, default=800, help="held-out target utterances")
    choices = [*METHODS, LINEAR_PROBES]
    parser.add_argument("--methods", default=",".join(DEFAULT_METHODS), help=f"comma-separated, of {choices}")
    parser.add_argument("--phases", default="cold,warm", help="cold (empty caches), warm (filled caches) or both")
    parser.add_argument("--threads", type=int, default=2, help="threads of each run (runs go one at a time)")
    parser.add_argument("--method_args", action="append", default=[], metavar="NAME=ARGS")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--base_speakers", type=int, default=12, help="base corpus speakers per language")
    parser.add_argument("--base_utterances", type=int, default=16, help="base corpus utterances per speaker")
    parser.add_argument("--no_progress", action="store_true")
    args = parser.parse_args(argv)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    if sorted(set(methods) - set(choices)):
        parser.error(f"unknown method(s) {sorted(set(methods) - set(choices))}; choose from {choices}.")
    if not phases or sorted(set(phases) - {"cold", "warm"}):
        parser.error(f"--phases must list cold and / or warm, got {args.phases!r}.")
    extra = parse_method_args(args.method_args, known=choices)
    fold = build_fold(
        args.output,
        args.num_source,
        args.num_target,
        args.seed,
        progress=not args.no_progress,
        base_speakers=args.base_speakers,
        base_utterances=args.base_utterances,
    )
    sizes = fold_durations(fold)
    counts = {"num_source": args.num_source, "num_target": args.num_target}
    runs_file = os.path.join(args.output, "real_scale_runs.csv")
    runs = list(csv.DictReader(open(runs_file, encoding="utf-8"))) if os.path.isfile(runs_file) else []
    for method in methods:
        # per front end: a cold run really starts empty
        cache = os.path.join(args.output, "cache", CACHE_FAMILIES.get(method, method))
        for phase in phases:
            if any(r["method"] == method and r["phase"] == phase and r["status"] == "ok" for r in runs):
                continue
            if phase == "cold":
                shutil.rmtree(cache, ignore_errors=True)
            output = os.path.join(args.output, "runs", phase)
            shutil.rmtree(os.path.join(output, "runs", method), ignore_errors=True)  # a fresh run, not a resume
            if method == LINEAR_PROBES:
                row = run_linear_probes(fold, output, cache, args.threads, extra.get(method, []))
            else:
                (row, *_) = run_method(
                    METHODS[method], fold, args.seed, output, extra.get(method, []), cache, args.threads
                )
            run = {
                "method": method,
                "phase": phase,
                "status": row["status"],
                "seconds": row["seconds"],
                "peak_rss_mb": row["peak_rss_mb"],
                "uar": row["uar"],
                "threads": args.threads,
                **counts,
            }
            runs = [r for r in runs if (r["method"], r["phase"]) != (method, phase)] + [run]
            with open(runs_file, "w", newline="", encoding="utf-8") as handle:
                writer = csv.DictWriter(handle, fieldnames=RUN_FIELDS)
                writer.writeheader()
                writer.writerows(runs)
            print(json.dumps(run), flush=True)
    machine = {
        "cpus": os.cpu_count(),
        "processor": platform.processor(),
        "platform": platform.platform(),
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
    }
    table = report(runs, sizes, machine)
    with open(os.path.join(args.output, "real_scale.md"), "w", encoding="utf-8") as handle:
        handle.write(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
