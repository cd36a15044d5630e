"""The method rows of the real-speech benchmark: each hf_cser method trained on a fold's source corpora, model
selection on the source validation speakers, scored on the held-out corpus, once per seed.

Every run is the method's own training script in a child process (what a user runs; a crash or the memory of one run
never reaches the next), with the fold's manifests and the benchmark's settings (:data:`METHODS`), plus any extra
arguments the caller gives (``--method_args NAME="..."``, appended last so they win). A run writes its own folder
``<output>/runs/<method>/<fold>/seed<seed>/`` (with ``run.log``); its target UAR and source-validation UAR are read
back from the files the script writes. One run may give several rows (the feature-GAN run trains the augmented
classifier and its no-augmentation control on the same stage-1 features).
"""

from __future__ import annotations

import csv
import glob
import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

SCRIPTS = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "training_scripts"
)


@dataclass(frozen=True)
class FoldFiles:
    """The manifests of one leave-one-corpus-out fold (``prepare.py``'s ``folds/<target>/``)."""

    name: str
    folder: str

    @property
    def source(self) -> str:
        return os.path.join(self.folder, "source.csv")

    @property
    def target(self) -> str:
        return os.path.join(self.folder, "target.csv")

    @property
    def both(self) -> str:
        return os.path.join(self.folder, "fold.csv")

    def languages(self) -> tuple[list[str], list[str]]:
        """(source languages, held-out languages) of the fold, sorted."""
        rows = list(csv.DictReader(open(self.both, encoding="utf-8")))
        source = sorted({r["language"] for r in rows if r["split"] != "test"})
        held = sorted({r["language"] for r in rows if r["split"] == "test"})
        return source, held


@dataclass(frozen=True)
class Method:
    """One benchmark method: how to run it on a fold with a seed, and how to read its rows back."""

    name: str
    script: str
    arguments: Callable[[FoldFiles, str, int, str | None], list[str]]
    """`(fold, run folder, seed, feature cache dir) -> script arguments`."""
    read: Callable[[str], dict[str, dict]]
    """`run folder -> {row name: {"uar", "validation_uar", "num_test"}}`."""
    rows: tuple[str, ...]
    description: str
    defaults: tuple[str, ...] = field(default=())
    """Benchmark settings for real corpora (before the caller's `--method_args`)."""
    normalization: str = "none"
    """The feature normalisation the method uses on these folds (the table's column)."""
    secondary: bool = False
    """An ablation or a row too costly for 3 seeds on 2 cores: run with `run.py --secondary_seeds` (default one
    seed) instead of `--seeds`, so the whole benchmark fits in 3 hours (the table says how many seeds each row has)."""


def _cache_argument(cache: str | None, flag: str = "--feature_cache_dir") -> list[str]:
    return [flag, cache] if cache else []


def _records_reader(rows: dict[str, str]):
    """Read a run folder's run records (``hf_cser.run_record``, every script writes them; found below the folder, as
    the zero-shot script nests its run folders): `rows` maps a record's system to the benchmark row it fills."""

    def read(out: str) -> dict[str, dict]:
        from hf_cser.run_record import RUN_RECORD_NAME, read_run_records

        paths = sorted(glob.glob(os.path.join(out, "**", RUN_RECORD_NAME), recursive=True))
        by_system = {r.system: r for path in paths for r in read_run_records(os.path.dirname(path))}
        missing = sorted(set(rows) - set(by_system))
        if missing:
            raise ValueError(f"{out}: no run record of system(s) {missing} (found {sorted(by_system)}).")
        return {
            row: {
                "uar": by_system[system].uar,
                "validation_uar": "" if by_system[system].validation_uar is None else by_system[system].validation_uar,
                "num_test": by_system[system].num_test,
            }
            for system, row in rows.items()
        }

    return read


# ---------------------------------------------------------------------------------------------------------- SAPA


def _sapa_arguments(variant: str):
    def arguments(fold: FoldFiles, out: str, seed: int, cache: str | None) -> list[str]:
        fixed = "--run_analyses false --disable_tqdm true --save_total_limit 1".split()
        files = ["--train_data", fold.source, "--eval_data", fold.target, "--output_dir", out]
        return [*files, "--variant", variant, "--seed", str(seed), *fixed, *_cache_argument(cache)]

    return arguments


SAPA_VARIANTS = {
    "sapa": "SAPA (Whisper content + GE2E speaker, both anchoring losses)",
    "sapa_only_p": "SAPA-Only-P (fused, phoneme anchoring only)",
    "sapa_only_s": "SAPA-Only-S (fused, speaker anchoring only)",
    "only_p": "Only-P (content branch, no anchoring)",
    "only_s": "Only-S (speaker branch, no anchoring)",
}

# ---------------------------------------------------------------------------------------------------- feature GAN


