"""hf_cser local evaluate module `ser_metrics`: all SER metrics.

UAR, WAR, macro-F1, per-class recall, confusion matrix and per-language breakdown.

Load it offline with `hf_cser.metrics.load_metric("ser_metrics")` (or `evaluate.load(<path of this file>)`).
"""

import hf_cser.metrics.evaluate_modules as _hf_cser_metrics


class SerMetrics(_hf_cser_metrics.metric_base()):
    metric_key = None
    description = "UAR, WAR, macro-F1, per-class recall, confusion matrix and per-language breakdown."
