"""The zero-shot cross-lingual protocol of paper 001 (``papers/001_c563226e57dc2b3b.txt``, Section 3, Table 1).

A setting names a source language ``S``, auxiliary non-target languages ``N`` and a target language ``T``. In a
zero-shot system nothing of ``T`` is used before the test: not its rows, not its speakers, not its statistics, not
its validation data for model selection. This module holds the paper's nine settings, the training languages of each
system, the split builder and a leakage check to run before training.

What comes from the paper and what is ours:

- **From Table 1** (printed intact in our copy, except that the arrow in the task names is lost: ``ENDE`` is EN->DE,
  which the Source and Target columns confirm): the nine (source, non-target, target) triples below, non-target
  languages in the printed order, and the sizes in :data:`PAPER_TABLE1_SIZES`. As printed, only DE, FR and CN are
  ever targets, EN is never a target and UR is never a source or a target (it is always non-target). Every setting
  uses all five languages ("one language is selected as the source and another as the target, while the rest serve
  as non-target languages", Section 3.1).
- **Language codes** (ours): the paper's EN, CN, DE, FR, UR map to our ISO 639-1 codes ``en``, ``zh`` (CN is
  Mandarin, the ESD Mandarin subset), ``de``, ``fr``, ``ur``.
- **Systems** (Section 3.2): Baseline 1 is fine-tuned on the source language, Baseline 2 on source + non-target.
  The training data of Proposed and its two ablations is Eq. (1), whose symbols are lost in our copy; we read it as
  ``D_S u D_N`` from the surrounding text ("the union of ... non-target languages", "``D_T`` is not used during
  training"). The names of the two ablations are also lost ("Proposed w/o ,"); the descriptions say one removes the
  supervised contrastive objective and the other the speaker-adversarial objective. Upper bound is "fine-tuned using
  the target-language data ... not a zero-shot setting"; we train it on source + non-target + target (our reading,
  the text does not say whether the other languages are kept).
- **Validation** (ours; the paper does not say how its validation splits are used): validation rows come only from
  the training languages' validation splits, so model selection never sees the target (except for Upper bound).
- **Speakers** (ours): the speaker-adversarial head's speaker-id map is built from the ``train`` split of the
  training languages only, sorted, so target speakers never get an id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from transformers.utils import logging

from .leakage import TargetLeakageError, check_target_disjoint  # noqa: F401  (re-exported)

logger = logging.get_logger(__name__)

PAPER_LANGUAGES: dict[str, str] = {"EN": "en", "CN": "zh", "DE": "de", "FR": "fr", "UR": "ur"}
"""The paper's language abbreviations -> our ISO 639-1 codes (our mapping)."""

BASELINE1 = "baseline1"
BASELINE2 = "baseline2"
PROPOSED = "proposed"
PROPOSED_WO_SCL = "proposed_wo_scl"
PROPOSED_WO_ADVERSARIAL = "proposed_wo_adversarial"
UPPER_BOUND = "upper_bound"

SYSTEMS: dict[str, str] = {
    BASELINE1: "Baseline 1: cross-entropy only, trained on the source language.",
    BASELINE2: "Baseline 2: cross-entropy only, trained on source + non-target languages.",
    PROPOSED: "Proposed: CE + supervised contrastive + speaker adversarial, trained on source + non-target languages.",
    PROPOSED_WO_SCL: "Proposed w/o SCL: CE + speaker adversarial, trained on source + non-target languages.",
    PROPOSED_WO_ADVERSARIAL: "Proposed w/o adversarial: CE + supervised contrastive, trained on source + non-target.",
    UPPER_BOUND: "Upper bound: trained on source + non-target + target languages; explicitly NOT zero-shot.",
}
"""The six systems of Section 3.2 and Table 2, by name."""

ZERO_SHOT_SYSTEMS: tuple[str, ...] = tuple(name for name in SYSTEMS if name != UPPER_BOUND)


def _check_language_code(name: str, value) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"`{name}` must be a non-empty language code such as 'en', got {value!r}.")


