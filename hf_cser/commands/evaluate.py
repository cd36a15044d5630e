"""``hf-cser evaluate MODEL --data SPEC [--split test] [--output FILE.json]``: UAR/WAR/macro-F1 as JSON."""

from __future__ import annotations

import argparse

DATA_HELP = (
    "what to evaluate on: synthetic, synthetic:en,de, synthetic:zh@DIR, corpus:NAME:DIR, corpus:NAME:DIR:LANGS, "
    "PATH.csv (a manifest) or a folder with a DatasetDict saved by `save_to_disk`"
)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="evaluate a trained model on a data spec: UAR, WAR and macro-F1 overall, per language and per corpus",
        description="Evaluate an audio-classification model (a saved folder or a Hub repo id) on one split and "
        "print the metrics as JSON: UAR, WAR and macro-F1 overall, per language and per corpus, plus the "
        "skipped audio.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("model", metavar="MODEL", help="a saved model folder or a Hub repo id")
    parser.add_argument("--data", required=True, metavar="SPEC", help=DATA_HELP)
    parser.add_argument("--split", default="test", help="the split to evaluate")
    parser.add_argument("--batch-size", type=int, default=16, help="utterances per forward pass")
    parser.add_argument("--skip-bad-audio", action="store_true", help="skip and count unusable audio files")
    parser.add_argument("--output", default=None, metavar="FILE.json", help="also write the JSON to this file")
    parser.add_argument("--predictions", action="store_true", help="include one prediction per utterance")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1... (default: cuda when available)")
    parser.add_argument("--seed", type=int, default=0, help="split seed of corpora without an official split")
    parser.add_argument(
        "--synthetic-dir", default=None, help="folder of the default synthetic corpus (default: the HF_HOME cache)"
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(func=run_evaluate)


def run_evaluate(args: argparse.Namespace) -> int:
    import json
    import os
    import sys

    from ..audio import BadAudioError
    from ..data.corpora import CorpusLayoutError
    from ..data.specs import DataSpecError
    from ..inference import ModelNotFoundError, evaluate_model

    try:
        result = evaluate_model(
            args.model,
            args.data,
            split=args.split,
            batch_size=args.batch_size,
            skip_bad_audio=args.skip_bad_audio,
            device=args.device,
            progress=not args.no_progress,
            return_predictions=args.predictions,
            seed=args.seed,
            synthetic_dir=args.synthetic_dir,
        )
    except (BadAudioError, CorpusLayoutError, DataSpecError, ModelNotFoundError, KeyError, ValueError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"hf-cser evaluate: error: {message}", file=sys.stderr)
        return 1
    text = json.dumps(result, indent=2, ensure_ascii=False)
    print(text)
    if args.output:
        folder = os.path.dirname(os.path.abspath(args.output))
        os.makedirs(folder, exist_ok=True)
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    return 0
