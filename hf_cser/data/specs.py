"""Data specs: one short string that names a dataset, shared by every ``--train_data`` / ``--eval_data`` flag of the
training scripts and by ``hf-cser evaluate --data``.

Grammar (see :data:`DATA_SPEC_HELP`):

- ``synthetic``: the default synthetic corpus (``SyntheticCorpusConfig()``), rendered on first use into
  ``$HF_HOME/hf_cser/synthetic/<fingerprint>`` and reused afterwards;
- ``synthetic:en`` / ``synthetic:en,de``: only those languages of the default synthetic corpus;
- ``synthetic@DIR`` / ``synthetic:zh@DIR``: a synthetic corpus folder written by ``hf-cser synth --output DIR``
  (optionally filtered by language);
- ``corpus:NAME:DIR`` / ``corpus:NAME:DIR:LANGS``: any :func:`~hf_cser.data.load_corpus` name (``emodb``, ``esd``,
  ``msp-podcast``, ``manifest``...) and its folder, optionally filtered by comma-separated languages;
- ``PATH.csv``: a CSV manifest (``load_corpus("manifest", PATH)``);
- ``DIR``: a folder holding a `DatasetDict` saved with ``save_to_disk`` (or a synthetic corpus folder).

Example:

```python
>>> from hf_cser.data.specs import load_data_spec, describe_data_spec
>>> dataset = load_data_spec("synthetic:en,de")
>>> describe_data_spec("corpus:emodb:/data/emodb")
'the `emodb` corpus loaded from /data/emodb'
```
"""

from __future__ import annotations

import inspect
import os
import re
from dataclasses import dataclass

from transformers.utils import logging

logger = logging.get_logger(__name__)

DATA_SPEC_HELP = """\
a data spec, one of:
  synthetic                  the default synthetic corpus (generated on first use, then cached)
  synthetic:en,de            only these languages of the default synthetic corpus
  synthetic@DIR              a synthetic corpus folder (`hf-cser synth --output DIR`)
  synthetic:zh@DIR           ... only its `zh` utterances
  corpus:NAME:DIR            a corpus loaded with `load_corpus(NAME, DIR)` (emodb, esd, msp-podcast, manifest, ...)
  corpus:NAME:DIR:LANGS      ... only the comma-separated languages LANGS
  PATH.csv                   a CSV manifest (columns path,emotion,language,speaker[,corpus,gender,transcript,split])
  DIR                        a folder holding a DatasetDict saved with `save_to_disk`
examples: `synthetic:en`, `corpus:emodb:/data/emodb`, `corpus:esd:/data/ESD:en,zh`, `my_data.csv`,
`corpus_saved_by_hf_cser_corpus/`"""

_LANGUAGE = r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,4})?"
_LANGUAGE_LIST = re.compile(rf"{_LANGUAGE}(?:\s*,\s*{_LANGUAGE})*")


class DataSpecError(ValueError):
    """A data spec that cannot be parsed or loaded; the message shows the grammar with examples."""


def _spec_error(spec: str, problem: str) -> DataSpecError:
    return DataSpecError(f"Data spec {spec!r}: {problem}\nExpected {DATA_SPEC_HELP}")


@dataclass(frozen=True)
class DataSpec:
    """A parsed data spec (see :func:`parse_data_spec`).

    Args:
        kind (`str`): ``synthetic`` (the default synthetic corpus), ``synthetic_dir``, ``corpus``, ``manifest`` or
            ``disk``.
        spec (`str`): the original string.
        path (`str`, *optional*): the folder or file (``None`` for the default synthetic corpus).
        name (`str`, *optional*): the corpus name of ``corpus:NAME:...``.
        languages (`tuple[str, ...]`, *optional*): the language filter (``None``: every language).
    """

    kind: str
    spec: str
    path: str | None = None
    name: str | None = None
    languages: tuple[str, ...] | None = None


def _parse_languages(spec: str, text: str) -> tuple[str, ...]:
    text = text.strip()
    if not _LANGUAGE_LIST.fullmatch(text):
        raise _spec_error(spec, f"{text!r} is not a comma-separated list of language codes such as `en` or `en,de`.")
    return tuple(code.strip() for code in text.split(","))


