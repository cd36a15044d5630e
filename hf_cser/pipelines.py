"""An `audio-classification` pipeline that needs neither ffmpeg nor torchaudio.

transformers' `AudioClassificationPipeline` decodes file paths with the ffmpeg binary and resamples dict inputs with
torchaudio; hf_cser installs neither. Importing `hf_cser` (or this module) registers
[`SoundfileAudioClassificationPipeline`] for the task `"audio-classification"`: it reads files with soundfile and
resamples with scipy (`hf_cser.audio.load_audio` / `prepare_waveform`), accepts integer and float64 arrays, and passes
every model input the feature extractor produces (for SAPA: `window_centers`, `window_mask`) to the model.

Example:

```python
>>> import hf_cser  # registers the pipeline and the models
>>> from transformers import pipeline

>>> classifier = pipeline("audio-classification", model="path/to/saved_sapa_model")
>>> classifier("speech_8khz.wav")
[{'score': 0.41, 'label': 'neutral'}, {'score': 0.27, 'label': 'sad'}, ...]
```
"""

from __future__ import annotations

import inspect
import os
from typing import Any

import numpy as np
from transformers import AutoModelForAudioClassification
from transformers.pipelines import PIPELINE_REGISTRY
from transformers.pipelines.audio_classification import AudioClassificationPipeline
from transformers.utils import logging

from .audio import MIN_DURATION_MS, load_audio, pad_to_min_duration, prepare_waveform

logger = logging.get_logger(__name__)

TASK = "audio-classification"


class CheckedAutoModelForAudioClassification(AutoModelForAudioClassification):
    """`AutoModelForAudioClassification` that checks a local model folder first (`hf_cser.hub.check_model_folder`).

    `pipeline("audio-classification", model=folder)` loads models through this class, so that a folder without
    `model.safetensors`, or whose weights do not have the shapes its `config.json` implies, fails with an error naming
    the folder, the file and the fix (inside transformers' "Could not load model" error) instead of a bare
    "no file named ..." or "ignore_mismatched_sizes" message. Hub ids and `ignore_mismatched_sizes=True` are passed
    through unchecked.
    """

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, **kwargs):
        from .hub import check_model_folder, should_check_folder

        name = pretrained_model_name_or_path
        if should_check_folder(name, kwargs):
            check_model_folder(name, AutoModelForAudioClassification)
        return super().from_pretrained(name, *model_args, **kwargs)


class SoundfileAudioClassificationPipeline(AudioClassificationPipeline):
    """[`~transformers.AudioClassificationPipeline`] with soundfile decoding and scipy resampling.

    Inputs:
        - `str` or `os.PathLike`: an audio file soundfile can read (WAV, FLAC, OGG, ...), any rate and channel count.
        - `bytes`: the content of such a file.
        - `np.ndarray` / `torch.Tensor` (1-D, or 2-D `(time, channels)`): audio at the feature extractor's rate;
          integer arrays are scaled to [-1, 1].
        - `dict` with `"raw"` or `"array"` and `"sampling_rate"` (the `datasets` audio format): resampled as needed.

    Audio shorter than one phoneme window (the feature extractor's `window_ms`, else 240 ms) is zero-padded to it
    with a warning (`hf_cser.audio.pad_to_min_duration`); empty, NaN/inf and all-zero audio raise
    `hf_cser.audio.BadAudioError` naming the input and the fix.

    Every key of the feature extractor's output that the model's `forward` accepts is passed on (for
    [`SapaForEmotionClassification`]: `input_values`, `attention_mask`, `window_centers`, `window_mask`).
    """

    def check_model_type(self, supported_models):
        # The parent checks against transformers' own model names only; models registered with
        # `AutoModelForAudioClassification.register` (hf_cser's) are supported too.
        if isinstance(supported_models, dict):
            names: list[str] = []
            for value in supported_models.values():
                names.extend(value if isinstance(value, tuple) else [value])
            for model in AutoModelForAudioClassification._model_mapping._extra_content.values():
                names.extend(m.__name__ for m in (model if isinstance(model, tuple) else (model,)))
            supported_models = names
        return super().check_model_type(supported_models)

    def _to_waveform(self, inputs: Any) -> np.ndarray:
        target = int(self.feature_extractor.sampling_rate)
        if isinstance(inputs, (str, os.PathLike)):
            if str(inputs).startswith(("http://", "https://")):
                raise ValueError(f"{type(self).__name__} reads local files only; download {inputs} first.")
            return load_audio(inputs, target)
        if isinstance(inputs, bytes):
            import io

            import soundfile as sf

            data, rate = sf.read(io.BytesIO(inputs), dtype="float32", always_2d=False)
            return prepare_waveform(data, rate, target, source="<bytes>")
        if hasattr(inputs, "detach"):  # torch tensor
            inputs = inputs.detach().cpu().numpy()
        if isinstance(inputs, dict):
            if "sampling_rate" not in inputs or not ("raw" in inputs or "array" in inputs):
                raise ValueError(
                    'A dict input needs the audio under "raw" or "array" and its rate under "sampling_rate", got '
                    f"keys {sorted(inputs)}."
                )
            array = inputs["raw"] if inputs.get("raw") is not None else inputs["array"]
            if hasattr(array, "detach"):
                array = array.detach().cpu().numpy()
            source = f"{type(self).__name__} input (dict array)"
            return prepare_waveform(np.asarray(array), int(inputs["sampling_rate"]), target, source=source)
        if isinstance(inputs, np.ndarray):
            return prepare_waveform(inputs, target, target, source=f"{type(self).__name__} input (numpy array)")
        raise TypeError(
            f"{type(self).__name__} takes a file path, bytes, a numpy array, a torch tensor or a "
            f'{{"array", "sampling_rate"}} dict, got {type(inputs).__name__}.'
        )

    def preprocess(self, inputs):
        source = os.fspath(inputs) if isinstance(inputs, (str, os.PathLike)) else f"{type(self).__name__} input"
        rate = int(self.feature_extractor.sampling_rate)
        window_ms = float(getattr(self.feature_extractor, "window_ms", MIN_DURATION_MS))
        waveform = pad_to_min_duration(self._to_waveform(inputs), rate, window_ms, source=source)
        processed = self.feature_extractor(
            waveform, sampling_rate=self.feature_extractor.sampling_rate, return_tensors="pt"
        )
        accepted = inspect.signature(self.model.forward).parameters
        takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values())
        if not takes_kwargs:
            for key in [k for k in processed.keys() if k not in accepted]:
                processed.pop(key)  # e.g. SAPA's `window_phones`, which only the trainer uses
        if self.dtype is not None:
            processed = processed.to(dtype=self.dtype)
        return processed


def register_audio_classification_pipeline() -> None:
    """Make `pipeline("audio-classification", ...)` build a [`SoundfileAudioClassificationPipeline`] and load models
    with [`CheckedAutoModelForAudioClassification`] (no-op when already done). The task keeps transformers' default
    model."""
    task = dict(PIPELINE_REGISTRY.supported_tasks[TASK])
    if task.get("impl") is SoundfileAudioClassificationPipeline:
        return
    task["impl"] = SoundfileAudioClassificationPipeline
    task["pt"] = (CheckedAutoModelForAudioClassification,)
    PIPELINE_REGISTRY.supported_tasks[TASK] = task


register_audio_classification_pipeline()

__all__ = [
    "CheckedAutoModelForAudioClassification",
    "SoundfileAudioClassificationPipeline",
    "register_audio_classification_pipeline",
]
