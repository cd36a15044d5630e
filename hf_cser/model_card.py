"""Model cards for hf_cser models, rendered offline from the Jinja templates in ``hf_cser/model_cards/``.

Modelled on trl's ``templates/rm_model_card.md`` + ``trainer/utils.py::generate_model_card``: the YAML metadata
(license, tags, base models, datasets, languages and a ``model-index`` with UAR/WAR/macro-F1 per evaluation) is built
with `huggingface_hub.ModelCardData` and `EvalResult`, the prose comes from the method's template.

The templates ship inside the package (``hf_cser/model_cards/<method>.md``, package data), so
``render_model_card(template="sapa", ...)`` works from a wheel; ``template`` may also be a path to your own template.

Example:

```python
>>> from hf_cser.model_card import render_model_card, save_model_card
>>> card = render_model_card(
...     "sapa",
...     model_id="me/sapa-synthetic-en-zh",
...     base_models=["microsoft/wavlm-base-plus"],
...     datasets=["synthetic"],
...     languages=["en", "zh"],
...     eval_results={"synthetic en->zh": {"dataset": "synthetic", "language": "zh", "uar": 0.61, "war": 0.62,
...                                        "macro_f1": 0.60}},
...     data_description="The default hf_cser synthetic corpus (espeak-ng speech).",
... )
>>> save_model_card(card, "outputs/sapa")
```
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from transformers.utils import logging

from .labels import EMOTIONS

logger = logging.get_logger(__name__)

TEMPLATE_DIR = Path(__file__).resolve().parent / "model_cards"
"""Where the method templates live (package data; the repository's top-level ``model_cards/`` points here)."""

BASE_TAGS: tuple[str, ...] = ("hf_cser", "speech-emotion-recognition", "cross-lingual")
METRICS: tuple[tuple[str, str], ...] = (("uar", "UAR"), ("war", "WAR"), ("macro_f1", "Macro-F1"))
"""(key in an eval result, display name) of the metrics written to the ``model-index``."""

SYNTHETIC_DISCLAIMER = (
    "Its training data is the hf_cser synthetic corpus: espeak-ng speech in which emotion is carried only by "
    "prosody rules. It shows that the pipeline works end to end; it is not a model of human emotional speech and "
    "its scores do not predict performance on real recordings."
)

_RESERVED = {
    "card_data",
    "model_name",
    "model_id",
    "base_models",
    "datasets",
    "languages",
    "eval_rows",
    "training_args",
    "hyperparameters",
    "method_citation",
    "data_description",
    "data_is_synthetic",
    "synthetic_disclaimer",
    "seeds",
    "extra",
    "labels",
    "sampling_rate",
    "hf_cser_version",
    "transformers_version",
    "pytorch_version",
    "datasets_version",
    "hub_version",
    "method",
}


def list_model_card_templates() -> list[str]:
    """Names accepted by ``render_model_card(template=...)`` (the ``*.md`` files of :data:`TEMPLATE_DIR`)."""
    return sorted(p.stem for p in TEMPLATE_DIR.glob("*.md"))


def get_model_card_template(template: str | os.PathLike) -> Path:
    """Resolve a template name (``"sapa"``) or a path to a template file.

    Raises:
        FileNotFoundError: neither a known name nor an existing file (the message lists the names).
    """
    text = os.fspath(template)
    candidate = TEMPLATE_DIR / f"{text}.md"
    if os.sep not in text and not text.endswith(".md") and candidate.is_file():
        return candidate
    path = Path(text).expanduser()
    if path.is_file():
        return path
    raise FileNotFoundError(
        f"Model card template {text!r} is neither a known name ({', '.join(list_model_card_templates())}) nor an "
        f"existing file; add `{TEMPLATE_DIR}/<method>.md` or pass the path of your own Jinja template."
    )


def _percent(value: Any) -> str:
    if value is None:
        return "-"
    value = float(value)
    return f"{100.0 * value:.2f}" if -1.0 <= value <= 1.0 else f"{value:.2f}"


def _eval_entries(
    eval_results: Mapping[str, Mapping[str, Any]] | None,
) -> tuple[list[Any], list[dict[str, str]]]:
    """Turn ``{eval_name: {"dataset", "language", "uar", "war", "macro_f1", ["split"]}}`` into `EvalResult`s and
    table rows."""
    from huggingface_hub import EvalResult

    results, rows = [], []
    for name, entry in (eval_results or {}).items():
        if not isinstance(entry, Mapping):
            raise TypeError(f"`eval_results[{name!r}]` must be a dict with dataset/language/uar/war/macro_f1.")
        if "dataset" not in entry:
            raise ValueError(f"`eval_results[{name!r}]` has no `dataset`; give the dataset name, e.g. 'synthetic'.")
        if all(entry.get(key) is None for key, _ in METRICS):
            raise ValueError(f"`eval_results[{name!r}]` has none of {[key for key, _ in METRICS]}.")
        language = entry.get("language")
        split = entry.get("split")
        for key, display in METRICS:
            if entry.get(key) is None:
                continue
            results.append(
                EvalResult(
                    task_type="audio-classification",
                    task_name="Speech Emotion Recognition",
                    dataset_type=str(entry["dataset"]),
                    dataset_name=str(name),
                    dataset_config=str(language) if language else None,
                    dataset_split=str(split) if split else None,
                    metric_type=key,
                    metric_name=display,
                    metric_value=float(entry[key]),
                )
            )
        rows.append(
            {
                "name": str(name),
                "dataset": str(entry["dataset"]),
                "language": str(language) if language else "-",
                "split": str(split) if split else "-",
                **{key: _percent(entry.get(key)) for key, _ in METRICS},
            }
        )
    return results, rows


def _versions() -> dict[str, str]:
    import datasets
    import huggingface_hub
    import torch
    import transformers

    from . import __version__

    return {
        "hf_cser_version": __version__,
        "transformers_version": transformers.__version__,
        "pytorch_version": torch.__version__,
        "datasets_version": datasets.__version__,
        "hub_version": huggingface_hub.__version__,
    }


def render_model_card(
    template: str | os.PathLike = "sapa",
    *,
    model_id: str,
    base_models: Sequence[str] | None = None,
    datasets: Sequence[str] | None = None,
    languages: Sequence[str] | None = None,
    eval_results: Mapping[str, Mapping[str, Any]] | None = None,
    training_args: Mapping[str, Any] | None = None,
    hyperparameters: Mapping[str, Any] | None = None,
    method_citation: str | None = None,
    data_description: str = "",
    seeds: int | None = None,
    extra: Mapping[str, Any] | None = None,
    synthetic: bool | None = None,
    method: str | None = None,
    labels: Sequence[str] = EMOTIONS,
    sampling_rate: int = 16000,
):
    """Render a model card offline (no Hub access) from a method template.

    Args:
        template (`str` or `os.PathLike`, *optional*, defaults to `"sapa"`): a name from
            :func:`list_model_card_templates` or the path of a Jinja template (``{{ card_data }}`` in its YAML header).
        model_id (`str`): the Hub repo id or local name of the model (``model_name`` and the usage snippet).
        base_models (`list[str]`, *optional*): Hub ids of the pretrained encoders (``base_model`` metadata).
        datasets (`list[str]`, *optional*): names of the training datasets (``datasets`` metadata).
        languages (`list[str]`, *optional*): ISO codes of the training languages (``language`` metadata).
        eval_results (`dict`, *optional*): ``{eval_name: {"dataset", "language", "uar", "war", "macro_f1"}}`` (an
            optional ``"split"`` too); fractions in [0, 1] as :func:`~hf_cser.metrics.compute_ser_metrics` returns
            them. Each metric becomes an `EvalResult` of the ``model-index``; the table shows them in percent.
        training_args (`dict`, *optional*): training hyperparameters (learning rate, epochs, batch size...).
        hyperparameters (`dict`, *optional*): the method's hyperparameters (margins, loss weights, tau...).
        method_citation (`str`, *optional*): BibTeX of the method's paper.
        data_description (`str`, *optional*): what the model was trained on; say "synthetic" when it is
            (:func:`hf_cser.data.specs.describe_data_spec` does).
        seeds (`int`, *optional*): how many training seeds the results average over.
        extra (`dict`, *optional*): more template variables; the SAPA template lists them under "Additional
            information". Keys may not shadow the arguments above.
        synthetic (`bool`, *optional*): whether the training data is synthetic; by default detected from
            ``data_description`` and ``datasets`` containing "synthetic". Synthetic data adds a disclaimer.
        method (`str`, *optional*): the method tag; defaults to the template's name.
        labels (`Sequence[str]`, *optional*, defaults to the four emotions): the class names.
        sampling_rate (`int`, *optional*, defaults to 16000): the rate the feature extractor expects.

    Returns:
        `huggingface_hub.ModelCard`.
    """
    from huggingface_hub import ModelCard, ModelCardData

    template_path = get_model_card_template(template)
    method = method or template_path.stem
    extra = dict(extra or {})
    clash = sorted(set(extra) & _RESERVED)
    if clash:
        raise ValueError(f"`extra` keys {clash} shadow arguments of `render_model_card`; rename them.")
    if synthetic is None:
        texts = [data_description or "", *(datasets or [])]
        synthetic = any("synthetic" in str(t).lower() for t in texts)
    if synthetic and "synthetic" not in (data_description or "").lower():
        data_description = (data_description + " " if data_description else "") + "The training data is synthetic."
    results, rows = _eval_entries(eval_results)
    card_data = ModelCardData(
        model_name=model_id,
        base_model=list(base_models) if base_models else None,
        datasets=list(datasets) if datasets else None,
        language=list(languages) if languages else None,
        license="apache-2.0",
        library_name="transformers",
        pipeline_tag="audio-classification",
        tags=[*BASE_TAGS, method],
        metrics=[key for key, _ in METRICS],
        eval_results=results or None,
    )
    return ModelCard.from_template(
        card_data,
        template_path=str(template_path),
        model_name=model_id.split("/")[-1],
        model_id=model_id,
        base_models=list(base_models or []),
        datasets=list(datasets or []),
        languages=list(languages or []),
        eval_rows=rows,
        training_args=dict(training_args or {}),
        hyperparameters=dict(hyperparameters or {}),
        method_citation=(method_citation or "").strip(),
        data_description=data_description or "Not documented.",
        data_is_synthetic=bool(synthetic),
        synthetic_disclaimer=SYNTHETIC_DISCLAIMER,
        seeds=seeds,
        extra=extra,
        labels=list(labels),
        sampling_rate=sampling_rate,
        method=method,
        **_versions(),
        **extra,
    )


def save_model_card(card, output_dir: str | os.PathLike) -> str:
    """Write ``card`` to ``output_dir/README.md`` (creating the folder) and return the path."""
    os.makedirs(output_dir, exist_ok=True)
    path = os.path.join(os.fspath(output_dir), "README.md")
    card.save(path)
    return path


__all__ = [
    "SYNTHETIC_DISCLAIMER",
    "TEMPLATE_DIR",
    "get_model_card_template",
    "list_model_card_templates",
    "render_model_card",
    "save_model_card",
]