def parse_data_spec(spec: str | os.PathLike) -> DataSpec:
    """Parse a data spec into a :class:`DataSpec` without touching any file content.

    Raises:
        DataSpecError: the spec matches no form of the grammar (the message shows it with examples).
    """
    if isinstance(spec, os.PathLike):
        spec = os.fspath(spec)
    if not isinstance(spec, str) or not spec.strip():
        raise _spec_error(str(spec), "the spec is empty.")
    spec = spec.strip()
    if spec == "synthetic" or spec.startswith(("synthetic:", "synthetic@")):
        body, _, folder = spec[len("synthetic") :].partition("@")
        if "@" in spec and not folder:
            raise _spec_error(spec, "nothing follows `@`; give the synthetic corpus folder, e.g. `synthetic@DIR`.")
        languages = None
        if body:
            if not body.startswith(":") or not body[1:]:
                raise _spec_error(spec, "after `synthetic` write `:LANGS`, `@DIR` or `:LANGS@DIR`.")
            languages = _parse_languages(spec, body[1:])
        if folder:
            return DataSpec("synthetic_dir", spec, path=os.path.expanduser(folder), languages=languages)
        return DataSpec("synthetic", spec, languages=languages)
    if spec.startswith("corpus:"):
        name, _, rest = spec[len("corpus:") :].partition(":")
        if not name or not rest:
            raise _spec_error(spec, "`corpus:` needs a corpus name and its folder: `corpus:NAME:DIR`.")
        languages = None
        head, sep, tail = rest.rpartition(":")
        # `corpus:NAME:DIR:LANGS`; a DIR that itself exists with a colon in its name wins over the language reading
        if sep and head and _LANGUAGE_LIST.fullmatch(tail.strip()) and not os.path.exists(os.path.expanduser(rest)):
            rest, languages = head, _parse_languages(spec, tail)
        return DataSpec("corpus", spec, path=os.path.expanduser(rest), name=name, languages=languages)
    if spec.lower().endswith(".csv"):
        return DataSpec("manifest", spec, path=os.path.expanduser(spec), name="manifest")
    path = os.path.expanduser(spec)
    if os.path.isdir(path):
        if os.path.isfile(os.path.join(path, "synthetic_config.json")):
            return DataSpec("synthetic_dir", spec, path=path)
        return DataSpec("disk", spec, path=path)
    if os.path.exists(path):
        raise _spec_error(spec, f"'{path}' is a file but not a `.csv` manifest.")
    if os.sep in spec or spec.startswith("."):
        raise _spec_error(spec, f"the folder '{path}' does not exist.")
    raise _spec_error(spec, "unknown spec (not `synthetic...`, `corpus:...`, a `.csv` file or an existing folder).")


def synthetic_cache_dir(config=None) -> str:
    """Where the default synthetic corpus is cached: ``$HF_HOME/hf_cser/synthetic/<fingerprint>``.

    ``HF_HOME`` defaults to ``$XDG_CACHE_HOME/huggingface`` (``~/.cache/huggingface``), as in huggingface_hub.
    """
    from .synthetic import SyntheticCorpusConfig

    config = config if config is not None else SyntheticCorpusConfig()
    hf_home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache"), "huggingface"
    )
    return os.path.join(os.path.expanduser(hf_home), "hf_cser", "synthetic", config.fingerprint())


def _load_default_synthetic(synthetic_dir, synthetic_config, num_proc: int):
    import json

    from .synthetic import CONFIG_FILE, SyntheticCorpusConfig, load_synthetic_corpus, synthesize_corpus

    if synthetic_dir is not None:
        synthetic_dir = os.path.expanduser(os.fspath(synthetic_dir))
        state = None
        if os.path.isfile(os.path.join(synthetic_dir, CONFIG_FILE)):
            with open(os.path.join(synthetic_dir, CONFIG_FILE), encoding="utf-8") as f:
                state = json.load(f)
        if synthetic_config is None and state is not None and state.get("complete"):
            # the user pointed at an existing corpus: use it as it is, whatever its config
            logger.info(f"Using the synthetic corpus in {synthetic_dir} (fingerprint {state.get('fingerprint')}).")
            return load_synthetic_corpus(synthetic_dir)
        if state is None and os.path.isdir(synthetic_dir) and os.listdir(synthetic_dir):
            raise FileExistsError(
                f"`synthetic_dir` {synthetic_dir!r} is not empty and holds no synthetic corpus ({CONFIG_FILE} is "
                "missing); give an empty or new folder, or one written by `hf-cser synth --output DIR`."
            )
    config = synthetic_config if synthetic_config is not None else SyntheticCorpusConfig()
    target = synthetic_dir if synthetic_dir is not None else synthetic_cache_dir(config)
    logger.info(f"Loading the synthetic corpus from {target} (generated on first use).")
    return synthesize_corpus(config, target, num_proc=num_proc, progress=True)


