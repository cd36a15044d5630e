"""espeak-ng phone tables of the shared vowel inventory (split out of :mod:`hf_cser.data.phones`).

Holds the per-voice tables (en, zh/cmn, de, fr, ur) of espeak-ng mnemonics -> shared vowel class, the generic
tables used for the other espeak voices, and the two functions :mod:`hf_cser.data.phone_mapping` calls:
:func:`strip_espeak_marks` (remove espeak stress marks) and :func:`espeak_lookup` (one mnemonic -> a member of
:data:`hf_cser.data.phones.SHARED_VOWELS` or ``None``, with the symbol fallback for unknown voices).
"""

from __future__ import annotations

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

_STRESS_MARKS = "'ˈ,ˌ%="


def strip_espeak_marks(phone: str) -> str:
    """``phone`` without surrounding spaces and leading espeak / IPA stress marks."""
    return phone.strip().lstrip(_STRESS_MARKS)


def espeak_lookup(phone: str, language: str, diphthongs: bool) -> str | None:
    """The shared vowel class of one espeak-ng mnemonic of ``language`` (``None`` for pauses, consonants and unknown
    symbols); ``diphthongs=False`` maps diphthongs to ``None``."""
    lang = language.lower()
    lang = _ESPEAK_LANGUAGE_ALIASES.get(lang, lang.split("-")[0])
    key = strip_espeak_marks(phone)
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
        return espeak_lookup(base, language if lang not in _ESPEAK_LANG else "generic", diphthongs)
    return None
