"""``hf-cser corpus NAME DATA_DIR --output DIR [--json]``: load a corpus into the hf_cser schema and save it.

Prints the rows per split and emotion as a table (or JSON with ``--json``), followed by what the loader dropped.
"""

from __future__ import annotations

import argparse


def _parse_option(text: str) -> tuple[str, object]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--option expects KEY=VALUE, got {text!r}.")
    key, value = text.split("=", 1)
    lowered = value.lower()
    if lowered in ("true", "false"):
        return key, lowered == "true"
    if lowered in ("none", "null"):
        return key, None
    for cast in (int, float):
        try:
            return key, cast(value)
        except ValueError:
            pass
    return key, value


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "corpus",
        help="load a real corpus (or a CSV manifest) into the hf_cser schema and save it",
        description="Load a corpus as its owners distribute it, map its labels to neutral/happy/angry/sad, split it, "
        "save it with `save_to_disk` and print the counts per split and emotion.",
    )
    parser.add_argument("name", metavar="NAME", help="corpus name (emodb, esd, msp-podcast, manifest, ...)")
    parser.add_argument("data_dir", metavar="DATA_DIR", help="the corpus folder (for `manifest`, the CSV file)")
    parser.add_argument("--output", required=True, help="folder to write the DatasetDict to (`save_to_disk`)")
    parser.add_argument("--json", action="store_true", help="print the counts as JSON instead of a table")
    parser.add_argument("--seed", type=int, default=None, help="seed of the speaker-independent split")
    parser.add_argument(
        "--option",
        dest="options",
        action="append",
        type=_parse_option,
        default=[],
        metavar="KEY=VALUE",
        help="loader option, repeatable (e.g. --option language=en --option skip_missing=true)",
    )
    parser.set_defaults(func=run_corpus)


def count_table(dataset_dict) -> dict[str, dict[str, int]]:
    """``{split: {emotion: rows, ..., "total": rows}}`` of a DatasetDict in the hf_cser schema."""
    from collections import Counter

    from ..labels import EMOTIONS

    counts = {}
    for split, dataset in dataset_dict.items():
        ids = Counter(dataset["emotion"])
        row = {name: int(ids.get(i, 0)) for i, name in enumerate(EMOTIONS)}
        row["total"] = len(dataset)
        counts[split] = row
    return counts


def format_table(counts: dict[str, dict[str, int]]) -> str:
    """Render :func:`count_table` as a fixed-width table with a total row."""
    from ..labels import EMOTIONS

    columns = [*EMOTIONS, "total"]
    totals = {c: sum(row[c] for row in counts.values()) for c in columns}
    rows = [*counts.items(), ("total", totals)]
    first = max(len("split"), *(len(name) for name, _ in rows))
    widths = [max(len(c), *(len(str(row[c])) for _, row in rows)) for c in columns]
    lines = ["  ".join(["split".ljust(first), *(c.rjust(w) for c, w in zip(columns, widths, strict=True))])]
    lines.append("-" * len(lines[0]))
    for name, row in rows:
        cells = (str(row[c]).rjust(w) for c, w in zip(columns, widths, strict=True))
        lines.append("  ".join([name.ljust(first), *cells]))
    return "\n".join(lines)


def run_corpus(args) -> int:
    import json

    from ..data import load_corpus
    from ..data.schema import save_dataset_dict

    options = dict(args.options)
    if args.seed is not None:
        options["seed"] = args.seed
    dataset_dict, report = load_corpus(args.name, args.data_dir, return_report=True, **options)
    save_dataset_dict(dataset_dict, args.output)
    counts = count_table(dataset_dict)
    dropped = dict(sorted(report.dropped.items())) if report is not None else {}
    if args.json:
        result = {
            "corpus": report.corpus if report is not None else args.name,
            "data_dir": str(args.data_dir),
            "output": str(args.output),
            "split_source": report.split_source if report is not None else "",
            "counts": counts,
            "dropped": dropped,
            "dropped_total": sum(dropped.values()),
        }
        print(json.dumps(result, indent=2, ensure_ascii=False))
        return 0
    print(f"{args.name}: saved to {args.output}")
    if report is not None and report.split_source:
        print(f"split: {report.split_source}")
    print(format_table(counts))
    if dropped:
        print(f"dropped {sum(dropped.values())} row(s):")
        width = max(len(reason) for reason in dropped)
        for reason, n in dropped.items():
            examples = report.examples.get(reason)
            print(f"  {reason.ljust(width)}  {n}" + (f"  (e.g. {', '.join(examples)})" if examples else ""))
    else:
        print("dropped 0 rows")
    return 0
