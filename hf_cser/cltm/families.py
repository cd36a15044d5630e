"""Language families for the CLTM's intra-family statistic and the family-ordered heatmap.

hf_cser ships a table (``hf_cser/cltm/language_families.json``: ISO code -> name, family, branch) covering about 110
languages, among them every language of the synthetic corpus and of the paper's Common Voice selection. Users
override it with their own JSON (the same shape, or a flat ``{code: family}`` mapping) or a Python mapping.

Grouping levels: ``branch`` (default, as the paper's released code: ``"Indo-European (Germanic)"``, so English and
German share a family, English and French do not) or ``family`` (``"Indo-European"``). A code not in the table is
looked up by its base subtag (``zh-TW`` -> ``zh``); a language still unknown is its own family (it never counts as
intra-family) and a warning names it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

from transformers.utils import logging

logger = logging.get_logger(__name__)

FAMILY_TABLE_FILE = "language_families.json"
FAMILY_LEVELS = ("branch", "family")


def _read_table(source: str | os.PathLike | Mapping[str, Any] | None) -> Mapping[str, Any]:
    if source is None:
        text = resources.files(__package__).joinpath(FAMILY_TABLE_FILE).read_text(encoding="utf-8")
        return json.loads(text)
    if isinstance(source, Mapping):
        return source
    path = os.fspath(source)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Language-family table {path!r} not found: pass a JSON file or a mapping.")
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def load_language_families(
    source: str | os.PathLike | Mapping[str, Any] | None = None, level: str = "branch"
) -> dict[str, str]:
    """Read a language-family table into ``{code: family label}``.

    Args:
        source (`str`, `os.PathLike` or mapping, *optional*): ``None`` for the shipped table; a JSON path or a
            mapping either of the shipped shape (``{"languages": {code: {"family": ..., "branch": ...}}}``) or flat
            (``{code: family}``).
        level (`str`, *optional*, defaults to `"branch"`): ``branch`` or ``family`` (module docstring).

    Returns:
        `dict[str, str]`: code -> family label.
    """
    if level not in FAMILY_LEVELS:
        raise ValueError(f"`level` must be one of {FAMILY_LEVELS}, got {level!r}.")
    table = _read_table(source)
    entries = table.get("languages", table)
    families = {}
    for code, value in entries.items():
        if code.startswith("_"):
            continue
        if isinstance(value, str):
            families[code] = value
            continue
        if not isinstance(value, Mapping) or "family" not in value:
            raise ValueError(f"Language-family entry {code!r} must be a string or have a `family` key, got {value!r}.")
        branch = value.get("branch")
        families[code] = f"{value['family']} ({branch})" if level == "branch" and branch else str(value["family"])
    return families


def language_family(code: str, families: Mapping[str, str]) -> str | None:
    """The family label of ``code`` (exact code, then its base subtag); ``None`` when unknown."""
    if code in families:
        return families[code]
    base = code.replace("_", "-").split("-")[0]
    return families.get(base, families.get(base.lower()))


def family_labels(languages: Sequence[str], families: Mapping[str, str] | None = None, warn: bool = True) -> list[str]:
    """One family label per language; an unknown language gets the label ``"unknown:<code>"`` (its own family)."""
    families = load_language_families() if families is None else families
    labels, unknown = [], []
    for code in languages:
        family = language_family(code, families)
        if family is None:
            unknown.append(code)
            family = f"unknown:{code}"
        labels.append(family)
    if unknown and warn:
        logger.warning(f"No language family for {unknown}: each counts as its own family. Pass a family table.")
    return labels


def order_by_family(languages: Sequence[str], families: Mapping[str, str] | None = None) -> list[str]:
    """Languages grouped by family (families in order of first appearance, languages kept in their given order
    within a family), as the rows and columns of the heatmap."""
    labels = family_labels(languages, families, warn=False)
    first = {}
    for position, label in enumerate(labels):
        first.setdefault(label, position)
    order = sorted(range(len(languages)), key=lambda k: (first[labels[k]], k))
    return [languages[k] for k in order]
