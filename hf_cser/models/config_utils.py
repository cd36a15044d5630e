"""Helpers shared by the hf_cser model configs."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from transformers import PretrainedConfig


def nested_config_to_dict(value: Any, field: str) -> dict[str, Any]:
    """A nested sub-model config (a `PretrainedConfig`, a dict or ``None``) as a JSON-native dict.

    JSON-native values (lists, not tuples) make ``save_pretrained`` / ``from_pretrained`` round-trip exactly.
    ``None`` gives ``{}``; anything else raises a `TypeError` naming ``field``.
    """
    if value is None:
        return {}
    if isinstance(value, PretrainedConfig):
        value = value.to_dict()
    if isinstance(value, Mapping):
        return json.loads(json.dumps(dict(value), default=str))
    raise TypeError(f"`{field}` must be a dict or a `PretrainedConfig`, got {type(value).__name__}.")


def check_backbone_model_type(config: Mapping[str, Any], field: str) -> str:
    """Return the `model_type` of a nested backbone config, or raise a `ValueError` naming ``field`` and the fix.

    The type must be one transformers knows (``transformers.CONFIG_MAPPING``: ``wavlm``, ``hubert``, ``wav2vec2``,
    ...), so that an unknown or misspelled backbone fails when the config is created, not later inside
    ``AutoConfig.for_model``.
    """
    from transformers import CONFIG_MAPPING

    model_type = config.get("model_type")
    if not model_type:
        raise ValueError(
            f"`{field}` needs a `model_type` (e.g. 'wavlm', 'hubert', 'wav2vec2'); pass "
            "`AutoConfig.from_pretrained(name).to_dict()`."
        )
    if model_type not in CONFIG_MAPPING:
        raise ValueError(
            f"`{field}` has the unknown backbone model_type {model_type!r}; use a transformers model type such as "
            "'wavlm', 'hubert' or 'wav2vec2' (pass `AutoConfig.from_pretrained(name).to_dict()`)."
        )
    return str(model_type)
