"""Fixtures shared across the test tree."""

import pytest


@pytest.fixture(scope="session", autouse=True)
def isolated_feature_caches(tmp_path_factory):
    """Frozen-feature caches (SAPA windows, zero-shot frames) go to a temporary `HF_DATASETS_CACHE`, for this
    process and the script subprocesses it starts, never to the user's `~/.cache`."""
    import datasets

    root = tmp_path_factory.mktemp("hf_datasets_cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_DATASETS_CACHE", str(root))
        patch.setattr(datasets.config, "HF_DATASETS_CACHE", root)
        yield root


def build_tiny_sapa_model(max_windows: int = 24, seed: int = 0):
    """A SAPA model small enough for unit tests: a 1-layer WavLM (32 wide) and a 1-layer GE2E (16 wide)."""
    import torch
    from transformers import WavLMConfig

    from hf_cser.encoders.ge2e import Ge2eSpeakerEncoderConfig
    from hf_cser.models.sapa import SapaConfig, SapaForEmotionClassification

    torch.manual_seed(seed)
    config = SapaConfig(
        content_encoder_config=WavLMConfig(
            hidden_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=64,
            conv_dim=(32,) * 7,
            num_conv_pos_embeddings=16,
            num_conv_pos_embedding_groups=2,
        ),
        speaker_encoder_config=Ge2eSpeakerEncoderConfig(hidden_size=16, num_layers=1, embedding_size=16),
        content_projection_size=8,
        speaker_projection_size=8,
        hidden_size=16,
        num_attention_heads=2,
        classifier_hidden_sizes=(16, 8, 8),
        max_windows=max_windows,
    )
    return SapaForEmotionClassification(config).eval()


def save_tiny_whisper(folder, d_model: int = 32, seed: int = 0):
    """A tiny random transformers `WhisperModel` (2 encoder layers) and its feature extractor, saved to `folder`."""
    import torch
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperModel

    torch.manual_seed(seed)
    config = WhisperConfig(
        vocab_size=64,
        d_model=d_model,
        encoder_layers=2,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=2 * d_model,
        decoder_ffn_dim=2 * d_model,
        max_target_positions=16,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
        decoder_start_token_id=1,
    )
    model = WhisperModel(config)
    model.save_pretrained(folder)
    WhisperFeatureExtractor().save_pretrained(folder)
    return model


@pytest.fixture(scope="session")
def tiny_whisper_saver():
    """``save(folder, d_model=32, seed=0)`` -> a tiny Whisper saved there (see `save_tiny_whisper`)."""
    return save_tiny_whisper


@pytest.fixture(scope="session")
def tiny_whisper_dir(tmp_path_factory):
    """A tiny Whisper folder (d_model 32, 2 encoder layers) shared by the tests of the Whisper paths."""
    folder = tmp_path_factory.mktemp("tiny_whisper_shared")
    save_tiny_whisper(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_sapa_model_factory():
    """``factory(max_windows=24, seed=0)`` -> a fresh tiny `SapaForEmotionClassification` in eval mode."""
    return build_tiny_sapa_model


@pytest.fixture
def one_torch_thread():
    """Tiny matrices: one torch thread is faster (and steadier) than two fighting over a shared CPU. Use with
    ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def restore_progress_bars():
    """A script run with `--disable_tqdm` turns hf_cser's bars off for its process: turn them back on afterwards."""
    yield
    from hf_cser.console import set_progress_bars

    set_progress_bars(True)
