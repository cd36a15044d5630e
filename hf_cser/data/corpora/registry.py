"""The corpus registry: every loader registers itself by name at import, and :func:`load_corpus` dispatches to it.

Names are matched ignoring case, ``-`` and ``_`` (``EMO-DB``, ``emo_db`` and ``emodb`` are the same corpus).
"""

from __future__ import annotations

import inspect
import os
import re
from collections.abc import Callable
from dataclasses import dataclass

from transformers.utils import logging

logger = logging.get_logger(__name__)


@dataclass(frozen=True)
class CorpusSpec:
    """A registered corpus.

    Args:
        name (`str`): canonical name (the ``corpus`` column value and the key of
            :data:`hf_cser.labels.CORPUS_LABEL_MAPS`).
        loader (`Callable`): ``loader(data_dir, **options) -> datasets.DatasetDict``.
        languages (`tuple[str, ...]`): language codes of the corpus.
        description (`str`): one line for ``list_corpora`` and error messages.
        expected (`str`): an example of the layout ``data_dir`` must contain.
        aliases (`tuple[str, ...]`, *optional*): other accepted names.
    """

    name: str
    loader: Callable
    languages: tuple[str, ...]
    description: str
    expected: str
    aliases: tuple[str, ...] = ()


CORPUS_REGISTRY: dict[str, CorpusSpec] = {}
_NAME_INDEX: dict[str, str] = {}


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def register_corpus(
    name: str,
    *,
    languages: tuple[str, ...],
    description: str,
    expected: str,
    aliases: tuple[str, ...] = (),
):
    """Decorator registering a loader under ``name`` (and ``aliases``); rejects invalid and duplicate names."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", name):
        raise ValueError(f"Corpus name {name!r} must be lowercase letters, digits and '-'.")

    def decorator(loader: Callable) -> Callable:
        for alias in (name, *aliases):
            key = _key(alias)
            if key in _NAME_INDEX:
                raise ValueError(f"Corpus name {alias!r} is already registered (for {_NAME_INDEX[key]!r}).")
        spec = CorpusSpec(name, loader, tuple(languages), description, expected, tuple(aliases))
        CORPUS_REGISTRY[name] = spec
        for alias in (name, *aliases):
            _NAME_INDEX[_key(alias)] = name
        return loader

    return decorator


def list_corpora() -> list[str]:
    """Names accepted by :func:`load_corpus`, sorted (the real corpora, ``manifest`` and ``synthetic``)."""
    return sorted(CORPUS_REGISTRY)


def get_corpus_spec(name: str) -> CorpusSpec:
    """The :class:`CorpusSpec` of ``name``; `ValueError` listing the known names when unknown."""
    canonical = _NAME_INDEX.get(_key(name))
    if canonical is None:
        raise ValueError(f"Unknown corpus {name!r}; known corpora: {', '.join(list_corpora())}.")
    return CORPUS_REGISTRY[canonical]


def load_corpus(name: str, data_dir: str | os.PathLike, return_report: bool = False, **options):
    """Load a corpus, as its owners distribute it, into the hf_cser schema.

    Args:
        name (`str`): a name from :func:`list_corpora` (``emodb``, ``esd``, ``msp-podcast``, ``manifest``...).
        data_dir (`str` or `os.PathLike`): the corpus root folder (for ``manifest``, the CSV file).
        return_report (`bool`, *optional*, defaults to `False`): also return the
            :class:`~hf_cser.data.corpora.CorpusLoadReport` (kept and dropped counts).
        options: loader options, e.g. ``seed=0``, ``language="zh"`` for ESD; see each loader's docstring.

    Returns:
        `datasets.DatasetDict` (and the report when ``return_report``). The report is also stored in each split's
        ``info.description`` (read it with :func:`~hf_cser.data.corpora.get_load_report`).

    Example:

    ```python
    >>> from hf_cser.data import load_corpus
    >>> dataset = load_corpus("emodb", "/data/emodb", seed=0)
    >>> dataset["train"][0]["speaker"]
    'emodb_03'
    ```
    """
    from .report import get_load_report

    spec = get_corpus_spec(name)
    parameters = inspect.signature(spec.loader).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        valid = [n for n, p in parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY]
        unknown = sorted(set(options) - set(valid))
        if unknown:
            raise ValueError(f"{spec.name}: unknown option(s) {unknown}; the loader accepts {valid}.")
    dataset_dict = spec.loader(data_dir, **options)
    if return_report:
        return dataset_dict, get_load_report(dataset_dict)
    return dataset_dict
