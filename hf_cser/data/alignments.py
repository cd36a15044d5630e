"""Phone alignment readers (Praat TextGrid, CTM) and an alignment validator.

Every reader returns the ``phonemes`` column format of the hf_cser schema: a list of
``{"phone": str, "start": float, "end": float}`` with times in seconds, sorted by start, silence and pause labels
removed. Parsing errors raise `ValueError` naming the file and the line; :func:`validate_alignment` checks an
alignment against the audio it belongs to.

Example:

```python
>>> from hf_cser.data.alignments import read_textgrid, validate_alignment
>>> phones = read_textgrid("utt1.TextGrid")  # the "phones" tier of a Montreal Forced Aligner output
>>> phones = validate_alignment(phones, duration=2.31, source="utt1.TextGrid")
```
"""

from __future__ import annotations

import bisect
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from transformers.utils import logging

logger = logging.get_logger(__name__)

SILENCE_LABELS: frozenset[str] = frozenset(
    {"", "sil", "sp", "spn", "<p:>", "<sil>", "<eps>", "_", "#", "pau", "h#", "silence", "_:", "_|", "_!"}
)
"""Labels skipped by the readers (compared case-insensitively after stripping whitespace): empty intervals, MFA
(``sil``, ``sp``, ``spn``), BAS/WebMAUS (``<p:>``), TIMIT (``h#``, ``pau``) and espeak (``_``, ``_:``, ``_|``)
silence and pause markers."""

PHONE_TIER_NAMES: tuple[str, ...] = ("phones", "phone", "phonemes", "phoneme", "phns", "phn", "segments")
"""Tier names :func:`read_textgrid` picks by default (case-insensitive; also MFA's ``"spk1 - phones"``)."""

Alignment = list[dict[str, Any]]

# Praat text files: quoted strings ("" is an escaped quote, strings may span lines), numbers and the <exists> flag
# are values; everything else (``xmin =``, ``item [1]:``, ``intervals: size =``) is a label Praat itself skips.
_TOKEN_RE = re.compile(
    r'"(?P<str>(?:[^"]|"")*)"'
    r"|(?P<bracket>\[[^\]\n]*\])"
    r"|(?P<flag><exists>|<absent>)"
    r"|(?P<num>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
    r"|(?P<comment>![^\n]*)"
    r"|(?P<word>[^\s\"\[\]=:!<>]+)"
)
# the labels of the long format; any other bare word is an error
_PRAAT_LABELS = frozenset(
    {
        "file",
        "type",
        "object",
        "class",
        "xmin",
        "xmax",
        "tiers?",
        "size",
        "item",
        "name",
        "intervals",
        "points",
        "text",
        "number",
        "mark",
    }
)


def _normalize_skip(skip_labels: Iterable[str] | None) -> frozenset[str]:
    return frozenset(s.strip().lower() for s in (skip_labels if skip_labels is not None else ()))


def _is_skipped(label: str, skip: frozenset[str]) -> bool:
    return label.strip().lower() in skip


def _read_text(path: str) -> str:
    """Decode a Praat text file: UTF-16 (with or without BOM), UTF-8 (with or without BOM), else Latin-1."""
    with open(path, "rb") as f:
        raw = f.read()
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16")
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8")
    if len(raw) >= 2 and b"\x00" in raw[:200]:  # UTF-16 without a byte-order mark
        return raw.decode("utf-16-le" if raw[1] == 0 else "utf-16-be")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        logger.warning(f"{path}: not valid UTF-8 or UTF-16; decoding it as Latin-1 (old Praat files).")
        return raw.decode("latin-1")