@dataclass(frozen=True)
class ZeroShotSetting:
    """One zero-shot cross-lingual setting: train on ``source`` (+ ``non_target``), test on ``target``.

    Args:
        source (`str`): the source language code (e.g. ``"en"``); the encoder is the one pretrained on it.
        target (`str`): the target language code; never used for training in a zero-shot system.
        non_target (`tuple[str, ...]`, *optional*, defaults to `()`): auxiliary non-target language codes.

    Raises:
        ValueError: a code is empty, ``target`` equals ``source`` or is in ``non_target``, or a language repeats.
    """

    source: str
    target: str
    non_target: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self):
        if isinstance(self.non_target, str):
            raise ValueError(f"`non_target` must be a tuple of language codes, got the string {self.non_target!r}.")
        object.__setattr__(self, "non_target", tuple(self.non_target))
        _check_language_code("source", self.source)
        _check_language_code("target", self.target)
        for code in self.non_target:
            _check_language_code("non_target", code)
        if self.target == self.source:
            raise ValueError(f"`target` {self.target!r} equals `source`; a cross-lingual setting needs two languages.")
        if self.target in self.non_target:
            raise ValueError(
                f"`target` {self.target!r} is also in `non_target` {list(self.non_target)}; remove it from "
                "`non_target`."
            )
        if self.source in self.non_target:
            raise ValueError(
                f"`source` {self.source!r} is also in `non_target` {list(self.non_target)}; remove it from "
                "`non_target`."
            )
        duplicates = sorted({code for code in self.non_target if self.non_target.count(code) > 1})
        if duplicates:
            raise ValueError(f"`non_target` {list(self.non_target)} repeats {duplicates}; list each language once.")

    @property
    def name(self) -> str:
        """``"<source>-><target>"``, e.g. ``"en->de"``."""
        return f"{self.source}->{self.target}"

    @property
    def languages(self) -> tuple[str, ...]:
        """All languages of the setting: source, non-target, target."""
        return (self.source, *self.non_target, self.target)


def _paper(source: str, non_target: str, target: str) -> ZeroShotSetting:
    return ZeroShotSetting(
        source=PAPER_LANGUAGES[source],
        target=PAPER_LANGUAGES[target],
        non_target=tuple(PAPER_LANGUAGES[code.strip()] for code in non_target.split(",")),
    )


PAPER_SETTINGS: tuple[ZeroShotSetting, ...] = (
    # Table 1 rows, in the printed order: task, source, non-target, target.
    _paper("EN", "CN, UR, FR", "DE"),
    _paper("CN", "EN, UR, FR", "DE"),
    _paper("FR", "EN, CN, UR", "DE"),
    _paper("EN", "CN, DE, UR", "FR"),
    _paper("CN", "EN, DE, UR", "FR"),
    _paper("DE", "EN, CN, UR", "FR"),
    _paper("EN", "DE, UR, FR", "CN"),
    _paper("DE", "EN, UR, FR", "CN"),
    _paper("FR", "EN, DE, UR", "CN"),
)
"""The nine settings of the paper's Table 1, with our language codes."""

PAPER_TABLE1_SIZES: dict[str, tuple[int, int]] = {
    "en->de": (20165, 288),
    "zh->de": (20165, 288),
    "fr->de": (20165, 288),
    "en->fr": (20011, 286),
    "zh->fr": (20011, 286),
    "de->fr": (20011, 286),
    "en->zh": (9231, 288),
    "de->zh": (9231, 288),
    "fr->zh": (9231, 288),
}
"""``(#Samples, #Spk)`` of the training data per setting, as printed in Table 1 (for reference only)."""


def get_paper_setting(name: str) -> ZeroShotSetting:
    """The Table 1 setting called ``name``: ``"en->de"``, ``"EN->DE"``, ``"EN→DE"`` or the printed ``"ENDE"``."""
    key = name.strip().replace("→", "->")
    if "->" not in key and len(key) == 4:
        key = f"{key[:2]}->{key[2:]}"
    parts = [part.strip() for part in key.split("->")]
    codes = [PAPER_LANGUAGES.get(part.upper(), part.lower()) for part in parts]
    for setting in PAPER_SETTINGS:
        if [setting.source, setting.target] == codes:
            return setting
    raise ValueError(f"`name` {name!r} is not a Table 1 setting; choose one of {[s.name for s in PAPER_SETTINGS]}.")


