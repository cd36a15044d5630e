"""The default content encoder: a tiny WavLM pretrained by the project for frame-level phone-class recognition.

No pretrained self-supervised speech weights (WavLM, HuBERT, wav2vec 2.0) can be downloaded everywhere, so the
library trains its own small phonetic encoder on the synthetic corpus' phoneme alignments (library choice, not in
the SAPA paper): a `WavLMForAudioFrameClassification` with a shrunken convolutional feature encoder (same kernels
and strides as WavLM, so frames are 20 ms, narrower channels), 2 transformer layers, and a linear frame classifier
over the shared cross-lingual inventory [`PHONETIC_LABELS`] = the six shared vowels of
[`~hf_cser.data.phones.SHARED_VOWELS`] + `"consonant"` + `"silence"`.

The saved folder is a regular Hub-style model (`config.json` with `id2label`, `model.safetensors`,
`preprocessor_config.json` of a `Wav2Vec2FeatureExtractor`, `README.md`, `phonetic_report.json`):
`AutoModel.from_pretrained(folder)` returns the `WavLMModel` backbone (the classifier head is dropped), so
[`~hf_cser.encoders.content_encoder.ContentEncoder.from_pretrained`] treats it exactly like a Hub WavLM.

The implementation is split by responsibility; every name stays importable from here:
[`~hf_cser.encoders.phonetic_labels`] (frame classes, frame labels, model config),
[`~hf_cser.encoders.phonetic_data`] (corpus fingerprint, batch building),
[`~hf_cser.encoders.phonetic_evaluation`] (evaluation and report table),
[`~hf_cser.encoders.phonetic_training`] (the training loop); this module keeps the cache of trained encoders
([`default_phonetic_encoder`]).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from transformers.utils import logging

from .phonetic_data import corpus_fingerprint
from .phonetic_evaluation import evaluate_phonetic_encoder, format_phonetic_report
from .phonetic_labels import (
    CONSONANT_LABEL,  # noqa: F401
    IGNORE_INDEX,  # noqa: F401
    PHONETIC_LABELS,
    SILENCE_LABEL,  # noqa: F401
    SILENCE_PHONES,  # noqa: F401
    frame_labels,
    phone_class,
    phonetic_feature_extractor,
    tiny_wavlm_config,
)
from .phonetic_training import (
    DEFAULT_TRAINING_SETTINGS,
    MODEL_CARD_TEMPLATE,  # noqa: F401
    PRETRAINING_VERSION,
    REPORT_FILE,
    train_phonetic_encoder,
)

logger = logging.get_logger(__name__)


# ---------------------------------------------------------------------------------------------------- cache


def default_cache_dir() -> Path:
    """Root of cached phonetic encoders: `$HF_HOME/hf_cser/content_encoder/phonetic` when `HF_HOME` is set,
    otherwise `~/.cache/hf_cser/content_encoder/phonetic` (library default)."""
    hf_home = os.environ.get("HF_HOME")
    root = Path(hf_home) / "hf_cser" if hf_home else Path.home() / ".cache" / "hf_cser"
    return root / "content_encoder" / "phonetic"


def phonetic_cache_key(corpus, **train_kwargs: Any) -> str:
    """Cache key of [`default_phonetic_encoder`]: corpus fingerprint + training settings + pretraining version."""
    unknown = set(train_kwargs) - set(DEFAULT_TRAINING_SETTINGS) - {"scheme", "model_config", "eval_splits"}
    if unknown:
        raise TypeError(f"Unknown training settings {sorted(unknown)}; valid: {sorted(DEFAULT_TRAINING_SETTINGS)}.")
    settings = {**DEFAULT_TRAINING_SETTINGS, "scheme": "espeak", **train_kwargs}
    config = settings.pop("model_config", None)
    settings["model_config"] = (config if config is not None else tiny_wavlm_config()).to_json_string(use_diff=False)
    payload = json.dumps(
        {"version": PRETRAINING_VERSION, "corpus": corpus_fingerprint(corpus), "settings": settings},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def default_phonetic_encoder(
    corpus_dir, cache_dir: str | os.PathLike | None = None, *, progress: bool = True, **train_kwargs: Any
) -> str:
    """Path of the project's phonetic encoder for a corpus, trained once and cached.

    The folder `<cache_dir>/<key>` is keyed by [`phonetic_cache_key`] (the corpus fingerprint and every training
    setting); a complete folder (with `phonetic_report.json`) is returned at once, otherwise
    [`train_phonetic_encoder`] writes it (into a temporary sibling folder, renamed when complete, so an interrupted
    run never leaves a half-written cache entry).

    Args:
        corpus_dir (`str`, `os.PathLike` or `datasets.DatasetDict`): the corpus, as for [`train_phonetic_encoder`].
        cache_dir (`str` or `os.PathLike`, *optional*): defaults to [`default_cache_dir`].
        progress (`bool`, *optional*, defaults to `True`): tqdm progress bars while training.
        train_kwargs: settings for [`train_phonetic_encoder`] (`epochs`, `batch_size`, `learning_rate`, `seed`,
            `max_steps`, ...).

    Returns:
        `str`: the model folder, loadable with `AutoModel.from_pretrained` and
        [`~hf_cser.encoders.content_encoder.ContentEncoder.from_pretrained`].
    """
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = root / phonetic_cache_key(corpus_dir, **train_kwargs)
    if (target / REPORT_FILE).is_file() and (target / "config.json").is_file():
        logger.info(f"Using the cached phonetic encoder {target}.")
        return str(target)
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=root))
    try:
        train_phonetic_encoder(corpus_dir, staging, progress=progress, **train_kwargs)
        if target.exists():  # an incomplete entry from an interrupted run
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return str(target)


__all__ = [
    "DEFAULT_TRAINING_SETTINGS",
    "PHONETIC_LABELS",
    "corpus_fingerprint",
    "default_cache_dir",
    "default_phonetic_encoder",
    "evaluate_phonetic_encoder",
    "format_phonetic_report",
    "frame_labels",
    "phone_class",
    "phonetic_cache_key",
    "phonetic_feature_extractor",
    "tiny_wavlm_config",
    "train_phonetic_encoder",
]
