"""A shared cross-lingual vowel inventory, maps from language phone sets to it, and phoneme-centred windows.

SAPA (``papers/000``, section 2.3, Table 2) compares phoneme embeddings across corpora on vowels both corpora share:
/i/, /E/, /@/, /A,a/, /O/, /u/. Phone sets differ per language and per aligner, so every phone is first mapped to
that inventory:

- :data:`SHARED_VOWELS` = ``("i", "E", "@", "a", "O", "u")`` (SAMPA-like names; ``"a"`` is the paper's /A,a/).
  Our choice: the paper's six classes only. Finer classes (/e/ vs /E/, /o/ vs /O/, /y/) would split the few
  vowels two languages share (English has no /y/, Mandarin no /e/-/E/ contrast), so nearby vowels are merged:
  close front (i, I, y, Y) -> ``i``; mid front (e, E, 2/oe, 9/OE) -> ``E``; central and reduced (@, 3, V, 6, ER)
  -> ``@``; open (a, A, ae) -> ``a``; mid back (o, O, 0) -> ``O``; close back (u, U) -> ``u``. Nasal and long
  vowels map to their oral short class. Diphthongs map to their nucleus (``aI`` -> ``a``, ``eI`` -> ``E``, Mandarin
  ``ia`` -> ``a``) unless ``diphthongs=False``. Syllabic consonants and Mandarin apical vowels (``zhi``, ``si``)
  map to ``None``.
- schemes: ``"espeak"`` (espeak-ng mnemonics as emitted in phoneme events, per language: en, zh/cmn, de, fr, ur,
  plus a symbol-based fallback for the other espeak languages), ``"arpabet"`` (CMUdict/TIMIT, stress digits),
  ``"pinyin"`` (Mandarin finals or whole syllables, tone digits or tone marks) and ``"ipa"`` (MFA's IPA phone sets).

Windows: :func:`phoneme_windows` cuts one fixed-length window centred on each phone's midpoint (120 ms for the
analysis, 240 ms for training: SAPA section 3.1); :func:`voiced_energy_peaks` finds syllable nuclei for audio
without alignments, and :func:`centred_windows` cuts windows around any centre times.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

SHARED_VOWELS: tuple[str, ...] = ("i", "E", "@", "a", "O", "u")
"""The shared vowel inventory (SAPA Table 2), in table order; ``"a"`` stands for the paper's /A,a/."""

SHARED_VOWEL_LABELS: dict[str, str] = {"i": "/i/", "E": "/E/", "@": "/@/", "a": "/A,a/", "O": "/O/", "u": "/u/"}
"""How the paper writes each shared vowel (for tables and plots)."""

PHONE_SCHEMES: tuple[str, ...] = ("espeak", "arpabet", "pinyin", "ipa")

WINDOW_MS_ANALYSIS = 120.0
"""Phoneme-centred window for the phoneme-commonality analysis (SAPA section 2.3, paper value)."""
WINDOW_MS_TRAINING = 240.0
"""Phoneme-centred window for training the phoneme anchoring loss (SAPA section 3.1, paper value)."""

# --------------------------------------------------------------------------------------------------------------------
# espeak-ng mnemonics. Monophthongs and diphthongs (nucleus) per espeak voice; stress marks are stripped before
# lookup. Tables list what espeak-ng 1.5x emits for these voices (checked on sample sentences), anything else goes
# through the symbol fallback.
# --------------------------------------------------------------------------------------------------------------------

_ESPEAK_GENERIC: dict[str, str] = {
    "i": "i",
    "I": "i",
    "y": "i",
    "I#": "i",
    "i#": "i",
    "I2": "i",
    "e": "E",
    "E": "E",
    "Y": "E",
    "W": "E",
    "E2": "E",
    "e#": "E",
    "E#": "E",
    "@": "@",
    "3": "@",
    "V": "@",
    "6": "@",
    "@-": "@",
    "@2": "@",
    "@5": "@",
    "a#": "@",
    "@r": "@",
    "3:": "@",
    "o-": "@",
    "a": "a",
    "A": "a",
    "&": "a",
    "a.": "a",
    "A.": "a",
    "o": "O",
    "O": "O",
    "0": "O",
    "u": "u",
    "U": "u",
}
_ESPEAK_DIPHTHONGS_GENERIC: dict[str, str] = {
    "aI": "a",
    "aU": "a",
    "ai": "a",
    "au": "a",
    "eI": "E",
    "ei": "E",
    "e@": "E",
    "oU": "O",
    "OI": "O",
    "OY": "O",
    "oi": "O",
    "ou": "O",
    "i@": "i",
    "i@3": "i",
    "U@": "u",
    "u@": "u",
    "aI@": "a",
    "aU@": "a",
    "aI3": "a",
    "aU3": "a",
    "o@": "O",
    "O@": "O",
    "A@": "a",
    "eu": "E",
    "Ui": "u",
    "ui": "u",
}

