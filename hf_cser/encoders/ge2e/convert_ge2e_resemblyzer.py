"""Convert the GE2E voice encoder checkpoint shipped in the `resemblyzer` wheel into a [`Ge2eSpeakerEncoderModel`].

The wheel's `pretrained.pt` is a dict ``{"model_state": ..., "step": ..., "optimizer_state": ...}``. Only
``model_state`` holds weights; ``step`` and ``optimizer_state`` are training state and are not converted. The
`resemblyzer` package itself is never imported (its module-level `webrtcvad` import fails on many systems): the
checkpoint is located with ``importlib.util.find_spec``, which does not execute a top-level package.

Conversions are cached in a folder keyed by the checkpoint's sha256, so a second call loads the safetensors weights
directly.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import site
from pathlib import Path

import torch
from transformers.utils import logging

from ...cache import staged_folder
from .configuration_ge2e import Ge2eSpeakerEncoderConfig
from .feature_extraction_ge2e import Ge2eFeatureExtractor
from .modeling_ge2e import Ge2eSpeakerEncoderModel

logger = logging.get_logger(__name__)

RESEMBLYZER_INSTALL_HINT = "pip install --no-deps resemblyzer==0.1.4"
CONVERSION_MARKER = "hf_cser_conversion.json"
# top-level entries of pretrained.pt that are deliberately not converted (training state, not weights)
UNUSED_CHECKPOINT_ENTRIES = ("step", "optimizer_state")
# entries of `model_state` that are deliberately not converted; empty: the GE2E similarity w, b are kept
UNUSED_MODEL_STATE_KEYS: tuple[str, ...] = ()


class Ge2eCheckpointError(ValueError):
    """A checkpoint whose keys or shapes do not match [`Ge2eSpeakerEncoderModel`]; the message names key and file."""


def find_resemblyzer_checkpoint() -> Path:
    """Path of `pretrained.pt` inside the installed `resemblyzer` package, found without importing the package.

    Raises:
        `ImportError`: resemblyzer is not installed (the message gives the install command).
        `FileNotFoundError`: resemblyzer is installed but has no `pretrained.pt`.
    """
    candidates: list[Path] = []
    try:
        spec = importlib.util.find_spec("resemblyzer")  # top-level: locates, does not execute
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        candidates.extend(Path(location) for location in spec.submodule_search_locations)
    if not candidates:
        site_dirs = list(site.getsitepackages()) + [site.getusersitepackages()]
        candidates.extend(Path(d) / "resemblyzer" for d in site_dirs if (Path(d) / "resemblyzer").is_dir())
    if not candidates:
        raise ImportError(
            "The GE2E speaker encoder weights ship in the `resemblyzer` package, which is not installed. Install it "
            f"without its dependencies (they are not needed and webrtcvad often fails to build): "
            f"`{RESEMBLYZER_INSTALL_HINT}`, or pass `checkpoint_path` to a `pretrained.pt` file."
        )
    for directory in candidates:
        if (directory / "pretrained.pt").is_file():
            return directory / "pretrained.pt"
    raise FileNotFoundError(
        f"resemblyzer is installed at {', '.join(map(str, candidates))} but has no `pretrained.pt`. Reinstall it with "
        f"`{RESEMBLYZER_INSTALL_HINT}` or pass `checkpoint_path`."
    )


def sha256_of_file(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def default_cache_dir() -> Path:
    """Root of converted speaker encoders: `$HF_HOME/hf_cser/speaker_encoder/ge2e` when `HF_HOME` is set, otherwise
    `~/.cache/hf_cser/speaker_encoder/ge2e` (library default)."""
    hf_home = os.environ.get("HF_HOME")
    root = Path(hf_home) / "hf_cser" if hf_home else Path.home() / ".cache" / "hf_cser"
    return root / "speaker_encoder" / "ge2e"


def expected_checkpoint_keys(config: Ge2eSpeakerEncoderConfig) -> dict[str, tuple[str, tuple[int, ...]]]:
    """`model_state` key -> (model parameter name, expected shape) for a config; the explicit conversion table."""
    hidden, gates = config.hidden_size, 4 * config.hidden_size  # LSTM gates i, f, g, o stacked
    table: dict[str, tuple[str, tuple[int, ...]]] = {}
    for layer in range(config.num_layers):
        input_size = config.mel_n_channels if layer == 0 else hidden
        for name, shape in (
            (f"weight_ih_l{layer}", (gates, input_size)),
            (f"weight_hh_l{layer}", (gates, hidden)),
            (f"bias_ih_l{layer}", (gates,)),
            (f"bias_hh_l{layer}", (gates,)),
        ):
            table[f"lstm.{name}"] = (f"lstm.{name}", shape)
    table["linear.weight"] = ("linear.weight", (config.embedding_size, hidden))
    table["linear.bias"] = ("linear.bias", (config.embedding_size,))
    table["similarity_weight"] = ("similarity_weight", (1,))
    table["similarity_bias"] = ("similarity_bias", (1,))
    return table


def load_resemblyzer_state_dict(
    model: Ge2eSpeakerEncoderModel, model_state: dict[str, torch.Tensor], source: str = "<state dict>"
) -> None:
    """Copy a resemblyzer `model_state` into `model`, strictly.

    Every checkpoint key must be converted or listed in `UNUSED_MODEL_STATE_KEYS`, every model parameter must be
    filled, and every shape must match; otherwise [`Ge2eCheckpointError`] names the key and `source`.
    """
    table = expected_checkpoint_keys(model.config)
    parameters = dict(model.named_parameters())
    uncovered = sorted(set(parameters) - {name for name, _ in table.values()})
    if uncovered:  # the conversion table is out of date with the model
        raise Ge2eCheckpointError(f"Model parameters {uncovered} have no entry in the conversion table ({source}).")
    unexpected = sorted(set(model_state) - set(table) - set(UNUSED_MODEL_STATE_KEYS))
    if unexpected:
        raise Ge2eCheckpointError(
            f"Unexpected key(s) {unexpected} in `model_state` of {source}: not a GE2E voice encoder checkpoint for "
            "this config, or the conversion table needs them."
        )
    missing = sorted(set(table) - set(model_state))
    if missing:
        raise Ge2eCheckpointError(f"Missing key(s) {missing} in `model_state` of {source}.")
    for key, (name, shape) in table.items():
        tensor = model_state[key]
        if not isinstance(tensor, torch.Tensor):
            raise Ge2eCheckpointError(f"Key `{key}` in {source} is a {type(tensor).__name__}, not a tensor.")
        if tuple(tensor.shape) != shape:
            raise Ge2eCheckpointError(
                f"Key `{key}` in {source} has shape {tuple(tensor.shape)}, but `{name}` of "
                f"{model.__class__.__name__} expects {shape} (config: {model.config.mel_n_channels} mels, hidden "
                f"{model.config.hidden_size}, {model.config.num_layers} layers, embedding "
                f"{model.config.embedding_size})."
            )
    with torch.no_grad():
        for key, (name, _) in table.items():
            parameters[name].copy_(model_state[key].to(parameters[name].dtype))


def _config_fingerprint(config: Ge2eSpeakerEncoderConfig) -> dict:
    values = config.to_dict()
    for volatile in ("transformers_version", "_name_or_path", "architectures", "dtype", "torch_dtype"):
        values.pop(volatile, None)
    return json.loads(json.dumps(values, sort_keys=True, default=str))


def convert_resemblyzer_checkpoint(
    checkpoint_path: str | os.PathLike | None = None,
    output_dir: str | os.PathLike | None = None,
    config: Ge2eSpeakerEncoderConfig | None = None,
    force: bool = False,
) -> Ge2eSpeakerEncoderModel:
    """
    Convert resemblyzer's GE2E `pretrained.pt` to a [`Ge2eSpeakerEncoderModel`] saved with safetensors.

    Args:
        checkpoint_path (`str` or `os.PathLike`, *optional*):
            The checkpoint; defaults to the `pretrained.pt` of the installed `resemblyzer` package
            (`pip install --no-deps resemblyzer==0.1.4`).
        output_dir (`str` or `os.PathLike`, *optional*):
            Where to save the model (`config.json`, `model.safetensors`) and its feature extractor
            (`preprocessor_config.json`). Defaults to `default_cache_dir() / <first 16 hex digits of sha256>`.
        config (`Ge2eSpeakerEncoderConfig`, *optional*):
            Architecture and feature settings; the paper/resemblyzer defaults when `None`.
        force (`bool`, *optional*, defaults to `False`):
            Convert again even when `output_dir` already holds this checkpoint's conversion.

    Returns:
        [`Ge2eSpeakerEncoderModel`] loaded from `output_dir` (in eval mode; `model.name_or_path` is the folder).
    """
    checkpoint_path = Path(checkpoint_path) if checkpoint_path is not None else find_resemblyzer_checkpoint()
    if not checkpoint_path.is_file():
        raise FileNotFoundError(f"No checkpoint at {checkpoint_path}.")
    digest = sha256_of_file(checkpoint_path)
    config = config if config is not None else Ge2eSpeakerEncoderConfig()
    target = Path(output_dir) if output_dir is not None else default_cache_dir() / digest[:16]
    marker = target / CONVERSION_MARKER
    fingerprint = _config_fingerprint(config)

    if not force and marker.is_file():
        try:
            recorded = json.loads(marker.read_text())
        except (OSError, json.JSONDecodeError):
            recorded = {}
        if recorded.get("checkpoint_sha256") == digest and recorded.get("config") == fingerprint:
            logger.info(f"Loading the converted GE2E speaker encoder from {target} (cache hit).")
            return Ge2eSpeakerEncoderModel.from_pretrained(target).eval()

    logger.info(f"Converting the GE2E speaker encoder {checkpoint_path} into {target}.")
    checkpoint = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
    if not isinstance(checkpoint, dict) or "model_state" not in checkpoint:
        found = sorted(checkpoint) if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise Ge2eCheckpointError(
            f"{checkpoint_path} has no `model_state` entry (found {found}); expected resemblyzer's pretrained.pt."
        )
    ignored = sorted(set(checkpoint) - {"model_state"} - set(UNUSED_CHECKPOINT_ENTRIES))
    if ignored:
        raise Ge2eCheckpointError(f"Unexpected top-level key(s) {ignored} in {checkpoint_path}.")

    model = Ge2eSpeakerEncoderModel(config)
    load_resemblyzer_state_dict(model, checkpoint["model_state"], source=str(checkpoint_path))
    feature_extractor = Ge2eFeatureExtractor.from_speaker_encoder_config(config)

    # write into a sibling staging folder, then move the files in; the marker goes last, so an interrupted
    # conversion is never mistaken for a finished one
    with staged_folder(target, CONVERSION_MARKER) as staging:
        model.save_pretrained(staging, safe_serialization=True)
        feature_extractor.save_pretrained(staging)
        step = checkpoint.get("step")
        record = {
            "checkpoint_path": str(checkpoint_path),
            "checkpoint_sha256": digest,
            "checkpoint_step": int(step) if isinstance(step, (int, torch.Tensor)) else None,
            "config": fingerprint,
            "unused_checkpoint_entries": list(UNUSED_CHECKPOINT_ENTRIES),
        }
        (staging / CONVERSION_MARKER).write_text(json.dumps(record, indent=2))
    return Ge2eSpeakerEncoderModel.from_pretrained(target).eval()


__all__ = [
    "CONVERSION_MARKER",
    "Ge2eCheckpointError",
    "RESEMBLYZER_INSTALL_HINT",
    "convert_resemblyzer_checkpoint",
    "default_cache_dir",
    "expected_checkpoint_keys",
    "find_resemblyzer_checkpoint",
    "load_resemblyzer_state_dict",
    "sha256_of_file",
]
