#!/usr/bin/env python
"""SAPA Table-4-style comparison: every variant x several seeds, mean and std of the target UAR.

Runs ``train_sapa.py`` once per (variant, seed) in this process (encoders, synthetic corpus and window features are
built once and then read from their caches), writes ``ablation_runs.csv`` (one row per run), ``ablation_table.md``
(mean +- std per variant) and ``ablation.json`` into ``--output_dir``, and says whether the paper's ordering
(SAPA > SAPA-Only-P > SAPA-Only-S > Only-P > Only-S) reproduced::

    python training_scripts/sapa_ablation.py --seeds 0 1 2 --output_dir outputs/sapa_ablation
    python training_scripts/sapa_ablation.py --seeds 0 1 2 -- --train_data corpus:msp-podcast:/data/MSP \\
        --eval_data corpus:biic-podcast:/data/BIIC --content_encoder microsoft/wavlm-base-plus

Arguments after ``--`` go to every ``train_sapa.py`` run unchanged. An interrupted ablation resumes when run again:
finished runs are read back from ``ablation_runs.csv``, and an unfinished run resumes from the last checkpoint in its
``<variant>_seed<seed>`` folder (``train_sapa.py``'s automatic resume).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import train_sapa  # noqa: E402  (the script next to this one)

from hf_cser.trainers.checkpointing import check_output_dir  # noqa: E402

VARIANTS = ("sapa", "only_s", "only_p", "sapa_only_s", "sapa_only_p")
PAPER_NAMES = {
    "sapa": "SAPA",
    "only_s": "Only-S",
    "only_p": "Only-P",
    "sapa_only_s": "SAPA-Only-S",
    "sapa_only_p": "SAPA-Only-P",
}
# paper Table 4, MSP-P -> BIIC-P UAR (%), 10-run means
PAPER_UAR = {"sapa": 59.25, "only_s": 51.58, "only_p": 56.37, "sapa_only_s": 57.46, "sapa_only_p": 58.81}
PAPER_ORDER = ("sapa", "sapa_only_p", "sapa_only_s", "only_p", "only_s")


def summarize(runs: list[dict]) -> list[dict]:
    rows = []
    for variant in VARIANTS:
        mine = [r for r in runs if r["variant"] == variant]
        if not mine:
            continue
        row = {"variant": variant, "name": PAPER_NAMES[variant], "runs": len(mine), "paper_uar": PAPER_UAR[variant]}
        for metric in ("target_uar", "target_war", "target_macro_f1", "source_uar"):
            values = [100 * r[metric] for r in mine if r.get(metric) is not None]
            row[f"{metric}_mean"] = statistics.fmean(values) if values else None
            row[f"{metric}_std"] = statistics.pstdev(values) if len(values) > 1 else 0.0
        rows.append(row)
    return rows


def ordering_verdict(rows: list[dict]) -> str:
    means = {r["variant"]: r["target_uar_mean"] for r in rows}
    if set(means) != set(VARIANTS):
        return "not all five variants ran; no ordering verdict"
    ours = sorted(VARIANTS, key=lambda v: -means[v])
    ours_text = " > ".join(PAPER_NAMES[v] for v in ours)
    paper_text = " > ".join(PAPER_NAMES[v] for v in PAPER_ORDER)
    if tuple(ours) == PAPER_ORDER:
        return f"The paper's ordering reproduced: {ours_text}."
    best = "SAPA is best" if ours[0] == "sapa" else f"SAPA is not best ({PAPER_NAMES[ours[0]]} is)"
    return f"The paper's ordering ({paper_text}) did not reproduce: ours is {ours_text}; {best}."


def markdown_table(rows: list[dict], seeds: list[int], data: str) -> str:
    lines = [
        f"Target-language UAR / WAR / macro-F1 (%), mean +- std over {len(seeds)} seeds "
        f"({', '.join(map(str, seeds))}); data: {data}.",
        "",
        "| variant | target UAR | target WAR | target macro-F1 | source UAR | paper UAR (MSP-P -> BIIC-P) |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = [
            f"{r[f'{m}_mean']:.2f} +- {r[f'{m}_std']:.2f}" if r[f"{m}_mean"] is not None else "n/a"
            for m in ("target_uar", "target_war", "target_macro_f1", "source_uar")
        ]
        lines.append(f"| {r['name']} | " + " | ".join(cells) + f" | {r['paper_uar']:.2f} |")
    return "\n".join(lines)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    passthrough = argv[argv.index("--") + 1 :] if "--" in argv else []
    own = argv[: argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--output_dir", default="outputs/sapa_ablation")
    args = parser.parse_args(own)
    check_output_dir(args.output_dir)  # unusable folder / full disk: fail before the first run
    runs_file = os.path.join(args.output_dir, "ablation_runs.csv")
    fields = ["variant", "seed", "target_uar", "target_war", "target_macro_f1", "source_uar", "output_dir"]
    done = {}
    if os.path.exists(runs_file):  # resumable: finished runs are read back, not redone
        with open(runs_file) as f:
            for row in csv.DictReader(f):
                done[(row["variant"], int(row["seed"]))] = {
                    k: (float(v) if k not in ("variant", "output_dir", "seed") and v not in ("", "None") else v)
                    for k, v in row.items()
                } | {"seed": int(row["seed"])}
    data = "synthetic corpus (hf_cser default)" if not passthrough else " ".join(passthrough)
    runs = []
    for seed in args.seeds:
        for variant in args.variants:
            if (variant, seed) in done:
                runs.append(done[(variant, seed)])
                continue
            out = os.path.join(args.output_dir, f"{variant}_seed{seed}")
            summary = train_sapa.main(
                [
                    "--variant",
                    variant,
                    "--seed",
                    str(seed),
                    "--output_dir",
                    out,
                    "--run_analyses",
                    "false",
                    "--disable_tqdm",
                    "true",
                    "--save_total_limit",
                    "1",
                    *passthrough,
                ]
            )
            run = {
                "variant": variant,
                "seed": seed,
                "target_uar": summary["target"]["uar"],
                "target_war": summary["target"]["war"],
                "target_macro_f1": summary["target"]["macro_f1"],
                "source_uar": None if summary["source"] is None else summary["source"]["uar"],
                "output_dir": out,
            }
            runs.append(run)
            new_file = not os.path.exists(runs_file)
            with open(runs_file, "a", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=fields)
                if new_file:
                    writer.writeheader()
                writer.writerow(run)
    rows = summarize(runs)
    verdict = ordering_verdict(rows)
    table = markdown_table(rows, args.seeds, data)
    with open(os.path.join(args.output_dir, "ablation_table.md"), "w") as f:
        f.write(table + "\n\n" + verdict + "\n")
    with open(os.path.join(args.output_dir, "ablation.json"), "w") as f:
        json.dump({"seeds": args.seeds, "rows": rows, "verdict": verdict, "data": data}, f, indent=2)
    print(table)
    print()
    print(verdict)
    return rows, verdict


if __name__ == "__main__":
    main()