def _feature_gan_arguments(fold: FoldFiles, out: str, seed: int, cache: str | None) -> list[str]:
    fixed = "--audio_only --disable_tqdm --tsne false".split()
    return ["--data", fold.both, "--output_dir", out, "--seed", str(seed), *fixed, *_cache_argument(cache)]


# ------------------------------------------------------------------------------------------------------ CTL-MTNet


def _ctl_mtnet_arguments(mdd: bool):
    def arguments(fold: FoldFiles, out: str, seed: int, cache: str | None) -> list[str]:
        fixed = "--task cross_corpus --transductive --save_model false --disable_tqdm true".split()
        files = ["--source", fold.source, "--target", fold.target, "--output_dir", out]
        return [*files, "--seeds", str(seed), *fixed, *([] if mdd else ["--no_mdd"]), *_cache_argument(cache)]

    return arguments


# ------------------------------------------------------------------------------------------------------ zero-shot


def _zero_shot_arguments(system: str):
    def arguments(fold: FoldFiles, out: str, seed: int, cache: str | None) -> list[str]:
        source, held = fold.languages()
        overlap = sorted(set(source) & set(held))
        if overlap:
            raise MethodNotApplicable(
                f"the held-out language(s) {overlap} are also source languages in fold {fold.name}; zero-shot "
                "cross-lingual training needs a target language absent from the source"
            )
        languages = ["--source_languages", ",".join(source), "--target_languages", ",".join(held)]
        fixed = ["--systems", system, "--tsne", "false", "--disable_tqdm", "true"]
        cache_argument = _cache_argument(cache, "--frame_cache_dir")
        return ["--data", fold.both, *languages, "--output_dir", out, "--seeds", str(seed), *fixed, *cache_argument]

    return arguments


class MethodNotApplicable(ValueError):
    """The method cannot run on this fold by construction (recorded as n/a with the reason, not as a failure)."""


def _registry() -> dict[str, Method]:
    methods = {}
    for variant, text in SAPA_VARIANTS.items():
        methods[variant] = Method(
            variant,
            "train_sapa.py",
            _sapa_arguments(variant),
            _records_reader({variant: variant}),
            (variant,),
            text,
            ("--num_train_epochs", "15"),
            "corpus",
            secondary=variant != "sapa",
        )
    methods["sapa_l2"] = Method(
        "sapa_l2",
        "train_sapa.py",
        _sapa_arguments("sapa"),
        _records_reader({"sapa": "sapa_l2"}),
        ("sapa_l2",),
        "SAPA with L2-normalised triplet embeddings (library option)",
        ("--num_train_epochs", "15", "--triplet_l2_normalize", "true"),
        "corpus",
        secondary=True,
    )
    methods["feature_gan"] = Method(
        "feature_gan",
        "train_feature_gan.py",
        _feature_gan_arguments,
        _records_reader({"augmented": "feature_gan", "control": "feature_gan_control"}),
        ("feature_gan", "feature_gan_control"),
        "feature-GAN augmentation (frozen Whisper middle layer, audio only) and its no-augmentation control",
        ("--stage1_epochs", "10", "--gan_epochs", "50"),
    )
    for mdd, name in ((True, "ctl_mtnet"), (False, "ctl_mtnet_no_mdd")):
        methods[name] = Method(
            name,
            "train_ctl_mtnet.py",
            _ctl_mtnet_arguments(mdd),
            _records_reader({"mdd" if mdd else "no_mdd": name}),
            (name,),
            f"CTL-MTNet (MFCC capsules){' + MDD, transductive' if mdd else ', no MDD'}",
            ("--max_train_frames", "200", "--num_train_epochs", "4"),
            "none",
            secondary=True,  # about 25 minutes per MDD run on one core: one seed keeps the benchmark under 3 hours
        )
    for system in ("proposed", "baseline1"):
        name = f"zero_shot_{system}"
        methods[name] = Method(
            name,
            "train_zero_shot.py",
            _zero_shot_arguments(system),
            _records_reader({system: name}),
            (name,),
            f"zero-shot cross-lingual SER, system {system}",
            (),
            "global",
        )
    return methods


METHODS = _registry()
METHOD_RUN_FIELDS = (
    "method",
    "row",
    "fold",
    "seed",
    "validation_uar",
    "uar",
    "num_test",
    "seconds",
    "peak_rss_mb",
    "status",
)


def parse_method_args(values: list[str], known=None) -> dict[str, list[str]]:
    """``NAME=ARGS`` pairs (ARGS split like a shell) -> {method: extra arguments}; a NAME not in `known` (default:
    :data:`METHODS`) is an error."""
    known = sorted(METHODS if known is None else known)
    out: dict[str, list[str]] = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or name not in known:
            raise ValueError(f"--method_args {value!r}: expected NAME=ARGS with NAME one of {known}.")
        out.setdefault(name, []).extend(shlex.split(rest))
    return out


