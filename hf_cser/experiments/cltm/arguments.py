"""Arguments of the CLTM experiment (paper 003, METHODS.md section 4): the protocol (task, data, seeds, N, the
dynamic-interval rule), the task model (an MLP on cached utterance features, or a fine-tuned speech classifier) and the
outputs."""

from __future__ import annotations

from dataclasses import dataclass, field

from hf_cser.data.schema import SKIP_BAD_AUDIO_HELP

DEFAULT_GRIDS = {"ser": "16,32,64,128", "gender": "4,8,16,32,64,128", "sv": "16,32,64,128"}


@dataclass
class ProtocolArguments:
    task: str = field(default="ser", metadata={"help": "ser (UAR) | gender (macro-F1) | sv (verification AUC)."})
    data: str = field(default="synthetic", metadata={"help": "Data spec (`hf_cser.data.specs`), all splits are used."})
    languages: str = field(default="", metadata={"help": "Comma-separated languages (default: every language)."})
    seeds: str = field(default="0,1,2,3,4,5,6,7,8,9", metadata={"help": "Comma-separated seeds (paper: 10)."})
    n_samples: str = field(default="auto", metadata={"help": "N per subset, or 'auto' (learning-curve sweep)."})
    n_grid: str = field(
        default="",
        metadata={"help": "Candidate N for 'auto' (default per task: ser/sv 16,32,64,128; gender 4,...,128)."},
    )
    speakers_per_subset: int = field(default=4, metadata={"help": "Speakers in each of D and D'."})
    eval_speakers: int = field(default=4, metadata={"help": "Held-out evaluation speakers per language."})
    eval_split: str | None = field(default=None, metadata={"help": "Evaluate on this split instead (e.g. test)."})
    resample_speakers_per_seed: bool = field(default=True, metadata={"help": "New speaker partition per seed."})
    tau: float = field(default=0.05, metadata={"help": "Dynamic-interval rule: minimum relative gain."})
    z: float = field(default=1.3, metadata={"help": "Dynamic-interval rule: minimum gain in standard errors."})
    epsilon: float = field(default=0.05, metadata={"help": "Dynamic-interval rule: minimum slope per log-unit."})
    ci_threshold: float = field(default=1.0, metadata={"help": "Dynamic-interval rule: minimum median CI_min."})
    se_method: str = field(default="jackknife", metadata={"help": "CLTM standard errors: jackknife | per_seed."})
    nan_policy: str = field(default="drop", metadata={"help": "Diagnostics with undefined rows: drop|omit|raise."})
    skip_bad_audio: bool = field(default=False, metadata={"help": SKIP_BAD_AUDIO_HELP})


@dataclass
class ModelArguments:
    model: str = field(
        default="mlp",
        metadata={
            "help": "mlp (cached log-mel statistics + MLP) | audio (fine-tune a speech classifier on waveforms)."
        },
    )
    hidden_size: int = field(default=64, metadata={"help": "mlp: hidden (embedding) size."})
    epochs: int = field(default=40, metadata={"help": "mlp: epochs; audio: use --audio_epochs."})
    batch_size: int = field(default=16, metadata={"help": "Mini-batch size."})
    learning_rate: float = field(default=3e-3, metadata={"help": "mlp: AdamW learning rate."})
    dropout: float = field(default=0.1, metadata={"help": "mlp: dropout."})
    backbone: str | None = field(
        default=None, metadata={"help": "audio: Hub id or folder for AutoModelForAudioClassification."}
    )
    audio_learning_rate: float = field(default=1e-5, metadata={"help": "audio: constant AdamW lr (paper)."})
    audio_epochs: int = field(default=1, metadata={"help": "audio: epochs (paper: 1)."})
    max_seconds: float = field(default=4.0, metadata={"help": "audio: crop waveforms to this many seconds."})
    features: str = field(
        default="logmel",
        metadata={
            "help": "mlp: utterance features: 'logmel' (log-mel statistics, "
            "library default) or a speech encoder (Hub id, folder, "
            "'whisper-base-offline') through hf_cser's front end: "
            "mean+std of one hidden state (--features_layer)."
        },
    )
    features_layer: str = field(
        default="middle",
        metadata={"help": "mlp with an encoder: hidden state pooled ('middle', 'last', 'mean' or an int)."},
    )
    speaker_normalization: str = field(
        default="auto",
        metadata={"help": "mlp: z-normalise features per speaker (auto: on for ser, off for gender/sv)."},
    )
    feature_cache_dir: str | None = field(default=None, metadata={"help": "mlp: feature cache folder."})
    num_threads: int = field(default=1, metadata={"help": "torch threads per process (tiny models: 1 is fastest)."})


@dataclass
class OutputArguments:
    output_dir: str | None = field(default=None, metadata={"help": "Default: outputs/cltm_<task>."})
    overwrite_output_dir: bool = field(default=False, metadata={"help": "Discard runs made with other settings."})
    families: str | None = field(default=None, metadata={"help": "Language-family JSON (default: shipped table)."})
    family_level: str = field(default="branch", metadata={"help": "branch | family."})
    vmin: float = field(default=-1.5, metadata={"help": "Heatmap colour scale minimum."})
    vmax: float = field(default=1.5, metadata={"help": "Heatmap colour scale maximum."})
    synthetic_dir: str | None = field(default=None, metadata={"help": "Folder of the default synthetic corpus."})
    num_proc: int = field(default=2, metadata={"help": "Processes for generating the synthetic corpus."})
    progress: bool = field(default=True, metadata={"help": "Progress bars."})


def parse_ints(text: str, name: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise SystemExit(f"`--{name}` must be comma-separated integers, got {text!r}.") from None
    if not values:
        raise SystemExit(f"`--{name}` is empty.")
    return values


def resolve_speaker_normalization(value: str, task: str) -> bool:
    """``auto``: on for SER (removes each speaker's baseline), off for gender and SV (it would remove the voice)."""
    if value == "auto":
        return task == "ser"
    if value.lower() in ("true", "1", "yes", "on"):
        return True
    if value.lower() in ("false", "0", "no", "off"):
        return False
    raise SystemExit(f"`--speaker_normalization` must be auto, true or false, got {value!r}.")


def build_model_factory(model_args, task_name: str):
    from hf_cser.cltm import AudioModelTaskModel, MlpTaskModel

    if model_args.model == "mlp":
        return lambda: MlpTaskModel(
            hidden_size=model_args.hidden_size,
            dropout=model_args.dropout,
            epochs=model_args.epochs,
            batch_size=model_args.batch_size,
            learning_rate=model_args.learning_rate,
        )
    if model_args.model == "audio":
        if not model_args.backbone:
            raise SystemExit("`--model audio` needs `--backbone` (a Hub id or folder).")
        from transformers import AutoModelForAudioClassification

        import hf_cser  # noqa: F401  (registers the hf_cser models with the Auto classes)

        def model_init(num_labels: int):
            return AutoModelForAudioClassification.from_pretrained(
                model_args.backbone, num_labels=num_labels, ignore_mismatched_sizes=True
            )

        return lambda: AudioModelTaskModel(
            model_init,
            learning_rate=model_args.audio_learning_rate,
            epochs=model_args.audio_epochs,
            batch_size=model_args.batch_size,
        )
    raise SystemExit(f"`--model` must be mlp or audio, got {model_args.model!r}.")
