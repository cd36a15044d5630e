#!/usr/bin/env python
"""Zero-shot cross-lingual SER (paper 001): language-aware supervised contrastive + speaker-adversarial learning.

Runs one setting or the paper's grid of nine settings (`hf_cser.data.protocol.PAPER_SETTINGS`) for the systems
baseline1, baseline2, proposed, proposed_wo_scl, proposed_wo_adversarial and upper_bound, over seeds, and writes a
results table (`zero_shot_runs.csv`, one row per run, appended as runs finish so an interrupted grid resumes;
`zero_shot_table.md` with mean +- std) plus a t-SNE plot of the proposed system's embeddings per setting::

    accelerate launch training_scripts/train_zero_shot.py --settings en-\\>de --systems proposed,baseline2
    accelerate launch training_scripts/train_zero_shot.py --settings all --systems all --seeds 0,1,2
    accelerate launch training_scripts/train_zero_shot.py --data corpus:emodb:/data/emodb ... (a DatasetDict with
        all five languages: pass a manifest CSV or a saved DatasetDict folder that merges the corpora)

The target language's data never enters training, the sampler, the speaker map or model selection (checked by
`hf_cser.data.protocol.check_no_target_leakage` and the trainer's leak guard); only upper_bound trains on it.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import os
import statistics
import sys
from dataclasses import dataclass, field

import numpy as np
from transformers import HfArgumentParser, set_seed

import hf_cser  # noqa: F401  (registers the models)
from hf_cser.trainers import ZeroShotTrainer, ZeroShotTrainingArguments

logger = logging.getLogger("train_zero_shot")

RUN_FIELDS = ["setting", "system", "seed", "uar", "war", "macro_f1", "num_test", "output_dir"]
# system -> (scl on, adversarial on); baselines and the upper bound use the plain architecture (paper section 3.2)
SYSTEM_LOSSES = {
    "baseline1": (False, False),
    "baseline2": (False, False),
    "proposed": (True, True),
    "proposed_wo_scl": (False, True),
    "proposed_wo_adversarial": (True, False),
    "upper_bound": (False, False),
}


@dataclass
class ModelArguments:
    backbone: str = field(
        default="auto",
        metadata={
            "help": "wav2vec2 / HuBERT / WavLM backbone by Hub id or folder. 'auto' = the small phonetic WavLM "
            "hf_cser pretrains once on the synthetic corpus (no pretrained SSL weights are reachable offline)."
        },
    )
    lora_r: int = field(default=8, metadata={"help": "LoRA rank on the feed-forward layers (0 = no LoRA)."})
    adapter_size: int = field(default=0, metadata={"help": "Bottleneck adapter size (0 = no adapters)."})
    gating: bool = field(default=False, metadata={"help": "Weight gating on the feed-forward layers."})


@dataclass
class ProtocolArguments:
    data: str = field(default="synthetic", metadata={"help": "Data spec with all languages of the settings."})
    settings: str = field(default="en->de", metadata={"help": "Comma-separated 'src->tgt' names or 'all' (nine)."})
    systems: str = field(default="proposed", metadata={"help": "Comma-separated systems or 'all'."})
    seeds: str = field(default="0", metadata={"help": "Comma-separated seeds."})
    max_seconds: float = field(default=4.0, metadata={"help": "Crop training waveforms to this many seconds."})
    synthetic_dir: str | None = field(default=None, metadata={"help": "Folder of the default synthetic corpus."})
    num_proc: int = field(default=2, metadata={"help": "Processes for generating the synthetic corpus."})
    tsne: bool = field(default=True, metadata={"help": "t-SNE plot of the proposed system's embeddings."})


def parse_list(text: str, allowed, name: str) -> list[str]:
    values = list(allowed) if text.strip().lower() == "all" else [v.strip() for v in text.split(",") if v.strip()]
    unknown = [v for v in values if v not in allowed]
    if unknown:
        raise ValueError(f"`--{name}` has unknown value(s) {unknown}; choose from {list(allowed)} or 'all'.")
    return values


def resolve_backbone(model_args, protocol_args) -> str:
    if model_args.backbone != "auto":
        return model_args.backbone
    from hf_cser.data.specs import is_synthetic_spec, load_data_spec
    from hf_cser.encoders.phonetic_pretraining import default_phonetic_encoder

    if not is_synthetic_spec(protocol_args.data):
        raise ValueError("`--backbone auto` needs synthetic data; pass a backbone, e.g. facebook/wav2vec2-base.")
    corpus = load_data_spec("synthetic", synthetic_dir=protocol_args.synthetic_dir, num_proc=protocol_args.num_proc)
    return default_phonetic_encoder(corpus)


def peft_options(model_args) -> dict:
    return {
        "lora": {"r": model_args.lora_r, "alpha": 2 * model_args.lora_r} if model_args.lora_r > 0 else None,
        "adapters": {"bottleneck_size": model_args.adapter_size} if model_args.adapter_size > 0 else None,
        "gating": True if model_args.gating else None,
    }


def embeddings_of(trainer, dataset) -> np.ndarray:
    """Pooled embeddings of every row (batched through the trainer's collator, no gradients)."""
    import torch

    model = trainer.model.eval()
    loader = trainer.get_eval_dataloader(dataset)
    out = []
    with torch.no_grad():
        for batch in loader:
            batch = trainer._prepare_inputs(batch)
            result = model(input_values=batch["input_values"], attention_mask=batch.get("attention_mask"))
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


def read_finished(path: str) -> dict:
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return {(r["setting"], r["system"], int(r["seed"])): r for r in csv.DictReader(f)}


def main(argv=None):
    from hf_cser.data import PAPER_SETTINGS, SYSTEMS, build_zero_shot_splits, check_no_target_leakage
    from hf_cser.data.protocol import get_paper_setting
    from hf_cser.data.schema import with_decoded_audio
    from hf_cser.data.specs import load_data_spec
    from hf_cser.metrics import compute_ser_metrics
    from hf_cser.models.zero_shot import ZeroShotSerForEmotionClassification
    from hf_cser.trainers import ZeroShotDataCollator

    parser = HfArgumentParser((ModelArguments, ProtocolArguments, ZeroShotTrainingArguments))
    model_args, protocol_args, base_args = parser.parse_args_into_dataclasses(args=argv)
    if base_args.output_dir is None:
        base_args.output_dir = "outputs/zero_shot"
    logging.basicConfig(
        format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=base_args.get_process_log_level()
    )
    names = {s.name: s for s in PAPER_SETTINGS}
    settings = [get_paper_setting(n) for n in parse_list(protocol_args.settings, list(names), "settings")]
    systems = parse_list(protocol_args.systems, list(SYSTEMS), "systems")
    seeds = [int(s) for s in protocol_args.seeds.split(",") if s.strip()]
    os.makedirs(base_args.output_dir, exist_ok=True)

    with base_args.main_process_first(desc="data and backbone"):
        data = load_data_spec(protocol_args.data, synthetic_dir=protocol_args.synthetic_dir,
                              num_proc=protocol_args.num_proc)
        backbone = resolve_backbone(model_args, protocol_args)

    runs_file = os.path.join(base_args.output_dir, "zero_shot_runs.csv")
    finished = read_finished(runs_file)
    runs = []
    max_length = int(protocol_args.max_seconds * 16000)
    for setting in settings:
        for system in systems:
            for seed in seeds:
                key = (setting.name, system, seed)
                if key in finished:  # resumable grid: finished runs are read back, not redone
                    runs.append(finished[key])
                    continue
                set_seed(seed)
                splits, speaker_map = build_zero_shot_splits(data, setting, system)
                upper = system == "upper_bound"
                scl_on, adv_on = SYSTEM_LOSSES[system]
                run_dir = os.path.join(base_args.output_dir, setting.name.replace("->", "_to_"), system, f"seed{seed}")
                args = dataclasses.replace(
                    base_args,
                    output_dir=run_dir,
                    seed=seed,
                    scl_weight=base_args.scl_weight if scl_on else 0.0,
                    adversarial_weight=base_args.adversarial_weight if adv_on else 0.0,
                    target_languages=[] if upper else [setting.target],
                    upper_bound=upper,
                    # baseline1 trains on one language: a batch cannot hold more languages than training has
                    languages_per_batch=min(base_args.languages_per_batch, len(set(splits["train"]["language"]))),
                )
                model = ZeroShotSerForEmotionClassification.from_backbone(
                    backbone, num_speakers=len(speaker_map), **peft_options(model_args)
                )
                train = with_decoded_audio(splits["train"])
                validation = with_decoded_audio(splits["validation"])
                test = with_decoded_audio(splits["test"])
                check_no_target_leakage(
                    setting, system, train=splits["train"], validation=splits["validation"], speaker_map=speaker_map,
                    selection_languages=sorted(set(validation["language"])),
                )
                collator = ZeroShotDataCollator(
                    speaker_map=speaker_map, languages=sorted(set(train["language"])), max_length=max_length
                )
                trainer = ZeroShotTrainer(model=model, args=args, data_collator=collator, train_dataset=train,
                                          eval_dataset=validation if len(validation) else None,
                                          speaker_map=speaker_map)
                trainer.train()
                output = trainer.predict(test, metric_key_prefix="target")
                logits = output.predictions[0] if isinstance(output.predictions, tuple) else output.predictions
                report = compute_ser_metrics(test["emotion"], np.asarray(logits).argmax(-1), test["language"])
                run = {"setting": setting.name, "system": system, "seed": seed, "uar": report["uar"],
                       "war": report["war"], "macro_f1": report["macro_f1"], "num_test": report["num_samples"],
                       "output_dir": run_dir}
                runs.append(run)
                if trainer.is_world_process_zero():
                    trainer.save_model(run_dir)
                    new_file = not os.path.exists(runs_file)
                    with open(runs_file, "a", newline="") as f:
                        writer = csv.DictWriter(f, fieldnames=RUN_FIELDS)
                        if new_file:
                            writer.writeheader()
                        writer.writerow(run)
                    if protocol_args.tsne and system == "proposed" and seed == seeds[0]:
                        from datasets import concatenate_datasets

                        shown = concatenate_datasets([splits["validation"], splits["test"]])
                        emb = embeddings_of(trainer, with_decoded_audio(shown))
                        plot_tsne(emb, shown["emotion"], shown["language"],
                                  os.path.join(base_args.output_dir, f"tsne_{setting.name.replace('->', '_to_')}.png"),
                                  f"{setting.name}: proposed (validation + target test)", seed=seed)
    rows = summarize(runs)
    table = markdown_table(rows, seeds, protocol_args.data)
    if base_args.process_index == 0:
        with open(os.path.join(base_args.output_dir, "zero_shot_table.md"), "w") as f:
            f.write(table + "\n")
        with open(os.path.join(base_args.output_dir, "zero_shot_summary.json"), "w") as f:
            json.dump({"rows": rows, "seeds": seeds, "data": protocol_args.data}, f, indent=2)
        print(table)
        print(json.dumps({"runs": len(runs), "rows": rows}))
    return rows


if __name__ == "__main__":
    sys.exit(0 if main() is not None else 1)
