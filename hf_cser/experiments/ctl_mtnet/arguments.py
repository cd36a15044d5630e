"""Arguments and constants of the CTL-MTNet experiment (paper 002, METHODS.md section 3): the capsule model's
settings, the single-corpus / cross-corpus protocols, the result files."""

from __future__ import annotations

from dataclasses import dataclass, field

from hf_cser.data.schema import SKIP_BAD_AUDIO_HELP

TASKS = ("single_corpus", "cross_corpus")
RUN_FIELDS = [
    "task",
    "source",
    "target",
    "mdd",
    "seed",
    "fold",
    "uar",
    "war",
    "macro_f1",
    "num_test",
    "validation_uar",
    "world_size",
]
SUMMARY_FIELDS = [
    "task",
    "source",
    "target",
    "mdd",
    "runs",
    "uar_mean",
    "uar_std",
    "war_mean",
    "war_std",
    "bad_audio_skipped",
]
RUN_RESULT_NAME = "run_result.json"
"""Written (atomically) in a run's folder when it finished: a restarted command skips that run."""
PREDICTIONS_NAME = "test_predictions.csv"
"""In every run folder: one row per test utterance (file, speaker, language, corpus, true and predicted emotion, class
scores); the run's UAR / WAR / macro-F1 recompute from it."""
FINAL_MODEL_DIR = "final_model"
"""Sub-folder of the grid's last run holding its trained model (for `OUTPUT_DIR/model` after a resume)."""


@dataclass
class ModelArguments:
    conv_filters: int = field(default=64, metadata={"help": "Filters of the CNN-pooling convs (paper: 64)."})
    primary_capsule_types: int = field(default=8, metadata={"help": "PrimaryCaps capsule channels (ours: 8)."})
    primary_capsule_dim: int = field(default=8, metadata={"help": "PrimaryCaps vector length (8)."})
    digit_capsule_dim: int = field(default=16, metadata={"help": "DigitCaps vector length (16)."})
    routing_iterations: int = field(default=3, metadata={"help": "Dynamic routing iterations (3)."})
    use_attention: bool = field(default=True, metadata={"help": "Self-attention across capsules (CPAC)."})


@dataclass
class ProtocolArguments:
    task: str = field(default="single_corpus", metadata={"help": "single_corpus or cross_corpus.", "choices": TASKS})
    data: str = field(default="synthetic:en", metadata={"help": "Single-corpus data spec (all its splits pooled)."})
    source: str | None = field(default=None, metadata={"help": "Cross-corpus source data spec (labelled)."})
    target: str | None = field(default=None, metadata={"help": "Cross-corpus target data spec (labels unused)."})
    num_folds: int = field(default=10, metadata={"help": "Single-corpus folds (paper: 10)."})
    fold_by: str = field(
        default="speaker", metadata={"help": "speaker (speaker-independent folds) or utterance (stratified)."}
    )
    fold_seed: int = field(default=0, metadata={"help": "Seed of the fold assignment (the same for every seed)."})
    seeds: str = field(default="0", metadata={"help": "Comma-separated training seeds."})
    transductive: bool = field(
        default=False, metadata={"help": "Cross-corpus: adapt to and evaluate on the whole target corpus (paper)."}
    )
    no_mdd: bool = field(default=False, metadata={"help": "Cross-corpus ablation without MDD (paper Algorithm 4)."})
    feature_cache_dir: str | None = field(
        default=None, metadata={"help": "MFCC cache folder (default: OUTPUT_DIR/mfcc_cache)."}
    )
    synthetic_dir: str | None = field(default=None, metadata={"help": "Folder of the default synthetic corpus."})
    num_proc: int = field(default=2, metadata={"help": "Processes for generating the synthetic corpus."})
    skip_bad_audio: bool = field(default=False, metadata={"help": SKIP_BAD_AUDIO_HELP})
    save_model: bool = field(default=True, metadata={"help": "Save the last run's model to OUTPUT_DIR/model."})


def parse_seeds(text: str) -> list[int]:
    seeds = [int(s) for s in text.split(",") if s.strip()]
    if not seeds:
        raise ValueError(f"`--seeds` must list at least one integer, got {text!r}.")
    return seeds
