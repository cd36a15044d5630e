#!/usr/bin/env python
"""Run every hf_cser benchmark and write the report.

Each ``benchmarks/bench_*.py`` module exposes ``run(quick=False) -> list[dict]`` (records of
``benchmarks/_common.result``). This script runs them in one process, one after the other, and writes

- ``benchmarks/results/latest.json``: machine, versions, date and every record;
- ``benchmarks/README.md``: the same as a Markdown report, every ratio with its named reference and its target
  marked met / not met (``--readme`` false to skip).

Usage::

    python benchmarks/run_benchmarks.py                 # full sizes (the committed report)
    python benchmarks/run_benchmarks.py --quick         # small sizes, a smoke run
    python benchmarks/run_benchmarks.py --only losses,speaker_graph
    python benchmarks/run_benchmarks.py --only training --merge   # rerun one module, keep the others' records
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import platform
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def discover() -> list[str]:
    """Names ``X`` of the ``bench_X.py`` modules next to this script, sorted."""
    return sorted(f[len("bench_") : -3] for f in os.listdir(HERE) if f.startswith("bench_") and f.endswith(".py"))


def machine_info() -> dict:
    import numpy
    import torch
    import transformers

    info = {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "transformers": transformers.__version__,
        "numpy": numpy.__version__,
        "cuda": torch.cuda.is_available(),
    }
    for name in ("datasets", "accelerate", "networkx", "scipy", "pytorch_metric_learning", "hf_cser"):
        try:
            info[name] = importlib.import_module(name).__version__
        except Exception:  # noqa: BLE001 - optional packages
            info[name] = "not installed"
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        if names:
            info["processor"] = names[0]
    except OSError:
        pass
    try:
        info["load_average_at_start"] = os.getloadavg()
    except OSError:
        pass
    return info


def _fmt(value, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if unit == "s":
            return f"{value * 1e3:.3g} ms" if value < 1 else f"{value:.3g} s"
        return f"{value:.3g}{(' ' + unit) if unit else ''}"
    return f"{value}{(' ' + unit) if unit else ''}"


def _met(value) -> str:
    return {True: "**met**", False: "**not met**", None: "-"}[value]


def _group_key(group: str) -> tuple[str, str]:
    return group.split(".")[0].zfill(3), group


def merge_records(path: str, records: list[dict], seconds: dict, info: dict) -> tuple[list[dict], dict, dict]:
    """The records of an earlier result file `path` whose groups `records` does not hold, plus `records` (sorted by
    group, stable); the module times merged; `info` notes the earlier run's date and the groups kept from it."""
    with open(path) as f:
        old = json.load(f)
    measured = {r["group"] for r in records}
    earlier = old.get("machine", {}).get("date", "?")
    # each kept record remembers the run that measured it (a record kept by an earlier merge keeps its date)
    kept = [
        {**r, "measured": r.get("measured", earlier)} for r in old.get("records", []) if r["group"] not in measured
    ]
    merged = sorted(kept + records, key=lambda r: _group_key(r["group"]))
    if kept:
        by_date: dict[str, set] = {}
        for r in kept:
            by_date.setdefault(r["measured"], set()).add(r["group"])
        note = "; ".join(f"{date}: {', '.join(sorted(groups, key=_group_key))}" for date, groups in by_date.items())
        info = {**info, "kept_from_earlier_run": note}
    return merged, {**old.get("seconds", {}), **seconds}, info


def markdown_report(
    info: dict, records: list[dict], failures: dict[str, str], seconds: dict[str, float], quick: bool
) -> str:
    lines = [
        "# hf_cser benchmarks",
        "",
        "Written by `python benchmarks/run_benchmarks.py`" + (" --quick" if quick else "") + " (do not edit by hand).",
        "Every figure is a **ratio measured side by side in one run on the same machine** (ours / the named "
        "reference; below 1 = ours is faster or smaller unless the row says otherwise).",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
    ]
    lines += [f"| {k} | {v} |" for k, v in info.items()]
    met = [r for r in records if r.get("met") is not None]
    lines += ["", f"## Targets: {sum(bool(r['met']) for r in met)} of {len(met)} met", ""]
    lines += ["| group | benchmark | ours | reference | ratio | target | |", "|---|---|---|---|---|---|---|"]
    for r in met:
        lines.append(
            f"| {r['group']} | {r['name']} | {_fmt(r['ours'], r['unit'])} | {r['reference_name']} "
            f"({_fmt(r['reference'], r['unit'])}) | {_fmt(r['ratio'])} | {r['target']} | {_met(r['met'])} |"
        )
    groups = sorted({r["group"] for r in records}, key=_group_key)
    for group in groups:
        lines += [
            "",
            f"## {group}",
            "",
            "| benchmark | ours | reference | ratio | target | | details |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in (r for r in records if r["group"] == group):
            details = "; ".join(f"{k}={_fmt(v) if isinstance(v, float) else v}" for k, v in r["details"].items())
            lines.append(
                f"| {r['name']} | {_fmt(r['ours'], r['unit'])} | {r['reference_name'] or '-'} "
                f"({_fmt(r['reference'], r['unit'])}) | {_fmt(r['ratio'])} | {r['target'] or '-'} | "
                f"{_met(r['met'])} | {details} |"
            )
    lines += ["", "## Run", "", "| module | seconds | status |", "|---|---|---|"]
    for name, sec in seconds.items():
        lines.append(f"| bench_{name}.py | {sec:.0f} | {'failed: ' + failures[name] if name in failures else 'ok'} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--only", default="", help="comma-separated module names (e.g. losses,speaker_graph)")
    parser.add_argument("--output", default=os.path.join(HERE, "results", "latest.json"))
    parser.add_argument(
        "--readme", default="true", choices=["true", "false"], help="write benchmarks/README.md (default true)"
    )
    parser.add_argument(
        "--merge",
        action="store_true",
        help="keep the records of --output whose groups this run did not measure (the report says from when)",
    )
    args = parser.parse_args(argv)
    names = discover()
    if args.only:
        wanted = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = sorted(set(wanted) - set(names))
        if unknown:
            parser.error(f"unknown benchmark module(s) {unknown}; available: {names}")
        names = wanted
    info = machine_info()
    records, failures, seconds = [], {}, {}
    for name in names:
        print(f"== bench_{name}.py", flush=True)
        start = time.perf_counter()
        try:
            module = importlib.import_module(f"bench_{name}")
            got = module.run(quick=args.quick)
            records += got
            for r in got:
                print(
                    f"   {r['group']} | {r['name']}: ratio {_fmt(r['ratio'])} {r['target']} {_met(r['met'])}",
                    flush=True,
                )
        except Exception as error:  # noqa: BLE001 - one failing module must not lose the others' results
            failures[name] = f"{type(error).__name__}: {error}"
            traceback.print_exc()
        seconds[name] = time.perf_counter() - start
    if args.merge and os.path.isfile(args.output):
        records, seconds, info = merge_records(args.output, records, seconds, info)
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w") as f:
        json.dump(
            {"machine": info, "quick": args.quick, "records": records, "failures": failures, "seconds": seconds},
            f,
            indent=2,
            default=str,
        )
    report = markdown_report(info, records, failures, seconds, args.quick)
    if args.readme == "true":
        with open(os.path.join(HERE, "README.md"), "w") as f:
            f.write(report)
    print(report)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
