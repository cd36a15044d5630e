#!/usr/bin/env python
"""Prepare real emotional corpora for the real-speech benchmark: loaders -> decode check -> manifests and LOCO folds.

Nothing of a corpus is committed: point this script at local copies (see ``benchmarks/real/SOURCES.md`` for where
each one comes from and its licence)::

    python benchmarks/real/prepare.py --output data/real \\
        --corpus ravdess=/data/ravdess/audio_speech_actors_01-24 --corpus casia=/data/casia \\
        --corpus urdu=/data/URDU --corpus turev=/data/TurEV-DB --corpus esd=/data/esd_0020 --option esd:language=en

Each corpus is read with its loader in ``hf_cser.data.corpora`` (the corpus's documented naming; dropped labels are
counted), every kept file is decoded once (``hf_cser.audio.load_audio``; a file that does not decode is dropped and
counted by reason), and the script writes

- ``<output>/manifests/<corpus>.csv``: every kept utterance (absolute path, emotion, language, corpus-scoped speaker,
  corpus, gender), readable by ``hf-cser`` data specs and every training script;
- ``<output>/folds/<target>/source.csv`` and ``target.csv``: the leave-one-corpus-out fold that holds ``<target>``
  out: the other corpora as source (``split`` train / validation, 20 % of each source corpus's speakers for
  validation and model selection, seeded), the held-out corpus as ``split`` test only, and ``fold.csv`` with both
  (for scripts that take one data spec, e.g. the zero-shot script). A corpus with fewer than two speakers is never a
  test fold (it is source data only);
- ``<output>/prepare_report.json``: kept and dropped counts per corpus, the folds and their sizes.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import sys
from collections import Counter, defaultdict

MANIFEST_COLUMNS = ("path", "emotion", "language", "speaker", "corpus", "gender", "split")


def parse_pairs(values: list[str], what: str) -> dict[str, str]:
    out = {}
    for value in values:
        if "=" not in value:
            raise SystemExit(f"prepare.py: `{what} {value}` must be NAME=VALUE.")
        name, _, rest = value.partition("=")
        out[name.strip()] = rest.strip()
    return out


def parse_options(values: list[str]) -> dict[str, dict[str, str]]:
    options: dict[str, dict[str, str]] = defaultdict(dict)
    for value in values:
        corpus, _, pair = value.partition(":")
        key, _, setting = pair.partition("=")
        if not (corpus and key and setting):
            raise SystemExit(f"prepare.py: `--option {value}` must be CORPUS:KEY=VALUE (e.g. esd:language=en).")
        options[corpus][key] = setting
    return options


def load_rows(name: str, folder: str, options: dict[str, str], progress: bool = True):
    """Rows of one corpus (all splits merged: the benchmark defines its own folds) and its load report."""
    from tqdm.auto import tqdm

    from hf_cser.audio import BadAudioCounter, load_audio
    from hf_cser.data import load_corpus

    dataset, report = load_corpus(name, folder, return_report=True, **options)
    counter = BadAudioCounter()
    rows = []
    for split in dataset:
        for row in tqdm(dataset[split], desc=f"{name}: decoding {split}", disable=not progress, unit="file"):
            if load_audio(row["audio"], skip_bad_audio=True, counter=counter) is None:
                continue
            rows.append({k: row[k] for k in ("audio", "emotion", "language", "speaker", "corpus", "gender")})
    from hf_cser.labels import EMOTIONS

    for row in rows:  # ClassLabel ids -> names
        if isinstance(row["emotion"], int):
            row["emotion"] = EMOTIONS[row["emotion"]]
    return rows, report, dict(counter.counts)


def write_manifest(path: str, rows: list[dict], split: str | None = None) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(MANIFEST_COLUMNS)
        for row in rows:
            writer.writerow(
                [
                    row["audio"],
                    row["emotion"],
                    row["language"],
                    row["speaker"],
                    row["corpus"],
                    row["gender"],
                    row.get("split", split or ""),
                ]
            )


def validation_speakers(rows: list[dict], fraction: float, seed: int) -> set[str]:
    """`fraction` of each corpus's speakers (at least one when it has three or more), drawn with `seed`."""
    by_corpus: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        by_corpus[row["corpus"]].add(row["speaker"])
    chosen: set[str] = set()
    for corpus, speakers in sorted(by_corpus.items()):
        speakers = sorted(speakers)
        count = round(fraction * len(speakers))
        if len(speakers) >= 3:
            count = max(count, 1)
        count = min(count, len(speakers) - 1)
        chosen.update(random.Random(f"{seed}-{corpus}").sample(speakers, count) if count > 0 else [])
    return chosen


