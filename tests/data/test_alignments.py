from collections import Counter

import pytest

from hf_cser.data.alignments import read_ctm, read_textgrid, read_textgrid_tiers, validate_alignment

LONG = """File type = "ooTextFile"
Object class = "TextGrid"

xmin = 0
xmax = 1.5
tiers? <exists>
size = 3
item []:
    item [1]:
        class = "IntervalTier"
        name = "words"
        xmin = 0
        xmax = 1.5
        intervals: size = 2
        intervals [1]:
            xmin = 0
            xmax = 0.7
            text = "hello"
        intervals [2]:
            xmin = 0.7
            xmax = 1.5
            text = "wörld ""q"" x"
    item [2]:
        class = "TextTier"
        name = "events"
        xmin = 0
        xmax = 1.5
        points: size = 1
        points [1]:
            number = 0.5
            mark = "click"
    item [3]:
        class = "IntervalTier"
        name = "phones"
        xmin = 0
        xmax = 1.5
        intervals: size = 5
        intervals [1]:
            xmin = 0
            xmax = 0.1
            text = "sil"
        intervals [2]:
            xmin = 0.1
            xmax = 0.35
            text = "HH"
        intervals [3]:
            xmin = 0.35
            xmax = 0.7
            text = "AH0"
        intervals [4]:
            xmin = 0.7
            xmax = 1.2
            text = "ɛː"
        intervals [5]:
            xmin = 1.2
            xmax = 1.5
            text = ""
"""

SHORT = """File type = "ooTextFile"
Object class = "TextGrid"

0
2.0
<exists>
1
"IntervalTier"
"segments"
0
2.0
3
0
0.5
"a"
0.5
1.25
"sp"
1.25
2.0
"i"
"""

PHONES_LONG = [
    {"phone": "HH", "start": 0.1, "end": 0.35},
    {"phone": "AH0", "start": 0.35, "end": 0.7},
    {"phone": "ɛː", "start": 0.7, "end": 1.2},
]


def test_textgrid_long_format_default_phone_tier(tmp_path):
    path = tmp_path / "long.TextGrid"
    path.write_text(LONG, encoding="utf-8")
    assert read_textgrid(path) == PHONES_LONG
    assert read_textgrid(path, tier="words") == [
        {"phone": "hello", "start": 0.0, "end": 0.7},
        {"phone": 'wörld "q" x', "start": 0.7, "end": 1.5},
    ]
    assert read_textgrid(path, tier=2) == PHONES_LONG
    tiers = read_textgrid_tiers(path)
    assert list(tiers) == ["words", "events", "phones"]
    assert tiers["events"] == {"class": "TextTier", "items": [(0.5, "click")]}


def test_textgrid_short_format_and_utf16(tmp_path):
    expected = [{"phone": "a", "start": 0.0, "end": 0.5}, {"phone": "i", "start": 1.25, "end": 2.0}]
    short = tmp_path / "short.TextGrid"
    short.write_text(SHORT, encoding="utf-8")
    assert read_textgrid(short) == expected
    for encoding in ("utf-16", "utf-16-le"):  # with and without a byte-order mark
        path = tmp_path / f"{encoding}.TextGrid"
        path.write_bytes(LONG.encode(encoding))
        assert read_textgrid(path) == PHONES_LONG
    assert read_textgrid(short, skip_labels=()) == [
        expected[0],
        {"phone": "sp", "start": 0.5, "end": 1.25},
        expected[1],
    ]


