"""Console output of the training scripts: one progress bar per long stage, no library bars in between.

transformers draws a bar each time it writes or reads weights ("Writing model shards" at every checkpoint, "Loading
weights" at every `from_pretrained`), which, in a training run, prints a line per epoch between the Trainer's own bar
and our stage bars. :func:`quiet_library_progress_bars` turns those off (transformers' own switch,
`transformers.utils.logging.disable_progress_bar`); the Trainer's training bar and hf_cser's stage bars (tqdm) stay.
Set ``HF_CSER_LIBRARY_BARS=1`` to keep them.
"""

from __future__ import annotations

import os


def quiet_library_progress_bars() -> bool:
    """Turn off transformers' weight-reading/-writing bars unless ``HF_CSER_LIBRARY_BARS=1``; returns whether they
    are off."""
    if os.environ.get("HF_CSER_LIBRARY_BARS", "") in ("1", "true", "yes"):
        return False
    from transformers.utils import logging

    logging.disable_progress_bar()
    return True


__all__ = ["quiet_library_progress_bars"]
