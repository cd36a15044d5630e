"""Parameter-efficient fine-tuning of wav2vec 2.0 / HuBERT / WavLM / Whisper-encoder backbones (paper 001, METHODS.md
section 2).

Paper 001 fine-tunes its wav2vec 2.0 encoder with LoRA, bottleneck adapters and weight gating. The paper gives no
equations for the last two, so the definitions below are ours:

- **Bottleneck adapters** ([`add_bottleneck_adapters`]): after the feed-forward block of every transformer layer,
  y' = y + Up(act(Down(y))) where y is the output of the block's `feed_forward` module (Houlsby placement, i.e.
  before the layer's residual sum and final layer norm). Down: hidden -> bottleneck, Up: bottleneck -> hidden, Up
  initialised to zero so the model starts unchanged. Implemented as a `bottleneck_adapter` submodule of each
  `feed_forward` module plus a forward hook, so the base weights keep their pretrained state-dict keys. Whisper's
  encoder layers have no `feed_forward` module: the adapter is a child of the layer and maps the output of `fc2`.
- **Weight gating** ([`add_weight_gating`], *our definition*): for each targeted `nn.Linear`,
  W_eff = W * 2 sigmoid(g)[:, None], with a learnable gate g per output row initialised to 0 (so 2 sigmoid(0) = 1
  and the model starts unchanged); the bias is not gated. Implemented as a `torch.nn.utils.parametrize`
  parametrization, so it also acts where a module reads `.weight` directly instead of calling the layer (WavLM's
  attention, see below).
- **LoRA** ([`apply_lora`]): through `peft` (`LoraConfig` + `inject_adapter_in_model`, B initialised to zero); the
  backbone keeps its class. Default targets are the feed-forward layers (`fc1` / `fc2` for Whisper).

WavLM finding (transformers 5.x): `WavLMAttention` never calls `q_proj` / `k_proj` / `v_proj` / `out_proj`; it passes
their `.weight` / `.bias` tensors to `torch.nn.functional.multi_head_attention_forward`. LoRA layers that wrap these
projections are therefore silently bypassed (their output never reaches the model; checked in
`tests/encoders/test_peft_adapters.py`), so [`apply_lora`] refuses to target them on WavLM. Weight gating is not
affected because a parametrization changes `.weight` itself.

[`configure_peft`] applies any combination and freezes every base parameter; [`peft_state_dict`] and
[`load_peft_state_dict`] save and restore only the added weights.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import nn
from torch.nn.utils import parametrize
from transformers.utils import logging

logger = logging.get_logger(__name__)

DEFAULT_TARGET_MODULES = ("feed_forward.intermediate_dense", "feed_forward.output_dense")
"""Default LoRA and weight-gating targets (our choice): the two linears of every transformer feed-forward block."""
WHISPER_TARGET_MODULES = ("fc1", "fc2")
"""The same for Whisper's encoder layers (`WhisperEncoderLayer.fc1` / `fc2`)."""


def default_target_modules(backbone: nn.Module) -> tuple[str, ...]:
    """The feed-forward linears of `backbone`'s transformer layers: [`WHISPER_TARGET_MODULES`] for a Whisper encoder,
    [`DEFAULT_TARGET_MODULES`] for the wav2vec 2.0 family."""
    if getattr(getattr(backbone, "config", None), "model_type", None) == "whisper":
        return WHISPER_TARGET_MODULES
    return DEFAULT_TARGET_MODULES


ADAPTER_MODULE_NAME = "bottleneck_adapter"
GATE_PARAMETER_NAME = "weight_gate"
WAVLM_BYPASSED_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "out_proj")
"""Projections whose modules `WavLMAttention` bypasses (it reads their weights directly)."""

_ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU, "swish": nn.SiLU, "tanh": nn.Tanh}


class BottleneckAdapter(nn.Module):
    """Residual bottleneck adapter y' = y + Up(act(Down(y))), Up initialised to zero (identity at initialisation).

    Args:
        hidden_size (`int`):
            Width of the features the adapter reads and writes.
        bottleneck_size (`int`, *optional*, defaults to 64):
            Width of the bottleneck (our default; the paper's value was lost).
        activation (`str`, *optional*, defaults to `"relu"`):
            One of `"relu"`, `"gelu"`, `"silu"`, `"swish"`, `"tanh"`.
    """

    def __init__(self, hidden_size: int, bottleneck_size: int = 64, activation: str = "relu"):
        super().__init__()
        if bottleneck_size <= 0:
            raise ValueError(f"`bottleneck_size` must be positive, got {bottleneck_size}.")
        if activation not in _ACTIVATIONS:
            raise ValueError(f"`activation` must be one of {sorted(_ACTIVATIONS)}, got {activation!r}.")
        self.down = nn.Linear(hidden_size, bottleneck_size)
        self.act = _ACTIVATIONS[activation]()
        self.up = nn.Linear(bottleneck_size, hidden_size)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        # hidden_states: (batch, time, hidden) -> same shape
        return hidden_states + self.up(self.act(self.down(hidden_states)))