class _Tokens:
    """Praat value tokens with their line numbers, consumed front to back by the TextGrid parser."""

    def __init__(self, text: str, path: str):
        self.path = path
        line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.items: list[tuple[str, Any, int]] = []
        for m in _TOKEN_RE.finditer(text):
            kind = m.lastgroup
            if kind in ("bracket", "comment") or (kind == "word" and m.group(kind).lower() in _PRAAT_LABELS):
                continue
            line = bisect.bisect_right(line_starts, m.start())
            value = m.group(kind).replace('""', '"') if kind == "str" else m.group(kind)
            self.items.append((kind, value, line))
        self.pos = 0
        self.last_line = len(line_starts)

    def _next(self, kind: str, what: str):
        if self.pos >= len(self.items):
            raise ValueError(f"{self.path}, line {self.last_line}: file ends early; expected {what}.")
        got_kind, value, line = self.items[self.pos]
        if got_kind != kind:
            raise ValueError(f"{self.path}, line {line}: expected {what}, got {value!r}; the TextGrid is malformed.")
        self.pos += 1
        return value, line

    def string(self, what: str) -> str:
        return self._next("str", what)[0]

    def number(self, what: str) -> tuple[float, int]:
        value, line = self._next("num", what)
        return float(value), line

    def count(self, what: str) -> int:
        value, line = self.number(what)
        if value < 0 or value != int(value):
            raise ValueError(f"{self.path}, line {line}: expected {what} (a count), got {value}.")
        return int(value)

    def flag(self, what: str) -> str:
        return self._next("flag", what)[0]


