"""The CLTM experiment (paper 003, METHODS.md section 4) behind `training_scripts/run_cltm.py`: [`load_cltm_inputs`]
(corpus table and cached utterance inputs) and [`run_cltm`] (dynamic interval, matrix runs, matrix, diagnostics,
figures). The method itself (protocol, matrix, diagnostics, task models) is `hf_cser.cltm`.

```python
>>> from hf_cser.experiments.cltm import ModelArguments, OutputArguments, ProtocolArguments, run_cltm
>>> outcome = run_cltm(ProtocolArguments(task="ser"), ModelArguments(), OutputArguments(output_dir="outputs/cltm"))
```
"""

from .arguments import (
    DEFAULT_GRIDS,
    ModelArguments,
    OutputArguments,
    ProtocolArguments,
    build_model_factory,
    parse_ints,
    resolve_speaker_normalization,
)
from .run import load_cltm_inputs, run_cltm

__all__ = [
    "DEFAULT_GRIDS",
    "ModelArguments",
    "OutputArguments",
    "ProtocolArguments",
    "build_model_factory",
    "load_cltm_inputs",
    "parse_ints",
    "resolve_speaker_normalization",
    "run_cltm",
]
