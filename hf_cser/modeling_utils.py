"""Modeling helpers shared by the hf_cser models and encoders: the weight initialisation of the heads (the pretrained
backbones initialise themselves)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import init


@torch.no_grad()
def init_linear_and_layer_norm(module: nn.Module) -> bool:
    """Xavier-uniform weights and zero biases for `nn.Linear`, ones and zeros for `nn.LayerNorm`; `True` when
    `module` was one of them (the caller then initialises its other module types)."""
    if isinstance(module, nn.Linear):
        init.xavier_uniform_(module.weight)
        if module.bias is not None:
            init.zeros_(module.bias)
        return True
    if isinstance(module, nn.LayerNorm):
        init.ones_(module.weight)
        init.zeros_(module.bias)
        return True
    return False