_ESPEAK_LANG: dict[str, tuple[dict[str, str | None], dict[str, str]]] = {
    # English (en-gb default voice and en-us): "a" is the TRAP vowel, "0" LOT, "V" STRUT (-> @ like ARPAbet AH).
    "en": (
        {
            "i": "i",
            "i:": "i",
            "I": "i",
            "I2": "i",
            "I#": "i",
            "E": "E",
            "E2": "E",
            "a": "a",
            "A:": "a",
            "A": "a",
            "0": "O",
            "O:": "O",
            "O": "O",
            "V": "@",
            "U": "u",
            "u:": "u",
            "u": "u",
            "@": "@",
            "@2": "@",
            "@5": "@",
            "3": "@",
            "3:": "@",
            "a#": "@",
            "@L": None,
            "@n": None,
        },
        {
            "aI": "a",
            "aU": "a",
            "aI@": "a",
            "aU@": "a",
            "aI3": "a",
            "A@": "a",
            "eI": "E",
            "e@": "E",
            "oU": "O",
            "OI": "O",
            "o@": "O",
            "O@": "O",
            "i@": "i",
            "i@3": "i",
            "U@": "u",
        },
    ),
    # Mandarin (espeak voice "cmn"); tones are not part of espeak's mnemonics. "i." and "i[" are the apical
    # vowels of zhi/chi/shi/ri and zi/ci/si (no shared class). Rising diphthongs map to the main vowel.
    "zh": (
        {
            "a": "a",
            "A": "a",
            "o": "O",
            "o-": "@",
            "@": "@",
            "@r": "@",
            "i": "i",
            "u": "u",
            "u:": "u",
            "y": "i",
            "yi": "i",
            "E": "E",
            "i.": None,
            "i[": None,
        },
        {
            "ai": "a",
            "Au": "a",
            "ei": "E",
            "ou": "O",
            "ong": "u",
            "iA": "a",
            "ia": "a",
            "iE": "E",
            "iou": "O",
            "iAu": "a",
            "ua": "a",
            "uA": "a",
            "uo": "O",
            "uai": "a",
            "u@": "@",
            "yE": "E",
            "y&": "E",
            "y@": "i",
        },
    ),
    # German: "3" is the vocalised -er [6]; "y/y:" ue, "Y:" long oe, "W" short oe.
    "de": (
        {
            "a": "a",
            "a:": "a",
            "A:": "a",
            "E": "E",
            "E:": "E",
            "e": "E",
            "e:": "E",
            "I": "i",
            "i": "i",
            "i:": "i",
            "O": "O",
            "o": "O",
            "o:": "O",
            "U": "u",
            "u": "u",
            "u:": "u",
            "y": "i",
            "y:": "i",
            "Y": "i",
            "Y:": "E",
            "W": "E",
            "@": "@",
            "3": "@",
        },
        {"aI": "a", "aU": "a", "OY": "O"},
    ),
    # French: "Y" is [o/], "W" [oe]; "~" nasal vowels map to their oral class.
    "fr": (
        {
            "a": "a",
            "A": "a",
            "e": "E",
            "E": "E",
            "i": "i",
            "o": "O",
            "O": "O",
            "u": "u",
            "y": "i",
            "Y": "E",
            "W": "E",
            "@": "@",
            "@-": "@",
            "A~": "a",
            "E~": "E",
            "O~": "O",
            "W~": "E",
            "o~": "O",
            "e~": "E",
        },
        {},
    ),
    # Urdu: "a" short a, "a:" long aa, "V" [@]-like short vowel, "e~"/"u~" nasalised.
    "ur": (
        {
            "a": "a",
            "a:": "a",
            "V": "@",
            "@": "@",
            "I": "i",
            "i": "i",
            "i:": "i",
            "U": "u",
            "u": "u",
            "u:": "u",
            "e": "E",
            "e:": "E",
            "E": "E",
            "E:": "E",
            "o": "O",
            "o:": "O",
            "O": "O",
            "O:": "O",
            "e~": "E",
            "E~": "E",
            "a~": "a",
            "a:~": "a",
            "i~": "i",
            "i:~": "i",
            "u~": "u",
            "u:~": "u",
            "o~": "O",
            "o:~": "O",
        },
        {"aI": "a", "aU": "a", "Ei": "E", "Eu": "E"},
    ),
}
_ESPEAK_LANGUAGE_ALIASES = {"cmn": "zh", "zh-cn": "zh", "zh-tw": "zh", "en-us": "en", "en-gb": "en", "yue": "zh"}

