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

The code is split by responsibility; every name stays importable from here: :mod:`hf_cser.data.phone_mapping` (the
maps, :func:`to_shared_phone`), :mod:`hf_cser.data.phone_espeak` (the espeak-ng tables) and
:mod:`hf_cser.data.phone_windows` (the windows).
"""

from __future__ import annotations

from .phone_mapping import PHONE_SCHEMES, map_alignment, strip_phone_marks, to_shared_phone  # noqa: F401
from .phone_windows import (  # noqa: F401
    PADDING_MODES,
    WINDOW_MS_ANALYSIS,
    WINDOW_MS_TRAINING,
    PhonemeWindows,
    centred_windows,
    phoneme_windows,
    voiced_energy_peaks,
)

SHARED_VOWELS: tuple[str, ...] = ("i", "E", "@", "a", "O", "u")
"""The shared vowel inventory (SAPA Table 2), in table order; ``"a"`` stands for the paper's /A,a/."""

SHARED_VOWEL_LABELS: dict[str, str] = {"i": "/i/", "E": "/E/", "@": "/@/", "a": "/A,a/", "O": "/O/", "u": "/u/"}
"""How the paper writes each shared vowel (for tables and plots)."""
