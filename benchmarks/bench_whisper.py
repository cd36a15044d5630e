#!/usr/bin/env python
"""Whisper front end on the real Whisper base weights: conversion accuracy and speed against CTranslate2.

Group 7 of the benchmark report (issue 15):

- **accuracy**: the encoder converted by `hf-cser convert-whisper --from-installed` against `ctranslate2.models.Whisper
  .encode` (float32, the converter's source format) on espeak-ng speech, both input modes: relative error
  ||ours - ct2|| / ||ct2|| of the last hidden state (target < 1e-4).
- **speed**: utterances per second of the front end's pooled features (all layers) with Whisper's encoder `unpadded`
  and `pad_30s`, against CTranslate2's own encoder on the same unpadded utterances (float32 and int8), side by side on
  the same utterances. Targets: unpadded >= 20 utterances/s on 2 cores (issue 19), and the unpadded/pad_30s ratio
  that justifies the default.

Needs the Whisper base wheels and `ctranslate2` (both in the test extra); without them the group reports what is
missing instead of numbers.

Usage::

    python benchmarks/bench_whisper.py [--quick]
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import markdown_table, result  # noqa: E402

GROUP = "7. Whisper front end"
SENTENCES = (
    "The weather is nice today, let us go for a walk.",
    "I did not expect to see you here so early in the morning.",
    "Please put the books back on the shelf when you are done.",
    "We will meet again at the station tomorrow afternoon.",
)


def speech(count: int) -> list[np.ndarray]:
    """`count` espeak-ng utterances (16 kHz float32), 1.5-4 s, several voices and rates."""
    from hf_cser.audio import resample
    from hf_cser.data.espeak import get_synthesizer

    synthesizer = get_synthesizer()
    out = []
    for i in range(count):
        res = synthesizer.synthesize(
            SENTENCES[i % len(SENTENCES)], voice=("en+m3", "en+f2", "en+m1")[i % 3], rate=140 + 15 * (i % 5)
        )
        out.append(resample(res.waveform.astype(np.float32) / 32768.0, res.sampling_rate, 16000).astype(np.float32))
    return out


def run(quick: bool = False) -> list[dict]:
    import torch

    try:
        import ctranslate2

        from hf_cser.encoders.whisper import convert_whisper_ctranslate2, find_installed_whisper_parts
    except ImportError as error:
        return [result(GROUP, "Whisper base vs CTranslate2", details={"skipped": str(error)})]
    from hf_cser.encoders import SpeechFrontEnd
    from hf_cser.encoders.whisper.encoding import encode_whisper_frames, log_mel_spectrogram, whisper_mel_filters

    records = []
    waves = speech(6 if quick else 24)
    with tempfile.TemporaryDirectory(prefix="hf_cser_bench_whisper_") as root:
        parts = find_installed_whisper_parts()
        ct2_dir = os.path.join(root, "ct2")
        os.makedirs(ct2_dir)
        with open(os.path.join(ct2_dir, "model.bin"), "wb") as whole:
            for part in parts:
                whole.write(part.read_bytes())
        for extra in ("config.json", "vocabulary.txt"):
            shutil.copyfile(parts[0].parent / extra, os.path.join(ct2_dir, extra))
        start = time.perf_counter()
        folder = convert_whisper_ctranslate2(None, os.path.join(root, "hf"))
        convert_s = time.perf_counter() - start
        front_end = SpeechFrontEnd(folder, cache_dir=os.path.join(root, "cache"))
        encoder = front_end.encoder.backbone
        filters = whisper_mel_filters(80)
        runtimes = {
            ct: ctranslate2.models.Whisper(
                ct2_dir, device="cpu", compute_type=ct, intra_threads=torch.get_num_threads()
            )
            for ct in ("float32", "int8")
        }

        # ---- accuracy, both modes
        for mode, pad in (("unpadded", None), ("pad_30s", 480_000)):
            errors = []
            for wave in waves[:4]:
                mel = log_mel_spectrogram(torch.from_numpy(wave), filters, pad_to_samples=pad).numpy()[None]
                reference = np.array(runtimes["float32"].encode(ctranslate2.StorageView.from_array(mel)))[0]
                with torch.no_grad():
                    states, mask = encode_whisper_frames(encoder, [torch.from_numpy(wave)], mode=mode)
                n = int(mask.sum())
                ours = states[-1][0, :n].numpy()
                errors.append(float(np.linalg.norm(ours - reference[:n]) / np.linalg.norm(reference[:n])))
            records.append(
                result(
                    GROUP,
                    f"converted encoder vs CTranslate2 float32, {mode}, relative error",
                    ours=max(errors),
                    unit="",
                    reference_name="ctranslate2.models.Whisper.encode",
                    target="< 1e-4",
                    met=max(errors) < 1e-4,
                    details={"utterances": len(errors), "conversion_s": round(convert_s, 1)},
                )
            )

        # ---- speed: pooled features of all layers (no cache involved) vs CTranslate2's encoder on the same utterances
        def front(mode: str) -> float:
            fe = SpeechFrontEnd(folder, whisper_mode=mode, cache_dir=os.path.join(root, f"cache_{mode}"))
            subset = waves if mode == "unpadded" else waves[: max(2, len(waves) // 6)]
            start = time.perf_counter()
            with torch.no_grad():
                for i in range(0, len(subset), fe.batch_size):
                    fe.encode(subset[i : i + fe.batch_size])
            return len(subset) / (time.perf_counter() - start)

        def ct2(compute_type: str) -> float:
            start = time.perf_counter()
            for wave in waves:
                mel = log_mel_spectrogram(torch.from_numpy(wave), filters).numpy()[None]
                runtimes[compute_type].encode(ctranslate2.StorageView.from_array(mel))
            return len(waves) / (time.perf_counter() - start)

        def middle_layer() -> float:
            """The methods' path: ContentEncoder with the middle layer (SAPA, zero-shot, feature GAN), which runs only
            the encoder layers up to it, on the same utterances and batches as the front end."""
            from hf_cser.encoders import ContentEncoder

            content = ContentEncoder.from_pretrained(folder, front_end.resolve_layer("middle")).eval()
            start = time.perf_counter()
            with torch.no_grad():
                for i in range(0, len(waves), front_end.batch_size):
                    batch = waves[i : i + front_end.batch_size]
                    values = torch.zeros(len(batch), max(len(w) for w in batch))
                    mask = torch.zeros_like(values, dtype=torch.long)
                    for j, w in enumerate(batch):
                        values[j, : len(w)], mask[j, : len(w)] = torch.from_numpy(w), 1
                    content(values, mask)
            return len(waves) / (time.perf_counter() - start)

        unpadded, padded = front("unpadded"), front("pad_30s")
        middle = middle_layer()
        ct2_fp32, ct2_int8 = ct2("float32"), ct2("int8")
        seconds = float(np.mean([len(w) for w in waves]) / 16000)
        details = {
            "utterances": len(waves),
            "mean_seconds": round(seconds, 2),
            "torch_threads": torch.get_num_threads(),
        }
        records.append(
            result(
                GROUP,
                "front end unpadded, utterances/s (pooled, all layers)",
                ours=unpadded,
                reference=ct2_int8,
                reference_name="CTranslate2 int8 encoder, unpadded",
                unit="utt/s",
                target=">= 20 utt/s",
                met=unpadded >= 20,
                details=details,
            )
        )
        records.append(
            result(
                GROUP,
                "middle-layer frames (the methods' content encoder), unpadded, utterances/s",
                ours=middle,
                reference=ct2_int8,
                reference_name="CTranslate2 int8 encoder (all layers), unpadded",
                unit="utt/s",
                target=">= 20 utt/s",
                met=middle >= 20,
                details=details,
            )
        )
        records.append(
            result(
                GROUP,
                "front end unpadded vs CTranslate2 float32, utterances/s",
                ours=unpadded,
                reference=ct2_fp32,
                reference_name="CTranslate2 float32 encoder, unpadded",
                unit="utt/s",
                details=details,
            )
        )
        records.append(
            result(
                GROUP,
                "front end pad_30s, utterances/s",
                ours=padded,
                reference=unpadded,
                reference_name="front end unpadded",
                unit="utt/s",
                details=details,
            )
        )
    return records


def main(argv: Sequence[str] | None = None) -> int:
    quick = "--quick" in (argv if argv is not None else sys.argv[1:])
    print(markdown_table(run(quick=quick)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
