"""EMO-DB, the Berlin Database of Emotional Speech (German, 10 actors, 535 utterances)."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

from .layout import assemble_corpus, find_dir, find_files, map_label, no_audio_error, require_data_dir
from .registry import register_corpus
from .report import CorpusLoadReport

EXPECTED = "emodb/\n  wav/03a01Fa.wav   (speaker 03, text a01, emotion F, version a)\n  wav/16b10Wb.wav"

# speaker -> gender, from the speaker table of the EMO-DB documentation (ages in comments)
EMODB_SPEAKER_GENDERS: dict[str, str] = {
    "03": "male",  # 31
    "08": "female",  # 34
    "09": "female",  # 21
    "10": "male",  # 32
    "11": "male",  # 26
    "12": "male",  # 30
    "13": "female",  # 32
    "14": "female",  # 35
    "15": "male",  # 25
    "16": "female",  # 31
}

# text code -> German sentence, from the EMO-DB documentation
EMODB_TEXTS: dict[str, str] = {
    "a01": "Der Lappen liegt auf dem Eisschrank.",
    "a02": "Das will sie am Mittwoch abgeben.",
    "a04": "Heute abend könnte ich es ihm sagen.",
    "a05": "Das schwarze Stück Papier befindet sich da oben neben dem Holzstück.",
    "a07": "In sieben Stunden wird es soweit sein.",
    "b01": "Was sind denn das für Tüten, die da unter dem Tisch stehen?",
    "b02": "Sie haben es gerade hochgetragen und jetzt gehen sie wieder runter.",
    "b03": "An den Wochenenden bin ich jetzt immer nach Hause gefahren und habe Agnes besucht.",
    "b09": "Ich will das eben wegbringen und dann mit Karl was trinken gehen.",
    "b10": "Die wird auf dem Platz sein, wo wir sie immer hinlegen.",
}

_NAME = re.compile(r"^(?P<speaker>\d{2})(?P<text>[ab]\d{2})(?P<emotion>[A-Z])(?P<version>[a-z])$")


@register_corpus(
    "emodb",
    languages=("de",),
    description="Berlin Database of Emotional Speech (German, acted, 10 speakers)",
    expected=EXPECTED,
    aliases=("emo-db", "berlin"),
)
def load_emodb(data_dir: str | os.PathLike, *, seed: int = 0, ratios: Sequence[float] = (0.8, 0.1, 0.1)):
    """Load EMO-DB as distributed (``download.zip`` from emodb.bilderbar.info).

    Layout (the ``wav/`` folder; other folders of the archive such as ``lablaut/`` or ``silb/`` are ignored; without a
    ``wav/`` folder the whole tree is searched):

    ```
    emodb/
    └── wav/
        ├── 03a01Fa.wav    # speaker 03, text a01, emotion F (Freude), version a
        └── 16b10Wb.wav
    ```

    The 6th character is the emotion: W (anger) -> angry, F (happiness) -> happy, T (sadness) -> sad, N -> neutral;
    L (boredom), E (disgust) and A (fear) are dropped and counted. Genders come from the documented speaker table,
    transcripts from the documented text table. EMO-DB has no official split: the split is speaker-independent.

    Args:
        data_dir (`str` or `os.PathLike`): the extracted archive.
        seed (`int`, *optional*, defaults to 0): seed of the speaker-independent split.
        ratios (`Sequence[float]`, *optional*, defaults to `(0.8, 0.1, 0.1)`): train/validation/test speaker ratios.
    """
    root = require_data_dir(data_dir, "emodb", EXPECTED)
    report = CorpusLoadReport("emodb", str(root))
    search = find_dir(root, ["wav"]) or root
    records = []
    for path in find_files(search):
        match = _NAME.match(path.stem)
        if match is None:
            report.drop("unparsed_name", path.name)
            continue
        known, emotion = map_label("emodb", match["emotion"])
        if emotion is None:
            report.drop_emotion(match["emotion"] if known else f"unknown:{match['emotion']}", path.name)
            continue
        speaker = match["speaker"]
        records.append(
            {
                "audio": str(path),
                "emotion": emotion,
                "language": "de",
                "speaker": f"emodb_{speaker}",
                "gender": EMODB_SPEAKER_GENDERS.get(speaker, "unknown"),
                "corpus": "emodb",
                "transcript": EMODB_TEXTS.get(match["text"], ""),
            }
        )
    if not records and not report.dropped:
        raise no_audio_error("emodb", search, EXPECTED)
    return assemble_corpus(records, report, seed=seed, ratios=ratios)
