"""The zero-shot cross-lingual SER experiment (paper 001, METHODS.md section 2) behind
`training_scripts/train_zero_shot.py`: [`run_zero_shot`] runs a grid of settings x systems x seeds ([`ZeroShotGrid`]
trains one run after the protocol's leakage checks); [`summarize`] / [`markdown_table`] make the results table.

```python
>>> from hf_cser.experiments.zero_shot import ModelArguments, ProtocolArguments, run_zero_shot
>>> from hf_cser.trainers import ZeroShotTrainingArguments
>>> rows = run_zero_shot(ModelArguments(), ProtocolArguments(), ZeroShotTrainingArguments("outputs/zero_shot"))
```
"""

from .arguments import (
    PREDICTIONS_NAME,
    RUN_FIELDS,
    SYSTEM_LOSSES,
    ModelArguments,
    ProtocolArguments,
    parse_language_backbones,
    parse_list,
    user_settings,
)
from .backbones import (
    feature_extractor_for,
    frozen_copy,
    group_normalized_frames,
    peft_options,
    resolve_backbone,
    resolve_backbone_layer,
)
from .reports import (
    append_run,
    embeddings_of,
    identical_run_key,
    markdown_table,
    plot_tsne,
    read_finished,
    run_folder,
    run_resume_checkpoint,
    save_run_folder,
    summarize,
)
from .run import ZeroShotGrid, run_zero_shot

__all__ = [
    "PREDICTIONS_NAME",
    "RUN_FIELDS",
    "SYSTEM_LOSSES",
    "ModelArguments",
    "ProtocolArguments",
    "ZeroShotGrid",
    "append_run",
    "embeddings_of",
    "feature_extractor_for",
    "frozen_copy",
    "group_normalized_frames",
    "identical_run_key",
    "markdown_table",
    "parse_language_backbones",
    "parse_list",
    "peft_options",
    "plot_tsne",
    "read_finished",
    "resolve_backbone",
    "resolve_backbone_layer",
    "run_folder",
    "run_resume_checkpoint",
    "run_zero_shot",
    "save_run_folder",
    "summarize",
    "user_settings",
]
