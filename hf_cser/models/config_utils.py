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