def read_textgrid_tiers(path: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """Parse a Praat TextGrid (long "ooTextFile" or short format, UTF-8 or UTF-16) into all its tiers.

    Args:
        path (`str` or `os.PathLike`): the ``.TextGrid`` file.

    Returns:
        `dict[str, dict]`: tier name -> ``{"class": "IntervalTier" | "TextTier", "items": [...]}`` in file order,
        where interval items are ``(start, end, label)`` and point items ``(time, label)``. Labels are kept as
        written (no silence removal). A repeated tier name gets a ``#2``, ``#3`` suffix.

    Raises:
        ValueError: a malformed or binary file, naming the file and the line.
    """
    path = os.fspath(path)
    text = _read_text(path)
    tokens = _Tokens(text, path)
    file_type = tokens.string('the header `File type = "ooTextFile"`')
    if not file_type.startswith("ooTextFile"):
        raise ValueError(f"{path}, line 1: file type {file_type!r} is not supported; save it from Praat as text.")
    object_class = tokens.string('the header `Object class = "TextGrid"`')
    if object_class != "TextGrid":
        raise ValueError(f"{path}, line 2: object class is {object_class!r}, expected 'TextGrid'.")
    tokens.number("the TextGrid `xmin`")
    tokens.number("the TextGrid `xmax`")
    if tokens.flag("`tiers? <exists>`") == "<absent>":
        return {}
    num_tiers = tokens.count("the number of tiers (`size`)")
    tiers: dict[str, dict[str, Any]] = {}
    for t in range(num_tiers):
        tier_class = tokens.string(f'the class of tier {t + 1} ("IntervalTier" or "TextTier")')
        name = tokens.string(f"the name of tier {t + 1}")
        tokens.number(f"`xmin` of tier {name!r}")
        tokens.number(f"`xmax` of tier {name!r}")
        n = tokens.count(f"the number of items of tier {name!r}")
        items: list[tuple] = []
        if tier_class == "IntervalTier":
            for i in range(n):
                start, _ = tokens.number(f"`xmin` of interval {i + 1} of tier {name!r}")
                end, _ = tokens.number(f"`xmax` of interval {i + 1} of tier {name!r}")
                items.append((start, end, tokens.string(f"`text` of interval {i + 1} of tier {name!r}")))
        elif tier_class == "TextTier":
            for i in range(n):
                time, _ = tokens.number(f"`number` of point {i + 1} of tier {name!r}")
                items.append((time, tokens.string(f"`mark` of point {i + 1} of tier {name!r}")))
        else:
            raise ValueError(f"{path}: tier {name!r} has unknown class {tier_class!r}.")
        key, k = name, 2
        while key in tiers:
            key, k = f"{name}#{k}", k + 1
        tiers[key] = {"class": tier_class, "items": items}
    return tiers


def _default_phone_tier(tiers: Mapping[str, Mapping[str, Any]]) -> str | None:
    interval_tiers = [name for name, tier in tiers.items() if tier["class"] == "IntervalTier"]
    for name in interval_tiers:
        if name.split(" - ")[-1].strip().lower() in PHONE_TIER_NAMES:
            return name
    return interval_tiers[0] if interval_tiers else None


def read_textgrid(
    path: str | os.PathLike,
    tier: str | int | None = None,
    skip_labels: Iterable[str] | None = SILENCE_LABELS,
) -> Alignment:
    """Read the phone intervals of one tier of a Praat TextGrid.

    Args:
        path (`str` or `os.PathLike`): the ``.TextGrid`` file (long or short text format, UTF-8 or UTF-16).
        tier (`str` or `int`, *optional*): tier name, or 0-based index among all tiers. Defaults to the first
            interval tier named like :data:`PHONE_TIER_NAMES` (``phones``, ``phonemes``, ... or MFA's
            ``"<speaker> - phones"``), else the first interval tier.
        skip_labels (`Iterable[str]`, *optional*, defaults to :data:`SILENCE_LABELS`): labels dropped
            (case-insensitive, whitespace stripped). Pass ``()`` to keep every interval.

    Returns:
        `list[dict]`: ``{"phone", "start", "end"}`` per kept interval, sorted by start.

    Raises:
        ValueError: malformed file (file and line named), a missing tier (the available names listed), a point
            tier where intervals are needed, or a file without interval tiers.
    """
    path = os.fspath(path)
    tiers = read_textgrid_tiers(path)
    names = list(tiers)
    if tier is None:
        name = _default_phone_tier(tiers)
        if name is None:
            raise ValueError(f"{path}: no interval tier found (tiers: {names}); phone alignments need one.")
    elif isinstance(tier, int):
        if not -len(names) <= tier < len(names):
            raise ValueError(f"{path}: tier index {tier} is out of range; the file has {len(names)} tiers {names}.")
        name = names[tier]
    else:
        if tier not in tiers:
            raise ValueError(f"{path}: no tier named {tier!r}; available tiers: {names}.")
        name = tier
    if tiers[name]["class"] != "IntervalTier":
        raise ValueError(f"{path}: tier {name!r} is a {tiers[name]['class']} (points); pick an interval tier.")
    skip = _normalize_skip(skip_labels)
    phones = [
        {"phone": label.strip(), "start": float(start), "end": float(end)}
        for start, end, label in tiers[name]["items"]
        if not _is_skipped(label, skip)
    ]
    phones.sort(key=lambda p: p["start"])
    return phones


def read_ctm(path: str | os.PathLike, skip_labels: Iterable[str] | None = SILENCE_LABELS) -> dict[str, Alignment]:
    """Read a CTM file (Kaldi / NIST) of phone alignments.

    Lines are ``<utterance> <channel> <start> <duration> <phone> [<confidence>]`` (seconds); blank lines and lines
    starting with ``;;`` or ``#`` are ignored.

    Args:
        path (`str` or `os.PathLike`): the ``.ctm`` file.
        skip_labels (`Iterable[str]`, *optional*, defaults to :data:`SILENCE_LABELS`): phones dropped.

    Returns:
        `dict[str, list[dict]]`: utterance id -> ``{"phone", "start", "end"}`` sorted by start, utterances in file
        order.

    Raises:
        ValueError: a line with the wrong number of fields, a non-numeric time or a negative duration, naming the
            file and the line.
    """
    path = os.fspath(path)
    skip = _normalize_skip(skip_labels)
    out: dict[str, Alignment] = {}
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, start=1):
            stripped = line.strip()
            if not stripped or stripped.startswith((";;", "#")):
                continue
            fields = stripped.split()
            if len(fields) not in (5, 6):
                raise ValueError(
                    f"{path}, line {line_no}: expected 5 or 6 fields `utt channel start duration phone [conf]`, "
                    f"got {len(fields)}: {stripped!r}."
                )
            utt, _channel, start_s, dur_s, phone = fields[:5]
            try:
                start, duration = float(start_s), float(dur_s)
            except ValueError:
                raise ValueError(
                    f"{path}, line {line_no}: start {start_s!r} and duration {dur_s!r} must be numbers (seconds)."
                ) from None
            if duration < 0:
                raise ValueError(f"{path}, line {line_no}: negative duration {duration} for phone {phone!r}.")
            alignment = out.setdefault(utt, [])
            if not _is_skipped(phone, skip):
                alignment.append({"phone": phone, "start": start, "end": start + duration})
    for alignment in out.values():
        alignment.sort(key=lambda p: p["start"])
    return out


