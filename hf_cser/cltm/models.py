"""Task models of the CLTM protocol: the interface, the small default head and an adapter for speech models.

A CLTM task model is any object with

- ``fit(inputs, labels, num_classes, seed) -> self``: train from scratch on ``inputs`` (a sequence indexable by a list
  of positions: a 2-D feature array, or :class:`~hf_cser.cltm.features.LazyWaveforms`) and integer ``labels``;
  every source of randomness (initialisation, dropout, shuffling) must come from ``seed``;
- ``predict(inputs) -> np.ndarray`` of class ids;
- ``embed(inputs) -> np.ndarray`` of shape ``(len(inputs), dim)``: utterance embeddings (the pooled representation
  the classification head reads), used by speaker verification.

The runner builds a fresh model per run from a zero-argument factory (``model_factory()``), so runs never share
state. Two implementations:

- :class:`MlpTaskModel` (default, our choice for speed): standardisation + one hidden layer + linear head on frozen
  utterance features (:class:`~hf_cser.cltm.features.LogMelStatistics`, which pools frames by their mean and standard
  deviation); the embedding is the hidden layer. A run takes well under a second on one CPU core.
- :class:`AudioModelTaskModel`: any PyTorch speech classifier taking ``input_values`` (and ``attention_mask``) and
  returning ``logits`` (transformers ``*ForSequenceClassification`` / ``*ForAudioClassification`` models, hf_cser's
  :class:`~hf_cser.models.zero_shot.ZeroShotForEmotionClassification`; both are tested), fine-tuned with the
  paper's recipe (AdamW, constant learning rate 1e-5, no weight decay, gradient clipping at 1.0, one epoch); the
  embedding is the model's ``embeddings`` output when it has one, else the temporal mean of its last hidden state.
"""

from __future__ import annotations

import contextlib
import inspect
import random
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class CltmTaskModel(Protocol):
    """The interface of a CLTM task model (see the module docstring)."""

    def fit(self, inputs: Any, labels: np.ndarray, num_classes: int, seed: int) -> CltmTaskModel: ...

    def predict(self, inputs: Any) -> np.ndarray: ...

    def embed(self, inputs: Any) -> np.ndarray: ...


@contextlib.contextmanager
def seeded_rngs(seed: int):
    """Seed torch's CPU RNG, numpy's and Python's global RNGs inside the block and restore them afterwards (so a run
    is reproducible whatever ran before it, and leaves no trace on the caller's random state). Models such as
    wav2vec2 / WavLM draw their SpecAugment masks from numpy's global RNG."""
    import torch

    np_state, py_state = np.random.get_state(), random.getstate()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        np.random.seed(int(seed) % 2**32)
        random.seed(int(seed))
        try:
            yield
        finally:
            np.random.set_state(np_state)
            random.setstate(py_state)


def _seeded_generator(seed: int):
    import torch

    generator = torch.Generator()
    generator.manual_seed(int(seed))
    return generator


class MlpTaskModel:
    """Standardised features -> Linear -> ReLU -> Dropout -> Linear, trained with AdamW on mini-batches.

    Args:
        hidden_size (`int`, *optional*, defaults to 64): width of the hidden layer (the embedding size).
        dropout (`float`, *optional*, defaults to 0.1): dropout after the hidden layer.
        epochs (`int`, *optional*, defaults to 40): passes over the training set (a training set twice as large gets
            twice as many steps, as in the paper's single-epoch fine-tuning).
        batch_size (`int`, *optional*, defaults to 16): mini-batch size.
        learning_rate (`float`, *optional*, defaults to 3e-3) / weight_decay (`float`, *optional*, defaults to 1e-4):
            AdamW settings.

    All defaults are our choices (the paper fine-tunes mHuBERT-147; this is the fast stand-in).
    """

    def __init__(
        self,
        hidden_size: int = 64,
        dropout: float = 0.1,
        epochs: int = 40,
        batch_size: int = 16,
        learning_rate: float = 3e-3,
        weight_decay: float = 1e-4,
    ):
        if hidden_size < 1 or epochs < 1 or batch_size < 1:
            raise ValueError("`hidden_size`, `epochs` and `batch_size` must be positive.")
        self.hidden_size, self.dropout, self.epochs = hidden_size, dropout, epochs
        self.batch_size, self.learning_rate, self.weight_decay = batch_size, learning_rate, weight_decay
        self.network = None

    def _tensor(self, inputs):
        import torch

        x = torch.as_tensor(np.asarray(inputs, dtype=np.float32))
        if x.ndim != 2:
            raise ValueError(f"MlpTaskModel takes a 2-D feature array, got shape {tuple(x.shape)}.")
        return (x - self.mean) / self.std

    def fit(self, inputs, labels, num_classes: int, seed: int) -> MlpTaskModel:
        import torch
        from torch import nn

        x = torch.as_tensor(np.asarray(inputs, dtype=np.float32))
        y = torch.as_tensor(np.asarray(labels, dtype=np.int64))
        if x.ndim != 2 or x.shape[0] != y.shape[0] or x.shape[0] == 0:
            raise ValueError(f"`inputs` {tuple(x.shape)} and `labels` {tuple(y.shape)} do not match.")
        self.mean = x.mean(dim=0)
        self.std = x.std(dim=0, unbiased=False).clamp_min(1e-6)
        generator = _seeded_generator(seed)
        with seeded_rngs(seed):  # initialisation and dropout masks
            self.network = nn.Sequential(
                nn.Linear(x.shape[1], self.hidden_size),
                nn.ReLU(),
                nn.Dropout(self.dropout),
                nn.Linear(self.hidden_size, num_classes),
            )
            optimizer = torch.optim.AdamW(
                self.network.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay
            )
            xs = (x - self.mean) / self.std
            self.network.train()
            for _ in range(self.epochs):
                order = torch.randperm(xs.shape[0], generator=generator)
                for start in range(0, xs.shape[0], self.batch_size):
                    batch = order[start : start + self.batch_size]
                    loss = nn.functional.cross_entropy(self.network(xs[batch]), y[batch])
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
        self.network.eval()
        return self

    def _check_fitted(self):
        if self.network is None:
            raise RuntimeError("Call `fit` before `predict` or `embed`.")

    def predict(self, inputs) -> np.ndarray:
        import torch

        self._check_fitted()
        with torch.no_grad():
            return self.network(self._tensor(inputs)).argmax(dim=-1).numpy()

    def embed(self, inputs) -> np.ndarray:
        import torch

        self._check_fitted()
        with torch.no_grad():
            return self.network[1](self.network[0](self._tensor(inputs))).numpy()