def _load_synthetic_dir(spec: DataSpec):
    from .synthetic import load_synthetic_corpus

    if not os.path.isdir(spec.path):
        raise _spec_error(
            spec.spec,
            f"the synthetic corpus folder '{spec.path}' does not exist; create it with "
            f"`hf-cser synth --output {spec.path}`.",
        )
    return load_synthetic_corpus(spec.path)


def _load_from_disk(spec: DataSpec):
    from datasets import DatasetDict, load_from_disk

    if not os.path.isfile(os.path.join(spec.path, "dataset_dict.json")):
        if os.path.isfile(os.path.join(spec.path, "state.json")):
            raise _spec_error(
                spec.spec,
                f"'{spec.path}' holds a single `Dataset`, not a `DatasetDict`; save "
                "`DatasetDict({'train': ..., 'test': ...})` with `save_to_disk`, or name its split in a manifest.",
            )
        raise _spec_error(
            spec.spec,
            f"the folder '{spec.path}' holds no `DatasetDict` (no dataset_dict.json); save one with "
            "`DatasetDict.save_to_disk` or `hf-cser corpus NAME DATA_DIR --output DIR`, or use `corpus:NAME:DIR` "
            "for a corpus as its owners distribute it.",
        )
    dataset = load_from_disk(spec.path)
    if not isinstance(dataset, DatasetDict):
        raise _spec_error(spec.spec, f"'{spec.path}' holds a {type(dataset).__name__}, not a `DatasetDict`.")
    return dataset


def _load_corpus(spec: DataSpec, seed: int):
    from .corpora import get_corpus_spec, load_corpus

    try:
        corpus = get_corpus_spec(spec.name)
    except ValueError as err:
        raise _spec_error(spec.spec, str(err)) from None
    if not os.path.exists(spec.path):
        raise _spec_error(spec.spec, f"'{spec.path}' does not exist; {corpus.name} expects {corpus.expected}.")
    options = {}
    parameters = inspect.signature(corpus.loader).parameters
    if "seed" in parameters or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        options["seed"] = seed
    return load_corpus(corpus.name, spec.path, **options)


def available_languages(dataset_dict) -> list[str]:
    """The sorted language codes present in any split of ``dataset_dict``."""
    found: set[str] = set()
    for dataset in dataset_dict.values():
        if "language" in dataset.column_names and len(dataset):
            found.update(dataset.unique("language"))
    return sorted(found)


def filter_languages(dataset_dict, languages, spec: str = "<dataset>"):
    """Keep only the rows of ``languages`` in every split; a split left empty is kept (empty) and logged.

    Raises:
        DataSpecError: a requested language is in no split (the message lists the available ones).
    """
    from datasets import DatasetDict

    languages = tuple(languages)
    available = available_languages(dataset_dict)
    missing = [code for code in languages if code not in available]
    if missing:
        raise DataSpecError(
            f"Data spec {spec!r}: language(s) {missing} are not in the data; available languages: "
            f"{', '.join(available) or '(none)'}."
        )
    wanted = set(languages)
    out = {}
    for split, dataset in dataset_dict.items():
        kept = dataset.filter(lambda lang: lang in wanted, input_columns="language", keep_in_memory=True)
        if len(dataset) and not len(kept):
            logger.info(f"Data spec {spec!r}: split `{split}` has no utterance in {sorted(wanted)}; it is kept empty.")
        out[split] = kept
    return DatasetDict(out)


