"""``hf-cser convert-speaker-encoder``: convert resemblyzer's GE2E voice encoder into a transformers model folder."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "convert-speaker-encoder",
        help="convert the GE2E speaker encoder of the resemblyzer wheel to a safetensors model folder",
        description=(
            "Convert the pretrained GE2E voice encoder (SAPA's / FreeVC's speaker encoder f_s) shipped in the "
            "`resemblyzer` package into a Ge2eSpeakerEncoderModel folder (config.json, model.safetensors, "
            "preprocessor_config.json) and print the folder. Conversions are cached by checkpoint sha256. "
            "Install the weights with `pip install --no-deps resemblyzer==0.1.4`."
        ),
    )
    parser.add_argument(
        "--checkpoint",
        default=None,
        help="pretrained.pt to convert (default: the one inside the installed resemblyzer)",
    )
    parser.add_argument(
        "--output",
        default=None,
        help="output folder (default: the cache, $HF_HOME/hf_cser/speaker_encoder/ge2e/<sha>)",
    )
    parser.add_argument("--force", action="store_true", help="convert again even if the output folder is up to date")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from hf_cser.encoders.ge2e import Ge2eCheckpointError, convert_resemblyzer_checkpoint

    try:
        model = convert_resemblyzer_checkpoint(
            checkpoint_path=args.checkpoint, output_dir=args.output, force=args.force
        )
    except (ImportError, FileNotFoundError, Ge2eCheckpointError) as error:
        print(f"hf-cser convert-speaker-encoder: {error}", file=sys.stderr)
        return 1
    print(model.name_or_path)
    return 0
