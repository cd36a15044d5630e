"""``load_corpus("synthetic", DIR)``: the espeak-ng synthetic corpus, registered next to the real ones."""

from __future__ import annotations

import os

from .registry import register_corpus


@register_corpus(
    "synthetic",
    languages=(),
    description="the synthetic multilingual corpus written by `hf-cser synth` (hf_cser.data.synthetic)",
    expected="the output folder of `hf-cser synth --output DIR`",
)
def load_synthetic(data_dir: str | os.PathLike):
    """Load a corpus written by :func:`hf_cser.data.synthetic.synthesize_corpus` (imported lazily).

    Args:
        data_dir (`str` or `os.PathLike`): the folder given to ``synthesize_corpus`` / ``hf-cser synth --output``.
    """
    from ..synthetic import load_synthetic_corpus

    return load_synthetic_corpus(data_dir)
