"""Outputs of the CTL-MTNet experiment: the results table (mean +- std per protocol, every run) and the saved model
folder with its card."""

from __future__ import annotations

import os
import statistics


def summarize(runs: list[dict]) -> list[dict]:
    """Mean and population std (in %) of UAR and WAR per (task, source, target, mdd)."""
    rows = []
    for key in dict.fromkeys((r["task"], r["source"], r["target"], str(r["mdd"])) for r in runs):
        mine = [r for r in runs if (r["task"], r["source"], r["target"], str(r["mdd"])) == key]
        row = dict(zip(("task", "source", "target", "mdd"), key, strict=True), runs=len(mine))
        for metric in ("uar", "war"):
            values = [100.0 * float(r[metric]) for r in mine]
            row[f"{metric}_mean"] = statistics.fmean(values)
            row[f"{metric}_std"] = statistics.pstdev(values) if len(values) > 1 else 0.0
        rows.append(row)
    return rows


def markdown_table(summary: list[dict], runs: list[dict], note: str) -> str:
    lines = [
        note,
        "",
        "| task | source | target | MDD | runs | UAR (%) | WAR (%) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in summary:
        lines.append(
            f"| {r['task']} | {r['source']} | {r['target']} | {r['mdd']} | {r['runs']} | "
            f"{r['uar_mean']:.2f} +- {r['uar_std']:.2f} | {r['war_mean']:.2f} +- {r['war_std']:.2f} |"
        )
    lines += ["", "Per run:", "", "| seed | fold | source | target | MDD | UAR (%) | WAR (%) |"]
    lines.append("|---|---|---|---|---|---|---|")
    for r in runs:
        lines.append(
            f"| {r['seed']} | {r['fold']} | {r['source']} | {r['target']} | {r['mdd']} | "
            f"{100 * float(r['uar']):.2f} | {100 * float(r['war']):.2f} |"
        )
    return "\n".join(lines)


def save_final_model(model, train_args, extractor, protocol, summary, output_dir: str, seeds: list[int]) -> str:
    from hf_cser.data.specs import describe_data_spec, is_synthetic_spec, parse_data_spec
    from hf_cser.model_card import render_model_card, save_model_card

    model_dir = os.path.join(output_dir, "model")
    model.save_pretrained(model_dir)
    extractor.save_pretrained(model_dir)
    train_spec = protocol.data if protocol.task == "single_corpus" else protocol.source
    specs = [train_spec] + ([protocol.target] if protocol.task == "cross_corpus" else [])
    eval_results = {}
    for row in summary:
        name = f"{row['task']} {row['source']} -> {row['target']} (MDD {row['mdd']})"
        language = parse_data_spec(row["target"]).languages
        eval_results[name] = {
            "dataset": "synthetic" if is_synthetic_spec(row["target"]) else row["target"],
            "language": ",".join(language) if language else None,
            "split": "k-fold" if row["task"] == "single_corpus" else ("all" if protocol.transductive else "test"),
            "uar": row["uar_mean"] / 100.0,
            "war": row["war_mean"] / 100.0,
        }
    languages = sorted({code for s in specs for code in (parse_data_spec(s).languages or ())})
    config = model.config
    card = render_model_card(
        "ctl_mtnet",
        model_id=os.path.basename(os.path.abspath(output_dir)) or "ctl-mtnet",
        datasets=["synthetic"] if all(is_synthetic_spec(s) for s in specs) else specs,
        languages=languages,
        eval_results=eval_results,
        training_args={
            "learning_rate": train_args.learning_rate,
            "epochs": train_args.num_train_epochs,
            "batch_size": train_args.per_device_train_batch_size,
            "max_train_frames": train_args.max_train_frames,
        },
        hyperparameters={
            "head": config.head,
            "use_mdd": config.use_mdd,
            "mdd_margin (gamma)": config.mdd_margin,
            "mdd_weight (eta)": config.mdd_weight,
            "grl_coefficient": config.grl_coefficient,
            "conv_filters": config.conv_filters,
            "routing_iterations": config.routing_iterations,
        },
        data_description="; ".join(describe_data_spec(s) for s in specs) + ".",
        seeds=len(seeds),
        extra={"task": protocol.task, "saved run": f"the last run (seed {seeds[-1]}) of the protocol"},
    )
    save_model_card(card, model_dir)
    return model_dir
