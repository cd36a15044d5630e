"""The SAPA experiment (paper 000, METHODS.md section 1) behind `training_scripts/train_sapa.py`, the library's main
job: [`prepare_sapa_run`] (checked data, frozen encoders, cached window features), [`run_sapa`] (graphs, training,
evaluation, analyses, model folder) and [`run_analyses`] (the paper's Tables 1, 2, 3, 5 and Fig. 1).

```python
>>> from hf_cser.experiments.sapa import DataArguments, ModelArguments, run_sapa
>>> from hf_cser.trainers import SapaTrainingArguments
>>> summary = run_sapa(ModelArguments(), DataArguments(), SapaTrainingArguments("outputs/sapa"))
```
"""

from .analyses import run_analyses, utterance_speaker_embeddings, window_length
from .arguments import (
    DEFAULT_OUTPUT_DIR,
    PREDICTIONS_NAME,
    DataArguments,
    ModelArguments,
    resolve_content_layer,
    resolve_feature_normalization,
    resolve_tau_quantile,
)
from .run import SapaRunData, prepare_sapa_run, resolve_encoders, run_sapa, save_sapa_card, split_metrics

__all__ = [
    "DEFAULT_OUTPUT_DIR",
    "PREDICTIONS_NAME",
    "DataArguments",
    "ModelArguments",
    "SapaRunData",
    "prepare_sapa_run",
    "resolve_content_layer",
    "resolve_encoders",
    "resolve_feature_normalization",
    "resolve_tau_quantile",
    "run_analyses",
    "run_sapa",
    "save_sapa_card",
    "split_metrics",
    "utterance_speaker_embeddings",
    "window_length",
]
