"""Fixed-seed results of every training script, to compare two checkouts (a refactor must not change results).

Builds a tiny synthetic corpus, a tiny WavLM backbone and a tiny text encoder in ``--work`` (once), runs each script
of ``--repo`` on them with a fixed seed (one thread, as subprocesses importing that checkout's ``hf_cser``), and writes
``--output`` (JSON): per script, the metrics of every run record and the SHA-256 of every saved predictions file (and
of the CLTM matrix). Two checkouts give the same JSON when their scripts compute the same results::

    git worktree add /tmp/before <old-commit>
    python benchmarks/script_equivalence.py --repo /tmp/before --output before.json
    python benchmarks/script_equivalence.py --output after.json
    python benchmarks/script_equivalence.py --compare before.json after.json

The last result is in ``benchmarks/results/script_equivalence.md``.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def build_fixtures(work: Path) -> dict[str, Path]:
    """The tests' tiny fixtures, built once in `work`: two corpora, a WavLM backbone, a text encoder."""
    import torch
    from transformers import Wav2Vec2FeatureExtractor, WavLMModel

    from hf_cser.data import SyntheticCorpusConfig, synthesize_corpus
    from hf_cser.data.specs import load_data_spec
    from hf_cser.encoders.phonetic_pretraining import tiny_wavlm_config
    from hf_cser.models.feature_gan import build_tiny_text_encoder

    paths = {name: work / name for name in ("corpus", "corpus5", "corpus8", "backbone", "text_encoder")}
    corpora = {
        "corpus": (("en", "zh"), 4, 8),
        "corpus5": (("en", "zh", "de", "fr", "ur"), 3, 4),
        "corpus8": (("en", "zh", "de"), 8, 8),
    }
    for name, (languages, speakers, utterances) in corpora.items():
        if not (paths[name] / "metadata.csv").is_file():
            config = SyntheticCorpusConfig(
                languages=languages, speakers_per_language=speakers, utterances_per_speaker=utterances, seed=0
            )
            synthesize_corpus(config, paths[name], progress=False)
    if not (paths["backbone"] / "config.json").is_file():
        torch.manual_seed(0)
        config = tiny_wavlm_config(
            conv_dim=(16,) * 7,
            hidden_size=32,
            intermediate_size=64,
            num_attention_heads=2,
            num_conv_pos_embeddings=16,
            num_conv_pos_embedding_groups=4,
        )
        WavLMModel(config).save_pretrained(paths["backbone"])
        Wav2Vec2FeatureExtractor(return_attention_mask=True, do_normalize=True).save_pretrained(paths["backbone"])
    if not (paths["text_encoder"] / "config.json").is_file():
        dataset = load_data_spec(f"synthetic:en,zh@{paths['corpus']}")
        texts = sorted({t for split in dataset.values() for t in split["transcript"]})
        build_tiny_text_encoder(texts, paths["text_encoder"], hidden_size=16)
    return paths


def script_runs(paths: dict[str, Path], out: Path) -> dict[str, list[str]]:
    """Each script's fixed-seed arguments (those of its end-to-end test)."""
    trainer = ["--disable_tqdm", "true", "--use_cpu", "true", "--report_to", "none"]
    return {
        "train_sapa": [
            *("--train_data", f"synthetic:en@{paths['corpus']}", "--eval_data", f"synthetic:zh@{paths['corpus']}"),
            *("--content_encoder", str(paths["backbone"]), "--output_dir", str(out / "sapa")),
            *("--feature_cache_dir", str(out / "sapa_cache"), "--max_steps", "4", "--seed", "0"),
            *("--per_device_train_batch_size", "8", "--per_device_eval_batch_size", "16", "--hidden_size", "32"),
            *("--num_transformer_layers", "1", *trainer),
        ],
        "train_zero_shot": [
            *("--data", f"synthetic@{paths['corpus5']}", "--backbone", str(paths["backbone"])),
            *("--settings", "en->de", "--systems", "proposed,baseline1", "--seeds", "0", "--max_steps", "2"),
            *("--languages_per_batch", "2", "--emotions_per_batch", "4", "--samples_per_cell", "1"),
            *("--eval_strategy", "no", "--save_strategy", "no", "--load_best_model_at_end", "false"),
            *("--output_dir", str(out / "zero_shot"), *trainer),
        ],
        "train_ctl_mtnet": [
            *("--task", "cross_corpus", "--source", f"synthetic:en@{paths['corpus']}"),
            *("--target", f"synthetic:zh@{paths['corpus']}", "--seeds", "0"),
            *("--conv_filters", "4", "--primary_capsule_types", "2", "--primary_capsule_dim", "4"),
            *("--digit_capsule_dim", "4", "--max_steps", "2", "--per_device_train_batch_size", "4"),
            *("--max_train_frames", "64", "--output_dir", str(out / "ctl_mtnet"), *trainer),
            *("--feature_cache_dir", str(out / "mfcc")),
        ],
        "train_feature_gan": [
            *("--data", f"synthetic:en,zh@{paths['corpus']}", "--text_encoder", str(paths["text_encoder"])),
            *("--output_dir", str(out / "feature_gan"), "--feature_cache_dir", str(out / "gan_cache")),
            *("--stage1_epochs", "2", "--stage1_batch_size", "8", "--gan_epochs", "5", "--gan_batch_size", "8"),
            *("--classifier_epochs", "3", "--disable_tqdm", "--seed", "0"),
        ],
        "run_cltm": [
            *("--data", str(paths["corpus8"]), "--seeds", "0,1", "--speakers_per_subset", "2"),
            *("--eval_speakers", "2", "--epochs", "5", "--output_dir", str(out / "cltm")),
            *("--feature_cache_dir", str(out / "cltm_cache"), "--progress", "false", "--task", "ser"),
            *("--n_grid", "4,8"),
        ],
    }


