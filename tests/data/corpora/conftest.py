"""Fake corpus trees in the corpora's real file naming, for the loader tests."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf


@pytest.fixture(scope="session")
def wav_bytes() -> bytes:
    """0.3 s of a 220 Hz sine at 16 kHz, as WAV bytes (written once, copied into every fake tree)."""
    t = np.arange(int(0.3 * 16000)) / 16000
    buffer = io.BytesIO()
    sf.write(buffer, (0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 16000, format="WAV")
    return buffer.getvalue()


@pytest.fixture
def make_tree(tmp_path, wav_bytes):
    """``make_tree(audio_files, texts=None, name="corpus") -> root``: audio files get the sine, texts their string."""

    def make(audio_files=(), texts=None, name="corpus", encoding="utf-8") -> Path:
        root = tmp_path / name
        root.mkdir(parents=True, exist_ok=True)
        for relative in audio_files:
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(wav_bytes)
        for relative, text in (texts or {}).items():
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(text.encode(encoding))
        return root

    return make


def _rows_by_name(dataset_dict) -> dict[str, dict]:
    """``{audio file name: row with split and emotion name}`` over all splits."""
    out = {}
    for split, dataset in dataset_dict.items():
        names = dataset.features["emotion"].names
        for row in dataset:
            out[Path(row["audio"]).name] = {**row, "split": split, "emotion": names[row["emotion"]]}
    return out


def _speakers_by_split(dataset_dict) -> dict[str, set[str]]:
    return {split: set(dataset["speaker"]) for split, dataset in dataset_dict.items()}


@pytest.fixture
def rows_by_name():
    return _rows_by_name


@pytest.fixture
def speakers_by_split():
    return _speakers_by_split
