"""The ``hf-cser`` command line.

Each subcommand lives in ``hf_cser/commands/<name>.py`` and exposes ``register(subparsers)``, which adds its parser
and sets ``func``. Command modules import only argparse at module level, so ``hf-cser --help`` stays fast; the
heavy imports happen inside ``func``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# (module under hf_cser.commands) in the order `hf-cser --help` lists them
COMMAND_MODULES: tuple[str, ...] = (
    "synth",
    "corpus",
    "convert_speaker_encoder",
    "convert_whisper",
    "analyze",
    "train_content_encoder",
    "predict",
    "evaluate",
)


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="hf-cser",
        description="Cross-lingual speech emotion recognition: corpora, training, analyses and evaluation.",
    )
    parser.add_argument("--version", action="version", version=f"hf_cser {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"hf_cser.commands.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
