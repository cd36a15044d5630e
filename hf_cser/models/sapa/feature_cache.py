"""Cache of SAPA's frozen window features, so training runs the two encoders once per utterance.

Both SAPA encoders are frozen (paper section 3.1), so the content and speaker features of every phoneme-centred window
are a pure function of (encoder weights, window settings, audio). :func:`compute_window_features` computes them once
per audio file (:class:`UtteranceWindowStore`: one small file per utterance, keyed by the file's identity, so the
folds, splits and seeds of a benchmark that share files share the work), writes them next to the dataset's metadata as
an Arrow file keyed by a fingerprint of the settings and the dataset, and later calls (same weights, settings and
dataset) load that file without running the encoders. :func:`collate_window_features`
pads a list of such rows into the tensors [`SapaForEmotionClassification.forward`] takes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from transformers.utils import logging

from ...audio import TARGET_SAMPLING_RATE, load_audio, prepare_waveform
from ...cache import default_cache_root, file_identities, hash_module_weights, write_atomically

logger = logging.get_logger(__name__)

CACHE_FORMAT_VERSION = "sapa-window-features-v2"  # v2: clips under 240 ms are zero-padded
"""Bumped whenever the way features are computed changes, which invalidates every cache."""

FEATURE_COLUMNS = ("content_features", "speaker_features", "window_phones", "num_windows")
ARRAY_COLUMNS = ("content_features", "speaker_features", "window_phones")
"""Columns that :func:`compute_window_features` hands out as numpy arrays (``output_format="numpy"``)."""
METADATA_STRING_COLUMNS = ("speaker", "language", "gender", "corpus")
"""String columns that :func:`collate_window_features` returns as lists under ``"metadata"``."""


def default_cache_dir() -> str:
    """``$HF_DATASETS_CACHE/hf_cser_sapa_window_features`` (library default)."""
    return default_cache_root("hf_cser_sapa_window_features")


_hash_module_weights = hash_module_weights  # the former private name, kept for code that imported it


def _encoder_weights_digest(model):
    """SHA-256 state after the format version and both frozen encoders' weights (the expensive part of a key)."""
    digest = hashlib.sha256(CACHE_FORMAT_VERSION.encode())
    hash_module_weights(digest, model.content_encoder)
    hash_module_weights(digest, model.speaker_encoder)
    return digest