def validate_alignment(
    phones: Sequence[Mapping[str, Any]],
    duration: float | None = None,
    source: str = "<alignment>",
    *,
    mode: str = "raise",
    tolerance: float = 0.01,
    counter: Counter | None = None,
) -> Alignment:
    """Check a phone alignment (and optionally repair it).

    Intervals are sorted by start first. The checks: an empty list, ``end < start``, an interval overlapping the
    previous one by more than ``tolerance``, and (with ``duration``) an interval starting before 0 or ending after
    ``duration`` by more than ``tolerance``. Overruns within ``tolerance`` (aligner rounding) are always clipped
    silently.

    Args:
        phones (`Sequence[Mapping]`): ``{"phone", "start", "end"}`` items (seconds).
        duration (`float`, *optional*): length of the audio in seconds; without it the outside-audio check is
            skipped.
        source (`str`, *optional*): name used in error messages (the alignment or audio file).
        mode (`str`, *optional*, defaults to `"raise"`): ``"raise"`` raises on the first problem; ``"clip"``
            repairs instead (library choice): times are clipped to ``[0, duration]``, an overlapping interval's
            start is moved to the previous end, and intervals left with ``end < start`` or entirely outside the
            audio are dropped. Repairs are counted in ``counter`` by reason (``clipped``, ``dropped_inverted``,
            ``dropped_outside``, ``trimmed_overlap``, ``dropped_overlap``, ``empty``).
        tolerance (`float`, *optional*, defaults to 0.01): seconds of slack for overlaps and overruns (library
            default: aligners round to 10 ms frames).
        counter (`collections.Counter`, *optional*): where ``"clip"`` mode counts its repairs.

    Returns:
        `list[dict]`: the (repaired) alignment, sorted by start, as new dicts.

    Raises:
        ValueError: in ``"raise"`` mode, naming ``source``, the phone, its index and times.
    """
    if mode not in ("raise", "clip"):
        raise ValueError(f"`mode` must be 'raise' or 'clip', got {mode!r}.")
    counter = counter if counter is not None else Counter()
    items = sorted(
        ({"phone": str(p["phone"]), "start": float(p["start"]), "end": float(p["end"])} for p in phones),
        key=lambda p: p["start"],
    )
    if not items:
        if mode == "raise":
            raise ValueError(f"{source}: the alignment is empty; re-run the aligner or drop the utterance.")
        counter["empty"] += 1
        return []
    out: Alignment = []
    prev_end = None
    for i, p in enumerate(items):
        where = f"{source}: phone {i} {p['phone']!r} [{p['start']:.3f}, {p['end']:.3f}] s"
        if p["end"] < p["start"]:
            if mode == "raise":
                raise ValueError(f"{where} ends before it starts; fix the alignment, or pass `mode='clip'` to drop it")
            counter["dropped_inverted"] += 1
            continue
        if duration is not None:
            if p["start"] < -tolerance or p["end"] > duration + tolerance:
                if mode == "raise":
                    raise ValueError(
                        f"{where} lies outside the audio [0, {duration:.3f}] s; re-align this audio file (is it the "
                        "right alignment?), or pass `mode='clip'` to clip the interval."
                    )
                if p["start"] >= duration or p["end"] <= 0:
                    counter["dropped_outside"] += 1
                    continue
                counter["clipped"] += 1
            p["start"], p["end"] = max(p["start"], 0.0), min(p["end"], duration)
        if prev_end is not None and p["start"] < prev_end - tolerance:
            if mode == "raise":
                raise ValueError(
                    f"{where} overlaps the previous phone, which ends at {prev_end:.3f} s; fix the alignment, or pass "
                    "`mode='clip'` to trim the overlap."
                )
            if p["end"] <= prev_end:
                counter["dropped_overlap"] += 1
                continue
            counter["trimmed_overlap"] += 1
            p["start"] = prev_end
        out.append(p)
        prev_end = p["end"] if prev_end is None else max(prev_end, p["end"])
    if not out:
        counter["empty"] += 1
    return out
