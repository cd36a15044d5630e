"""The CTL-MTNet experiment (paper 002, METHODS.md section 3) behind `training_scripts/train_ctl_mtnet.py`:
[`single_corpus_runs`] (k-fold, capsule head) and [`cross_corpus_runs`] (MDD to an unlabelled target, or without),
each run resumable in its own folder; [`run_ctl_mtnet`] runs a protocol as the script does.

```python
>>> from hf_cser.experiments.ctl_mtnet import ModelArguments, ProtocolArguments, run_ctl_mtnet
>>> from hf_cser.trainers import CtlMtNetTrainingArguments
>>> summary = run_ctl_mtnet(ModelArguments(), ProtocolArguments(), CtlMtNetTrainingArguments("outputs/ctl_mtnet"))
```
"""

from .arguments import (
    FINAL_MODEL_DIR,
    PREDICTIONS_NAME,
    RUN_FIELDS,
    RUN_RESULT_NAME,
    SUMMARY_FIELDS,
    TASKS,
    ModelArguments,
    ProtocolArguments,
    parse_seeds,
)
from .data import feature_rows, load_checked, protocol_rows
from .reports import markdown_table, save_final_model, summarize
from .run import run_ctl_mtnet
from .runs import (
    build_model,
    cross_corpus_runs,
    evaluate_rows,
    finish_run,
    finished_run,
    result_row,
    single_corpus_runs,
    train_run,
)

__all__ = [
    "FINAL_MODEL_DIR",
    "PREDICTIONS_NAME",
    "RUN_FIELDS",
    "RUN_RESULT_NAME",
    "SUMMARY_FIELDS",
    "TASKS",
    "ModelArguments",
    "ProtocolArguments",
    "build_model",
    "cross_corpus_runs",
    "evaluate_rows",
    "feature_rows",
    "finish_run",
    "finished_run",
    "load_checked",
    "markdown_table",
    "parse_seeds",
    "protocol_rows",
    "result_row",
    "run_ctl_mtnet",
    "save_final_model",
    "single_corpus_runs",
    "summarize",
    "train_run",
]
