"""Maps from language phone sets to the shared vowel inventory (split out of :mod:`hf_cser.data.phones`).

Holds the ARPAbet, pinyin and IPA tables and lookups, and the public mapping API: :data:`PHONE_SCHEMES`,
:func:`strip_phone_marks`, :func:`to_shared_phone` (one phone -> a member of
:data:`hf_cser.data.phones.SHARED_VOWELS` or ``None``) and :func:`map_alignment` (the shared class of every phone of an
alignment). The espeak-ng tables live in :mod:`hf_cser.data.phone_espeak`.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from .phone_espeak import espeak_lookup, strip_espeak_marks

PHONE_SCHEMES: tuple[str, ...] = ("espeak", "arpabet", "pinyin", "ipa")

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
        return strip_espeak_marks(phone)
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
        return espeak_lookup(phone, language or "", diphthongs)
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