# --------------------------------------------------------------------------------------------------------------------
# ARPAbet (CMUdict 39 phones + TIMIT extensions). AH covers both STRUT and schwa -> @.
# --------------------------------------------------------------------------------------------------------------------
_ARPABET: dict[str, str] = {
    "IY": "i",
    "IH": "i",
    "IX": "i",
    "EH": "E",
    "AE": "a",
    "AA": "a",
    "AH": "@",
    "AX": "@",
    "AX-H": "@",
    "AXH": "@",
    "ER": "@",
    "AXR": "@",
    "AO": "O",
    "UH": "u",
    "UW": "u",
    "UX": "u",
}
_ARPABET_DIPHTHONGS: dict[str, str] = {"AY": "a", "AW": "a", "EY": "E", "OW": "O", "OY": "O"}

# --------------------------------------------------------------------------------------------------------------------
# Pinyin finals ("v" = u-umlaut; spellings after y/w and j/q/x are normalised before lookup). Monophthong finals
# (also with a nasal coda) vs finals with a glide (mapped to the main vowel).
# --------------------------------------------------------------------------------------------------------------------
_PINYIN: dict[str, str | None] = {
    "a": "a",
    "o": "O",
    "e": "@",
    "ê": "E",
    "er": "@",
    "i": "i",
    "u": "u",
    "v": "i",
    "an": "a",
    "ang": "a",
    "en": "@",
    "eng": "@",
    "ong": "u",
    "in": "i",
    "ing": "i",
    "vn": "i",
    "un": "@",
    "ii": None,
    "iii": None,
    "-i": None,
    "ix": None,
    "iy": None,
    "ih": None,
    "io": "O",
}
_PINYIN_DIPHTHONGS: dict[str, str] = {
    "ai": "a",
    "ei": "E",
    "ao": "a",
    "ou": "O",
    "ia": "a",
    "ie": "E",
    "iao": "a",
    "iu": "O",
    "iou": "O",
    "ian": "E",
    "iang": "a",
    "iong": "u",
    "ua": "a",
    "uo": "O",
    "uai": "a",
    "ui": "E",
    "uei": "E",
    "uan": "a",
    "uen": "@",
    "uang": "a",
    "ueng": "@",
    "ve": "E",
    "ue": "E",
    "van": "E",
}
_PINYIN_INITIALS: tuple[str, ...] = (
    "zh",
    "ch",
    "sh",
    "b",
    "p",
    "m",
    "f",
    "d",
    "t",
    "n",
    "l",
    "g",
    "k",
    "h",
    "j",
    "q",
    "x",
    "r",
    "z",
    "c",
    "s",
)