def _window_digest(model, feature_extractor, weights=None, **more):
    """`weights`: a precomputed [`_encoder_weights_digest`] (copied, not consumed), so one call hashes the weights."""
    digest = (weights or _encoder_weights_digest(model)).copy()
    config = model.config
    settings = {
        "window_ms": config.window_ms,
        "max_windows": config.max_windows,
        "content_layer": config.content_layer,
        "content_input_normalize": config.content_input_normalize,
        "content_whisper_mode": getattr(config, "content_whisper_mode", "unpadded"),
        "feature_extractor": {
            key: value
            for key, value in feature_extractor.to_dict().items()
            if key not in ("processor_class", "transformers_version")
        },
        **more,
    }
    digest.update(json.dumps(settings, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:32]


def window_settings_fingerprint(model, feature_extractor) -> str:
    """Hash of what every utterance's window features are a function of, besides its audio and alignment: the
    frozen encoders' weights and the window settings (model config and feature extractor)."""
    return _window_digest(model, feature_extractor)


def window_feature_fingerprint(model, feature_extractor, dataset) -> str:
    """Fingerprint of the cached window features of `dataset`: a hash of the frozen encoders' weights, the window
    settings (model config and feature extractor) and the dataset's own `_fingerprint`."""
    return _window_digest(model, feature_extractor, dataset=_dataset_fingerprint(dataset))


def _dataset_fingerprint(dataset) -> str:
    fingerprint = getattr(dataset, "_fingerprint", None)
    if not fingerprint:
        raise ValueError("`dataset` has no `_fingerprint`; pass a `datasets.Dataset` (not an IterableDataset).")
    return fingerprint


class UtteranceWindowStore:
    """Per-utterance files of window features, shared by every dataset (fold, split, seed) that holds the same audio
    file: ``<root>/utterances/<settings fingerprint>/<key>.safetensors``, the key a hash of the file's identity (path,
    size, modification time: an edited file is recomputed), its phoneme alignment and language. Rows whose audio is
    an in-memory array have no key (always computed)."""

    def __init__(self, root: str, settings: str):
        self.folder = os.path.join(root, "utterances", settings)

    @staticmethod
    def audio_path(audio: Any) -> str | None:
        if isinstance(audio, (str, os.PathLike)):
            return os.fspath(audio)
        if isinstance(audio, Mapping) and audio.get("array") is None and audio.get("path"):
            return str(audio["path"])
        return None

    def key(self, audio: Any, phonemes: Any, language: Any) -> str | None:
        path = self.audio_path(audio)
        if path is None:
            return None
        identity = file_identities([path])[0]
        digest = hashlib.sha256(json.dumps([identity, phonemes or None, language], default=str).encode())
        return os.path.join(self.folder, digest.hexdigest()[:32] + ".safetensors")

    @staticmethod
    def read(file: str | None) -> dict[str, np.ndarray] | None:
        if file is None or not os.path.exists(file):
            return None
        from safetensors.numpy import load_file

        try:
            return load_file(file)
        except Exception as error:  # a truncated or foreign file: recompute it
            logger.warning(f"Ignoring the damaged SAPA window-feature file {file} ({type(error).__name__}: {error}).")
            return None

    def write(self, file: str | None, arrays: dict[str, np.ndarray]) -> None:
        if file is None:
            return
        from safetensors.numpy import save_file

        try:
            write_atomically(file, lambda tmp: save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, tmp))
        except OSError as error:  # a full disk costs the reuse, not the run
            logger.warning(f"Could not write {file} ({error}).")


def _decode(audio: Any) -> np.ndarray:
    if isinstance(audio, (str, os.PathLike)):
        return load_audio(audio, TARGET_SAMPLING_RATE)
    if isinstance(audio, Mapping) and audio.get("array") is not None:
        return prepare_waveform(
            np.asarray(audio["array"]),
            int(audio["sampling_rate"]),
            TARGET_SAMPLING_RATE,
            source=str(audio.get("path")),
        )
    if isinstance(audio, Mapping) and audio.get("path"):
        return load_audio(audio["path"], TARGET_SAMPLING_RATE)
    raise ValueError(f"Cannot read the `audio` value {type(audio).__name__}; expected a path or {{'array', ...}}.")


def _metadata_columns(dataset) -> list[str]:
    """Scalar columns (`Value`, `ClassLabel`) kept in the output, e.g. emotion, language, speaker, gender, corpus."""
    from datasets import ClassLabel, Value

    return [name for name, feature in dataset.features.items() if isinstance(feature, (Value, ClassLabel))]


def _uses_padding_sensitive_norm(model) -> bool:
    """wav2vec 2.0-style backbones with group norm in the conv encoder give other features for padded inputs."""
    config = model.content_encoder.backbone.config
    return getattr(config, "feat_extract_norm", "layer") == "group"


