"""Metrics for speech emotion recognition (pure functions) and their offline `evaluate` modules."""

from .classification import (
    compute_ser_metrics,
    confusion_matrix,
    macro_f1,
    make_compute_metrics,
    per_class_recall,
    unweighted_average_recall,
    weighted_average_recall,
)
from .evaluate_modules import METRIC_MODULES, load_metric, metric_module_path
from .predictions import PREDICTION_COLUMNS, read_predictions, write_predictions

__all__ = [
    "METRIC_MODULES",
    "PREDICTION_COLUMNS",
    "compute_ser_metrics",
    "confusion_matrix",
    "load_metric",
    "macro_f1",
    "make_compute_metrics",
    "metric_module_path",
    "per_class_recall",
    "read_predictions",
    "unweighted_average_recall",
    "weighted_average_recall",
    "write_predictions",
]
