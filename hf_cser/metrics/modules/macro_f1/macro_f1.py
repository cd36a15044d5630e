"""hf_cser local evaluate module `macro_f1`: Macro-F1 over the classes present in references or predictions.

Load it offline with `hf_cser.metrics.load_metric("macro_f1")` (or `evaluate.load(<path of this file>)`).
"""

import hf_cser.metrics.evaluate_modules as _hf_cser_metrics


class MacroF1(_hf_cser_metrics.metric_base()):
    metric_key = "macro_f1"
    description = "Macro-F1 over the classes present in references or predictions."
