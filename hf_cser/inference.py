"""Prediction and evaluation with any audio-classification model hf_cser can load.

Works for every model registered with ``AutoModelForAudioClassification`` (the hf_cser methods, registered when
``hf_cser`` is imported, and plain transformers models such as ``Wav2Vec2ForSequenceClassification``): audio is
decoded with :func:`hf_cser.audio.load_audio` at the feature extractor's sampling rate, the feature extractor gets
phone alignments only when its ``__call__`` takes a ``phonemes`` argument, and the model gets only the inputs its
``forward`` accepts.

Example:

```python
>>> from hf_cser.inference import evaluate_model, predict
>>> predict("outputs/sapa", ["a.wav", "b.wav"])
[{'angry': 0.71, 'happy': 0.16, 'neutral': 0.08, 'sad': 0.05}, {...}]
>>> evaluate_model("outputs/sapa", "synthetic:zh", split="test")["uar"]
0.58
```
"""

from __future__ import annotations

import inspect
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from transformers.utils import logging

from .audio import BadAudioCounter, BadAudioError, load_audio, pad_to_min_duration, prepare_waveform
from .labels import EMOTIONS, normalize_emotion

logger = logging.get_logger(__name__)

_REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?")


class ModelNotFoundError(FileNotFoundError):
    """The model folder (or Hub repo) cannot be loaded; the message names it and the fix."""


def _check_model_location(model: str) -> None:
    if os.path.isdir(model):
        for name, fix in (
            ("config.json", "`model.save_pretrained(folder)`"),
            ("preprocessor_config.json", "`feature_extractor.save_pretrained(folder)`"),
        ):
            if not os.path.isfile(os.path.join(model, name)):
                raise ModelNotFoundError(
                    f"'{model}' has no {name}; it is not a complete saved model. Write it with {fix}, or give the "
                    "`--output_dir` of a finished training run."
                )
        return
    if os.path.exists(model):
        raise ModelNotFoundError(f"'{model}' is a file; give the model folder (with config.json) or a Hub repo id.")
    if model.startswith((".", "/", "~")) or os.sep in model.replace("/", "") or not _REPO_ID.fullmatch(model):
        raise ModelNotFoundError(
            f"The model folder '{model}' does not exist; give the `--output_dir` of a training run or a Hub repo id "
            "such as `user/model`."
        )


def load_audio_classifier(model_dir_or_id: str | os.PathLike, device: str | None = None):
    """Load ``(model, feature_extractor)`` with the Auto classes, the model in eval mode on ``device``.

    Args:
        model_dir_or_id (`str` or `os.PathLike`): a saved model folder or a Hub repo id.
        device (`str`, *optional*): ``"cpu"``, ``"cuda"``, ``"cuda:1"``...; defaults to CUDA when available.

    Raises:
        ModelNotFoundError: the folder is missing or incomplete (no config.json, preprocessor_config.json or
            model.safetensors), or the id cannot be loaded.
        hf_cser.hub.ModelWeightsMismatchError: the weights do not have the shapes ``config.json`` implies.
    """
    import torch
    from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

    from .hub import IncompleteModelFolderError, check_model_folder

    model_path = os.path.expanduser(os.fspath(model_dir_or_id))
    _check_model_location(model_path)
    if os.path.isdir(model_path):
        try:
            check_model_folder(model_path, AutoModelForAudioClassification)
        except IncompleteModelFolderError as err:
            raise ModelNotFoundError(str(err)) from err
    try:
        model = AutoModelForAudioClassification.from_pretrained(model_path)
        feature_extractor = AutoFeatureExtractor.from_pretrained(model_path)
    except OSError as err:
        if os.path.isdir(model_path):
            raise
        raise ModelNotFoundError(
            f"'{model_path}' is not a local folder and could not be loaded from the Hugging Face Hub ({err}); check "
            "the path, or the repo id, your login (`hf auth login`) and network access."
        ) from err
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    model.to(device).eval()
    return model, feature_extractor


def _accepts(function, name: str) -> bool:
    parameters = inspect.signature(function).parameters
    return name in parameters


def _accepts_any_keyword(function) -> bool:
    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in inspect.signature(function).parameters.values())


def _as_waveform(item: Any, sampling_rate: int, *, skip_bad_audio: bool = False, counter=None) -> np.ndarray | None:
    """One input (a path, an array at ``sampling_rate``, or ``{"array", "sampling_rate"}`` / ``{"path"}``) as mono
    float32 at ``sampling_rate``, zero-padded (with a warning) to one 240 ms phoneme window when shorter; ``None`` for
    skipped bad audio."""
    waveform = _decode_input(item, sampling_rate, skip_bad_audio=skip_bad_audio, counter=counter)
    if waveform is None:
        return None
    source = item if isinstance(item, (str, os.PathLike)) else item.get("path") if isinstance(item, Mapping) else None
    return pad_to_min_duration(waveform, sampling_rate, source=os.fspath(source) if source else "<array>")