# --------------------------------------------------------------------------------------------------------------------
# IPA (MFA's dictionaries): the first vowel symbol decides; length, nasality, tone and stress marks are stripped.
# --------------------------------------------------------------------------------------------------------------------
_IPA_VOWELS: dict[str, str] = {
    "i": "i",
    "ɪ": "i",
    "y": "i",
    "ʏ": "i",
    "ɨ": "i",
    "ʉ": "u",
    "e": "E",
    "ɛ": "E",
    "ø": "E",
    "œ": "E",
    "ɘ": "@",
    "ɵ": "@",
    "ə": "@",
    "ɚ": "@",
    "ɜ": "@",
    "ɝ": "@",
    "ɐ": "@",
    "ʌ": "@",
    "ɤ": "@",
    "ɞ": "@",
    "a": "a",
    "æ": "a",
    "ɑ": "a",
    "ɒ": "O",
    "ɶ": "a",
    "o": "O",
    "ɔ": "O",
    "u": "u",
    "ʊ": "u",
    "ɯ": "u",
}
_IPA_GLIDE_FIRST = ("j", "w", "ɥ")
_IPA_STRIP = "ˈˌːˑ̯̩̥̰̤̃̆ʰʲʷ˞˥˦˧˨˩0123456789"

_STRESS_MARKS = "'ˈ,ˌ%="


def _strip_espeak(phone: str) -> str:
    return phone.strip().lstrip(_STRESS_MARKS)


def _espeak_lookup(phone: str, language: str, diphthongs: bool) -> str | None:
    lang = language.lower()
    lang = _ESPEAK_LANGUAGE_ALIASES.get(lang, lang.split("-")[0])
    key = _strip_espeak(phone)
    if not key or key.startswith(("_", "(")):  # pauses and language-switch markers like "(en)"
        return None
    if lang in _ESPEAK_LANG:
        mono, diph = _ESPEAK_LANG[lang]
        if key in mono:
            return mono[key]
        if key in diph:
            return diph[key] if diphthongs else None
    if key in _ESPEAK_GENERIC:
        return _ESPEAK_GENERIC[key]
    if key in _ESPEAK_DIPHTHONGS_GENERIC:
        return _ESPEAK_DIPHTHONGS_GENERIC[key] if diphthongs else None
    # symbol fallback for other voices: strip length/nasal/variant marks ("a:", "e~", "o#", "i2") and retry
    base = key.rstrip(":~#.-0123456789") or key
    if base != key:
        return _espeak_lookup(base, language if lang not in _ESPEAK_LANG else "generic", diphthongs)
    return None


def _arpabet_lookup(phone: str, diphthongs: bool) -> str | None:
    key = phone.strip().upper().rstrip("012")
    if key in _ARPABET:
        return _ARPABET[key]
    if key in _ARPABET_DIPHTHONGS:
        return _ARPABET_DIPHTHONGS[key] if diphthongs else None
    return None


def _pinyin_final(phone: str) -> str:
    """Lower-case, tone-free final of a pinyin final or syllable, with ``v`` for u-umlaut."""
    s = unicodedata.normalize("NFD", phone.strip().lower()).replace("u\u0308", "v").replace("u:", "v")
    s = "".join(c for c in s if not unicodedata.combining(c))  # tone marks
    s = s.rstrip("012345")
    if s in _PINYIN or s in _PINYIN_DIPHTHONGS:
        return s
    # whole syllables: y/w spellings, then the initial
    if s.startswith("y"):
        rest = s[1:]
        if rest.startswith("u"):  # yu, yue, yuan, yun
            return "v" + rest[1:]
        return rest if rest.startswith("i") else "i" + rest  # yi, yin, ying / ya, ye, yao, you, yan, yang, yong
    if s.startswith("w"):
        rest = s[1:]
        return rest if rest.startswith("u") else "u" + rest  # wu / wa, wo, wai, wei, wan, wen, wang, weng
    for initial in _PINYIN_INITIALS:
        if s.startswith(initial) and len(s) > len(initial):
            final = s[len(initial) :]
            if final == "i" and initial in ("zh", "ch", "sh", "r", "z", "c", "s"):
                return "-i"  # apical vowel
            if initial in ("j", "q", "x") and final.startswith("u"):
                return "v" + final[1:]
            return final
    return s


def _pinyin_lookup(phone: str, diphthongs: bool) -> str | None:
    final = _pinyin_final(phone)
    if final in _PINYIN:
        return _PINYIN[final]
    if final in _PINYIN_DIPHTHONGS:
        return _PINYIN_DIPHTHONGS[final] if diphthongs else None
    return None