class _AdapterHook:
    """Forward hook that maps a module's output y to `owner.bottleneck_adapter(y)`. The owner is the hooked
    `feed_forward` module itself (wav2vec 2.0 family) or, for Whisper, the encoder layer whose `fc2` is hooked (its
    output is the feed-forward block's output, before the residual sum). The adapter is looked up at call time, so a
    loaded state dict is used."""

    def __init__(self, owner: nn.Module):
        self.owner = [owner]  # a list: not registered as a submodule of anything

    def __call__(self, module: nn.Module, args: Any, output: torch.Tensor) -> torch.Tensor:
        return getattr(self.owner[0], ADAPTER_MODULE_NAME)(output)


def _adapter_site(name: str, module: nn.Module) -> tuple[nn.Module, nn.Module, nn.Linear] | None:
    """`(owner, hooked module, output linear)` of a feed-forward block that gets an adapter, or `None`: a wav2vec
    2.0-style `*feed_forward` module (owner and hooked, ends in `output_dense`) or a `WhisperEncoderLayer` (the owner;
    its `fc2` is hooked)."""
    if type(module).__name__ == "WhisperEncoderLayer":
        return module, module.fc2, module.fc2
    is_feed_forward = name == "feed_forward" or name.endswith(".feed_forward")
    if is_feed_forward and hasattr(module, "intermediate_dense") and hasattr(module, "output_dense"):
        return module, module, module.output_dense
    return None


class RowWeightGate(nn.Module):
    """Parametrization W -> W * 2 sigmoid(g)[:, None] with one learnable gate per output row, g = 0 at init.

    Args:
        out_features (`int`):
            Number of rows (output features) of the gated weight.
    """

    def __init__(self, out_features: int):
        super().__init__()
        self.weight_gate = nn.Parameter(torch.zeros(out_features))

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        # weight: (out_features, in_features); gate: (out_features,) -> scale in (0, 2), 1 at g = 0
        scale = 2.0 * torch.sigmoid(self.weight_gate).to(weight.dtype)
        return weight * scale.unsqueeze(-1)


def _matches(name: str, targets: Sequence[str]) -> bool:
    return any(name == target or name.endswith("." + target) for target in targets)


def _normalise_targets(
    targets: str | Iterable[str] | None, field: str, backbone: nn.Module | None = None
) -> tuple[str, ...]:
    if targets is None:
        return DEFAULT_TARGET_MODULES if backbone is None else default_target_modules(backbone)
    if isinstance(targets, str):
        return (targets,)
    targets = tuple(targets)
    if not targets or not all(isinstance(t, str) and t for t in targets):
        raise ValueError(f"`{field}` must be a non-empty sequence of module names, got {targets!r}.")
    return targets


def add_bottleneck_adapters(backbone: nn.Module, bottleneck_size: int = 64, activation: str = "relu") -> list[str]:
    """Add a [`BottleneckAdapter`] after the feed-forward block of every transformer layer.

    Every module named `*feed_forward` with `intermediate_dense` and `output_dense` children (the encoder layers of
    `Wav2Vec2Model`, `HubertModel`, `WavLMModel` and their stable-layer-norm variants) gets a `bottleneck_adapter`
    child and a forward hook that maps the block's output y to y + Up(act(Down(y))). Base parameters keep their names
    and are not frozen here (see [`configure_peft`]).

    Args:
        backbone (`nn.Module`):
            The backbone (or any model containing it), modified in place.
        bottleneck_size (`int`, *optional*, defaults to 64):
            Width of the bottleneck (our default).
        activation (`str`, *optional*, defaults to `"relu"`):
            Activation between Down and Up.

    Returns:
        `list[str]`: names of the adapted `feed_forward` modules.
    """
    adapted = []
    for name, module in backbone.named_modules():
        site = _adapter_site(name, module)
        if site is None:
            continue
        owner, hooked, output_linear = site
        if hasattr(owner, ADAPTER_MODULE_NAME):
            raise ValueError(f"`{name}` already has a bottleneck adapter; call `add_bottleneck_adapters` only once.")
        adapter = BottleneckAdapter(output_linear.out_features, bottleneck_size=bottleneck_size, activation=activation)
        adapter.to(device=output_linear.weight.device, dtype=output_linear.weight.dtype)
        owner.add_module(ADAPTER_MODULE_NAME, adapter)
        hooked.register_forward_hook(_AdapterHook(owner))
        adapted.append(name)
    if not adapted:
        raise ValueError(
            f"No `feed_forward` module with `intermediate_dense` and `output_dense` found in "
            f"{type(backbone).__name__}; bottleneck adapters support wav2vec 2.0, HuBERT, WavLM and Whisper encoder "
            "layers."
        )
    return adapted