def _decode_input(item: Any, sampling_rate: int, *, skip_bad_audio: bool = False, counter=None) -> np.ndarray | None:
    if isinstance(item, (str, os.PathLike)):
        return load_audio(item, sampling_rate, skip_bad_audio=skip_bad_audio, counter=counter)
    source, rate = "<array>", sampling_rate
    if isinstance(item, Mapping):
        if item.get("array") is None:
            if item.get("path"):
                return load_audio(item["path"], sampling_rate, skip_bad_audio=skip_bad_audio, counter=counter)
            raise ValueError(f"An audio dict needs `array` (and `sampling_rate`) or `path`; got keys {sorted(item)}.")
        source, rate = str(item.get("path") or "<array>"), int(item.get("sampling_rate") or sampling_rate)
        item = item["array"]
    if hasattr(item, "detach"):  # torch tensor
        item = item.detach().cpu().numpy()
    try:
        return prepare_waveform(np.asarray(item), rate, sampling_rate, source=source)
    except BadAudioError as err:
        if not skip_bad_audio:
            raise
        if counter is not None:
            counter.add(err)
        return None


class _BatchClassifier:
    """Runs feature extractor + model on batches of waveforms and returns class probabilities."""

    def __init__(self, model, feature_extractor):
        self.model = model
        self.feature_extractor = feature_extractor
        self.sampling_rate = int(getattr(feature_extractor, "sampling_rate", 16000) or 16000)
        call = feature_extractor.__call__
        self.takes_phonemes = _accepts(call, "phonemes")
        self.takes_padding = _accepts(call, "padding") or _accepts_any_keyword(call)
        forward = model.forward
        self.forward_any = _accepts_any_keyword(forward)
        self.forward_names = set(inspect.signature(forward).parameters)

    def __call__(self, waveforms: list[np.ndarray], phonemes: list | None = None) -> np.ndarray:
        import torch

        kwargs: dict[str, Any] = {"sampling_rate": self.sampling_rate, "return_tensors": "pt"}
        if self.takes_padding:
            kwargs["padding"] = True
        if self.takes_phonemes and phonemes is not None and any(phonemes):
            kwargs["phonemes"] = [list(p or []) for p in phonemes]
        features = self.feature_extractor(waveforms, **kwargs)
        device = self.model.device
        inputs = {
            key: value.to(device)
            for key, value in features.items()
            if isinstance(value, torch.Tensor) and (self.forward_any or key in self.forward_names)
        }
        with torch.inference_mode():
            outputs = self.model(**inputs)
        logits = outputs.logits if hasattr(outputs, "logits") else outputs[0]
        return torch.softmax(logits.float(), dim=-1).cpu().numpy()


def _batches(n: int, batch_size: int) -> Iterable[range]:
    for start in range(0, n, batch_size):
        yield range(start, min(start + batch_size, n))


def _check_batch_size(batch_size: int) -> None:
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive integer, got {batch_size!r}.")


def predict(
    model_dir_or_id,
    inputs,
    batch_size: int = 8,
    *,
    phonemes: Sequence[Sequence[Mapping[str, Any]] | None] | None = None,
    device: str | None = None,
    progress: bool = False,
) -> list[dict[str, float]]:
    """Class probabilities for each input.

    Args:
        model_dir_or_id (`str`, or a ``(model, feature_extractor)`` pair): a saved model folder or Hub repo id.
        inputs: one or a list of audio file paths, 1-D arrays at the feature extractor's sampling rate, or
            ``{"array", "sampling_rate"}`` dicts (resampled as needed).
        batch_size (`int`, *optional*, defaults to 8): utterances per forward pass.
        phonemes (`list`, *optional*): one phone alignment (``[{"phone", "start", "end"}, ...]`` or ``None``) per
            input, passed to feature extractors whose ``__call__`` takes ``phonemes`` (SAPA); ignored otherwise.
        device (`str`, *optional*): defaults to CUDA when available.
        progress (`bool`, *optional*, defaults to `False`): a progress bar over batches.

    Returns:
        `list[dict[str, float]]`: per input, ``{label: probability}`` over the model's ``id2label``, highest first.

    Raises:
        BadAudioError: a file is missing or unusable (the message names it).
    """
    from hf_cser.console import progress_bar

    _check_batch_size(batch_size)
    if isinstance(inputs, (str, os.PathLike, Mapping)) or (isinstance(inputs, np.ndarray) and inputs.ndim == 1):
        inputs = [inputs]
    inputs = list(inputs)
    if phonemes is not None and len(phonemes) != len(inputs):
        raise ValueError(f"`phonemes` has {len(phonemes)} entries for {len(inputs)} inputs.")
    if isinstance(model_dir_or_id, tuple):
        model, feature_extractor = model_dir_or_id
    else:
        model, feature_extractor = load_audio_classifier(model_dir_or_id, device=device)
    classifier = _BatchClassifier(model, feature_extractor)
    id2label = {int(i): str(label) for i, label in model.config.id2label.items()}
    results: list[dict[str, float]] = []
    for batch in progress_bar(
        list(_batches(len(inputs), batch_size)), desc="Predicting", unit="batch", disable=not progress
    ):
        waveforms = [_as_waveform(inputs[i], classifier.sampling_rate) for i in batch]
        probs = classifier(waveforms, [phonemes[i] for i in batch] if phonemes is not None else None)
        for row in probs:
            order = np.argsort(-row, kind="stable")
            results.append({id2label.get(int(j), str(j)): float(row[j]) for j in order})
    return results


