"""hf_cser: cross-lingual speech emotion recognition for the Hugging Face ecosystem.

Importing the package registers every hf_cser model, config and feature extractor with the transformers Auto classes
(``AutoConfig``, ``AutoModel``, ``AutoFeatureExtractor``, ...), so ``AutoModel.from_pretrained(folder)`` and
``pipeline(...)`` work on saved hf_cser models without ``trust_remote_code``.
"""

__version__ = "0.1.0.dev0"

from . import (
    encoders,  # noqa: E402,F401  (registers the Auto classes)
    models,  # noqa: E402,F401  (registers the Auto classes)
    pipelines,  # noqa: E402,F401  (registers the soundfile audio-classification pipeline)
)
from .labels import EMOTIONS, ID2LABEL, LABEL2ID  # noqa: E402

__all__ = ["EMOTIONS", "ID2LABEL", "LABEL2ID", "__version__", "encoders", "models", "pipelines"]
