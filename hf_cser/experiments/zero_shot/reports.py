"""Outputs of the zero-shot experiment: each run's model folder and card, the results CSV of the grid (appended as
runs finish, read back on a restart), the results table and the t-SNE figure."""

from __future__ import annotations

import csv
import os
import statistics

import numpy as np

from hf_cser.trainers.checkpointing import resolve_run_resume

from .arguments import RUN_FIELDS, SYSTEM_LOSSES
from .backbones import feature_extractor_for


def save_run_folder(trainer, run_dir: str, backbone: str, setting, system: str, run: dict, data: str) -> None:
    """A complete model folder: weights + config, feature extractor, training arguments as JSON, model card."""
    from hf_cser.data.specs import describe_data_spec, is_synthetic_spec
    from hf_cser.model_card import render_model_card, save_model_card

    trainer.save_model(run_dir)
    feature_extractor_for(backbone).save_pretrained(run_dir)
    pickled_args = os.path.join(run_dir, "training_args.bin")
    if os.path.exists(pickled_args):  # JSON instead: nothing in the folder needs an unpickling load
        os.remove(pickled_args)
    with open(os.path.join(run_dir, "training_args.json"), "w") as f:
        f.write(trainer.args.to_json_string())
    config = trainer.model.config
    training_languages = sorted(set(trainer.train_dataset["language"]))
    card = render_model_card(
        "zero_shot",
        model_id=os.path.basename(os.path.abspath(run_dir))
        if not trainer.args.hub_model_id
        else trainer.args.hub_model_id,
        base_models=[backbone] if not os.path.isdir(backbone) else None,
        datasets=[data],
        languages=training_languages + ([setting.target] if setting.target not in training_languages else []),
        eval_results={
            "target_test": {
                "dataset": describe_data_spec(data),
                "language": setting.target,
                "split": "test",
                "uar": run["uar"],
                "war": run["war"],
                "macro_f1": run["macro_f1"],
            }
        },
        training_args={
            k: getattr(trainer.args, k)
            for k in (
                "learning_rate",
                "num_train_epochs",
                "languages_per_batch",
                "emotions_per_batch",
                "samples_per_cell",
                "seed",
            )
        },
        hyperparameters={
            "setting": setting.name,
            "system": system,
            "scl_weight": config.scl_weight,
            "adversarial_weight": config.adversarial_weight,
            "scl_temperature": config.scl_temperature,
            "scl_gamma": config.scl_gamma,
            "grl_schedule": config.grl_schedule,
            "top_adapter_size": config.top_adapter_size,
            "lora": config.lora,
            "adapters": config.adapters,
            "gating": config.gating,
        },
        data_description=f"trained on {', '.join(training_languages)} of {describe_data_spec(data)}; "
        f"evaluated zero-shot on {setting.target} (setting {setting.name}, system {system})",
        seeds=1,
        synthetic=is_synthetic_spec(data),
        method="zero-shot-ser",
    )
    save_model_card(card, run_dir)


def embeddings_of(trainer, dataset) -> np.ndarray:
    """Pooled embeddings of every row (batched through the trainer's collator, no gradients)."""
    import torch

    model = trainer.model.eval()
    loader = trainer.get_eval_dataloader(dataset)
    out = []
    with torch.no_grad():
        for batch in loader:
            batch = trainer._prepare_inputs(batch)
            inputs = {
                k: batch[k]
                for k in ("input_values", "attention_mask", "backbone_hidden_states", "frame_mask")
                if k in batch
            }
            result = model(**inputs)
            out.append(result.embeddings.float().cpu().numpy())
    return np.concatenate(out)


