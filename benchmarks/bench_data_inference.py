#!/usr/bin/env python
"""Benchmarks of issue 8, groups 3 (frozen-encoder embedding cache), 4 (audio input) and 6 (inference).

Everything is built inside the benchmark: a small synthetic corpus (``SyntheticCorpusConfig(languages=("en", "de"),
speakers_per_language=4, utterances_per_speaker=8)``: 64 utterances of about 3 s at 16 kHz; 3 speakers x 4
utterances in quick mode) and each method's model built in code with random weights (the default-sized
architectures in the full run where the CPU allows, tiny ones in quick mode; the sizes are in each record's details).

3. Embedding cache: one training epoch (forward + backward + optimiser step over the first 16 train utterances,
   batch 8) reading the cached frozen-encoder features vs decoding the audio and running the frozen encoders in every
   batch, for SAPA
   (`compute_window_features` + `collate_window_features`) and zero-shot (`encode_backbone_frames` +
   `ZeroShotFrameCollator` vs `with_decoded_audio` + `ZeroShotDataCollator`). Target: >= 10x. Plus a record that the
   SAPA cache is reused when nothing changed and rebuilt when the weights, the settings or the data change.
4. Audio input: seconds per file of `hf_cser.audio.load_audio` (decode + resample + validation) vs bare
   `soundfile.read` of the same files, at the native 16 kHz and from 44.1 kHz / 8 kHz copies (reference there: bare
   `soundfile.read` + `scipy.signal.resample_poly`, the same work without the library); target: within 1.5x. Lazy
   decoding through `with_decoded_audio` (the collator's columns, as the training scripts read it; every column in
   the details), and `datasets.map` decoding with `num_proc=2` vs `num_proc=1`.
6. Inference: real-time factor (compute seconds per second of audio) of `pipeline("audio-classification",
   model=folder)` for each method's saved model, batch 1 and one batch of the 4 files, vs calling
   `model(**feature_extractor(...))` directly on the same waveforms (ratio = pipeline overhead; no target).

Run alone: ``python benchmarks/bench_data_inference.py [--quick] [--groups 3,4,6]``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from math import gcd
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))

from _common import markdown_table, result, side_by_side, timeit  # noqa: E402

G_CACHE = "3. embedding cache"
G_AUDIO = "4. audio input"
G_INFER = "6. inference"
BATCH = 8
EPOCH_UTTERANCES = 16
"""Utterances of the timed epochs of group 3 (the first rows of the train split): the default-sized encoders take
about a second per utterance on 2 CPU cores, so a whole split would not fit the benchmark's time budget."""
INFERENCE_FILES = 4


# ---------------------------------------------------------------------------------------------------------- data


def _quiet() -> None:
    """Silence progress bars and info logs of datasets / transformers (the report is the output)."""
    import datasets
    import transformers

    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    logging.getLogger("hf_cser").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")


def build_corpus(root: str, quick: bool):
    """The synthetic corpus of this benchmark (a `DatasetDict`) and its config."""
    from hf_cser.data import SyntheticCorpusConfig, synthesize_corpus

    if quick:
        config = SyntheticCorpusConfig(languages=("en", "de"), speakers_per_language=3, utterances_per_speaker=4)
    else:
        config = SyntheticCorpusConfig(languages=("en", "de"), speakers_per_language=4, utterances_per_speaker=8)
    with contextlib.redirect_stderr(io.StringIO()):
        corpus = synthesize_corpus(config, os.path.join(root, "corpus"), progress=False)
    return corpus, config


def all_paths(corpus) -> list[str]:
    """Every audio path of the corpus, split by split."""
    return [p for split in corpus.values() for p in split["audio"]]


def _seconds_of(paths: Sequence[str]) -> float:
    import soundfile as sf

    return float(sum(sf.info(p).duration for p in paths))


# ------------------------------------------------------------------------------------------------ 4. audio input