def model_label_to_emotion(id2label: Mapping[int, str]) -> np.ndarray:
    """For each model class id, the id of the matching class in :data:`hf_cser.labels.EMOTIONS`.

    Label names are matched through :func:`hf_cser.labels.normalize_emotion` (``anger`` -> ``angry``). A model with
    transformers' default names (``LABEL_0``..``LABEL_3``) is assumed to use the ``EMOTIONS`` order (logged).

    Raises:
        ValueError: a label is not one of the four emotions.
    """
    names = {int(i): str(label) for i, label in id2label.items()}
    if len(names) == len(EMOTIONS) and all(re.fullmatch(r"LABEL_\d+", n) for n in names.values()):
        logger.warning(f"The model's labels are {sorted(names.values())}; assuming the order {list(EMOTIONS)}.")
        return np.arange(len(EMOTIONS))
    mapping = np.full(len(names), -1, dtype=np.int64)
    for i, name in names.items():
        emotion = normalize_emotion(name)
        if emotion is None:
            raise ValueError(
                f"The model's label {name!r} (id {i}) is not one of {list(EMOTIONS)}; evaluation needs a model "
                "trained on the four hf_cser classes (`id2label` in its config.json)."
            )
        mapping[i] = EMOTIONS.index(emotion)
    return mapping


def _true_emotion_ids(values: Sequence[Any]) -> list[int | None]:
    out = []
    for value in values:
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            out.append(int(value) if 0 <= int(value) < len(EMOTIONS) else None)
        else:
            emotion = normalize_emotion(str(value))
            out.append(EMOTIONS.index(emotion) if emotion is not None else None)
    return out