def plot_tsne(embeddings, emotions, languages, path, title, seed=0):
    """t-SNE of embeddings: colour = emotion, marker = language (paper Fig. 2 style)."""
    from matplotlib.figure import Figure
    from sklearn.manifold import TSNE

    from hf_cser.labels import EMOTIONS

    perplexity = float(max(2, min(30, len(embeddings) - 1) // 3))
    points = TSNE(n_components=2, perplexity=perplexity, random_state=seed, init="pca").fit_transform(embeddings)
    fig = Figure(figsize=(6, 5))
    ax = fig.add_subplot()
    markers = dict(zip(sorted(set(languages)), "osd^vP*X"))
    for e, name in enumerate(EMOTIONS):
        for lang, marker in markers.items():
            keep = (np.asarray(emotions) == e) & (np.asarray(languages) == lang)
            if keep.any():
                ax.scatter(
                    points[keep, 0], points[keep, 1], s=14, marker=marker, color=f"C{e}", label=f"{name} / {lang}"
                )
    ax.set_title(title)
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


def summarize(runs: list[dict]) -> list[dict]:
    rows = []
    for setting in dict.fromkeys(r["setting"] for r in runs):
        for system in SYSTEM_LOSSES:
            mine = [r for r in runs if r["setting"] == setting and r["system"] == system]
            if not mine:
                continue
            row = {"setting": setting, "system": system, "runs": len(mine)}
            for metric in ("uar", "macro_f1"):
                values = [100 * float(r[metric]) for r in mine]
                row[f"{metric}_mean"] = statistics.fmean(values)
                row[f"{metric}_std"] = statistics.pstdev(values) if len(values) > 1 else 0.0
            rows.append(row)
    return rows


def markdown_table(rows: list[dict], seeds: list[int], data: str) -> str:
    systems = [s for s in SYSTEM_LOSSES if any(r["system"] == s for r in rows)]
    settings = list(dict.fromkeys(r["setting"] for r in rows))
    cell = {(r["setting"], r["system"]): r for r in rows}
    lines = [
        f"UAR / macro-F1 (%) on the target language's test split, mean +- std over {len(seeds)} seed(s) "
        f"({', '.join(map(str, seeds))}); data: {data}.",
        "",
        "| setting | " + " | ".join(systems) + " |",
        "|---|" + "---|" * len(systems),
    ]
    for setting in settings + ["average"]:
        cells = []
        for system in systems:
            if setting == "average":
                mine = [cell[(s, system)] for s in settings if (s, system) in cell]
                if not mine:
                    cells.append("n/a")
                    continue
                uar = statistics.fmean(r["uar_mean"] for r in mine)
                f1 = statistics.fmean(r["macro_f1_mean"] for r in mine)
                cells.append(f"{uar:.2f} / {f1:.2f}")
            elif (setting, system) in cell:
                r = cell[(setting, system)]
                cells.append(f"{r['uar_mean']:.2f} +- {r['uar_std']:.2f} / {r['macro_f1_mean']:.2f}")
            else:
                cells.append("n/a")
        lines.append(f"| {setting} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def identical_run_key(setting, system: str, seed: int, backbone: str) -> tuple:
    """Runs with the same key train on the same data with the same backbone and seed and test on the same target.

    In the paper's grid, settings that share a target differ only in which training language is called the source:
    every system but baseline1 trains on source + non-target (or all five languages for the upper bound), i.e. the
    same languages. The paper tells them apart by a language-matched backbone per source (`--language_backbones`);
    with one backbone they are the same run, which the script trains once and reports for each setting.
    """
    from hf_cser.data.zero_shot_protocol import training_languages

    return (system, tuple(sorted(training_languages(setting, system))), setting.target, seed, backbone)


def run_folder(output_dir: str, setting, system: str, seed: int) -> str:
    """The folder of one run of the grid (checkpoints, then the finished model)."""
    return os.path.join(output_dir, setting.name.replace("->", "_to_"), system, f"seed{seed}")


def run_resume_checkpoint(run_dir: str, requested: str | None, run_dirs, world_size: int = 1) -> str | None:
    """
    The checkpoint one run of the grid resumes from (`hf_cser.trainers.checkpointing.resolve_resume_checkpoint` per
    run folder).

    Args:
        run_dir (`str`): the run's folder.
        requested (`str`, *optional*): ``--resume_from_checkpoint``. ``None``, ``last`` or ``true``: the last complete
            checkpoint of this run's folder, if any; ``none``: from scratch; a checkpoint folder: used by the run whose
            folder holds it, the other runs resume automatically.
        run_dirs (`Iterable[str]`): the folders of every run of the grid, to refuse a checkpoint that belongs to none.
        world_size (`int`, *optional*, defaults to 1): processes of the run (a complete checkpoint has one RNG state
            per process).
    """
    return resolve_run_resume(run_dir, requested, run_dirs=run_dirs, world_size=world_size)


def append_run(path: str, run: dict) -> None:
    """Append one run to the results CSV (header first when the file is new), flushed to disk at once."""
    new_file = not os.path.exists(path)
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=RUN_FIELDS, extrasaction="ignore")
        if new_file:
            writer.writeheader()
        writer.writerow(run)
        f.flush()
        os.fsync(f.fileno())


def read_finished(path: str) -> dict:
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return {(r["setting"], r["system"], int(r["seed"])): r for r in csv.DictReader(f)}