def add_weight_gating(backbone: nn.Module, targets: str | Iterable[str] | None = None) -> list[str]:
    """Gate the weight of every targeted `nn.Linear`: W_eff = W * 2 sigmoid(g)[:, None], g = 0 at initialisation.

    Our definition of paper 001's "weight gating" (one learnable gate per output row of each adapted weight). It is a
    `torch.nn.utils.parametrize` parametrization, so the base weight moves to
    `<module>.parametrizations.weight.original` and the gate is `<module>.parametrizations.weight.0.weight_gate`.
    If a target is already wrapped by a peft LoRA layer, its `base_layer` is gated.

    Args:
        backbone (`nn.Module`):
            Modified in place.
        targets (`str` or `Iterable[str]`, *optional*):
            Module names or name suffixes (peft-style matching), defaults to [`DEFAULT_TARGET_MODULES`]. Attention
            projections work on every family, WavLM included.

    Returns:
        `list[str]`: names of the gated linear modules.
    """
    targets = _normalise_targets(targets, "targets", backbone)
    matched = [(name, module) for name, module in backbone.named_modules() if _matches(name, targets)]
    gated = []
    for name, module in matched:
        if hasattr(module, "base_layer"):  # peft LoRA wrapper: gate the frozen base weight
            module, name = module.base_layer, name + ".base_layer"
        if not isinstance(module, nn.Linear):
            continue
        if parametrize.is_parametrized(module, "weight") and any(
            isinstance(p, RowWeightGate) for p in module.parametrizations.weight
        ):
            raise ValueError(f"`{name}` is already weight-gated; call `add_weight_gating` only once.")
        gate = RowWeightGate(module.out_features).to(module.weight.device)
        parametrize.register_parametrization(module, "weight", gate)
        gated.append(name)
    if not gated:
        raise ValueError(f"`targets`={list(targets)} matched no `nn.Linear` in {type(backbone).__name__}.")
    return gated


def _wavlm_bypassed_targets(backbone: nn.Module, targets: Sequence[str]) -> list[str]:
    bypassed = []
    for parent_name, parent in backbone.named_modules():
        if not type(parent).__name__.endswith("WavLMAttention"):
            continue
        for child in WAVLM_BYPASSED_PROJECTIONS:
            name = f"{parent_name}.{child}" if parent_name else child
            if _matches(name, targets):
                bypassed.append(name)
    return bypassed


def apply_lora(
    backbone: nn.Module,
    r: int = 8,
    alpha: int = 16,
    dropout: float = 0.0,
    target_modules: str | Iterable[str] | None = None,
) -> nn.Module:
    """Inject LoRA layers (delta W = alpha / r * B A, B = 0 at init) with `peft.inject_adapter_in_model`.

    The backbone keeps its class and its `forward`; LoRA weights are named `...lora_A.default.weight` /
    `...lora_B.default.weight`. Note that peft freezes every non-LoRA parameter of `backbone` here.

    Args:
        backbone (`nn.Module`):
            Modified in place (and returned).
        r (`int`, *optional*, defaults to 8):
            LoRA rank (our default).
        alpha (`int`, *optional*, defaults to 16):
            LoRA scaling numerator (our default).
        dropout (`float`, *optional*, defaults to 0.0):
            Dropout on the LoRA branch input.
        target_modules (`str` or `Iterable[str]`, *optional*):
            Defaults to [`DEFAULT_TARGET_MODULES`] (the feed-forward linears). Targeting WavLM's `q_proj`, `k_proj`,
            `v_proj` or `out_proj` raises a `ValueError`: `WavLMAttention` reads their weights directly, so LoRA on
            them would be silently ignored. Use [`add_weight_gating`] there instead.

    Returns:
        `nn.Module`: `backbone`.
    """
    try:
        from peft import LoraConfig, inject_adapter_in_model
    except ImportError as error:  # pragma: no cover - peft is a declared dependency
        raise ImportError("`apply_lora` needs peft: `pip install peft`.") from error

    targets = _normalise_targets(target_modules, "target_modules", backbone)
    bypassed = _wavlm_bypassed_targets(backbone, targets)
    if bypassed:
        raise ValueError(
            f"`target_modules`={list(targets)} selects WavLM attention projections ({bypassed[0]}, ... "
            f"{len(bypassed)} modules) that `WavLMAttention` bypasses: it passes their weights straight to "
            "`F.multi_head_attention_forward`, so LoRA there would have no effect. Target the feed-forward layers "
            f"({list(DEFAULT_TARGET_MODULES)}) or gate the projections with `add_weight_gating`."
        )
    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=list(targets), bias="none")
    return inject_adapter_in_model(config, backbone)