class AudioModelTaskModel:
    """Fine-tunes a speech classification model built by ``model_init(num_classes)`` on waveforms.

    Args:
        model_init (`Callable[[int], torch.nn.Module]`): returns a fresh model for that many classes; called inside
            a seeded RNG context, so its random initialisation is seeded too. Example:
            ``lambda k: ZeroShotForEmotionClassification.from_backbone(path, num_labels=k, num_speakers=0)``.
        learning_rate (`float`, *optional*, defaults to 1e-5): constant AdamW learning rate (paper 003).
        weight_decay (`float`, *optional*, defaults to 0.0): paper 003.
        epochs (`int`, *optional*, defaults to 1): paper 003 trains a single epoch.
        batch_size (`int`, *optional*, defaults to 8): our choice.
        max_grad_norm (`float`, *optional*, defaults to 1.0): gradient clipping (paper 003).
        device (`str`, *optional*): defaults to CUDA when available, else CPU.
    """

    def __init__(
        self,
        model_init: Callable[[int], Any],
        learning_rate: float = 1e-5,
        weight_decay: float = 0.0,
        epochs: int = 1,
        batch_size: int = 8,
        max_grad_norm: float = 1.0,
        device: str | None = None,
    ):
        self.model_init = model_init
        self.learning_rate, self.weight_decay, self.epochs = learning_rate, weight_decay, epochs
        self.batch_size, self.max_grad_norm = batch_size, max_grad_norm
        self.device = device
        self.model = None

    def _batch(self, waveforms: list[np.ndarray]):
        import torch

        length = max(len(w) for w in waveforms)
        values = torch.zeros(len(waveforms), length)
        mask = torch.zeros(len(waveforms), length, dtype=torch.long)
        for k, w in enumerate(waveforms):
            values[k, : len(w)] = torch.as_tensor(w)
            mask[k, : len(w)] = 1
        return values.to(self.device), mask.to(self.device)

    def _forward(self, values, mask, hidden: bool = False):
        params = inspect.signature(self.model.forward).parameters
        var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        kwargs = {"input_values": values}
        if "attention_mask" in params or var_kw:
            kwargs["attention_mask"] = mask
        if hidden and ("output_hidden_states" in params or var_kw):
            kwargs["output_hidden_states"] = True
        return self.model(**kwargs)

    def fit(self, inputs, labels, num_classes: int, seed: int) -> AudioModelTaskModel:
        import torch

        if self.device is None:
            self.device = "cuda" if torch.cuda.is_available() else "cpu"
        labels = np.asarray(labels, dtype=np.int64)
        generator = _seeded_generator(seed)
        with seeded_rngs(seed):
            self.model = self.model_init(num_classes).to(self.device)
            self.model.train()
            optimizer = torch.optim.AdamW(
                [p for p in self.model.parameters() if p.requires_grad],
                lr=self.learning_rate,
                weight_decay=self.weight_decay,
            )
            for _ in range(self.epochs):
                order = torch.randperm(len(labels), generator=generator).tolist()
                for start in range(0, len(order), self.batch_size):
                    batch = order[start : start + self.batch_size]
                    values, mask = self._batch([inputs[i] for i in batch])
                    logits = self._forward(values, mask).logits
                    target = torch.as_tensor(labels[batch], device=self.device)
                    loss = torch.nn.functional.cross_entropy(logits.float(), target)
                    optimizer.zero_grad()
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.max_grad_norm)
                    optimizer.step()
        self.model.eval()
        return self

    def predict(self, inputs) -> np.ndarray:
        import torch

        if self.model is None:
            raise RuntimeError("Call `fit` before `predict`.")
        out = []
        with torch.no_grad():
            for start in range(0, len(inputs), self.batch_size):
                stop = min(start + self.batch_size, len(inputs))
                values, mask = self._batch([inputs[i] for i in range(start, stop)])
                out.append(self._forward(values, mask).logits.argmax(-1).cpu().numpy())
        return np.concatenate(out)

    def embed(self, inputs) -> np.ndarray:
        """One utterance at a time (no padding enters the temporal mean)."""
        import torch

        if self.model is None:
            raise RuntimeError("Call `fit` before `embed`.")
        out = []
        with torch.no_grad():
            for i in range(len(inputs)):
                values, mask = self._batch([inputs[i]])
                output = self._forward(values, mask, hidden=True)
                embedding = getattr(output, "embeddings", None)
                if embedding is None:
                    hidden_states = getattr(output, "hidden_states", None)
                    if not hidden_states:
                        raise ValueError("The model returns neither `embeddings` nor `hidden_states`: cannot embed.")
                    embedding = hidden_states[-1].mean(dim=1)
                out.append(embedding.float().cpu().numpy().reshape(1, -1))
        return np.concatenate(out)
