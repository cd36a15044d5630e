"""``hf-cser train-content-encoder``: pretrain the default phonetic content encoder (tiny WavLM) on a corpus."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train-content-encoder",
        help="pretrain the tiny WavLM phonetic content encoder on a corpus' phoneme alignments",
        description=(
            "Train the default content encoder f_c of SAPA: a tiny WavLM classifying 20 ms frames into the shared "
            "vowels /i/ /E/ /@/ /a/ /O/ /u/, consonant and silence, from the phoneme alignments of a corpus (e.g. "
            "`hf-cser synth --output DIR`). Writes a model folder (config.json, model.safetensors, "
            "preprocessor_config.json, README.md, phonetic_report.json) that AutoModel and ContentEncoder load, and "
            "prints the frame accuracy per language."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--data", required=True, help="corpus folder (synthetic corpus or DatasetDict save_to_disk)")
    parser.add_argument("--output", required=True, help="output model folder")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--crop-seconds", type=float, default=2.0, help="training crop length in seconds")
    parser.add_argument("--max-steps", type=int, default=None, help="total steps; overrides --epochs")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import os
    import sys

    from hf_cser.encoders.phonetic_pretraining import REPORT_FILE, format_phonetic_report, train_phonetic_encoder

    try:
        report = train_phonetic_encoder(
            args.data,
            args.output,
            epochs=args.epochs,
            batch_size=args.batch_size,
            learning_rate=args.learning_rate,
            seed=args.seed,
            max_steps=args.max_steps,
            crop_seconds=args.crop_seconds,
            progress=not args.no_progress,
        )
    except (FileNotFoundError, ValueError) as error:
        print(f"hf-cser train-content-encoder: {error}", file=sys.stderr)
        return 1
    print(
        f"phonetic encoder: {report['steps']} steps in {report['train_seconds']:.0f} s, loss "
        f"{report['first_loss']:.3f} -> {report['final_loss']:.3f}"
    )
    print("| language | frames | frame accuracy | balanced accuracy | vowel accuracy | majority baseline |")
    print("|---|---|---|---|---|---|")
    print(format_phonetic_report(report))
    print(os.path.join(args.output, REPORT_FILE))
    return 0