def run_measured(command: list[str], log, cwd: str, env: dict) -> tuple[int, float]:
    """Run `command` (output to the open file `log`); its exit code and the peak resident memory of the child
    process in MiB (``ru_maxrss`` from ``os.wait4``: the child's own peak, not the caller's)."""
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=cwd, env=env)
    try:
        _, status, usage = os.wait4(process.pid, 0)
    except BaseException:
        process.kill()
        process.wait()
        raise
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait for it again
    return process.returncode, round(usage.ru_maxrss / 1024.0, 1)  # Linux reports KiB


def run_method(
    method: Method,
    fold: FoldFiles,
    seed: int,
    output: str,
    extra: list[str],
    cache: str | None,
    threads: int | None = None,
) -> list[dict]:
    """Run `method` on `fold` with `seed` in a child process (`threads`: its OpenMP / MKL / torch thread count);
    its rows (``status`` ok, n/a or failed)."""
    out = os.path.join(output, "runs", method.name, fold.name, f"seed{seed}")
    base = {"method": method.name, "fold": fold.name, "seed": seed}

    def without_result(seconds: float, status: str, peak_rss_mb="") -> list[dict]:
        return [
            dict(base, row=row, validation_uar="", uar="", num_test="", seconds=seconds, status=status)
            | {"peak_rss_mb": peak_rss_mb}
            for row in method.rows
        ]

    try:
        arguments = method.arguments(fold, out, seed, cache)
    except MethodNotApplicable as reason:
        return without_result(0, f"n/a: {reason}")
    os.makedirs(out, exist_ok=True)
    command = [sys.executable, os.path.join(SCRIPTS, method.script), *arguments, *method.defaults, *extra]
    env = dict(os.environ)
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    start = time.time()
    with open(os.path.join(out, "run.log"), "w") as log:
        log.write(shlex.join(command) + "\n")
        log.write(f"# threads: {threads or 'default'}\n")
        log.flush()
        code, peak_rss_mb = run_measured(command, log, os.path.dirname(SCRIPTS), env)
    seconds = round(time.time() - start, 1)
    if code != 0:
        return without_result(seconds, f"failed (exit {code}; see {out}/run.log)", peak_rss_mb)
    rows = method.read(out)
    return [
        dict(base, row=row, seconds=seconds, peak_rss_mb=peak_rss_mb, status="ok", **rows[row]) for row in method.rows
    ]


def run_methods(
    names: list[str],
    folds: list[FoldFiles],
    seeds: list[int],
    output: str,
    method_args: dict[str, list[str]],
    cache: str | None,
    progress: bool = True,
    jobs: int = 1,
    threads: int | None = None,
    secondary_seeds: list[int] | None = None,
) -> list[dict]:
    """Every (method, fold, seed) not yet in ``method_runs.csv`` (resumable; failed runs are retried), `jobs` runs
    at a time (child processes with `threads` threads each; default: the CPU count divided by `jobs`). Several
    single-threaded runs use a small CPU better than one run over all cores: these models are small. Secondary
    methods (:attr:`Method.secondary`) run with `secondary_seeds` (`None`: `seeds`)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from tqdm.auto import tqdm

    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}.")
    if threads is None and jobs > 1:
        threads = max(1, (os.cpu_count() or 1) // jobs)
    runs_file = os.path.join(output, "method_runs.csv")
    runs = list(csv.DictReader(open(runs_file, encoding="utf-8"))) if os.path.isfile(runs_file) else []
    runs = [r for r in runs if not r["status"].startswith("failed")]
    done = {(r["method"], r["fold"], str(r["seed"])) for r in runs}
    todo = [
        (n, f, s)
        for n in names
        for f in folds
        for s in (secondary_seeds if METHODS[n].secondary and secondary_seeds is not None else seeds)
        if (n, f.name, str(s)) not in done
    ]
    bar = tqdm(total=len(todo), desc="method runs", unit="run", disable=not progress)
    lock = threading.Lock()

    def one(task) -> None:
        name, fold, seed = task
        new_rows = run_method(METHODS[name], fold, seed, output, method_args.get(name, []), cache, threads)
        with lock:
            runs.extend(new_rows)
            with open(runs_file, "w", newline="", encoding="utf-8") as handle:  # rewritten: failed rows replaced
                writer = csv.DictWriter(handle, fieldnames=METHOD_RUN_FIELDS)
                writer.writeheader()
                writer.writerows(runs)
            for row in new_rows:
                print(json.dumps(row), flush=True)
            bar.set_postfix_str(f"{name} {fold.name} seed {seed}")
            bar.update(1)

    if jobs == 1:
        for task in todo:
            one(task)
    else:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            list(pool.map(one, todo))  # list(): a run's exception is raised here
    bar.close()
    return runs


__all__ = [
    "METHODS",
    "METHOD_RUN_FIELDS",
    "FoldFiles",
    "Method",
    "MethodNotApplicable",
    "parse_method_args",
    "run_method",
    "run_measured",
    "run_methods",
]
