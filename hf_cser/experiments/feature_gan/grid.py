"""The paper's Table 3 grid of the feature-GAN experiment (with / without augmentation and the ablations, over seeds,
resumable) and its Fig. 2 t-SNE of real vs generated features."""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import os
import statistics
from collections.abc import Callable

import numpy as np
import torch

from hf_cser.labels import EMOTIONS
from hf_cser.models.feature_gan import FeatureGanGeneratorModel
from hf_cser.trainers.feature_gan import generate_features

from .arguments import STAGE_DIRS, ModelArguments, RunArguments
from .data import PreparedData, fingerprint
from .stages import FeatureStore, run_stage1, run_stage2, run_stage3

logger = logging.getLogger(__name__)


def plot_real_vs_generated(real, real_labels, generated, generated_labels, path: str, seed: int = 0) -> str:
    """Paper Fig. 2: t-SNE of real and generated features together (left), generated (centre), real (right)."""
    from matplotlib.figure import Figure
    from sklearn.manifold import TSNE

    both = torch.cat([real, generated]).numpy()
    both = (both - both.mean(0)) / (both.std(0) + 1e-6)
    points = TSNE(n_components=2, perplexity=30.0, random_state=seed, init="pca").fit_transform(both)
    n = real.shape[0]
    labels = np.concatenate([real_labels.numpy(), generated_labels.numpy()])
    is_real = np.arange(len(labels)) < n
    fig = Figure(figsize=(15, 4.6))
    for k, (title, keep) in enumerate(
        (("real and generated", np.ones_like(is_real)), ("generated", ~is_real), ("real", is_real))
    ):
        ax = fig.add_subplot(1, 3, k + 1)
        for e, name in enumerate(EMOTIONS):
            for flag, marker in ((True, "o"), (False, "x")):
                sel = keep & (labels == e) & (is_real == flag)
                if sel.any():
                    ax.scatter(
                        points[sel, 0],
                        points[sel, 1],
                        s=10,
                        marker=marker,
                        color=f"C{e}",
                        alpha=0.7,
                        label=f"{name} ({'real' if flag else 'generated'})",
                    )
        ax.set_title(title)
        ax.set_xticks([]), ax.set_yticks([])
    fig.axes[0].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


# ============================================================================================ grid (Table 3)

# variant -> (stage-1 alignment, stage-2 overrides or None for no augmentation)
GRID_VARIANTS = {
    "baseline (aligned), no augmentation": (True, None),
    "full model (aligned + text + MI), augmented": (True, {}),
    "w/o cross-modal alignment, augmented": (False, {}),
    "w/o alignment & text embedding, augmented": (False, {"use_text_condition": False}),
    "w/o alignment & MI, augmented": (False, {"mi_label_weight": 0.0, "mi_text_weight": 0.0}),
    "baseline w/o alignment, no augmentation": (False, None),
}


def _grid_checkpoints(base: str, variant: str, classifier: str) -> str:
    """Checkpoint folder of one stage-3 run of the grid."""
    return os.path.join(base, "checkpoints", "stage3_" + fingerprint(variant, classifier))


