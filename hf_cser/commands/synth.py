"""``hf-cser synth``: render the synthetic multilingual emotional speech corpus (espeak-ng, offline)."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "synth",
        help="generate the synthetic multilingual emotional speech corpus (offline, espeak-ng)",
        description=(
            "Render the synthetic corpus: 16 kHz WAV files, a DatasetDict (save_to_disk) with speaker-independent "
            "train/validation/test splits per language and a metadata.csv manifest. Reuses OUTPUT when it already "
            "holds the same config."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--output", required=True, help="output folder (new, empty, or an earlier synthetic corpus)")
    parser.add_argument(
        "--languages", default="en,zh,de,fr,ur", help="comma-separated ISO 639-1 codes (en,zh,de,fr,ur,es,it,ru)"
    )
    parser.add_argument("--speakers-per-language", type=int, default=12)
    parser.add_argument("--utterances-per-speaker", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--separability", type=float, default=None, help="scale of the emotion effects (default: the config default)"
    )
    parser.add_argument("--num-proc", type=int, default=1, help="worker processes")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hf_cser.data.synthetic import SyntheticCorpusConfig, synthesize_corpus

    kwargs = {
        "languages": args.languages,
        "speakers_per_language": args.speakers_per_language,
        "utterances_per_speaker": args.utterances_per_speaker,
        "seed": args.seed,
    }
    if args.separability is not None:
        kwargs["separability"] = args.separability
    config = SyntheticCorpusConfig(**kwargs)
    corpus = synthesize_corpus(config, args.output, num_proc=args.num_proc, progress=not args.no_progress)
    sizes = ", ".join(f"{split}: {len(ds)}" for split, ds in corpus.items())
    print(f"synthetic corpus in {args.output} ({sizes}; fingerprint {config.fingerprint()})")
    return 0