def test_textgrid_errors(tmp_path):
    path = tmp_path / "long.TextGrid"
    path.write_text(LONG, encoding="utf-8")
    with pytest.raises(ValueError, match=r"no tier named 'phonemes'.*\['words', 'events', 'phones'\]"):
        read_textgrid(path, tier="phonemes")
    with pytest.raises(ValueError, match="TextTier"):
        read_textgrid(path, tier="events")
    bad = tmp_path / "bad.TextGrid"
    bad.write_text(SHORT.replace('"i"\n', "oops\n").replace("1.25\n2.0\n", "1.25\nx\n"), encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.TextGrid, line 20: expected `xmax` of interval 3 .*, got .x."):
        read_textgrid(bad)
    truncated = tmp_path / "truncated.TextGrid"
    truncated.write_text("\n".join(SHORT.splitlines()[:15]), encoding="utf-8")
    with pytest.raises(ValueError, match=r"truncated\.TextGrid, line \d+: file ends early"):
        read_textgrid(truncated)


def test_read_ctm(tmp_path):
    path = tmp_path / "ali.ctm"
    path.write_text(
        ";; comment\nutt1 1 0.10 0.20 AA1 0.9\nutt1 1 0.00 0.10 sil\n\nutt2 A 1.0 0.5 k\nutt1 1 0.30 0.05 T\n",
        encoding="utf-8",
    )
    out = read_ctm(path)
    assert list(out) == ["utt1", "utt2"]
    assert out["utt1"] == [
        {"phone": "AA1", "start": 0.1, "end": pytest.approx(0.3)},
        {"phone": "T", "start": 0.3, "end": pytest.approx(0.35)},
    ]
    assert out["utt2"] == [{"phone": "k", "start": 1.0, "end": 1.5}]
    path.write_text("utt1 1 0.1 0.2 AA1\nutt1 1 zero 0.2 B\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"ali\.ctm, line 2: start 'zero'"):
        read_ctm(path)
    path.write_text("utt1 1 0.1 AA1\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"ali\.ctm, line 1: expected 5 or 6 fields"):
        read_ctm(path)


def test_validate_alignment_errors_and_clip():
    ok = [{"phone": "b", "start": 0.2, "end": 0.4}, {"phone": "a", "start": 0.0, "end": 0.2}]
    assert validate_alignment(ok, duration=0.4) == [ok[1], ok[0]]
    with pytest.raises(ValueError, match="utt.wav: the alignment is empty"):
        validate_alignment([], source="utt.wav")
    overlap = [{"phone": "a", "start": 0.0, "end": 0.3}, {"phone": "b", "start": 0.2, "end": 0.5}]
    with pytest.raises(ValueError, match=r"utt.wav: phone 1 'b' \[0.200, 0.500\] s overlaps"):
        validate_alignment(overlap, source="utt.wav")
    outside = [{"phone": "a", "start": 0.0, "end": 0.3}, {"phone": "b", "start": 0.3, "end": 0.9}]
    with pytest.raises(ValueError, match=r"phone 1 'b' .* outside the audio \[0, 0.500\]"):
        validate_alignment(outside, duration=0.5, source="utt.wav")
    with pytest.raises(ValueError, match="ends before it starts"):
        validate_alignment([{"phone": "a", "start": 0.3, "end": 0.1}])

    counter = Counter()
    messy = overlap + [
        {"phone": "c", "start": 0.5, "end": 0.45},
        {"phone": "d", "start": 0.55, "end": 0.8},
        {"phone": "e", "start": 0.9, "end": 1.0},
        {"phone": "f", "start": 0.25, "end": 0.28},
    ]
    fixed = validate_alignment(messy, duration=0.7, mode="clip", counter=counter)
    assert fixed == [
        {"phone": "a", "start": 0.0, "end": 0.3},
        {"phone": "b", "start": 0.3, "end": 0.5},
        {"phone": "d", "start": 0.55, "end": 0.7},
    ]
    assert counter == Counter(
        {"trimmed_overlap": 1, "dropped_overlap": 1, "dropped_inverted": 1, "clipped": 1, "dropped_outside": 1}
    )
    # rounding overruns within the tolerance are clipped without complaint
    assert validate_alignment([{"phone": "a", "start": 0.0, "end": 0.505}], duration=0.5) == [
        {"phone": "a", "start": 0.0, "end": 0.5}
    ]
