"""Loaders of real emotional speech corpora, as their owners distribute them, into the hf_cser schema.

Each loader registers itself at import (:func:`~hf_cser.data.corpora.registry.register_corpus`);
:func:`load_corpus` dispatches by name and :func:`list_corpora` lists the names. Loaders map labels to the four
classes, count what they drop (:class:`CorpusLoadReport`, also stored in each split's ``info.description``), parse
speakers and genders from the documented naming, and use the official split where there is one.

Example:

```python
>>> from hf_cser.data import list_corpora, load_corpus
>>> dataset, report = load_corpus("esd", "/data/ESD", language="en", return_report=True)
>>> print(report.summary())
```
"""

from . import (  # noqa: F401  (registration at import)
    cafe,
    casia,
    emodb,
    esd,
    iemocap,
    manifest,
    meld,
    msp,
    ravdess,
    savee,
    synthetic,
    turev,
    urdu,
)
from .layout import CorpusLayoutError
from .registry import CORPUS_REGISTRY, CorpusSpec, get_corpus_spec, list_corpora, load_corpus, register_corpus
from .report import CorpusLoadReport, get_load_report

__all__ = [
    "CORPUS_REGISTRY",
    "CorpusLayoutError",
    "CorpusLoadReport",
    "CorpusSpec",
    "get_corpus_spec",
    "get_load_report",
    "list_corpora",
    "load_corpus",
    "register_corpus",
]
