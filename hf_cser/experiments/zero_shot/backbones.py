"""Backbones of the zero-shot experiment: which backbone and layer a run uses, its PEFT options, its feature
extractor, and per-corpus / per-speaker normalisation of its cached frozen frames."""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)


def resolve_backbone(model_args, protocol_args) -> str:
    from hf_cser.encoders import WHISPER_OFFLINE, resolve_backbone_path

    if model_args.backbone != "auto":
        return resolve_backbone_path(model_args.backbone)
    from hf_cser.data.specs import is_synthetic_spec, load_data_spec
    from hf_cser.encoders.phonetic_pretraining import default_phonetic_encoder

    if not is_synthetic_spec(protocol_args.data):
        logger.info(f"Real data: `--backbone auto` is {WHISPER_OFFLINE} (Whisper base, converted once and cached).")
        return resolve_backbone_path(WHISPER_OFFLINE)
    corpus = load_data_spec("synthetic", synthetic_dir=protocol_args.synthetic_dir, num_proc=protocol_args.num_proc)
    return default_phonetic_encoder(corpus)


def resolve_backbone_layer(model_args, backbone: str) -> int | None:
    """`--backbone_layer` as a config value: None (last) or an int; 'auto' = the middle layer of a Whisper encoder."""
    from hf_cser.encoders.backbones import default_backbone_layer

    value = str(model_args.backbone_layer).strip().lower()
    if value in ("last", "none"):
        return None
    if value == "auto":
        return default_backbone_layer(backbone)
    if not value.isdigit():
        raise ValueError(f"`--backbone_layer` must be an int, 'last' or 'auto', got {model_args.backbone_layer!r}.")
    return int(value)


def group_normalized_frames(frames: dict, splits, group_by: str) -> dict:
    """Frames z-normalised per corpus or speaker (`hf_cser.normalization.FeatureNormalizer`): statistics of every
    frame of the training split's groups; groups that are not in training (the target corpus or speakers) with their
    own statistics (unlabelled). Returns a new `{path: frames}` dict for the paths of `splits`."""
    import torch

    from hf_cser.normalization import FeatureNormalizer

    def frames_of(dataset):  # one (num_frames, hidden) array per utterance
        return [frames[p].float().numpy() for p in dataset["audio"]]

    normalizer = FeatureNormalizer(group_by).fit(frames_of(splits["train"]), list(splits["train"][group_by]))
    out = {}
    for name in ("train", "validation", "test"):
        if name not in splits or not len(splits[name]):
            continue
        normalized = normalizer.transform(frames_of(splits[name]), list(splits[name][group_by]))
        out.update({path: torch.from_numpy(x) for path, x in zip(splits[name]["audio"], normalized, strict=True)})
    return out


def peft_options(model_args) -> dict:
    return {
        "lora": {"r": model_args.lora_r, "alpha": 2 * model_args.lora_r} if model_args.lora_r > 0 else None,
        "adapters": {"bottleneck_size": model_args.adapter_size} if model_args.adapter_size > 0 else None,
        "gating": True if model_args.gating else None,
        "top_adapter_size": model_args.top_adapter_size,
        "normalize_frames": model_args.normalize_frames,
        "whisper_mode": model_args.whisper_mode,
    }


def feature_extractor_for(backbone: str):
    """The backbone's own feature extractor when it ships one, else 16 kHz normalising with attention masks."""
    from transformers import AutoFeatureExtractor, Wav2Vec2FeatureExtractor

    try:
        extractor = AutoFeatureExtractor.from_pretrained(backbone)
    except (OSError, ValueError):
        return Wav2Vec2FeatureExtractor(return_attention_mask=True, do_normalize=True)
    if type(extractor).__name__ == "WhisperFeatureExtractor":
        # the zero-shot model takes raw 16 kHz waveforms and computes Whisper's log-mel itself
        return Wav2Vec2FeatureExtractor(return_attention_mask=True, do_normalize=False)
    return extractor


def frozen_copy(backbone: str):
    """A model around the pretrained backbone without PEFT (for the frame statistics of a PEFT run)."""
    from hf_cser.models.zero_shot import ZeroShotForEmotionClassification

    return ZeroShotForEmotionClassification.from_backbone(backbone)