def compute_window_features(
    model,
    feature_extractor,
    dataset,
    *,
    batch_size: int = 16,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = True,
    output_format: str | None = "numpy",
):
    """Compute (or load from the cache) the frozen SAPA window features of every utterance of `dataset`.

    Args:
        model ([`SapaForEmotionClassification`]):
            Its `extract_window_features` is run once per utterance (on the model's device).
        feature_extractor ([`SapaFeatureExtractor`]):
            Finds the window centres (from the `phonemes` column when it has an alignment, else from energy peaks).
        dataset (`datasets.Dataset`):
            Rows in the hf_cser schema (`audio` path or decoded `{"array", "sampling_rate"}`, optional `phonemes`,
            `language`, metadata columns).
        batch_size (`int`, *optional*, defaults to 16):
            Utterances per encoder call. Backbones whose conv encoder uses group norm (WavLM Base, wav2vec2 Base)
            are run one utterance at a time, because padding would change their features (library choice).
        cache_dir (`str`, *optional*):
            Where caches live; [`default_cache_dir`] when `None`. Each cache is `<cache_dir>/<fingerprint>/`.
        progress (`bool`, *optional*, defaults to `True`):
            Show a progress bar while computing.
        output_format (`str`, *optional*, defaults to `"numpy"`):
            `"numpy"`: rows hand out `content_features`, `speaker_features` and `window_phones` as numpy arrays (read
            straight from Arrow: about 3x faster batches for [`collate_window_features`] than nested Python lists);
            the other columns stay Python values. `None`: every column as Python lists (the former behaviour).

    Returns:
        `datasets.Dataset` with the scalar metadata columns of `dataset` (emotion, language, speaker, gender, corpus,
        ...) plus `content_features` (`num_windows x H_c` float32), `speaker_features` (`num_windows x H_s`),
        `window_phones` (ids into `SHARED_VOWELS`, -1 for other windows) and `num_windows`.
    """
    from datasets import Array2D, Dataset, Features, List, Value
    from datasets.arrow_writer import ArrowWriter

    if batch_size <= 0:
        raise ValueError(f"`batch_size` must be positive, got {batch_size}.")
    if output_format not in ("numpy", None):
        raise ValueError(f"`output_format` must be 'numpy' or None, got {output_format!r}.")

    def load(path: str):
        cached = Dataset.from_file(path)
        if output_format is None:
            return cached
        return cached.with_format(output_format, columns=list(ARRAY_COLUMNS), output_all_columns=True)

    dataset_fingerprint = _dataset_fingerprint(dataset)
    weights = _encoder_weights_digest(model)  # hashed once for both keys below
    fingerprint = _window_digest(model, feature_extractor, weights, dataset=dataset_fingerprint)
    root = os.fspath(cache_dir) if cache_dir is not None else default_cache_dir()
    final_dir = os.path.join(root, fingerprint)
    data_file = os.path.join(final_dir, "data.arrow")
    if os.path.exists(data_file):
        logger.info(f"Loading cached SAPA window features from {final_dir}.")
        return load(data_file)

    metadata = _metadata_columns(dataset)
    content_size = model.content_encoder.output_size
    speaker_size = model.speaker_encoder.config.embedding_size
    features = Features(
        {
            **{name: dataset.features[name] for name in metadata},
            "content_features": Array2D(shape=(None, content_size), dtype="float32"),
            "speaker_features": Array2D(shape=(None, speaker_size), dtype="float32"),
            "window_phones": List(Value("int64")),
            "num_windows": Value("int64"),
        }
    )
    step = 1 if _uses_padding_sensitive_norm(model) else batch_size
    os.makedirs(root, exist_ok=True)
    tmp_dir = tempfile.mkdtemp(prefix=f".tmp-{fingerprint}-", dir=root)
    was_training = model.training
    model.eval()
    try:
        from hf_cser.console import progress_bar

        writer = ArrowWriter(features=features, path=os.path.join(tmp_dir, "data.arrow"))
        store = UtteranceWindowStore(root, _window_digest(model, feature_extractor, weights))
        bar = progress_bar(total=len(dataset), desc="SAPA window features", disable=not progress)
        reused = 0
        for start in range(0, len(dataset), step):
            rows = dataset[start : start + step]
            count = len(rows["audio"])
            phonemes = rows.get("phonemes") or [None] * count
            languages = rows.get("language") or [None] * count
            files = [store.key(rows["audio"][i], phonemes[i], languages[i]) for i in range(count)]
            found = [store.read(file) for file in files]
            missing = [i for i in range(count) if found[i] is None]
            if missing:
                computed = _encode_windows(
                    model,
                    feature_extractor,
                    [_decode(rows["audio"][i]) for i in missing],
                    [phonemes[i] or None for i in missing],
                    [languages[i] for i in missing],
                )
                for i, arrays in zip(missing, computed, strict=True):
                    found[i] = arrays
                    store.write(files[i], arrays)
            reused += count - len(missing)
            for i, arrays in enumerate(found):
                example = {name: rows[name][i] for name in metadata}
                example.update(
                    content_features=arrays["content_features"],
                    speaker_features=arrays["speaker_features"],
                    window_phones=arrays["window_phones"].tolist(),
                    num_windows=int(len(arrays["window_phones"])),
                )
                writer.write(example)
            bar.update(count)
        if reused:
            logger.info(f"SAPA window features: {reused} of {len(dataset)} utterances read from {store.folder}.")
        bar.close()
        writer.finalize()
        writer.close()
        with open(os.path.join(tmp_dir, "cache_info.json"), "w") as f:
            json.dump({"fingerprint": fingerprint, "dataset_fingerprint": dataset._fingerprint}, f)
        try:
            os.replace(tmp_dir, final_dir)
        except OSError:  # another process wrote the same cache first: use theirs
            shutil.rmtree(tmp_dir, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
    finally:
        model.train(was_training)
    logger.info(f"Wrote SAPA window features of {len(dataset)} utterances to {final_dir}.")
    return load(data_file)


def _encode_windows(model, feature_extractor, waveforms, phonemes, languages) -> list[dict[str, np.ndarray]]:
    """The frozen encoders on a batch: per utterance its windows' content / speaker features and phone ids."""
    inputs = feature_extractor(
        waveforms,
        sampling_rate=feature_extractor.sampling_rate,
        phonemes=phonemes,
        languages=languages,
        return_tensors="pt",
    )
    device = model.device
    content, speaker = model.extract_window_features(
        inputs["input_values"].to(device),
        inputs["attention_mask"].to(device),
        inputs["window_centers"].to(device),
        inputs["window_mask"].to(device),
    )
    out = []
    for i, n in enumerate(inputs["window_mask"].sum(dim=1).tolist()):
        out.append(
            {
                "content_features": content[i, :n].float().cpu().numpy(),
                "speaker_features": speaker[i, :n].float().cpu().numpy(),
                "window_phones": inputs["window_phones"][i, :n].cpu().numpy().astype(np.int64),
            }
        )
    return out


def collate_window_features(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Pad rows of :func:`compute_window_features` into a batch for [`SapaForEmotionClassification.forward`].

    Returns:
        `dict` with `content_features` `(B, N, H_c)` float32, `speaker_features` `(B, N, H_s)`, `window_mask`
        `(B, N)` long, `window_phones` `(B, N)` long (-1 on padding), `labels` `(B,)` long (from `emotion` or
        `labels`, when present) and `metadata`: a dict of string lists (`speaker`, `language`, `gender`, `corpus`
        where present) for the anchoring losses. Pop `metadata` and `window_phones` before `model(**batch)`.
    """
    if not rows:
        raise ValueError("`rows` is empty.")
    content = [np.asarray(r["content_features"], dtype=np.float32) for r in rows]
    speaker = [np.asarray(r["speaker_features"], dtype=np.float32) for r in rows]
    phones = [np.asarray(r["window_phones"], dtype=np.int64).reshape(-1) for r in rows]
    counts = [len(c) for c in content]
    if any(n == 0 for n in counts):
        raise ValueError("Every row needs at least one window (`num_windows` > 0).")
    batch, max_n = len(rows), max(counts)
    # padded in numpy (the rows may be read-only views of the Arrow cache), then wrapped without a copy
    content_np = np.zeros((batch, max_n, content[0].shape[-1]), dtype=np.float32)
    speaker_np = np.zeros((batch, max_n, speaker[0].shape[-1]), dtype=np.float32)
    phones_np = np.full((batch, max_n), -1, dtype=np.int64)
    for i, n in enumerate(counts):
        content_np[i, :n] = content[i]
        speaker_np[i, :n] = speaker[i]
        phones_np[i, :n] = phones[i]
    content_out, speaker_out = torch.from_numpy(content_np), torch.from_numpy(speaker_np)
    phones_out = torch.from_numpy(phones_np)
    mask = (torch.arange(max_n)[None, :] < torch.tensor(counts)[:, None]).long()  # (B, N)
    out: dict[str, Any] = {
        "content_features": content_out,
        "speaker_features": speaker_out,
        "window_mask": mask,
        "window_phones": phones_out,
    }
    label_key = "labels" if "labels" in rows[0] else "emotion" if "emotion" in rows[0] else None
    if label_key is not None:
        out["labels"] = torch.tensor([int(r[label_key]) for r in rows], dtype=torch.long)
    out["metadata"] = {key: [str(r[key]) for r in rows] for key in METADATA_STRING_COLUMNS if key in rows[0]}
    return out


def normalize_window_feature_datasets(train, others: Mapping[str, Any], group_by: str, *, eps: float = 1e-5):
    """Per-group z-normalisation of cached SAPA window features (`hf_cser.normalization.FeatureNormalizer`).

    Statistics are fitted on every real window of `train` (per speaker or corpus, from the row's `speaker` /
    `corpus` column); `train` and each dataset of `others` are normalised with them, and groups absent from `train`
    (the target's speakers or corpus) with their own statistics, computed from their unlabelled windows.

    Args:
        train (`datasets.Dataset`): cached window features of the training split ([`compute_window_features`]).
        others (`Mapping[str, datasets.Dataset]`): further cached splits (validation, tests); `None` values are kept.
        group_by (`str`): `"none"`, `"global"`, `"corpus"` or `"speaker"`.
        eps (`float`, *optional*, defaults to 1e-5): added to the standard deviation.

    Returns:
        `(train, others, settings)`: the normalised datasets (numpy-formatted like the inputs) and the dict for
        `SapaConfig.feature_normalization` (`None` for `"none"`).
    """
    from ...normalization import FeatureNormalizer, group_column

    if group_by == "none":
        return train, dict(others), None
    column = group_column(group_by)
    branches = ("content_features", "speaker_features")

    def windows(dataset, branch):  # one (num_windows, dim) array per utterance
        return [np.asarray(x, dtype=np.float32) for x in dataset[branch]]

    def groups_of(dataset):
        return None if column is None else list(dataset[column])

    normalizers = {b: FeatureNormalizer(group_by, eps=eps).fit(windows(train, b), groups_of(train)) for b in branches}

    def apply(dataset):
        if dataset is None:
            return None
        normalised = {b: normalizers[b].transform(windows(dataset, b), groups_of(dataset)) for b in branches}
        fmt = dataset.format

        def rewrite(_, index):
            return {b: normalised[b][index] for b in branches}

        out = dataset.with_format(None).map(
            rewrite,
            with_indices=True,
            features=dataset.features,
            keep_in_memory=True,
            desc=f"normalising windows per {group_by}",
        )
        return out.with_format(fmt["type"], columns=fmt["columns"], output_all_columns=fmt["output_all_columns"])

    settings = {
        "group_by": group_by,
        "content": normalizers["content_features"].to_dict(),
        "speaker": normalizers["speaker_features"].to_dict(),
    }
    return apply(train), {name: apply(ds) for name, ds in others.items()}, settings


__all__ = [
    "normalize_window_feature_datasets",
    "ARRAY_COLUMNS",
    "CACHE_FORMAT_VERSION",
    "collate_window_features",
    "compute_window_features",
    "default_cache_dir",
    "window_feature_fingerprint",
    "window_settings_fingerprint",
    "UtteranceWindowStore",
]
