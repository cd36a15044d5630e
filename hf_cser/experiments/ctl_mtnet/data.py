"""Data of the CTL-MTNet experiment: data specs decoded once (bad files raise or are counted) and rows of cached
MFCCs."""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np

from hf_cser.audio import BadAudioCounter
from hf_cser.cache import file_identities, write_atomically
from hf_cser.data import drop_bad_audio

from .arguments import ProtocolArguments

MFCC_CACHE_VERSION = 2
"""Part of the MFCC cache key: raised when what is cached changes (the extractor's settings and every file's path,
size and modification time are the rest)."""


def feature_rows(dataset, extractor, cache_dir: str) -> list[dict]:
    """Rows ``{input_features, emotion, speaker, language, corpus, audio}`` of ``dataset`` with MFCCs computed once
    and cached in ``cache_dir`` (keyed by the extractor settings and the audio files)."""
    from hf_cser.audio import load_audio
    from hf_cser.console import progress_bar

    paths = list(dataset["audio"])
    # keyed on the extractor settings and every file's identity (path, size, modification time): an edited file is
    # recomputed
    identity = json.dumps([MFCC_CACHE_VERSION, extractor.to_json_string(), file_identities(paths)])
    key = hashlib.sha1(identity.encode()).hexdigest()[:16]
    cache = os.path.join(cache_dir, f"mfcc_{key}.npz")
    if os.path.isfile(cache):
        with np.load(cache) as stored:
            flat, offsets = stored["features"], stored["offsets"]
        features = [flat[offsets[i] : offsets[i + 1]] for i in range(len(paths))]
    else:
        features = [
            extractor.extract(load_audio(p, extractor.sampling_rate)) for p in progress_bar(paths, desc="MFCC")
        ]
        offsets = np.cumsum([0] + [len(f) for f in features])
        flat = np.concatenate(features)

        def write(tmp: str) -> None:  # ranks of a distributed launch write alike: each its own temporary file
            with open(tmp, "wb") as handle:  # a file object: np.savez would append ".npz" to a temporary name
                np.savez(handle, features=flat, offsets=offsets)

        write_atomically(cache, write)
    present = [name for name in ("emotion", "speaker", "language", "corpus") if name in dataset.column_names]
    columns = {name: list(dataset[name]) for name in present}  # unlabelled target data has no `emotion`
    return [
        {"input_features": f, "audio": p, **{name: values[i] for name, values in columns.items()}}
        for i, (f, p) in enumerate(zip(features, paths, strict=True))
    ]


def load_checked(spec: str, protocol: ProtocolArguments, counter: BadAudioCounter):
    """Load a data spec and decode every audio file once (`drop_bad_audio`): bad files raise naming the file, or are
    dropped and counted in `counter` with `--skip_bad_audio`."""
    from hf_cser.data.specs import load_data_spec

    data = load_data_spec(spec, synthetic_dir=protocol.synthetic_dir, num_proc=protocol.num_proc)
    return {
        name: drop_bad_audio(split, skip_bad_audio=protocol.skip_bad_audio, counter=counter, desc=f"{spec} {name}")
        for name, split in data.items()
    }


def protocol_rows(rows: list[dict], index, with_speakers: bool) -> dict:
    """The columns of some feature rows that the leakage guard compares (`check_target_disjoint`)."""
    columns = {"audio": [rows[i]["audio"] for i in index]}
    if with_speakers:
        columns["speaker"] = [rows[i]["speaker"] for i in index]
    return columns
