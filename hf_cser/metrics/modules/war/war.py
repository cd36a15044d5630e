"""hf_cser local evaluate module `war`: Weighted average recall (accuracy).

Load it offline with `hf_cser.metrics.load_metric("war")` (or `evaluate.load(<path of this file>)`).
"""

import hf_cser.metrics.evaluate_modules as _hf_cser_metrics


class WAR(_hf_cser_metrics.metric_base()):
    metric_key = "war"
    description = "Weighted average recall (accuracy)."
