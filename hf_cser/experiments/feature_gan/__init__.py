"""The feature-GAN experiment (paper 004, METHODS.md section 5) behind `training_scripts/train_feature_gan.py`:
[`prepare_data`] (cached audio inputs, frozen transcript embeddings, protocol checks), [`run_stage1`] /
[`run_stage2`] / [`run_stage3`] (each saved as a Hub-style folder with a card), [`run_grid`] (the paper's Table 3,
resumable) and [`run_feature_gan`] (one run as the script does it).

```python
>>> from hf_cser.experiments.feature_gan import DataArguments, ModelArguments, RunArguments, run_feature_gan
>>> results = run_feature_gan(ModelArguments(), DataArguments(), RunArguments(output_dir="outputs/feature_gan"))
```
"""

from .arguments import (
    AUDIO_ONLY_TEXT_SIZE,
    PREDICTIONS_NAME,
    SPLITS,
    STAGE_DIRS,
    DataArguments,
    ModelArguments,
    RunArguments,
    parse_sizes,
)
from .data import PreparedData, audio_inputs, prepare_data, resolve_text_encoder
from .grid import GRID_VARIANTS, plot_real_vs_generated, run_grid, summarize_grid, summarize_mutual_information
from .run import control_predictions_name, finished_stage, run_feature_gan, run_records
from .stages import FeatureStore, run_stage1, run_stage2, run_stage3

__all__ = [
    "AUDIO_ONLY_TEXT_SIZE",
    "GRID_VARIANTS",
    "PREDICTIONS_NAME",
    "SPLITS",
    "STAGE_DIRS",
    "DataArguments",
    "FeatureStore",
    "ModelArguments",
    "PreparedData",
    "RunArguments",
    "audio_inputs",
    "control_predictions_name",
    "finished_stage",
    "parse_sizes",
    "plot_real_vs_generated",
    "prepare_data",
    "resolve_text_encoder",
    "run_feature_gan",
    "run_grid",
    "run_records",
    "run_stage1",
    "run_stage2",
    "run_stage3",
    "summarize_grid",
    "summarize_mutual_information",
]