def is_peft_parameter_name(name: str) -> bool:
    """Whether a parameter name belongs to an added LoRA / bottleneck-adapter / weight-gate weight."""
    return (
        ".lora_" in name
        or name.startswith("lora_")
        or f"{ADAPTER_MODULE_NAME}." in name
        or name.endswith(GATE_PARAMETER_NAME)
    )


def _options(value: bool | Mapping[str, Any] | None, field: str) -> dict[str, Any] | None:
    if value is None or value is False:
        return None
    if value is True:
        return {}
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"`{field}` must be `None`, a bool or a dict of keyword arguments, got {type(value).__name__}.")


def configure_peft(
    backbone: nn.Module,
    lora: bool | Mapping[str, Any] | None = None,
    adapters: bool | Mapping[str, Any] | None = None,
    gating: bool | Mapping[str, Any] | None = None,
) -> nn.Module:
    """Apply any combination of weight gating, bottleneck adapters and LoRA, then freeze every base parameter.

    Order: gating, adapters, LoRA (LoRA wraps the gated linear; the gate scales the frozen base weight only). Each
    argument is `None`/`False` (off), `True` (defaults) or a dict of keyword arguments for [`add_weight_gating`],
    [`add_bottleneck_adapters`] or [`apply_lora`].

    Returns:
        `nn.Module`: `backbone`, with only the added parameters trainable.
    """
    lora_kwargs = _options(lora, "lora")
    adapter_kwargs = _options(adapters, "adapters")
    gating_kwargs = _options(gating, "gating")
    if lora_kwargs is None and adapter_kwargs is None and gating_kwargs is None:
        raise ValueError("`configure_peft` needs at least one of `lora`, `adapters` or `gating`.")
    if gating_kwargs is not None:
        add_weight_gating(backbone, **gating_kwargs)
    if adapter_kwargs is not None:
        add_bottleneck_adapters(backbone, **adapter_kwargs)
    if lora_kwargs is not None:
        apply_lora(backbone, **lora_kwargs)
    num_trainable = 0
    for name, parameter in backbone.named_parameters():
        parameter.requires_grad_(is_peft_parameter_name(name))
        num_trainable += parameter.numel() if parameter.requires_grad else 0
    num_total = sum(p.numel() for p in backbone.parameters())
    logger.info(f"PEFT: {num_trainable} trainable of {num_total} parameters ({100 * num_trainable / num_total:.2f}%).")
    return backbone


def peft_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """Detached copies of only the added LoRA / adapter / gate weights, keyed by their parameter names in `model`."""
    parameters = model.named_parameters()
    return {name: parameter.detach().clone() for name, parameter in parameters if is_peft_parameter_name(name)}


def load_peft_state_dict(model: nn.Module, state_dict: Mapping[str, torch.Tensor]) -> None:
    """Copy a [`peft_state_dict`] into `model`, which must carry the same PEFT modules (call [`configure_peft`] first).

    Raises:
        `KeyError`: when keys are missing or unexpected (both lists are named).
        `ValueError`: on a shape mismatch.
    """
    parameters = {name: p for name, p in model.named_parameters() if is_peft_parameter_name(name)}
    missing = sorted(set(parameters) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(parameters))
    if missing or unexpected:
        raise KeyError(
            f"PEFT state dict does not match the model: missing keys {missing[:5]}{' ...' if len(missing) > 5 else ''}"
            f" ({len(missing)}), unexpected keys {unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}"
            f" ({len(unexpected)}). Apply the same `configure_peft` options before loading."
        )
    for name, parameter in parameters.items():
        if parameter.shape != state_dict[name].shape:
            raise ValueError(
                f"Shape mismatch for `{name}`: model has {tuple(parameter.shape)}, state dict has "
                f"{tuple(state_dict[name].shape)}."
            )
    with torch.no_grad():
        for name, parameter in parameters.items():
            parameter.copy_(state_dict[name])


__all__ = [
    "DEFAULT_TARGET_MODULES",
    "WAVLM_BYPASSED_PROJECTIONS",
    "BottleneckAdapter",
    "RowWeightGate",
    "add_bottleneck_adapters",
    "add_weight_gating",
    "apply_lora",
    "configure_peft",
    "is_peft_parameter_name",
    "load_peft_state_dict",
    "peft_state_dict",
]
