"""Local `evaluate` modules for our metrics, loadable without the Hub.

``evaluate.load("recall")`` downloads a script from the Hub, which is not reachable offline. hf_cser ships its
metrics as local module scripts inside the package; :func:`load_metric` hands their path to ``evaluate.load``::

    >>> from hf_cser.metrics import load_metric
    >>> uar = load_metric("uar")
    >>> uar.compute(predictions=[0, 1, 1, 3], references=[0, 1, 2, 3])["uar"]
    0.75
"""

from __future__ import annotations

from pathlib import Path

METRIC_MODULES: tuple[str, ...] = ("uar", "war", "macro_f1", "ser_metrics")


def metric_module_path(name: str) -> str:
    """Path of the local module script for metric ``name`` (one of :data:`METRIC_MODULES`)."""
    if name not in METRIC_MODULES:
        raise ValueError(f"unknown metric {name!r}; hf_cser ships {list(METRIC_MODULES)}.")
    return str(Path(__file__).parent / "modules" / name / f"{name}.py")


def load_metric(name: str, **kwargs):
    """``evaluate.load`` of one of our local metric modules (works with ``HF_HUB_OFFLINE=1``)."""
    import evaluate

    return evaluate.load(metric_module_path(name), **kwargs)


def _metric_class_base():
    """Build the shared `evaluate.Metric` base lazily (evaluate and datasets are imported only when needed)."""
    import datasets
    import evaluate

    from .classification import compute_ser_metrics

    class SerEvaluationModule(evaluate.Metric):
        """Base of the local modules: ``metric_key`` picks one score, or ``None`` returns the full report."""

        metric_key: str | None = None
        description = "Speech emotion recognition metrics (hf_cser)."

        def _info(self):
            return evaluate.MetricInfo(
                description=self.description,
                citation="",
                inputs_description=(
                    "predictions: predicted class ids; references: true class ids; languages (optional, keyword of "
                    "`compute`): the language of each sample for a per-language breakdown."
                ),
                features=datasets.Features(
                    {"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}
                ),
            )

        def _compute(self, predictions, references, languages=None):
            report = compute_ser_metrics(references, predictions, languages)
            if self.metric_key is None:
                return report
            out = {self.metric_key: report[self.metric_key]}
            if languages is not None:
                out["per_language"] = {lang: s[self.metric_key] for lang, s in report["per_language"].items()}
            return out

    return SerEvaluationModule


_BASE = None


def metric_base():
    """The cached `evaluate.Metric` base class the module scripts in ``modules/`` subclass."""
    global _BASE
    if _BASE is None:
        _BASE = _metric_class_base()
    return _BASE