def _ipa_lookup(phone: str, diphthongs: bool) -> str | None:
    s = "".join(c for c in unicodedata.normalize("NFD", phone.strip()) if not unicodedata.combining(c))
    s = "".join(c for c in unicodedata.normalize("NFC", s) if c not in _IPA_STRIP)
    vowels = [c for c in s if c in _IPA_VOWELS]
    if not vowels or (s[0] not in _IPA_VOWELS and s[0] not in _IPA_GLIDE_FIRST):
        return None  # consonants, and consonant-initial symbols
    if (s[0] in _IPA_GLIDE_FIRST or len(vowels) > 1) and not diphthongs:
        return None
    return _IPA_VOWELS[vowels[0]]  # falling diphthongs: first vowel; rising (glide + vowel): the vowel


def strip_phone_marks(phone: str, scheme: str = "espeak") -> str:
    """Remove stress marks (espeak ``'``/``,``, IPA ``ˈ``/``ˌ``), ARPAbet stress digits, pinyin tones."""
    if scheme == "espeak":
        return _strip_espeak(phone)
    if scheme == "arpabet":
        return phone.strip().rstrip("012")
    if scheme == "pinyin":
        s = unicodedata.normalize("NFD", phone.strip()).replace("u\u0308", "v")
        s = "".join(c for c in s if not unicodedata.combining(c))
        return s.rstrip("012345")
    if scheme == "ipa":
        return "".join(c for c in phone.strip() if c not in "ˈˌ˥˦˧˨˩0123456789")
    raise ValueError(f"`scheme` must be one of {list(PHONE_SCHEMES)}, got {scheme!r}.")


def to_shared_phone(
    phone: str, scheme: str = "espeak", language: str = "en", *, diphthongs: bool = True
) -> str | None:
    """Map one phone to the shared vowel inventory :data:`SHARED_VOWELS`.

    Args:
        phone (`str`): the phone as the aligner or synthesiser wrote it (``"'a"``, ``"AY1"``, ``"iang2"``,
            ``"ɛː"``); stress marks, stress digits and tones are stripped.
        scheme (`str`, *optional*, defaults to `"espeak"`): one of :data:`PHONE_SCHEMES`.
        language (`str`, *optional*, defaults to `"en"`): language code, used by the ``"espeak"`` scheme
            (``en``, ``zh``/``cmn``, ``de``, ``fr``, ``ur`` have tables; others use the symbol fallback).
        diphthongs (`bool`, *optional*, defaults to `True`): map diphthongs to their nucleus (library choice);
            ``False`` maps them to ``None``.

    Returns:
        `str | None`: a member of :data:`SHARED_VOWELS`, or ``None`` for consonants, pauses, vowels outside the
        inventory and unknown symbols.
    """
    if not isinstance(phone, str):
        raise TypeError(f"`phone` must be a string, got {type(phone).__name__}.")
    if scheme == "espeak":
        return _espeak_lookup(phone, language or "", diphthongs)
    if scheme == "arpabet":
        return _arpabet_lookup(phone, diphthongs)
    if scheme == "pinyin":
        return _pinyin_lookup(phone, diphthongs)
    if scheme == "ipa":
        return _ipa_lookup(phone, diphthongs)
    raise ValueError(f"`scheme` must be one of {list(PHONE_SCHEMES)}, got {scheme!r}.")


def map_alignment(
    phonemes: Sequence[Mapping[str, Any]],
    scheme: str = "espeak",
    language: str = "en",
    *,
    shared_only: bool = False,
    diphthongs: bool = True,
) -> list[dict[str, Any]]:
    """Add the shared vowel class to every phone of an alignment.

    Args:
        phonemes (`Sequence[Mapping]`): ``{"phone", "start", "end"}`` items (the schema's ``phonemes`` column).
        scheme, language, diphthongs: as in :func:`to_shared_phone`.
        shared_only (`bool`, *optional*, defaults to `False`): keep only phones that map to the inventory.

    Returns:
        `list[dict]`: copies of the items with a ``"shared"`` key (a member of :data:`SHARED_VOWELS` or ``None``).
    """
    out = []
    for p in phonemes:
        shared = to_shared_phone(p["phone"], scheme, language, diphthongs=diphthongs)
        if shared_only and shared is None:
            continue
        out.append({**p, "shared": shared})
    return out


# --------------------------------------------------------------------------------------------------------------------
# Windows
# --------------------------------------------------------------------------------------------------------------------

PADDING_MODES = ("zero", "reflect")