def make_folds(rows_by_corpus: dict[str, list[dict]], fraction: float = 0.2, seed: int = 0) -> dict[str, dict]:
    """LOCO folds: for each corpus with >= 2 speakers, the others as source (train / validation) and it as test."""
    folds = {}
    for target, target_rows in sorted(rows_by_corpus.items()):
        if len({r["speaker"] for r in target_rows}) < 2:
            continue
        source = [dict(r) for c, rs in sorted(rows_by_corpus.items()) if c != target for r in rs]
        held = validation_speakers(source, fraction, seed)
        for row in source:
            row["split"] = "validation" if row["speaker"] in held else "train"
        test = [dict(r, split="test") for r in target_rows]
        folds[target] = {"source": source, "target": test}
    return folds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", action="append", default=[], help="NAME=DIR, a loader name and its folder")
    parser.add_argument("--option", action="append", default=[], help="CORPUS:KEY=VALUE loader option")
    parser.add_argument("--output", required=True, help="output folder")
    parser.add_argument("--validation_fraction", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no_progress", action="store_true")
    args = parser.parse_args(argv)
    corpora = parse_pairs(args.corpus, "--corpus")
    if not corpora:
        parser.error("give at least one --corpus NAME=DIR")
    options = parse_options(args.option)
    report = {"corpora": {}, "folds": {}}
    rows_by_corpus = {}
    for name, folder in corpora.items():
        rows, load_report, bad = load_rows(name, folder, options.get(name, {}), progress=not args.no_progress)
        for row in rows:
            row["audio"] = os.path.abspath(row["audio"])
        rows_by_corpus[name] = rows
        write_manifest(os.path.join(args.output, "manifests", f"{name}.csv"), rows)
        counts = Counter(r["emotion"] for r in rows)
        report["corpora"][name] = {
            "folder": os.path.abspath(folder),
            "kept": len(rows),
            "per_emotion": dict(sorted(counts.items())),
            "speakers": len({r["speaker"] for r in rows}),
            "dropped_labels": dict(load_report.dropped),
            "dropped_bad_audio": bad,
        }
        speakers = report["corpora"][name]["speakers"]
        print(
            f"{name}: kept {len(rows)} ({dict(sorted(counts.items()))}), {speakers} speakers, "
            f"dropped {dict(load_report.dropped)} {bad}"
        )
    for target, fold in make_folds(rows_by_corpus, args.validation_fraction, args.seed).items():
        folder = os.path.join(args.output, "folds", target)
        write_manifest(os.path.join(folder, "source.csv"), fold["source"])
        write_manifest(os.path.join(folder, "target.csv"), fold["target"])
        write_manifest(os.path.join(folder, "fold.csv"), fold["source"] + fold["target"])
        report["folds"][target] = {
            "source_train": sum(r["split"] == "train" for r in fold["source"]),
            "source_validation": sum(r["split"] == "validation" for r in fold["source"]),
            "target_test": len(fold["target"]),
        }
        print(f"fold {target}: {report['folds'][target]}")
    with open(os.path.join(args.output, "prepare_report.json"), "w", encoding="utf-8") as handle:
        json.dump(report, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