def run_grid(
    data: PreparedData,
    model_args: ModelArguments,
    run_args: RunArguments,
    echo: Callable[[str], None] | None = None,
) -> dict:
    """Table 3 grid. Every finished classifier run is appended to `grid/feature_gan_runs.csv` at once and finished
    stage-1 / stage-2 folders are reused, so a restarted command redoes no finished work (and an interrupted stage
    resumes from its last checkpoint).

    `echo` receives the run's report lines (tables, the summary line, the final JSON line); default: this module's
    logger at INFO. The training script passes `print` (its console report)."""
    echo = echo or logger.info
    seeds = [int(s) for s in run_args.seeds.split(",") if s.strip()]
    root = os.path.join(run_args.output_dir, "grid")
    os.makedirs(root, exist_ok=True)
    csv_path = os.path.join(root, "feature_gan_runs.csv")
    rows = []
    if os.path.isfile(csv_path):  # resume an interrupted grid
        with open(csv_path) as f:
            rows = list(csv.DictReader(f))
    done = {(r["variant"], r["seed"], r["classifier"]) for r in rows}
    fields = [
        "variant",
        "seed",
        "classifier",
        "uar",
        "war",
        "macro_f1",
        "val_uar",
        "gen_head_accuracy",
        "gen_mi_text_bound",
    ]

    def record(variant: str, seed: int, classifier: str, res: dict, gen_mi: dict) -> None:
        row = {
            "variant": variant,
            "seed": seed,
            "classifier": classifier,
            "uar": res["test"]["uar"],
            "war": res["test"]["war"],
            "macro_f1": res["test"]["macro_f1"],
            "val_uar": res["validation"]["uar"],
            "gen_head_accuracy": gen_mi.get("head_accuracy", ""),
            "gen_mi_text_bound": gen_mi.get("mi_text_bound", ""),
        }
        new_rows = [row]
        if classifier in ("audio+text, augmented", "audio+text, real only"):
            new_rows.append(
                dict(
                    row,
                    classifier=classifier + " (audio-only input)",
                    uar=res["test_audio_only"]["uar"],
                    war=res["test_audio_only"]["war"],
                    macro_f1=res["test_audio_only"]["macro_f1"],
                )
            )
        write_header = not os.path.isfile(csv_path)
        with open(csv_path, "a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fields)
            if write_header:
                writer.writeheader()
            writer.writerows(new_rows)
            f.flush()
            os.fsync(f.fileno())
        rows.extend({k: str(v) for k, v in r.items()} for r in new_rows)

    store = FeatureStore(data)
    for seed in seeds:
        for aligned in (True, False):
            s1 = os.path.join(root, f"seed{seed}", "aligned" if aligned else "unaligned", STAGE_DIRS[1])
            if not os.path.isfile(os.path.join(s1, "results.json")):  # written last: the stage finished
                margs = dataclasses.replace(model_args, cross_modal_alignment=aligned)
                run_stage1(data, margs, run_args, s1, seed)
        for variant, (aligned, overrides) in GRID_VARIANTS.items():
            base = os.path.join(root, f"seed{seed}", "aligned" if aligned else "unaligned")
            s1 = os.path.join(base, STAGE_DIRS[1])
            if overrides is None:
                if (variant, str(seed), "stage-1 head") not in done:
                    stage1 = json.load(open(os.path.join(s1, "results.json")))
                    record(variant, seed, "stage-1 head", stage1, {})
                for classifier, modality in (
                    ("fine-tuned, real only", "audio"),
                    ("audio+text, real only", "audio_text"),
                ):
                    if (variant, str(seed), classifier) in done or (modality == "audio_text" and not aligned):
                        continue
                    record(
                        variant,
                        seed,
                        classifier,
                        run_stage3(
                            data,
                            store,
                            s1,
                            None,
                            model_args,
                            run_args,
                            None,
                            seed,
                            modality,
                            "none",
                            _grid_checkpoints(base, variant, classifier),
                        ),
                        {},
                    )
            else:
                tag = "full" if not overrides else "_".join(sorted(overrides))
                s2 = os.path.join(base, f"{STAGE_DIRS[2]}_{tag}")
                if not os.path.isfile(os.path.join(s2, "mutual_information.json")):  # written last
                    run_stage2(data, store, s1, dataclasses.replace(model_args, **overrides), run_args, s2, seed)
                report = json.load(open(os.path.join(s2, "mutual_information.json")))
                gen_mi = report["generated_train"]
                for classifier, modality in (("augmented", "audio"), ("audio+text, augmented", "audio_text")):
                    if (variant, str(seed), classifier) in done or (modality == "audio_text" and overrides):
                        continue
                    record(
                        variant,
                        seed,
                        classifier,
                        run_stage3(
                            data,
                            store,
                            s1,
                            s2,
                            model_args,
                            run_args,
                            None,
                            seed,
                            modality,
                            run_args.augmentation,
                            _grid_checkpoints(base, variant, classifier),
                        ),
                        gen_mi,
                    )
                name = f"tsne_real_vs_generated_{'aligned' if aligned else 'unaligned'}.png"
                if (
                    run_args.tsne
                    and seed == seeds[0]
                    and not overrides
                    and not os.path.isfile(os.path.join(root, name))
                ):
                    gan = FeatureGanGeneratorModel.from_pretrained(s2)
                    h = store.get(s1)
                    fake = generate_features(gan, data.labels["test"], data.text_embeds["test"], seed=seed).cpu()
                    plot_real_vs_generated(
                        h["test"], data.labels["test"], fake, data.labels["test"], os.path.join(root, name)
                    )
    table = summarize_grid(rows)
    with open(os.path.join(root, "feature_gan_table.md"), "w") as f:
        f.write(table)
    mi_table = summarize_mutual_information(root, seeds)
    with open(os.path.join(root, "feature_gan_mutual_information.md"), "w") as f:
        f.write(mi_table)
    echo(table)
    echo(mi_table)
    return {"runs": len(rows), "table": os.path.join(root, "feature_gan_table.md")}


def summarize_grid(rows: list[dict]) -> str:
    lines = [
        "| variant | classifier | test UAR (mean +- std) | test macro-F1 | seeds | generated: frozen-head acc |",
        "|---|---|---|---|---|---|",
    ]
    keys = list(dict.fromkeys((r["variant"], r["classifier"]) for r in rows))
    for variant, classifier in keys:
        mine = [r for r in rows if r["variant"] == variant and r["classifier"] == classifier]
        uar = [100 * float(r["uar"]) for r in mine]
        f1 = [100 * float(r["macro_f1"]) for r in mine]
        acc = [float(r["gen_head_accuracy"]) for r in mine if r.get("gen_head_accuracy") not in ("", None)]
        sd = statistics.stdev(uar) if len(uar) > 1 else 0.0
        lines.append(
            f"| {variant} | {classifier} | {statistics.mean(uar):.2f} +- {sd:.2f} | "
            f"{statistics.mean(f1):.2f} | {len(uar)} | "
            f"{(f'{statistics.mean(acc):.3f}' if acc else '-')} |"
        )
    return "\n".join(lines) + "\n"


def summarize_mutual_information(root: str, seeds: list[int]) -> str:
    """Per-class MI quality of generated features (train conditioning), mean over seeds, per stage-2 variant."""
    lines = [
        "| generator | class | frozen-head acc (generated) | frozen-head acc (real) | InfoNCE bound I(t; h_hat) "
        "| InfoNCE bound I(t; h) real | I(c; h_hat) bound |",
        "|---|---|---|---|---|---|---|",
    ]
    for variant, (aligned, overrides) in GRID_VARIANTS.items():
        if overrides is None:
            continue
        tag = "full" if not overrides else "_".join(sorted(overrides))
        reports = []
        for seed in seeds:
            path = os.path.join(
                root,
                f"seed{seed}",
                "aligned" if aligned else "unaligned",
                f"{STAGE_DIRS[2]}_{tag}",
                "mutual_information.json",
            )
            if os.path.isfile(path):
                reports.append(json.load(open(path)))
        if not reports:
            continue

        def mean(values):
            values = [v for v in values if v is not None]
            return f"{statistics.mean(values):.3f}" if values else "-"

        for name in [*EMOTIONS, "all"]:
            if name == "all":
                gen = [r["generated_train"] for r in reports]
                real = [r["real_train"] for r in reports]
                bound = mean([g["mi_label_bound"] for g in gen])
            else:
                gen = [r["generated_train"]["per_class"][name] for r in reports]
                real = [r["real_train"]["per_class"][name] for r in reports]
                bound = "-"
            lines.append(
                f"| {variant.split(',')[0]} | {name} | {mean([g['head_accuracy'] for g in gen])} | "
                f"{mean([g['head_accuracy'] for g in real])} | {mean([g['mi_text_bound'] for g in gen])} | "
                f"{mean([g['mi_text_bound'] for g in real])} | {bound} |"
            )
    return "\n".join(lines) + "\n"
