"""IEMOCAP, the Interactive Emotional Dyadic Motion Capture database (English, 5 sessions x 2 actors)."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from .layout import CorpusLayoutError, assemble_corpus, map_label, read_text, require_data_dir
from .registry import register_corpus
from .report import CorpusLoadReport

EXPECTED = (
    "IEMOCAP_full_release/\n  Session1/dialog/EmoEvaluation/Ses01F_impro01.txt\n"
    "  Session1/dialog/transcriptions/Ses01F_impro01.txt\n"
    "  Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_F000.wav\n  Session2/ ... Session5/"
)
# "[6.2901 - 8.2357]	Ses01F_impro01_F000	neu	[2.5000, 2.5000, 2.5000]"
_EVALUATION = re.compile(r"^\[\s*[\d.]+\s*-\s*[\d.]+\s*\]\s+(?P<utt>Ses\d{2}[FM]_\S+)\s+(?P<label>\w+)\s")
# "Ses01F_impro01_F000 [006.2901-008.2357]: Excuse me."
_TRANSCRIPT = re.compile(r"^(?P<utt>Ses\d{2}[FM]_\S+)\s+\[[^\]]*\]:\s*(?P<text>.*)$")
_UTTERANCE = re.compile(r"^Ses(?P<session>\d{2})[FM]_.*_(?P<gender>[FM])\d+$")


def read_phseg(path: str | os.PathLike, frame_rate: float = 100.0) -> list[dict]:
    """Read an IEMOCAP ``sentences/ForcedAlignment/<dialog>/<utt>.phseg`` phone segmentation.

    The file lists ``SFrm EFrm SegAScr Phone`` rows in 10 ms frames (end frame inclusive); returns
    ``[{"phone", "start", "end"}]`` in seconds. Silence rows are kept as they are (``SIL``).
    """
    phones = []
    for line in read_text(Path(path)).splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[0].isdigit() and parts[1].isdigit():
            start, end = int(parts[0]), int(parts[1])
            phones.append({"phone": parts[3], "start": start / frame_rate, "end": (end + 1) / frame_rate})
    return phones


@register_corpus(
    "iemocap",
    languages=("en",),
    description="Interactive Emotional Dyadic Motion Capture database (English, 10 actors in 5 sessions)",
    expected=EXPECTED,
)
def load_iemocap(
    data_dir: str | os.PathLike,
    *,
    split: str = "session",
    test_session: int = 5,
    validation_session: int | None = 4,
    phonemes: bool = False,
    seed: int = 0,
    ratios: Sequence[float] = (0.8, 0.1, 0.1),
):
    """Load IEMOCAP (``IEMOCAP_full_release``) with the 4-class mapping of most SER work (5531 utterances).

    Layout:

    ```
    IEMOCAP_full_release/
    └── Session1/ ... Session5/
        ├── dialog/EmoEvaluation/Ses01F_impro01.txt   # "[6.29 - 8.24]<TAB>Ses01F_impro01_F000<TAB>neu<TAB>..."
        ├── dialog/transcriptions/Ses01F_impro01.txt     # "Ses01F_impro01_F000 [006.2901-008.2357]: Excuse me."
        ├── sentences/wav/Ses01F_impro01/Ses01F_impro01_F000.wav
        └── sentences/ForcedAlignment/Ses01F_impro01/Ses01F_impro01_F000.phseg   # used with phonemes=True
    ```

    Labels: neu, hap, exc (merged into happy), ang, sad are kept; fru, sur, fea, dis, oth, xxx are dropped and
    counted. The speaker is the session and the gender letter of the utterance's last field
    (``Ses01F_impro01_M003`` -> ``iemocap_Ses01M``, male).

    Args:
        data_dir (`str` or `os.PathLike`): the release folder holding ``Session1`` ... ``Session5``.
        split (`str`, *optional*, defaults to `"session"`): ``"session"`` puts ``test_session`` in test,
            ``validation_session`` in validation and the other sessions in train (leave-one-session-out is the usual
            IEMOCAP protocol; the validation session is our choice); ``"speaker"`` makes a speaker-independent split.
        test_session (`int`, *optional*, defaults to 5): the test session with ``split="session"``.
        validation_session (`int`, *optional*, defaults to 4): the validation session, or `None` for no validation.
        phonemes (`bool`, *optional*, defaults to `False`): read the phone alignments of ``ForcedAlignment/*.phseg``.
        seed (`int`, *optional*, defaults to 0): seed of the speaker-independent split.
        ratios (`Sequence[float]`, *optional*, defaults to `(0.8, 0.1, 0.1)`): train/validation/test speaker ratios.
    """
    if split not in ("session", "speaker"):
        raise ValueError(f"iemocap: `split` must be 'session' or 'speaker', got {split!r}.")
    if validation_session is not None and validation_session == test_session:
        raise ValueError(f"iemocap: `validation_session` and `test_session` are both {test_session}.")
    root = require_data_dir(data_dir, "iemocap", EXPECTED)
    sessions = sorted(p for p in root.glob("**/Session[1-5]") if p.is_dir() and (p / "dialog").is_dir())
    if not sessions:
        raise CorpusLayoutError(
            f"iemocap: no Session1..Session5 folder with a dialog/ sub-folder under '{root}'. "
            f"Expected a layout like:\n{EXPECTED}"
        )
    report = CorpusLoadReport("iemocap", str(root))
    records, splits = [], []
    for session_dir in sessions:
        evaluation_files = sorted((session_dir / "dialog" / "EmoEvaluation").glob("*.txt"))
        if not evaluation_files:
            raise CorpusLayoutError(
                f"iemocap: no label file in '{session_dir / 'dialog' / 'EmoEvaluation'}' "
                f"(expected e.g. Ses01F_impro01.txt)."
            )
        for evaluation_file in evaluation_files:
            dialog = evaluation_file.stem
            transcript_file = session_dir / "dialog" / "transcriptions" / f"{dialog}.txt"
            texts = {}
            if transcript_file.is_file():
                for line in read_text(transcript_file).splitlines():
                    match = _TRANSCRIPT.match(line.strip())
                    if match:
                        texts[match["utt"]] = match["text"].strip()
            for line in read_text(evaluation_file).splitlines():
                match = _EVALUATION.match(line.strip())
                if match is None:
                    continue
                utt, label = match["utt"], match["label"]
                known, emotion = map_label("iemocap", label)
                if emotion is None:
                    report.drop_emotion(label if known else f"unknown:{label}", utt)
                    continue
                parsed = _UTTERANCE.match(utt)
                wav = session_dir / "sentences" / "wav" / dialog / f"{utt}.wav"
                if parsed is None:
                    report.drop("unparsed_name", utt)
                    continue
                if not wav.is_file():
                    report.drop("missing_audio", wav.relative_to(root))
                    continue
                phones = []
                if phonemes:
                    phseg = session_dir / "sentences" / "ForcedAlignment" / dialog / f"{utt}.phseg"
                    phones = read_phseg(phseg) if phseg.is_file() else []
                session = int(parsed["session"])
                records.append(
                    {
                        "audio": str(wav),
                        "emotion": emotion,
                        "language": "en",
                        "speaker": f"iemocap_Ses{session:02d}{parsed['gender']}",
                        "gender": "female" if parsed["gender"] == "F" else "male",
                        "corpus": "iemocap",
                        "transcript": texts.get(utt, ""),
                        "phonemes": phones,
                    }
                )
                splits.append(
                    "test" if session == test_session else "validation" if session == validation_session else "train"
                )
    if split == "speaker":
        return assemble_corpus(records, report, seed=seed, ratios=ratios)
    report.split_source = f"sessions (test=Session{test_session}, validation=Session{validation_session})"
    return assemble_corpus(records, report, splits=splits)
