"""``hf-cser predict MODEL FILE [FILE ...]``: emotion probabilities per audio file, printed as JSON."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "predict",
        help="predict the emotion of audio files with a trained model (JSON output)",
        description="Run an audio-classification model (a saved folder or a Hub repo id) on audio files and print "
        "{file: {label: probability}} as JSON, highest probability first.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("model", metavar="MODEL", help="a saved model folder or a Hub repo id")
    parser.add_argument("files", metavar="FILE", nargs="+", help="audio files (any rate and channel count)")
    parser.add_argument("--batch-size", type=int, default=8, help="files per forward pass")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1... (default: cuda when available)")
    parser.add_argument("--output", default=None, help="also write the JSON to this file")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(func=run_predict)


def run_predict(args: argparse.Namespace) -> int:
    import json
    import sys

    from ..audio import BadAudioError
    from ..inference import ModelNotFoundError, predict

    try:
        scores = predict(
            args.model, args.files, batch_size=args.batch_size, device=args.device, progress=not args.no_progress
        )
    except (BadAudioError, ModelNotFoundError, ValueError) as err:
        print(f"hf-cser predict: error: {err}", file=sys.stderr)
        return 1
    text = json.dumps(dict(zip(args.files, scores, strict=True)), indent=2, ensure_ascii=False)
    print(text)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    return 0