@dataclass
class PhonemeWindows:
    """Windows cut by :func:`phoneme_windows`.

    Attributes:
        windows (`np.ndarray` of shape `(num_windows, window_samples)`, float32): one row per kept phone.
        phones (`list[str]`): the phone label of each row, as in the alignment.
        shared (`list[str | None]`): its shared vowel class (``None`` for phones outside the inventory).
        centres (`np.ndarray` of shape `(num_windows,)`): the window centres in seconds (phone midpoints).
    """

    windows: np.ndarray
    phones: list[str]
    shared: list[str | None]
    centres: np.ndarray

    def __len__(self) -> int:
        return len(self.phones)


def _window_samples(window_ms: float, sampling_rate: int) -> int:
    if window_ms <= 0:
        raise ValueError(f"`window_ms` must be positive, got {window_ms}.")
    if sampling_rate <= 0:
        raise ValueError(f"`sampling_rate` must be positive, got {sampling_rate}.")
    return max(1, int(round(window_ms * sampling_rate / 1000.0)))


def centred_windows(
    waveform: np.ndarray,
    centres: Sequence[float] | np.ndarray,
    sampling_rate: int = 16_000,
    window_ms: float = WINDOW_MS_TRAINING,
    padding: str = "zero",
) -> np.ndarray:
    """Cut fixed-length windows centred on the given times.

    A centre at sample ``c = round(t * sampling_rate)`` becomes index ``window_samples // 2`` of its window, which
    spans samples ``[c - window_samples // 2, c - window_samples // 2 + window_samples)``; centres outside the
    audio are clamped to its first/last sample.

    Args:
        waveform (`np.ndarray` of shape `(time,)`): mono audio.
        centres (`Sequence[float]`): centre times in seconds.
        sampling_rate (`int`, *optional*, defaults to 16000): rate of ``waveform``.
        window_ms (`float`, *optional*, defaults to 240): window length (paper values: 120 for the analysis, 240 for
            training).
        padding (`str`, *optional*, defaults to `"zero"`): how windows that run past the audio are filled.
            ``"zero"`` (library default) adds silence, so a window never contains sound that was not there;
            ``"reflect"`` mirrors the audio at its edges (no energy drop, but repeats the edge phone).

    Returns:
        `np.ndarray` of shape `(len(centres), window_samples)`, float32.
    """
    if padding not in PADDING_MODES:
        raise ValueError(f"`padding` must be one of {list(PADDING_MODES)}, got {padding!r}.")
    x = np.asarray(waveform, dtype=np.float32)
    if x.ndim != 1:
        raise ValueError(f"`waveform` must be 1-D (time,), got shape {x.shape}.")
    width = _window_samples(window_ms, sampling_rate)
    centres = np.asarray(centres, dtype=np.float64).reshape(-1)
    if centres.size == 0 or x.size == 0:
        return np.zeros((centres.size, width), dtype=np.float32)
    mode = "reflect" if padding == "reflect" and x.size > 1 else "constant"
    padded = np.pad(x, (width, width), mode=mode)
    c = np.clip(np.rint(centres * sampling_rate).astype(np.int64), 0, x.size - 1)
    starts = c - width // 2 + width  # offset into `padded`
    return padded[starts[:, None] + np.arange(width)[None, :]]


def phoneme_windows(
    waveform: np.ndarray,
    phonemes: Sequence[Mapping[str, Any]],
    sampling_rate: int = 16_000,
    window_ms: float = WINDOW_MS_TRAINING,
    *,
    padding: str = "zero",
    shared_only: bool = False,
    scheme: str = "espeak",
    language: str = "en",
    diphthongs: bool = True,
) -> PhonemeWindows:
    """Cut one fixed-length window centred on the midpoint of each phone (SAPA section 2.3).

    Args:
        waveform (`np.ndarray` of shape `(time,)`): mono audio.
        phonemes (`Sequence[Mapping]`): ``{"phone", "start", "end"}`` items in seconds.
        sampling_rate (`int`, *optional*, defaults to 16000): rate of ``waveform``.
        window_ms (`float`, *optional*, defaults to 240): window length; paper values 120 (analysis) and 240
            (training).
        padding (`str`, *optional*, defaults to `"zero"`): see :func:`centred_windows`.
        shared_only (`bool`, *optional*, defaults to `False`): keep only phones that map to :data:`SHARED_VOWELS`.
        scheme, language, diphthongs: how phones are mapped, as in :func:`to_shared_phone`.

    Returns:
        :class:`PhonemeWindows`: ``windows`` of shape `(num_windows, window_samples)` plus labels and centres.
    """
    phones, shared, centres = [], [], []
    for p in phonemes:
        vowel = to_shared_phone(str(p["phone"]), scheme, language, diphthongs=diphthongs)
        if shared_only and vowel is None:
            continue
        phones.append(str(p["phone"]))
        shared.append(vowel)
        centres.append(0.5 * (float(p["start"]) + float(p["end"])))
    centres_arr = np.asarray(centres, dtype=np.float64)
    windows = centred_windows(waveform, centres_arr, sampling_rate, window_ms, padding)
    return PhonemeWindows(windows=windows, phones=phones, shared=shared, centres=centres_arr)


