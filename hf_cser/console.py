"""Console output of the training scripts: one progress bar per long stage (with its ETA), no library bars in between,
and a readable summary line at the end.

- transformers draws a bar each time it writes or reads weights ("Writing model shards" at every checkpoint, "Loading
  weights" at every `from_pretrained`) and `datasets` one for every small `map` / `filter` / save ("Map:",
  "Filter:", "Saving the dataset"); in a training run they print lines between the Trainer's bar and the stage
  bars. :func:`quiet_library_progress_bars` turns both off (their own switches); set ``HF_CSER_LIBRARY_BARS=1`` to
  keep them.
- hf_cser's own stage bars go through :func:`progress_bar` (tqdm: count, rate and ETA), which
  :func:`set_progress_bars` turns off for a whole run (the scripts' ``--disable_tqdm``).
- :func:`summary_line` formats the human-readable last words of a run (the scripts print it before their final JSON
  line).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

_PROGRESS_BARS = {"enabled": True}


def quiet_library_progress_bars() -> bool:
    """Turn off transformers' weight-reading/-writing bars and datasets' map / filter / save bars unless
    ``HF_CSER_LIBRARY_BARS=1``; returns whether they are off."""
    if os.environ.get("HF_CSER_LIBRARY_BARS", "") in ("1", "true", "yes"):
        return False
    import datasets
    from transformers.utils import logging

    logging.disable_progress_bar()
    datasets.disable_progress_bars()
    return True


def set_progress_bars(enabled: bool) -> None:
    """Turn hf_cser's own progress bars on or off for the rest of the process (a script's ``--disable_tqdm``)."""
    _PROGRESS_BARS["enabled"] = bool(enabled)


def progress_bars_enabled() -> bool:
    """Whether hf_cser's progress bars are on (:func:`set_progress_bars`)."""
    return _PROGRESS_BARS["enabled"]


def progress_bar(iterable: Iterable | None = None, *, desc: str, disable: bool = False, **kwargs: Any):
    """A tqdm bar (count, rate, ETA) for one long stage; off when `disable` or when :func:`set_progress_bars` turned
    hf_cser's bars off."""
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, disable=disable or not progress_bars_enabled(), **kwargs)


def summary_line(method: str, seconds: float, metrics: Mapping[str, float | None], output_dir: str) -> str:
    """``"<method> finished in 3.2 min: target UAR 45.2, WAR 47.0, macro-F1 44.1 (%); outputs in <dir>"``; metrics
    in [0, 1] are shown in %, `None` ones are left out."""
    minutes = seconds / 60.0
    took = f"{minutes:.1f} min" if minutes >= 1 else f"{seconds:.0f} s"
    shown = ", ".join(f"{name} {100 * value:.1f}" for name, value in metrics.items() if value is not None)
    return f"{method} finished in {took}" + (f": {shown} (%)" if shown else "") + f"; outputs in {output_dir}"


__all__ = [
    "progress_bar",
    "progress_bars_enabled",
    "quiet_library_progress_bars",
    "set_progress_bars",
    "summary_line",
]
