"""OpenAI Whisper's encoder as a frozen (or PEFT-tuned) speech front end, and its converter from CTranslate2."""

from .convert_ctranslate2 import (
    INSTALLED_WHISPER_HINT,
    CTranslate2Model,
    WhisperConversionError,
    convert_whisper_ctranslate2,
    ctranslate2_whisper_to_transformers,
    default_whisper_cache_dir,
    find_installed_whisper_parts,
    read_ctranslate2_model,
    whisper_config_from_ctranslate2,
)

__all__ = [
    "INSTALLED_WHISPER_HINT",
    "CTranslate2Model",
    "WhisperConversionError",
    "convert_whisper_ctranslate2",
    "ctranslate2_whisper_to_transformers",
    "default_whisper_cache_dir",
    "find_installed_whisper_parts",
    "read_ctranslate2_model",
    "whisper_config_from_ctranslate2",
]