def _check_system(system: str) -> None:
    if system not in SYSTEMS:
        raise ValueError(f"`system` {system!r} is unknown; choose one of {list(SYSTEMS)}.")


def training_languages(setting: ZeroShotSetting, system: str) -> tuple[str, ...]:
    """The languages whose ``train``/``validation`` splits ``system`` uses in ``setting``.

    ``baseline1``: the source only. ``baseline2``, ``proposed``, ``proposed_wo_scl``, ``proposed_wo_adversarial``:
    source + non-target. ``upper_bound``: source + non-target + target (not zero-shot; see the module docstring).
    """
    _check_system(system)
    if system == BASELINE1:
        return (setting.source,)
    if system == UPPER_BOUND:
        return (setting.source, *setting.non_target, setting.target)
    return (setting.source, *setting.non_target)


def _merge_language_dicts(per_language: Mapping[str, object]):
    """One DatasetDict from ``{language: DatasetDict}``: every split concatenated over the languages."""
    from datasets import DatasetDict, concatenate_datasets

    splits: dict[str, list] = {}
    for language_dict in per_language.values():
        for split, dataset in language_dict.items():
            splits.setdefault(split, []).append(dataset)
    return DatasetDict({split: concatenate_datasets(parts) for split, parts in splits.items()})


def _rows_of(dataset_dict, split: str, languages: Iterable[str], setting: ZeroShotSetting, role: str):
    if split not in dataset_dict:
        raise ValueError(
            f"Setting {setting.name}: the data has no `{split}` split (it has {list(dataset_dict)}); "
            f"the {role} needs it."
        )
    dataset = dataset_dict[split]
    wanted = set(languages)
    kept = dataset.filter(lambda lang: lang in wanted, input_columns="language", keep_in_memory=True)
    present = set(kept.unique("language")) if len(kept) else set()
    missing = [code for code in languages if code not in present]
    if missing:
        raise ValueError(
            f"Setting {setting.name}: split `{split}` has no rows of language(s) {missing} needed for the {role}; "
            f"it has {sorted(set(dataset.unique('language'))) if len(dataset) else '(no rows)'}."
        )
    return kept


def build_zero_shot_splits(data, setting: ZeroShotSetting, system: str):
    """Build the train/validation/test splits of ``system`` in ``setting``, and the speaker-id map.

    Args:
        data (`datasets.DatasetDict` or `Mapping[str, datasets.DatasetDict]`): either one DatasetDict in the hf_cser
            schema holding all languages, or ``{language_code: DatasetDict}``. Rows are always selected by their
            ``language`` column.
        setting (`ZeroShotSetting`): the setting, e.g. one of :data:`PAPER_SETTINGS`.
        system (`str`): one of :data:`SYSTEMS`.

    Returns:
        `tuple[datasets.DatasetDict, dict[str, int]]`: ``{"train", "validation", "test"}`` where train and
        validation hold the :func:`training_languages`' ``train``/``validation`` rows and test holds the target's
        ``test`` rows; and ``speaker2id``, the sorted speakers of the ``train`` split -> ids ``0..n-1`` (the labels of
        the speaker-adversarial head).

    Raises:
        ValueError: a split or a needed language is missing (a training language without ``validation`` rows is
            allowed and logged).
        TargetLeakageError: target rows or speakers reached train/validation of a zero-shot system (e.g. a target
            speaker filed under another language).
    """
    from datasets import DatasetDict

    _check_system(system)
    if not isinstance(data, DatasetDict) and isinstance(data, Mapping):
        data = _merge_language_dicts(data)
    languages = training_languages(setting, system)

    train = _rows_of(data, "train", languages, setting, "train split")
    wanted = set(languages)
    if "validation" not in data:
        raise ValueError(f"Setting {setting.name}: the data has no `validation` split (it has {list(data)}).")
    validation = data["validation"].filter(lambda lang: lang in wanted, input_columns="language", keep_in_memory=True)
    found = set(validation.unique("language")) if len(validation) else set()
    if found != wanted:
        logger.info(f"Setting {setting.name}: no validation rows for {sorted(wanted - found)}.")
    test = _rows_of(data, "test", (setting.target,), setting, "target test split")

    speaker2id = {speaker: i for i, speaker in enumerate(sorted(set(train["speaker"])))}
    splits = DatasetDict({"train": train, "validation": validation, "test": test})
    check_no_target_leakage(
        setting, system, train=train, validation=validation, speaker_map=speaker2id, target_speakers=test["speaker"]
    )
    return splits, speaker2id


