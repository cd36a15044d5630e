"""hf_cser local evaluate module `uar`: unweighted average recall.

Unweighted average recall (macro recall, balanced accuracy) over the classes in the references.

Load it offline with `hf_cser.metrics.load_metric("uar")` (or `evaluate.load(<path of this file>)`).
"""

import hf_cser.metrics.evaluate_modules as _hf_cser_metrics


class UAR(_hf_cser_metrics.metric_base()):
    metric_key = "uar"
    description = "Unweighted average recall (macro recall, balanced accuracy) over the classes in the references."
