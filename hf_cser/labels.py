"""The shared emotion label space of hf_cser and the per-corpus label maps.

Every corpus, real or synthetic, is mapped to the four classes ``neutral, happy, angry, sad`` (see
``../shared/METHODS.md``). This module imports nothing of ours: it is the floor the rest stands on.
"""

from __future__ import annotations

EMOTIONS: tuple[str, ...] = ("neutral", "happy", "angry", "sad")
"""The four emotion classes, in label-id order."""

LABEL2ID: dict[str, int] = {name: i for i, name in enumerate(EMOTIONS)}
ID2LABEL: dict[int, str] = dict(enumerate(EMOTIONS))
NUM_EMOTIONS = len(EMOTIONS)

GENDERS: tuple[str, ...] = ("female", "male", "unknown")

# Generic spellings seen in corpus metadata and users' manifests -> canonical class. Anything else is not one of
# the four classes (the corpus loaders drop and count it; the manifest loader reports it as an error).
EMOTION_ALIASES: dict[str, str] = {
    "neutral": "neutral",
    "neu": "neutral",
    "n": "neutral",
    "happy": "happy",
    "happiness": "happy",
    "hap": "happy",
    "joy": "happy",
    "h": "happy",
    "angry": "angry",
    "anger": "angry",
    "ang": "angry",
    "a": "angry",
    "sad": "sad",
    "sadness": "sad",
    "s": "sad",
}

# Per-corpus maps from the corpus's own label codes to the canonical class, or ``None`` for a label the corpus has
# but hf_cser drops (counted by the loader). Filled in next to each loader's documentation of the naming scheme.
CORPUS_LABEL_MAPS: dict[str, dict[str, str | None]] = {
    # EMO-DB: 6th character of `03a01Fa.wav` (German initials): Wut/Aerger, Langeweile, Ekel, Angst, Freude, Trauer,
    # Neutral.
    "emodb": {"W": "angry", "L": None, "E": None, "A": None, "F": "happy", "T": "sad", "N": "neutral"},
    # URDU: letter of the last field of `SM1_F1_A01.wav`.
    "urdu": {"A": "angry", "H": "happy", "N": "neutral", "S": "sad"},
    # CaFE: 2nd field of `01-C-2-1.wav`: Colere, Degout, Joie, Neutre, Peur, Surprise, Tristesse.
    "cafe": {"C": "angry", "D": None, "J": "happy", "N": "neutral", "P": None, "S": None, "T": "sad"},
    # ESD: emotion folder of `0011/Angry/0011_000351.wav`.
    "esd": {"Neutral": "neutral", "Happy": "happy", "Angry": "angry", "Sad": "sad", "Surprise": None},
    # MELD: `Emotion` column of `train_sent_emo.csv`.
    "meld": {
        "neutral": "neutral",
        "joy": "happy",
        "anger": "angry",
        "sadness": "sad",
        "surprise": None,
        "fear": None,
        "disgust": None,
    },
    # IEMOCAP: categorical label of `dialog/EmoEvaluation/*.txt`; `exc` (excited) is merged into happy as in most SER
    # work on IEMOCAP (5531 utterances).
    "iemocap": {
        "neu": "neutral",
        "hap": "happy",
        "exc": "happy",
        "ang": "angry",
        "sad": "sad",
        "fru": None,
        "sur": None,
        "fea": None,
        "dis": None,
        "oth": None,
        "xxx": None,
    },
    # MSP-Podcast: `EmoClass` of `Labels/labels_consensus.csv`; U surprise, F fear, D disgust, C contempt, O other,
    # X no agreement.
    "msp-podcast": {
        "N": "neutral",
        "H": "happy",
        "A": "angry",
        "S": "sad",
        "U": None,
        "F": None,
        "D": None,
        "C": None,
        "O": None,
        "X": None,
    },
    # MSP-IMPROV: consensus class of `Evalution.txt` (O other, X no agreement).
    "msp-improv": {"N": "neutral", "H": "happy", "A": "angry", "S": "sad", "O": None, "X": None},
    # BIIC-Podcast: MSP-Podcast-style `EmoClass` codes.
    "biic-podcast": {
        "N": "neutral",
        "H": "happy",
        "A": "angry",
        "S": "sad",
        "U": None,
        "F": None,
        "D": None,
        "C": None,
        "O": None,
        "X": None,
    },
    # CASIA: emotion folder of `<speaker>/<emotion>/<id>.wav`.
    "casia": {"neutral": "neutral", "happy": "happy", "angry": "angry", "sad": "sad", "fear": None, "surprise": None},
    # TurEV-DB: emotion folder of `Sound Source/<Emotion>/<SPK>_<code>_<word>.wav`; Calm is mapped to neutral by the
    # loader unless `calm_as_neutral=False`, when it arrives here as `calm` and is dropped.
    "turev": {"neutral": "neutral", "happy": "happy", "angry": "angry", "sad": "sad", "calm": None},
    # SAVEE: letter prefix of `DC_a01.wav` / `DC/a01.wav`.
    "savee": {"n": "neutral", "h": "happy", "a": "angry", "sa": "sad", "d": None, "f": None, "su": None},
    # RAVDESS: 3rd field of `03-01-05-01-02-01-12.wav`; 02 calm is dropped (not neutral).
    "ravdess": {
        "01": "neutral",
        "02": None,
        "03": "happy",
        "04": "sad",
        "05": "angry",
        "06": None,
        "07": None,
        "08": None,
    },
}


def normalize_emotion(label: str, corpus: str | None = None) -> str | None:
    """Map a raw emotion label to one of :data:`EMOTIONS`.

    Args:
        label (`str`): the label as written by the corpus or the user.
        corpus (`str`, *optional*): a key of :data:`CORPUS_LABEL_MAPS`; its map is tried first.

    Returns:
        `str | None`: the canonical class, or ``None`` when the label is not one of the four classes.
    """
    key = str(label).strip()
    if corpus is not None and corpus in CORPUS_LABEL_MAPS:
        corpus_map = CORPUS_LABEL_MAPS[corpus]
        if key in corpus_map:
            return corpus_map[key]
        if key.lower() in corpus_map:
            return corpus_map[key.lower()]
    return EMOTION_ALIASES.get(key.lower())
