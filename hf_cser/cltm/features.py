"""Inputs of the CLTM task models: frozen utterance features computed once per corpus and cached, or lazily loaded
waveforms for models that fine-tune on audio.

The CLTM protocol trains hundreds of small models (targets x donors x seeds) on overlapping subsets of one corpus,
so the default pipeline (our choice, for speed) computes a frozen utterance feature once per file and trains a small
head per run. :class:`LogMelStatistics` (mean and standard deviation over time of 40 log-mel bands, 25 ms Hann
windows, 10 ms hop, 16 kHz) is the default; any object with a ``config`` dict and ``__call__(waveform) -> 1-D
array`` works as an extractor. :func:`compute_utterance_features` caches the feature matrix on disk under a
fingerprint of the extractor config and of every file's path, size and modification time, so a changed corpus or
extractor is recomputed and an unchanged one is read back at once.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from transformers.utils import logging

from ..cache import file_identities, hash_json, write_atomically
from ..encoders.mel import mel_filters

logger = logging.get_logger(__name__)

FEATURE_CACHE_VERSION = "1"


def default_feature_cache_dir() -> str:
    """``$HF_HOME/hf_cser/cltm_features`` (``HF_HOME`` defaults to ``~/.cache/huggingface``)."""
    hf_home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache"), "huggingface"
    )
    return os.path.join(os.path.expanduser(hf_home), "hf_cser", "cltm_features")


def mel_filterbank(sampling_rate: int = 16000, n_fft: int = 512, n_mels: int = 40) -> np.ndarray:
    """Triangular HTK-style mel filters from 20 Hz to Nyquist, unnormalised (peak 1), shape
    ``(n_mels, n_fft // 2 + 1)`` (`hf_cser.encoders.mel.mel_filters`)."""
    return mel_filters(sampling_rate, n_fft, n_mels, 20.0, None, mel_scale="htk", norm=None)


class LogMelStatistics:
    """Utterance feature: mean and standard deviation over frames of log-mel energies (``2 * n_mels`` values).

    Args:
        n_mels (`int`, *optional*, defaults to 40): mel bands.
        sampling_rate (`int`, *optional*, defaults to 16000): expected waveform rate (hf_cser decodes to 16 kHz).
        window_ms (`float`, *optional*, defaults to 25.0) / hop_ms (`float`, *optional*, defaults to 10.0):
            Hann window and hop.
        n_fft (`int`, *optional*, defaults to 512): FFT size.
    """

    def __init__(
        self,
        n_mels: int = 40,
        sampling_rate: int = 16000,
        window_ms: float = 25.0,
        hop_ms: float = 10.0,
        n_fft: int = 512,
    ):
        self.config = {
            "name": "log_mel_statistics",
            "n_mels": n_mels,
            "sampling_rate": sampling_rate,
            "window_ms": window_ms,
            "hop_ms": hop_ms,
            "n_fft": n_fft,
        }
        self._bank = mel_filterbank(sampling_rate, n_fft, n_mels)
        self._win = int(round(window_ms * sampling_rate / 1000))
        self._hop = int(round(hop_ms * sampling_rate / 1000))
        self._window = np.hanning(self._win)

    @property
    def dim(self) -> int:
        return 2 * self.config["n_mels"]

    def frames(self, waveform: np.ndarray) -> np.ndarray:
        """Log-mel frames, shape ``(num_frames, n_mels)``."""
        x = np.asarray(waveform, dtype=np.float64)
        if x.size < self._win:
            x = np.pad(x, (0, self._win - x.size))
        n_frames = 1 + (x.size - self._win) // self._hop
        idx = np.arange(self._win)[None, :] + self._hop * np.arange(n_frames)[:, None]
        power = np.abs(np.fft.rfft(x[idx] * self._window[None, :], n=self.config["n_fft"], axis=1)) ** 2
        return np.log(power @ self._bank.T + 1e-10)

    def __call__(self, waveform: np.ndarray) -> np.ndarray:
        logmel = self.frames(waveform)
        return np.concatenate([logmel.mean(axis=0), logmel.std(axis=0)]).astype(np.float32)


def features_fingerprint(paths: Sequence[str], extractor_config: dict[str, Any]) -> str:
    """SHA-256 (first 16 hex digits) of the extractor config and each file's absolute path, size and mtime."""
    digest = hashlib.sha256()
    hash_json(digest, {"version": FEATURE_CACHE_VERSION, **extractor_config})
    hash_json(digest, file_identities(os.path.abspath(path) for path in paths))
    return digest.hexdigest()[:16]


def compute_utterance_features(
    paths: Sequence[str],
    extractor=None,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = True,
) -> np.ndarray:
    """Features of every audio file, shape ``(len(paths), dim)``, cached on disk.

    Args:
        paths (`Sequence[str]`): audio files (decoded with :func:`hf_cser.audio.load_audio` to 16 kHz mono).
        extractor (*optional*): a callable ``waveform -> 1-D array`` with a ``config`` dict; defaults to
            :class:`LogMelStatistics`.
        cache_dir (`str`, *optional*): folder of the cache (defaults to :func:`default_feature_cache_dir`);
            ``False``-y empty string disables caching.
        progress (`bool`, *optional*, defaults to `True`): a tqdm bar while computing.

    Returns:
        `np.ndarray` (float32).
    """
    from ..audio import load_audio

    extractor = extractor if extractor is not None else LogMelStatistics()
    config = getattr(extractor, "config", None)
    if not isinstance(config, dict):
        raise TypeError("The feature extractor needs a `config` dict (it keys the feature cache).")
    cache_file = None
    if cache_dir != "":
        cache_dir = os.fspath(cache_dir) if cache_dir is not None else default_feature_cache_dir()
        name = f"{config.get('name', 'features')}-{features_fingerprint(paths, config)}.npy"
        cache_file = os.path.join(cache_dir, name)
        if os.path.isfile(cache_file):
            cached = np.load(cache_file)
            if cached.shape[0] == len(paths):
                return cached
    if progress:
        from hf_cser.console import progress_bar

        iterator = progress_bar(paths, desc="CLTM utterance features", unit="file")
    else:
        iterator = paths
    features = np.stack([np.asarray(extractor(load_audio(p)), dtype=np.float32) for p in iterator])
    if cache_file is not None:
        write_atomically(cache_file, lambda tmp: np.save(tmp, features))  # a concurrent reader never sees half a file
    return features


class LazyWaveforms(Sequence):
    """Waveforms of audio files, decoded on access (16 kHz mono float32), optionally cropped; indexing with a list or
    array of positions returns a new :class:`LazyWaveforms` over those files (what the task models receive)."""

    def __init__(self, paths: Sequence[str], max_seconds: float | None = None):
        self.paths = list(paths)
        self.max_seconds = max_seconds

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, item):
        if isinstance(item, (list, tuple, np.ndarray)):
            return LazyWaveforms([self.paths[int(i)] for i in item], self.max_seconds)
        if isinstance(item, slice):
            return LazyWaveforms(self.paths[item], self.max_seconds)
        from ..audio import load_audio

        waveform = load_audio(self.paths[item])
        if self.max_seconds is not None:
            waveform = waveform[: int(self.max_seconds * 16000)]
        return waveform


def speaker_normalize(features: np.ndarray, speakers: Sequence[str]) -> np.ndarray:
    """Z-normalise each feature within each speaker (over all that speaker's utterances; no label is read).

    Standard speaker normalisation for emotion recognition: it removes the speaker's baseline (pitch level, voice
    timbre, channel), leaving the deviations that carry emotion. It also removes what gender recognition and speaker
    verification recognise, so use it for SER only. A constant feature of a speaker becomes 0.
    """
    x = np.asarray(features, dtype=np.float32).copy()
    speakers = np.asarray(speakers).astype(str)
    if x.shape[0] != speakers.shape[0]:
        raise ValueError(f"`features` has {x.shape[0]} rows for {speakers.shape[0]} speakers entries.")
    for speaker in np.unique(speakers):
        rows = speakers == speaker
        mean, std = x[rows].mean(axis=0), x[rows].std(axis=0)
        x[rows] = (x[rows] - mean) / np.where(std > 1e-6, std, 1.0)
    return x
