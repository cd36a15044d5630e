"""Per-term loss logging shared by the hf_cser trainers (trl ``RewardTrainer`` / sentence-transformers pattern).

A trainer that mixes in :class:`LossComponentLoggingMixin` records every loss term of a step in ``self._metrics``
(``{"train": {...}, "eval": {...}}``) from its ``compute_loss``; :meth:`~LossComponentLoggingMixin.log` emits their
means over the logging interval (``eval_``-prefixed, or the ``metric_key_prefix``, during evaluation) and ``predict``
adds them to its metrics.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn


class LossComponentLoggingMixin:
    """Mixin for `transformers.Trainer` subclasses whose ``compute_loss`` records loss terms.

    Subclasses call :meth:`_init_loss_component_logs` after ``Trainer.__init__`` and
    :meth:`_record_loss_components` (or append to ``self._metrics[mode][name]`` directly) in ``compute_loss``.
    ``auxiliary_keys`` lists the batch keys the model's forward does not take (dropped when predicting without
    labels).
    """

    auxiliary_keys: tuple[str, ...] = ()

    def _init_loss_component_logs(self) -> None:
        self._metrics: dict[str, dict[str, list[float]]] = {"train": defaultdict(list), "eval": defaultdict(list)}

    def _record_loss_components(self, mode: str, values: dict[str, torch.Tensor | float]) -> None:
        """Average scalar terms over processes (one gather per step) and store them for :meth:`log`."""
        names = list(values)
        tensors = [v for v in values.values() if torch.is_tensor(v)]
        device = tensors[0].device if tensors else self.args.device
        dtype = torch.float32 if device.type == "mps" else torch.float64
        stacked = torch.stack(
            [torch.as_tensor(values[n], device=device).detach().to(dtype).reshape(()) for n in names]
        )
        gathered = self.accelerator.gather(stacked.unsqueeze(0)).reshape(-1, len(names)).cpu()  # (world, K)
        means = gathered.mean(dim=0)
        for i, name in enumerate(names):
            self._metrics[mode][name].append(means[i].item())

    # ---- evaluation ----

    def prediction_step(
        self,
        model: nn.Module,
        inputs: dict[str, torch.Tensor | Any],
        prediction_loss_only: bool,
        ignore_keys: list[str] | None = None,
    ) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
        """Loss (the full objective), logits and labels, so `compute_metrics` gets plain ``(B, C)`` logits.

        The embeddings the model also returns are not gathered; batches without ``labels`` (prediction on unlabelled
        data) only run the model.
        """
        inputs = self._prepare_inputs(inputs)
        labels = inputs.get("labels")
        with torch.no_grad(), self.compute_loss_context_manager():
            if labels is not None:
                loss, outputs = self.compute_loss(model, inputs, return_outputs=True)
                loss = loss.detach()
            else:
                outputs = model(**{k: v for k, v in inputs.items() if k not in self.auxiliary_keys})
                loss = None
        if prediction_loss_only:
            return loss, None, None
        logits = outputs["logits"] if isinstance(outputs, Mapping) else outputs[1 if labels is not None else 0]
        return loss, logits.detach(), labels

    def evaluate(
        self,
        eval_dataset: Any | None = None,
        ignore_keys: list[str] | None = None,
        metric_key_prefix: str = "eval",
    ) -> dict[str, float]:
        self._metrics["eval"].clear()  # drop anything a `predict` call left behind
        self._eval_prefix = metric_key_prefix
        try:
            return super().evaluate(
                eval_dataset=eval_dataset, ignore_keys=ignore_keys, metric_key_prefix=metric_key_prefix
            )
        finally:
            self._eval_prefix = "eval"

    def predict(self, test_dataset: Any, ignore_keys: list[str] | None = None, metric_key_prefix: str = "test"):
        """As [`~transformers.Trainer.predict`], plus the loss terms' means in the metrics (``test_ce_loss``, ...)."""
        self._metrics["eval"].clear()
        output = super().predict(test_dataset, ignore_keys=ignore_keys, metric_key_prefix=metric_key_prefix)
        for key, values in self._metrics["eval"].items():
            if values:
                output.metrics[f"{metric_key_prefix}_{key}"] = sum(values) / len(values)
        self._metrics["eval"].clear()
        return output

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        mode = "train" if self.model.training else "eval"
        metrics = {key: sum(val) / len(val) for key, val in self._metrics[mode].items() if val}  # interval means
        # During evaluation the keys in `logs` start with "eval_" (or the `metric_key_prefix`); match that format.
        if mode == "eval":
            prefix = getattr(self, "_eval_prefix", "eval")
            metrics = {f"{prefix}_{key}": val for key, val in metrics.items()}
        logs.update(metrics)
        super().log(logs, start_time)
        self._metrics[mode].clear()