def write_resampled_copies(paths: Sequence[str], folder: str, rate: int) -> list[str]:
    """16-bit copies of `paths` at `rate` Hz (resampled with scipy), in `folder`."""
    import soundfile as sf
    from scipy.signal import resample_poly

    from hf_cser.audio import TARGET_SAMPLING_RATE

    os.makedirs(folder, exist_ok=True)
    out = []
    for i, path in enumerate(paths):
        data, sr = sf.read(path, dtype="float32")
        if sr != TARGET_SAMPLING_RATE:
            raise ValueError(f"{path}: expected {TARGET_SAMPLING_RATE} Hz, got {sr}")
        g = gcd(rate, sr)
        copy = np.clip(resample_poly(data, rate // g, sr // g), -1.0, 1.0)
        target = os.path.join(folder, f"{i:04d}.wav")
        sf.write(target, copy.astype(np.float32), rate, subtype="PCM_16")
        out.append(target)
    return out


def bench_audio_input(corpus, root: str, quick: bool) -> list[dict]:
    """Group 4: `load_audio` vs bare soundfile reads; lazy decoding; `datasets.map` num_proc scaling."""
    import soundfile as sf
    from scipy.signal import resample_poly

    from hf_cser.audio import TARGET_SAMPLING_RATE, load_audio
    from hf_cser.data import with_decoded_audio

    paths = all_paths(corpus)
    repeat = 2 if quick else 7
    min_time = 0.02 if quick else 0.2
    copies = {16000: paths}
    for rate in (44100, 8000):
        copies[rate] = write_resampled_copies(paths, os.path.join(root, f"audio_{rate}"), rate)
    records = []
    for rate, files in copies.items():

        def ours(files=files):
            for p in files:
                load_audio(p)

        if rate == TARGET_SAMPLING_RATE:

            def reference(files=files):
                for p in files:
                    sf.read(p, dtype="float32")

            ref_name = "bare soundfile.read (float32)"
        else:
            g = gcd(rate, TARGET_SAMPLING_RATE)
            up, down = TARGET_SAMPLING_RATE // g, rate // g

            def reference(files=files, up=up, down=down):
                for p in files:
                    data, _ = sf.read(p, dtype="float32")
                    resample_poly(data, up, down).astype(np.float32, copy=False)

            ref_name = "bare soundfile.read + scipy resample_poly"
        t_ours, t_ref = side_by_side(ours, reference, repeat=repeat, min_time=min_time)
        n = len(files)
        details: dict[str, Any] = {
            "files": n,
            "audio_seconds": round(_seconds_of(files), 1),
            "source_rate_hz": rate,
            "files_per_s_ours": round(n / t_ours, 1),
            "files_per_s_reference": round(n / t_ref, 1),
        }
        if rate != TARGET_SAMPLING_RATE:

            def bare_read(files=files):
                for p in files:
                    sf.read(p, dtype="float32")

            t_bare = timeit(bare_read, repeat=repeat, min_time=min_time)
            details["files_per_s_bare_read_without_resampling"] = round(n / t_bare, 1)
            details["ratio_vs_bare_read_without_resampling"] = round(t_ours / t_bare, 2)
        ratio = t_ours / t_ref
        records.append(
            result(
                G_AUDIO,
                f"load_audio, {rate} Hz WAV -> 16 kHz, per file",
                ours=t_ours / n,
                reference=t_ref / n,
                reference_name=ref_name,
                unit="s",
                target="<= 1.5x",
                met=ratio <= 1.5,
                details=details,
            )
        )

    # lazy decoding through the dataset transform vs bare reads of the same rows; the training scripts read only the
    # collator's columns (`columns=`), every column is the informative worst case (datasets formats each one)
    train = corpus["train"]
    rows = len(train)
    collator_columns = ["audio", "emotion", "language", "speaker"]

    def iterate(lazy) -> Callable[[], None]:
        def fn():
            for start in range(0, rows, BATCH):
                lazy[start : start + BATCH]["audio"]

        return fn

    train_paths = list(train["audio"])

    def bare_rows():
        for p in train_paths:
            sf.read(p, dtype="float32")

    lazy_columns = with_decoded_audio(train, columns=collator_columns)
    lazy_all = with_decoded_audio(train)
    t_lazy, t_bare = side_by_side(iterate(lazy_columns), bare_rows, repeat=repeat, min_time=min_time)
    t_lazy_all, t_bare_all = side_by_side(iterate(lazy_all), bare_rows, repeat=repeat, min_time=min_time)
    ratio = t_lazy / t_bare

    def rows_only():  # the datasets row formatting alone (every column, no decoding): where the overhead lies
        for start in range(0, rows, BATCH):
            train[start : start + BATCH]

    t_rows = timeit(rows_only, repeat=repeat, min_time=min_time)
    records.append(
        result(
            G_AUDIO,
            f"with_decoded_audio (lazy, collator columns), batches of {BATCH}, per file",
            ours=t_lazy / rows,
            reference=t_bare / rows,
            reference_name="bare soundfile.read (float32)",
            unit="s",
            target="<= 1.5x",
            met=ratio <= 1.5,
            details={
                "files": rows,
                "columns": collator_columns,
                "files_per_s_ours": round(rows / t_lazy, 1),
                "files_per_s_reference": round(rows / t_bare, 1),
                "ratio_every_column": round(t_lazy_all / t_bare_all, 3),
                "files_per_s_every_column": round(rows / t_lazy_all, 1),
                "datasets_row_access_without_decoding_s_per_file": round(t_rows / rows, 6),
            },
        )
    )

    # datasets.map decoding, 2 processes vs 1 (44.1 kHz copies: decode + resample is the work that scales)
    from datasets import Dataset

    files44 = copies[44100]
    if not quick:
        files44 = files44 * 2
    dataset = Dataset.from_dict({"audio": files44})
    cache_dir = os.path.join(root, "map_cache")
    os.makedirs(cache_dir, exist_ok=True)
    dataset = dataset.map(lambda b: b, batched=True, cache_file_name=os.path.join(cache_dir, "base.arrow"))

    def decode(batch):
        return {"array": [load_audio(p) for p in batch["audio"]]}

    counter = {"n": 0}

    def mapper(num_proc: int) -> Callable[[], None]:
        def fn():
            counter["n"] += 1
            name = os.path.join(cache_dir, f"map_{num_proc}_{counter['n']}.arrow")
            dataset.map(
                decode,
                batched=True,
                batch_size=BATCH,
                num_proc=num_proc,
                load_from_cache_file=False,
                cache_file_name=name,
            )

        return fn

    map_repeat = 1 if quick else 3
    t2, t1 = side_by_side(mapper(2), mapper(1), repeat=map_repeat, warmup=0 if quick else 1)
    n = len(files44)
    records.append(
        result(
            G_AUDIO,
            "datasets.map(load_audio), num_proc=2 vs 1, 44.1 kHz files",
            ours=t2,
            reference=t1,
            reference_name="the same map with num_proc=1",
            unit="s",
            target="informative (ideal 0.5x on 2 idle cores)",
            met=None,
            details={
                "files": n,
                "files_per_s_num_proc_2": round(n / t2, 1),
                "files_per_s_num_proc_1": round(n / t1, 1),
                "cpu_count": os.cpu_count(),
            },
        )
    )
    return records


# ------------------------------------------------------------------------------------------ 3. embedding cache


def _wavlm_config(quick: bool):
    from transformers import WavLMConfig

    if quick:
        return WavLMConfig(
            hidden_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=64,
            conv_dim=(32,) * 7,
            num_conv_pos_embeddings=16,
            num_conv_pos_embedding_groups=2,
        )
    return WavLMConfig()  # WavLM Base architecture (SAPA's default content encoder)


def build_sapa(quick: bool, seed: int = 0):
    """SAPA with its default encoders (WavLM Base + GE2E) in the full run, the test suite's tiny one in quick."""
    import torch

    from hf_cser.encoders.ge2e import Ge2eSpeakerEncoderConfig
    from hf_cser.models.sapa import SapaConfig, SapaFeatureExtractor, SapaForEmotionClassification

    torch.manual_seed(seed)
    if quick:
        config = SapaConfig(
            content_encoder_config=_wavlm_config(True),
            speaker_encoder_config=Ge2eSpeakerEncoderConfig(hidden_size=16, num_layers=1, embedding_size=16),
            content_projection_size=8,
            speaker_projection_size=8,
            hidden_size=16,
            num_attention_heads=2,
            classifier_hidden_sizes=(16, 8, 8),
        )
        sizes = "tiny: WavLM 1x32 + GE2E 1x16, heads 16"
    else:
        config = SapaConfig()
        sizes = "default: WavLM Base (12x768) + GE2E (3x256), heads 256"
    model = SapaForEmotionClassification(config)
    return model, SapaFeatureExtractor.from_sapa_arguments(config), sizes


def _wav2vec2_config(quick: bool):
    from transformers import Wav2Vec2Config

    if quick:
        return Wav2Vec2Config(
            conv_dim=(32,) * 7,
            hidden_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=37,
            num_conv_pos_embeddings=16,
            num_conv_pos_embedding_groups=2,
            feat_extract_norm="layer",
        )
    return Wav2Vec2Config()  # wav2vec 2.0 Base architecture (the zero-shot default backbone)


def build_zero_shot(quick: bool, num_speakers: int, seed: int = 0):
    """Zero-shot SER with a frozen backbone (wav2vec 2.0 Base in the full run, tiny in quick)."""
    import torch
    from transformers import Wav2Vec2FeatureExtractor

    from hf_cser.models.zero_shot import ZeroShotConfig, ZeroShotForEmotionClassification

    torch.manual_seed(seed)
    config = ZeroShotConfig(
        backbone_config=_wav2vec2_config(quick),
        num_speakers=num_speakers,
        speaker_hidden_size=16 if quick else 256,
        top_adapter_size=8 if quick else 64,
    )
    model = ZeroShotForEmotionClassification(config)
    extractor = Wav2Vec2FeatureExtractor(return_attention_mask=True, do_normalize=True)
    sizes = "tiny: wav2vec2 1x32" if quick else "default: wav2vec 2.0 Base (12x768), top adapter 64, speaker head 256"
    return model, extractor, sizes


def _epoch(model, batches: Callable[[], Any], forward: Callable[[Any], Any], optimizer) -> None:
    """One training epoch: forward, backward and optimiser step for every batch."""
    model.train()
    for batch in batches():
        loss = forward(batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)


def bench_sapa_cache(corpus, root: str, quick: bool) -> list[dict]:
    """SAPA: epoch on cached window features vs decoding + running both frozen encoders in every batch."""
    import torch

    from hf_cser.audio import load_audio
    from hf_cser.models.sapa import collate_window_features, compute_window_features

    train = corpus["train"].select(range(min(EPOCH_UTTERANCES, len(corpus["train"]))))
    model, extractor, sizes = build_sapa(quick)
    cache_dir = os.path.join(root, "sapa_cache")
    start = time.perf_counter()
    cached = compute_window_features(model, extractor, train, batch_size=BATCH, cache_dir=cache_dir, progress=False)
    build_s = time.perf_counter() - start
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    n = len(train)

    def cached_batches():
        order = np.random.default_rng(0).permutation(n).tolist()
        for i in range(0, n, BATCH):
            yield collate_window_features([cached[j] for j in order[i : i + BATCH]])

    def cached_forward(batch):
        batch = dict(batch)
        batch.pop("metadata")
        batch.pop("window_phones")
        return model(**batch).loss

    def raw_batches():
        order = np.random.default_rng(0).permutation(n).tolist()
        for i in range(0, n, BATCH):
            rows = train.select(order[i : i + BATCH])[:]
            waves = [load_audio(p) for p in rows["audio"]]
            inputs = extractor(
                waves,
                sampling_rate=16000,
                phonemes=[p or None for p in rows["phonemes"]],
                languages=rows["language"],
                return_tensors="pt",
            )
            inputs.pop("window_phones", None)
            inputs["labels"] = torch.tensor(rows["emotion"])
            yield inputs

    def raw_forward(batch):
        return model(**batch).loss

    repeat = 1
    ours = lambda: _epoch(model, cached_batches, cached_forward, optimizer)  # noqa: E731
    ours()  # warm-up of the cheap path only; the expensive one is not warmed up (its first epoch is typical)
    t_cached, t_raw = side_by_side(
        ours, lambda: _epoch(model, raw_batches, raw_forward, optimizer), repeat=repeat, warmup=0
    )
    speedup = t_raw / t_cached
    audio_s = _seconds_of(train["audio"])

    # what the trainer's data loader does per batch (`__getitems__` + collate): numpy rows vs nested Python lists
    as_lists = cached.with_format(None)
    order = np.random.default_rng(0).permutation(n).tolist()
    chunks = [order[i : i + BATCH] for i in range(0, n, BATCH)]

    def fetch_collate(dataset) -> Callable[[], None]:
        def fn():
            for chunk in chunks:
                collate_window_features(dataset.__getitems__(chunk))

        return fn

    t_numpy, t_lists = side_by_side(fetch_collate(cached), fetch_collate(as_lists), repeat=3 if quick else 7)
    formatting = result(
        G_CACHE,
        f"SAPA cached features to the collator ({n} rows, batch {BATCH}): numpy rows",
        ours=t_numpy,
        reference=t_lists,
        reference_name="the same rows as nested Python lists (output_format=None)",
        unit="s",
        target="faster than lists (ratio < 1)",
        met=t_numpy < t_lists,
        details={
            "content_size": int(np.asarray(cached[0]["content_features"]).shape[-1]),
            "batches": len(chunks),
            "speedup": round(t_lists / t_numpy, 2),
        },
    )
    epoch = result(
        G_CACHE,
        f"SAPA epoch ({n} utterances, batch {BATCH}), cached window features",
        ours=t_cached,
        reference=t_raw,
        reference_name="decode + SapaFeatureExtractor + frozen encoders every batch",
        unit="s",
        target="<= 0.1x (>= 10x faster)",
        met=speedup >= 10,
        details={
            "speedup": round(speedup, 1),
            "model": sizes,
            "audio_seconds": round(audio_s, 1),
            "cache_build_s (once per corpus)": round(build_s, 2),
            "epochs_to_amortise_the_build": round(build_s / max(t_raw - t_cached, 1e-9), 2),
        },
    )
    return [epoch, formatting]


def bench_sapa_invalidation(corpus, root: str) -> list[dict]:
    """The SAPA cache is reused when nothing changed and rebuilt when the weights, settings or data change."""
    import torch

    from hf_cser.models.sapa import SapaFeatureExtractor, compute_window_features

    data = corpus["train"].select(range(4))
    model, extractor, _ = build_sapa(True)
    cache_dir = os.path.join(root, "sapa_invalidation")

    def cache_of(m, fe, ds) -> tuple[str, float]:
        start = time.perf_counter()
        out = compute_window_features(m, fe, ds, batch_size=BATCH, cache_dir=cache_dir, progress=False)
        return os.path.dirname(out.cache_files[0]["filename"]), time.perf_counter() - start

    first, t_first = cache_of(model, extractor, data)
    again, t_again = cache_of(model, extractor, data)
    checks = {"same model + data -> reused": again == first}
    changed_model, _, _ = build_sapa(True)
    changed_model.load_state_dict(model.state_dict())
    with torch.no_grad():
        next(changed_model.content_encoder.parameters()).add_(0.01)
    checks["content-encoder weights changed -> rebuilt"] = cache_of(changed_model, extractor, data)[0] != first
    speaker_changed, _, _ = build_sapa(True)
    speaker_changed.load_state_dict(model.state_dict())
    with torch.no_grad():
        next(speaker_changed.speaker_encoder.parameters()).add_(0.01)
    checks["speaker-encoder weights changed -> rebuilt"] = cache_of(speaker_changed, extractor, data)[0] != first
    heads_changed, _, _ = build_sapa(True)
    heads_changed.load_state_dict(model.state_dict())
    with torch.no_grad():
        next(heads_changed.classifier.parameters()).add_(0.01)
    checks["trainable head changed -> reused (not part of the features)"] = (
        cache_of(heads_changed, extractor, data)[0] == first
    )
    other_settings = SapaFeatureExtractor.from_dict({**extractor.to_dict(), "window_ms": 200.0})
    checks["feature-extractor settings changed -> rebuilt"] = cache_of(model, other_settings, data)[0] != first
    checks["other rows -> rebuilt"] = cache_of(model, extractor, corpus["train"].select(range(1, 5)))[0] != first
    edited = data.map(lambda row: {"language": "fr"})
    checks["edited column -> rebuilt"] = cache_of(model, extractor, edited)[0] != first
    met = all(checks.values())
    return [
        result(
            G_CACHE,
            "SAPA cache fingerprint: reused when unchanged, rebuilt on model / settings / data change",
            ours=t_again,
            reference=t_first,
            reference_name="first call (computes the features)",
            unit="s",
            target="every check passes",
            met=met,
            details={
                **{k: bool(v) for k, v in checks.items()},
                "note": "ours = a cache hit, reference = the first computation (4 utterances, tiny model)",
            },
        )
    ]


def bench_zero_shot_cache(corpus, root: str, quick: bool) -> list[dict]:
    """Zero-shot: epoch on cached backbone frames vs decoding + running the frozen backbone in every batch."""
    import torch

    from hf_cser.data import with_decoded_audio
    from hf_cser.trainers import ZeroShotDataCollator, ZeroShotFrameCollator, encode_backbone_frames
    from hf_cser.trainers.zero_shot_trainer import build_speaker_map

    train = corpus["train"].select(range(min(EPOCH_UTTERANCES, len(corpus["train"]))))
    speaker_map = build_speaker_map(train)
    languages = sorted(set(train["language"]))
    model, extractor, sizes = build_zero_shot(quick, len(speaker_map))
    cache_dir = os.path.join(root, "zero_shot_frames")
    start = time.perf_counter()
    frames = encode_backbone_frames(model, train["audio"], batch_size=BATCH, progress=False, cache_dir=cache_dir)
    build_s = time.perf_counter() - start
    start = time.perf_counter()
    reloaded = encode_backbone_frames(model, train["audio"], batch_size=BATCH, progress=False, cache_dir=cache_dir)
    load_s = time.perf_counter() - start
    assert all(torch.equal(frames[k], reloaded[k]) for k in frames), "the disk cache changed the frames"
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    n = len(train)
    rows_cached = train.select_columns(["audio", "emotion", "language", "speaker"])
    frame_collator = ZeroShotFrameCollator(frames=frames, speaker_map=speaker_map, languages=languages)
    decoded = with_decoded_audio(train.select_columns(["audio", "emotion", "language", "speaker"]))
    wave_collator = ZeroShotDataCollator(speaker_map=speaker_map, languages=languages)

    def batches(dataset, collator):
        def gen():
            order = np.random.default_rng(0).permutation(n).tolist()
            for i in range(0, n, BATCH):
                yield collator([dataset[j] for j in order[i : i + BATCH]])

        return gen

    def forward(batch):
        batch = dict(batch)
        batch.pop("language_ids", None)
        out = model(**batch)
        return out.loss + 0.1 * out.speaker_loss

    repeat = 1
    ours = lambda: _epoch(model, batches(rows_cached, frame_collator), forward, optimizer)  # noqa: E731
    ours()  # warm-up of the cheap path only
    t_cached, t_raw = side_by_side(
        ours, lambda: _epoch(model, batches(decoded, wave_collator), forward, optimizer), repeat=repeat, warmup=0
    )
    speedup = t_raw / t_cached
    return [
        result(
            G_CACHE,
            f"zero-shot epoch ({n} utterances, batch {BATCH}), cached backbone frames",
            ours=t_cached,
            reference=t_raw,
            reference_name="with_decoded_audio + ZeroShotDataCollator + frozen backbone every batch",
            unit="s",
            target="<= 0.1x (>= 10x faster)",
            met=speedup >= 10,
            details={
                "speedup": round(speedup, 1),
                "model": sizes,
                "cache_build_s (once per run)": round(build_s, 2),
                "epochs_to_amortise_the_build": round(build_s / max(t_raw - t_cached, 1e-9), 2),
                "reference_mode": "model.train(): the frozen backbone runs with its dropout / LayerDrop, as the "
                "waveform trainer runs it",
                "cache_load_s (a later run, from disk)": round(load_s, 3),
                "cache": "on disk (safetensors, fingerprint of backbone weights + config, settings, audio files); "
                "see the invalidation record",
            },
        )
    ]


def bench_zero_shot_invalidation(corpus, root: str) -> list[dict]:
    """The zero-shot frame cache is reused when nothing changed and rebuilt when weights, settings or data change."""
    import shutil

    import soundfile as sf
    import torch

    from hf_cser.trainers import encode_backbone_frames
    from hf_cser.trainers.zero_shot_frames import backbone_frame_fingerprint

    paths = list(corpus["train"]["audio"][:4])
    cache_dir = os.path.join(root, "zero_shot_invalidation")
    calls = []

    def cache_of(model, files=paths, **settings) -> tuple[bool, float]:
        """(whether the backbone ran, seconds)."""
        before = len(calls)
        start = time.perf_counter()
        encode_backbone_frames(model, files, batch_size=BATCH, progress=False, cache_dir=cache_dir, **settings)
        return len(calls) > before, time.perf_counter() - start

    def built():
        model = build_zero_shot(True, num_speakers=4)[0]
        original = model.encode_frames

        def counting(*args, **kwargs):
            calls.append(1)
            return original(*args, **kwargs)

        model.encode_frames = counting
        return model

    model = built()
    _, t_first = cache_of(model)
    ran, t_again = cache_of(built())
    checks = {"same backbone + files -> reused": not ran}
    changed = built()
    with torch.no_grad():
        next(changed.backbone.parameters()).add_(0.01)
    checks["backbone weights changed -> rebuilt"] = cache_of(changed)[0]
    heads = built()
    with torch.no_grad():
        next(heads.classifier.parameters()).add_(0.01)
    checks["classifier head changed -> reused (not part of the frames)"] = not cache_of(heads)[0]
    checks["max_length changed -> rebuilt"] = cache_of(built(), max_length=8000)[0]
    checks["other files -> rebuilt"] = cache_of(built(), files=paths[1:])[0]
    edited = os.path.join(root, "edited.wav")
    shutil.copy(paths[0], edited)
    cache_of(built(), files=[edited] + paths[1:])
    audio, rate = sf.read(edited, dtype="float32")
    sf.write(edited, 0.5 * audio[: len(audio) // 2], rate)  # same path, new content (another size and mtime)
    checks["file rewritten -> rebuilt"] = cache_of(built(), files=[edited] + paths[1:])[0]
    target = os.path.join(cache_dir, backbone_frame_fingerprint(model, paths, batch_size=BATCH) + ".safetensors")
    with open(target, "r+b") as f:
        f.truncate(os.path.getsize(target) // 2)
    checks["truncated cache file -> rebuilt (with a warning)"] = cache_of(built())[0]
    checks["... and reused again afterwards"] = not cache_of(built())[0]
    met = all(checks.values())
    return [
        result(
            G_CACHE,
            "zero-shot frame cache fingerprint: reused when unchanged, rebuilt on weights / settings / data",
            ours=t_again,
            reference=t_first,
            reference_name="first call (computes the frames)",
            unit="s",
            target="every check passes",
            met=met,
            details={
                **checks,
                "note": "ours = a cache hit, reference = the first computation (4 utterances, tiny backbone)",
            },
        )
    ]


# ---------------------------------------------------------------------------------------------------- 6. inference


def build_inference_models(quick: bool, root: str) -> list[tuple[str, str, str]]:
    """Save each method's model + feature extractor to a folder; returns `(method, folder, sizes)`."""
    import torch

    from hf_cser.models.ctl_mtnet import CtlMtNetConfig, CtlMtNetFeatureExtractor, CtlMtNetForEmotionClassification
    from hf_cser.models.feature_gan import (
        FeatureGanConfig,
        FeatureGanForEmotionClassification,
        LogMelConvEncoderConfig,
        LogMelFeatureExtractor,
    )

    out = []

    def save(name, model, extractor, sizes):
        folder = os.path.join(root, "models", name)
        model.eval().save_pretrained(folder)
        extractor.save_pretrained(folder)
        out.append((name, folder, sizes))

    sapa, sapa_fe, sizes = build_sapa(quick)
    save("SAPA", sapa, sapa_fe, sizes)
    zero_shot, zs_fe, sizes = build_zero_shot(quick, num_speakers=6)
    save("zero-shot", zero_shot, zs_fe, sizes)
    torch.manual_seed(0)
    if quick:
        ctl = CtlMtNetConfig(conv_filters=4, primary_capsule_types=2, primary_capsule_dim=4, digit_capsule_dim=3)
        sizes = "tiny: conv 4 filters, capsules 2x4 -> 4x3"
    else:
        ctl = CtlMtNetConfig()
        sizes = "default CtlMtNetConfig"
    save("CTL-MTNet", CtlMtNetForEmotionClassification(ctl), CtlMtNetFeatureExtractor(), sizes)
    if quick:
        backbone = LogMelConvEncoderConfig(num_mel_bins=16, conv_dim=[12, 16], conv_kernel=[3, 3], conv_stride=[2, 1])
        gan = FeatureGanConfig(backbone_config=backbone, text_hidden_size=8, freeze_backbone=True)
        fe = LogMelFeatureExtractor(feature_size=16)
        sizes = "tiny: log-mel conv 12/16, 16 mel bins"
    else:
        gan = FeatureGanConfig(freeze_backbone=True)
        fe = LogMelFeatureExtractor()
        sizes = "default FeatureGanConfig (log-mel conv encoder), stage-3 classifier (frozen)"
    save("feature GAN stage 3", FeatureGanForEmotionClassification(gan), fe, sizes)
    return out


def bench_inference(corpus, root: str, quick: bool) -> list[dict]:
    """Group 6: pipeline RTF vs direct `model(**feature_extractor(...))`, batch 1 and one batch of all files."""
    import torch
    from transformers import pipeline

    from hf_cser.audio import load_audio

    files = list(corpus["test"]["audio"])[:INFERENCE_FILES]
    waves = [load_audio(p) for p in files]
    audio_s = sum(len(w) for w in waves) / 16000.0
    records = []
    for method, folder, sizes in build_inference_models(quick, root):
        classifier = pipeline("audio-classification", model=folder, device="cpu")
        model, extractor = classifier.model.eval(), classifier.feature_extractor
        names = set(extractor.model_input_names)
        params = sum(p.numel() for p in model.parameters())

        def direct(batch_size: int) -> Callable[[], None]:
            def fn():
                with torch.no_grad():
                    for i in range(0, len(waves), batch_size):
                        chunk = waves[i : i + batch_size]
                        inputs = extractor(
                            chunk if batch_size > 1 else chunk[0],
                            sampling_rate=16000,
                            padding=True,
                            return_tensors="pt",
                        )
                        model(**{k: v for k, v in inputs.items() if k in names}).logits.softmax(-1)

            return fn

        def piped(batch_size: int) -> Callable[[], None]:
            def fn():
                if batch_size == 1:
                    for w in waves:
                        classifier(w)
                else:
                    classifier(waves, batch_size=batch_size)

            return fn

        classifier(waves[0])  # warm-up (first-call allocations) outside the timed runs
        for batch_size in (1, len(waves)):  # one batch of every file
            reps = 1 if quick or params > 10_000_000 else 3  # the default SAPA / zero-shot take ~1 s per file
            t_pipe, t_direct = side_by_side(piped(batch_size), direct(batch_size), repeat=reps, warmup=0)
            records.append(
                result(
                    G_INFER,
                    f"{method}: pipeline RTF, batch {batch_size}",
                    ours=t_pipe / audio_s,
                    reference=t_direct / audio_s,
                    reference_name="model(**feature_extractor(...)) called directly",
                    unit="x real time",
                    target="report only",
                    met=None,
                    details={
                        "model": sizes,
                        "parameters": params,
                        "files": len(waves),
                        "audio_seconds": round(audio_s, 1),
                        "repeats (median)": reps,
                        "pipeline_s": round(t_pipe, 3),
                        "direct_s": round(t_direct, 3),
                    },
                )
            )
    return records


# ---------------------------------------------------------------------------------------------------------- run


GROUPS = ("3", "4", "6")


def run(quick: bool = False, groups: Sequence[str] = GROUPS) -> list[dict]:
    """Groups 3, 4 and 6 (see the module docstring; `groups` picks some). Uses torch's default thread count
    (recorded in details)."""
    import torch

    import hf_cser  # noqa: F401  (registers the models and the soundfile pipeline)

    _quiet()
    records: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="hf_cser_bench_data_") as root:
        start = time.perf_counter()
        corpus, config = build_corpus(root, quick)
        corpus_s = time.perf_counter() - start
        if "4" in groups:
            records += bench_audio_input(corpus, root, quick)
        if "3" in groups:
            records += bench_sapa_cache(corpus, root, quick)
            records += bench_sapa_invalidation(corpus, root)
            records += bench_zero_shot_cache(corpus, root, quick)
            records += bench_zero_shot_invalidation(corpus, root)
        if "6" in groups:
            records += bench_inference(corpus, root, quick)
    common = {
        "torch_threads": torch.get_num_threads(),
        "corpus": f"{config.languages}, "
        f"{config.speakers_per_language} speakers x {config.utterances_per_speaker} utterances",
        "corpus_synthesis_s": round(corpus_s, 1),
    }
    for record in records:
        record["details"] = {**record["details"], **common}
    return records


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its records as a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke run (~30 s)")
    parser.add_argument("--groups", default=",".join(GROUPS), help="comma-separated groups to run (default: all)")
    args = parser.parse_args(argv)
    groups = [g.strip() for g in args.groups.split(",") if g.strip()]
    unknown = sorted(set(groups) - set(GROUPS))
    if unknown:
        parser.error(f"unknown group(s) {unknown}; choose from {list(GROUPS)}")
    start = time.perf_counter()
    records = run(quick=args.quick, groups=groups)
    print(markdown_table(records))
    print(f"\n({time.perf_counter() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