def voiced_energy_peaks(
    waveform: np.ndarray,
    sampling_rate: int = 16_000,
    *,
    frame_ms: float = 25.0,
    hop_ms: float = 10.0,
    smooth_ms: float = 50.0,
    min_distance_ms: float = 100.0,
    floor_db: float = -35.0,
    max_zero_crossing_rate: float = 0.25,
    min_prominence_db: float = 3.0,
) -> np.ndarray:
    """Find syllable nuclei as peaks of smoothed short-time energy in voiced frames (fallback without alignments).

    All values are library choices. A frame (``frame_ms`` long every ``hop_ms``, centred on its time) is voiced
    when its energy is within ``-floor_db`` dB of the loudest frame and its zero-crossing rate (crossings per
    sample) is below ``max_zero_crossing_rate`` (voiced speech has most energy below 1 kHz; fricatives and noise
    cross zero far more often). The RMS envelope is smoothed with a Hann window of ``smooth_ms``; peaks of it in
    voiced frames at least ``min_distance_ms`` apart and ``min_prominence_db`` prominent are returned.

    Args:
        waveform (`np.ndarray` of shape `(time,)`): mono audio.
        sampling_rate (`int`, *optional*, defaults to 16000): rate of ``waveform``.

    Returns:
        `np.ndarray` of shape `(num_peaks,)`: peak times in seconds, ascending; feed them to
        :func:`centred_windows`.
    """
    from scipy.signal import find_peaks

    x = np.asarray(waveform, dtype=np.float64).reshape(-1)
    frame = _window_samples(frame_ms, sampling_rate)
    hop = _window_samples(hop_ms, sampling_rate)
    if x.size == 0:
        return np.zeros(0, dtype=np.float64)
    padded = np.pad(x, (frame // 2, frame // 2))
    num_frames = 1 + max(0, (padded.size - frame) // hop)
    frames = np.lib.stride_tricks.sliding_window_view(padded, frame)[::hop][:num_frames]  # (num_frames, frame)
    rms = np.sqrt(np.mean(frames**2, axis=1))
    signs = np.signbit(frames)
    zcr = np.mean(signs[:, 1:] != signs[:, :-1], axis=1)
    smooth = max(1, int(round(smooth_ms / hop_ms)))
    kernel = np.hanning(smooth + 2)[1:-1] if smooth > 1 else np.ones(1)
    # `mode="same"` of the full convolution, cut to `len(rms)` even when the audio has fewer frames than the kernel
    offset = (kernel.size - 1) // 2
    envelope = np.convolve(rms, kernel / kernel.sum(), mode="full")[offset : offset + rms.size]
    eps = 1e-10
    db = 20 * np.log10(envelope + eps)
    frame_db = 20 * np.log10(rms + eps)
    voiced = (frame_db > frame_db.max() + floor_db) & (zcr < max_zero_crossing_rate)
    if not voiced.any():
        return np.zeros(0, dtype=np.float64)
    masked = np.where(voiced, db, db.min() - 3 * min_prominence_db)
    distance = max(1, int(round(min_distance_ms / hop_ms)))
    peaks, _ = find_peaks(masked, distance=distance, prominence=min_prominence_db)
    peaks = peaks[voiced[peaks]]
    return peaks * hop / float(sampling_rate)