def _leaked_rows(component: str, dataset, target: str, target_speakers: set[str]) -> list[str]:
    problems = []
    languages = dataset["language"] if len(dataset) else []
    count = sum(1 for lang in languages if lang == target)
    if count:
        problems.append(f"{component} contains {count} rows of target language {target!r}")
    if target_speakers and len(dataset):
        speakers = [s for s, lang in zip(dataset["speaker"], languages, strict=True) if lang != target]
        leaked = sorted({s for s in speakers if s in target_speakers})
        if leaked:
            problems.append(
                f"{component} contains {len(leaked)} target speaker(s) under other language labels: {leaked[:5]}"
            )
    return problems


def _leaked_languages(component: str, languages, target: str) -> list[str]:
    if languages is None:
        return []
    languages = [languages] if isinstance(languages, str) else list(languages)
    if target in languages:
        return [f"{component} include target language {target!r} (got {sorted(set(map(str, languages)))})"]
    return []


def check_no_target_leakage(
    setting: ZeroShotSetting,
    system: str,
    *,
    train=None,
    validation=None,
    sampler_languages=None,
    speaker_map: Mapping[str, int] | Iterable[str] | None = None,
    normalization_languages=None,
    selection_languages=None,
    target_speakers: Iterable[str] | None = None,
) -> None:
    """Raise if anything of the target language reached a zero-shot system; do nothing for ``upper_bound``.

    Pass whatever the run uses; every argument left as `None` is not checked.

    Args:
        setting (`ZeroShotSetting`): the setting.
        system (`str`): one of :data:`SYSTEMS`.
        train (`datasets.Dataset`, *optional*): the training rows (``language`` and ``speaker`` columns).
        validation (`datasets.Dataset`, *optional*): the rows used for model selection / early stopping.
        sampler_languages (`Iterable[str]`, *optional*): languages the batch sampler draws from (e.g. the sampler's
            ``languages``).
        speaker_map (`Mapping[str, int]` or `Iterable[str]`, *optional*): speakers of the speaker-adversarial head.
        normalization_languages (`Iterable[str]`, *optional*): languages whose audio fed feature-normalisation
            statistics (mean/std).
        selection_languages (`Iterable[str]`, *optional*): languages whose scores choose checkpoints or
            hyperparameters.
        target_speakers (`Iterable[str]`, *optional*): the target language's (test) speakers; when given, these
            speakers must not appear in ``train``, ``validation`` or ``speaker_map``.

    Raises:
        TargetLeakageError: every leak found, each naming the component and the language or speakers.
    """
    _check_system(system)
    if system == UPPER_BOUND:
        return
    target = setting.target
    speakers = set(target_speakers) if target_speakers is not None else set()
    problems: list[str] = []
    if train is not None:
        problems += _leaked_rows("train", train, target, speakers)
    if validation is not None:
        problems += _leaked_rows("validation (model selection)", validation, target, speakers)
    problems += _leaked_languages("sampler languages", sampler_languages, target)
    problems += _leaked_languages("normalization statistics languages", normalization_languages, target)
    problems += _leaked_languages("selection languages", selection_languages, target)
    if speaker_map is not None:
        mapped = set(speaker_map)
        leaked = sorted(mapped & speakers)
        if leaked:
            problems.append(f"speaker map contains {len(leaked)} target speaker(s): {leaked[:5]}")
        if train is not None:
            seen = set(train["speaker"]) if len(train) else set()
            if validation is not None and len(validation):
                seen |= set(validation["speaker"])
            unknown = sorted(mapped - seen - speakers)
            if unknown:
                problems.append(
                    f"speaker map contains {len(unknown)} speaker(s) not in the training data (possibly target "
                    f"speakers): {unknown[:5]}"
                )
    if problems:
        raise TargetLeakageError(
            f"Target leakage in zero-shot setting {setting.name} (system `{system}`): " + "; ".join(problems) + "."
        )
