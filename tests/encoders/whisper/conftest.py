"""Tiny Whisper models built in code (no download) for the converter and encoder tests."""

import pytest


def build_tiny_whisper(seed: int = 0, num_mel_bins: int = 80):
    import torch
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    torch.manual_seed(seed)
    config = WhisperConfig(
        vocab_size=96,
        num_mel_bins=num_mel_bins,
        d_model=32,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        max_source_positions=1500,
        max_target_positions=32,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
        decoder_start_token_id=1,
    )
    model = WhisperForConditionalGeneration(config).eval()
    with torch.no_grad():  # random, not zero, biases and norms, so that a wrong mapping shows
        for name, parameter in model.named_parameters():
            if name.endswith("bias") or "layer_norm" in name:
                parameter.normal_(0, 0.2)
    return model


@pytest.fixture(scope="session")
def tiny_whisper_factory():
    return build_tiny_whisper


@pytest.fixture(scope="session")
def tiny_whisper_folder(tmp_path_factory):
    """A tiny random `WhisperModel` saved as a transformers folder (model + feature extractor)."""
    from transformers import WhisperFeatureExtractor

    folder = tmp_path_factory.mktemp("tiny_whisper")
    build_tiny_whisper().model.save_pretrained(folder)
    WhisperFeatureExtractor().save_pretrained(folder)
    return folder