def evaluate_model(
    model_dir,
    data,
    split: str = "test",
    batch_size: int = 16,
    skip_bad_audio: bool = False,
    *,
    device: str | None = None,
    progress: bool = True,
    return_predictions: bool = False,
    seed: int = 0,
    synthetic_dir: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """UAR, WAR and macro-F1 of a model on one split, overall, per language and per corpus.

    Args:
        model_dir (`str`, or a ``(model, feature_extractor)`` pair): a saved model folder or Hub repo id.
        data (`str`, `DatasetDict` or `Dataset`): a data spec (:data:`hf_cser.data.specs.DATA_SPEC_HELP`) or data in
            the hf_cser schema (``audio`` paths or ``{"array", "sampling_rate"}`` dicts, ``emotion``, and optionally
            ``language``, ``corpus``, ``phonemes``).
        split (`str`, *optional*, defaults to `"test"`): the split of a `DatasetDict`.
        batch_size (`int`, *optional*, defaults to 16): utterances per forward pass.
        skip_bad_audio (`bool`, *optional*, defaults to `False`): skip and count unreadable, empty, silent or
            non-finite audio instead of raising :class:`~hf_cser.audio.BadAudioError`.
        device (`str`, *optional*): defaults to CUDA when available.
        progress (`bool`, *optional*, defaults to `True`): a progress bar over batches.
        return_predictions (`bool`, *optional*, defaults to `False`): add ``predictions`` (one dict per evaluated
            utterance: ``audio``, ``language``, ``corpus``, ``emotion``, ``predicted``).
        seed (`int`, *optional*, defaults to 0), synthetic_dir (*optional*): passed to
            :func:`~hf_cser.data.specs.load_data_spec` when ``data`` is a spec.

    Returns:
        `dict`: the keys of :func:`~hf_cser.metrics.compute_ser_metrics` (``uar``, ``war``, ``macro_f1``,
        ``num_samples``, ``per_class_recall``, ``confusion_matrix``, ``per_language``) plus ``per_corpus`` (same
        fields as ``per_language``), ``model``, ``data``, ``split``, ``num_skipped`` and ``skipped`` (count per
        reason, with ``skipped_examples``).
    """
    from datasets import Dataset, DatasetDict

    from hf_cser.console import progress_bar

    from .data.specs import load_data_spec
    from .metrics import compute_ser_metrics

    _check_batch_size(batch_size)
    data_name = data if isinstance(data, (str, os.PathLike)) else f"<{type(data).__name__}>"
    if isinstance(data, (str, os.PathLike)):
        data = load_data_spec(data, seed=seed, synthetic_dir=synthetic_dir)
    if isinstance(data, (DatasetDict, dict)):
        if split not in data:
            raise KeyError(f"The data has no `{split}` split; it has {sorted(data)}. Pick one with `split=`.")
        dataset = data[split]
    elif isinstance(data, Dataset):
        dataset = data
    else:
        raise TypeError(f"`data` must be a data spec, a DatasetDict or a Dataset, got {type(data).__name__}.")
    missing = [c for c in ("audio", "emotion") if c not in dataset.column_names]
    if missing:
        raise ValueError(f"The `{split}` split lacks column(s) {missing}; it must follow the hf_cser schema.")
    if len(dataset) == 0:
        raise ValueError(f"The `{split}` split of {data_name} is empty; nothing to evaluate.")

    if isinstance(model_dir, tuple):
        model, feature_extractor = model_dir
        model_name = getattr(model.config, "_name_or_path", "") or type(model).__name__
    else:
        model, feature_extractor = load_audio_classifier(model_dir, device=device)
        model_name = os.fspath(model_dir)
    to_emotion = model_label_to_emotion(model.config.id2label)
    classifier = _BatchClassifier(model, feature_extractor)
    columns = [c for c in ("audio", "emotion", "language", "corpus", "phonemes") if c in dataset.column_names]
    counter = BadAudioCounter()
    y_true, y_pred, languages, corpora, predictions = [], [], [], [], []
    unlabelled = 0
    batches = list(_batches(len(dataset), batch_size))
    for batch in progress_bar(batches, desc="Evaluating", unit="batch", disable=not progress):
        rows = {column: values for column, values in dataset[batch.start : batch.stop].items() if column in columns}
        truths = _true_emotion_ids(rows["emotion"])
        keep, waveforms = [], []
        for j, audio in enumerate(rows["audio"]):
            if truths[j] is None:
                unlabelled += 1
                continue
            wav = _as_waveform(audio, classifier.sampling_rate, skip_bad_audio=skip_bad_audio, counter=counter)
            if wav is not None:
                keep.append(j)
                waveforms.append(wav)
        if not keep:
            continue
        phonemes = [rows["phonemes"][j] for j in keep] if "phonemes" in rows else None
        probs = classifier(waveforms, phonemes)
        predicted = to_emotion[probs.argmax(axis=-1)]
        for j, pred in zip(keep, predicted.tolist(), strict=True):
            y_true.append(truths[j])
            y_pred.append(int(pred))
            languages.append(str(rows["language"][j]) if "language" in rows else "unknown")
            corpora.append(str(rows["corpus"][j] or "unknown") if "corpus" in rows else "unknown")
            if return_predictions:
                audio = rows["audio"][j]
                predictions.append(
                    {
                        "audio": audio if isinstance(audio, str) else str((audio or {}).get("path") or ""),
                        "language": languages[-1],
                        "corpus": corpora[-1],
                        "emotion": EMOTIONS[truths[j]],
                        "predicted": EMOTIONS[int(pred)],
                    }
                )
    if unlabelled:
        logger.warning(f"{unlabelled} row(s) with an emotion outside {list(EMOTIONS)} were not evaluated.")
    if counter.total:
        logger.warning(counter.summary())
    if not y_true:
        raise ValueError(
            f"No utterance of the `{split}` split could be evaluated ({counter.summary()}; {unlabelled} unlabelled)."
        )
    result: dict[str, Any] = {"model": model_name, "data": os.fspath(data_name), "split": split}
    result.update(compute_ser_metrics(y_true, y_pred, languages))
    by_corpus = compute_ser_metrics(y_true, y_pred, corpora, with_confusion=False)
    result["per_corpus"] = by_corpus["per_language"]
    result["num_skipped"] = counter.total
    result["skipped"] = dict(sorted(counter.counts.items()))
    result["skipped_examples"] = {reason: list(paths) for reason, paths in sorted(counter.examples.items())}
    result["num_unlabelled"] = unlabelled
    if return_predictions:
        result["predictions"] = predictions
    return result


__all__ = ["ModelNotFoundError", "evaluate_model", "load_audio_classifier", "model_label_to_emotion", "predict"]