TIMING_COLUMNS = ("seconds",)
"""CSV columns that hold wall times (they differ between any two runs): left out of the hash."""


def sha256(path: Path) -> str:
    """SHA-256 of a file; of a CSV file without its timing columns."""
    if path.suffix != ".csv":
        return hashlib.sha256(path.read_bytes()).hexdigest()
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    keep = [i for i, name in enumerate(rows[0] if rows else []) if name not in TIMING_COLUMNS]
    text = "\n".join(",".join(row[i] for i in keep) for row in rows)
    return hashlib.sha256(text.encode()).hexdigest()


def fingerprint(folder: Path) -> dict:
    """The run records' metrics and the predictions files' hashes (paths relative to `folder`)."""
    records, files = [], {}
    keep = ("method", "system", "seed", "uar", "war", "macro_f1", "num_test", "validation_uar", "predictions")
    for path in sorted(folder.rglob("run_record.json")):
        for record in json.loads(path.read_text())["runs"]:
            records.append({"folder": str(path.parent.relative_to(folder)), **{k: record.get(k) for k in keep}})
    for pattern in ("*predictions*.csv", "cltm_matrix.csv", "cltm_runs.csv"):
        for path in sorted(folder.rglob(pattern)):
            files[str(path.relative_to(folder))] = sha256(path)
    return {"records": records, "files": dict(sorted(files.items()))}


def run(repo: Path, work: Path, names: list[str], rerun: bool = True) -> dict:
    paths = build_fixtures(work / "fixtures")
    out = work / f"runs_{hashlib.sha256(str(repo.resolve()).encode()).hexdigest()[:8]}"
    if rerun:
        shutil.rmtree(out, ignore_errors=True)  # cold: a script would reuse an earlier run's finished outputs
    env = {**os.environ, "PYTHONPATH": str(repo), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    env["HF_DATASETS_CACHE"] = str(out / "hf_datasets_cache")  # frozen-feature caches of this run only
    result = {}
    for name, argv in script_runs(paths, out).items():
        if names and name not in names:
            continue
        folder = Path(argv[argv.index("--output_dir") + 1])
        if not rerun:
            result[name] = fingerprint(folder)
            continue
        print(f"{name} ...", flush=True)
        log = out / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "w") as handle:
            done = subprocess.run(
                [sys.executable, str(repo / "training_scripts" / f"{name}.py"), *argv],
                env=env,
                cwd=str(repo),
                stdout=handle,
                stderr=subprocess.STDOUT,
            )
        if done.returncode:
            raise RuntimeError(f"{name} failed (exit {done.returncode}); its output: {log}")
        result[name] = fingerprint(folder)
    return result


def compare(before: dict, after: dict) -> list[str]:
    """Differences between two result files, one line each (empty when identical)."""
    lines = []
    for name in sorted(set(before) | set(after)):
        if before.get(name) != after.get(name):
            lines.append(f"{name}: before {json.dumps(before.get(name))} after {json.dumps(after.get(name))}")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", type=Path, default=ROOT, help="checkout whose scripts and hf_cser to run")
    parser.add_argument("--work", type=Path, default=Path("/tmp/hf_cser_script_equivalence"))
    parser.add_argument("--output", type=Path, help="result JSON to write")
    parser.add_argument("--scripts", default="", help="comma-separated script names (default: all five)")
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("BEFORE", "AFTER"))
    parser.add_argument("--no_rerun", action="store_true", help="fingerprint the last runs of --repo again")
    args = parser.parse_args(argv)
    if args.compare:
        before, after = (json.loads(p.read_text()) for p in args.compare)
        differences = compare(before, after)
        print("\n".join(differences) or f"identical: {', '.join(sorted(before))}")
        return int(bool(differences))
    result = run(args.repo, args.work, [n for n in args.scripts.split(",") if n], rerun=not args.no_rerun)
    text = json.dumps(result, indent=1)
    if args.output:
        args.output.write_text(text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