def load_data_spec(
    spec: str | os.PathLike,
    *,
    seed: int = 0,
    synthetic_dir: str | os.PathLike | None = None,
    num_proc: int = 1,
    synthetic_config=None,
):
    """Load the `DatasetDict` (hf_cser schema) a data spec names.

    Args:
        spec (`str`): see :data:`DATA_SPEC_HELP` (``synthetic``, ``synthetic:en,de``, ``synthetic:zh@DIR``,
            ``corpus:NAME:DIR[:LANGS]``, ``PATH.csv``, ``DIR``).
        seed (`int`, *optional*, defaults to 0): seed of the speaker-independent split of corpora without an
            official split (passed to loaders that take a ``seed``). It does not change the default synthetic
            corpus, which is the same for every run so that runs with different seeds see the same data.
        synthetic_dir (`str` or `os.PathLike`, *optional*): folder of the default synthetic corpus (``synthetic``,
            ``synthetic:LANGS``) instead of ``$HF_HOME/hf_cser/synthetic/<fingerprint>``. A folder that already
            holds a complete synthetic corpus is used as it is (whatever its config); otherwise the corpus is
            generated there.
        num_proc (`int`, *optional*, defaults to 1): worker processes when the synthetic corpus is generated.
        synthetic_config (:class:`~hf_cser.data.SyntheticCorpusConfig`, *optional*): the config of the "default"
            synthetic corpus (defaults to ``SyntheticCorpusConfig()``); our addition, for small experiments and tests.

    Returns:
        `datasets.DatasetDict` with the corpus's splits (``train``/``validation``/``test``); with a language filter,
        splits left without rows are kept empty.

    Raises:
        DataSpecError: malformed or unknown spec, missing folder or file, or a language the data does not have.
    """
    parsed = parse_data_spec(spec)
    if parsed.kind == "synthetic":
        dataset = _load_default_synthetic(synthetic_dir, synthetic_config, num_proc)
    elif parsed.kind == "synthetic_dir":
        dataset = _load_synthetic_dir(parsed)
    elif parsed.kind == "corpus":
        dataset = _load_corpus(parsed, seed)
    elif parsed.kind == "manifest":
        if not os.path.isfile(parsed.path):
            raise _spec_error(parsed.spec, f"the manifest '{parsed.path}' does not exist.")
        dataset = _load_corpus(parsed, seed)
    else:
        dataset = _load_from_disk(parsed)
    if parsed.languages is not None:
        dataset = filter_languages(dataset, parsed.languages, parsed.spec)
    return dataset


def is_synthetic_spec(spec: str | os.PathLike) -> bool:
    """Whether the spec names synthetic data (the synthetic corpus, or a folder/corpus named ``synthetic``)."""
    try:
        parsed = parse_data_spec(spec)
    except DataSpecError:
        return False
    return parsed.kind in ("synthetic", "synthetic_dir") or (parsed.name or "").lower() == "synthetic"


def describe_data_spec(spec: str | os.PathLike) -> str:
    """A short human description of a data spec for model cards and logs; says "synthetic" for synthetic data.

    Reads no data (only checks whether a folder is a synthetic corpus).
    """
    parsed = parse_data_spec(spec)
    languages = f" (languages: {', '.join(parsed.languages)})" if parsed.languages else ""
    if parsed.kind == "synthetic":
        return f"the default hf_cser synthetic corpus (espeak-ng speech, emotion carried by prosody){languages}"
    if parsed.kind == "synthetic_dir":
        return f"a hf_cser synthetic corpus (espeak-ng speech) from {parsed.path}{languages}"
    if parsed.kind == "corpus":
        if parsed.name.lower() == "synthetic":
            return f"a hf_cser synthetic corpus (espeak-ng speech) from {parsed.path}{languages}"
        return f"the `{parsed.name}` corpus loaded from {parsed.path}{languages}"
    if parsed.kind == "manifest":
        return f"the CSV manifest {parsed.path}"
    return f"the DatasetDict saved in {parsed.path}"


__all__ = [
    "DATA_SPEC_HELP",
    "DataSpec",
    "DataSpecError",
    "available_languages",
    "describe_data_spec",
    "filter_languages",
    "is_synthetic_spec",
    "load_data_spec",
    "parse_data_spec",
    "synthetic_cache_dir",
]
