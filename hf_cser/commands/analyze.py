"""``hf-cser analyze speaker-graph|phoneme-commonality|transferability``: SAPA's analyses on your own embeddings.

Every subcommand reads NumPy ``.npz`` files (``numpy.savez``; string arrays as fixed-width unicode, not objects),
writes JSON + CSV tables and PNG plots into ``--output DIR``, and prints a readable table (``--json``: JSON instead).

``speaker-graph --embeddings FILE.npz`` (section 2.2, Table 1, Fig. 1), arrays, one entry per utterance:
    ``speaker_embeddings`` (N, d) float, ``speaker_ids`` (N,) int or str, ``emotion_ids`` (N,) int,
    optional ``corpus`` (N,) str (plot markers). Writes ``speaker_graph_summary.{json,csv}``,
    ``speaker_clusters.{json,csv}`` (speaker, emotion, corpus, cluster under each grouping: the ``--clusters`` input
    of ``transferability``) and ``speaker_graph_<emotion>.png``.

``phoneme-commonality --inputs FILE.npz`` (section 2.3, Tables 2 and 3), arrays, one entry per 120 ms window:
    ``embeddings`` (M, d) float, ``phone_ids`` (M,) int (index into ``SHARED_VOWELS`` = i E @ a O u; -1 = none),
    ``emotion_ids`` (M,) int, ``groups`` (M,) str corpus or language (``corpus`` is accepted too). Writes
    ``phoneme_similarity.{json,csv}`` (tidy rows with supports), ``phoneme_similarity_matrix.csv`` (Table 2 layout,
    one block per corpus pair), ``phoneme_anchors.{json,csv}`` (Table 3) and ``phoneme_similarity_<src>_vs_<tgt>.png``.

``transferability --inputs FILE.npz`` (section 4.4, Table 5), arrays, one entry per target test utterance:
    ``predictions`` (N,) int, ``labels`` (N,) int, ``speaker_ids`` (N,) int or str; and the speaker clusters, either
    ``--clusters speaker_clusters.csv`` (written by ``speaker-graph``) or ``--embeddings FILE.npz`` (fits the graphs
    here, arrays as for ``speaker-graph``). Speaker ids are compared as strings. Writes ``transferability.json``
    (everything), ``transferability.csv`` (summary per emotion and grouping), ``transferability_clusters.csv``,
    ``transferability_table.csv`` (Table 5, %) and ``transferability.png``.
"""

from __future__ import annotations


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "analyze",
        help="SAPA analyses: speaker-style graphs, phoneme commonality, speaker-group transferability",
        description="Run SAPA's embedding analyses on .npz inputs; write JSON, CSV and PNG files to --output.",
    )
    sub = parser.add_subparsers(dest="analysis", metavar="ANALYSIS")
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])

    def common(p):
        p.add_argument("--output", required=True, help="folder for the JSON, CSV and PNG files (created if needed)")
        p.add_argument("--json", action="store_true", help="print JSON instead of a table")
        p.add_argument("--no-plot", action="store_true", help="skip the PNG plots")

    def graph_options(p):
        p.add_argument("--tau", type=float, default=0.7, help="edge threshold on cosine similarity (paper: 0.7)")
        p.add_argument("--resolution", type=float, default=1.0, help="Louvain resolution (default 1.0)")
        p.add_argument("--seed", type=int, default=0, help="seed of Louvain and the random grouping (default 0)")

    p = sub.add_parser(
        "speaker-graph",
        help="emotion-specific speaker-style graphs, Louvain clusters and modularity (Table 1, Fig. 1)",
        description="Arrays in --embeddings: speaker_embeddings (N, d), speaker_ids (N,), emotion_ids (N,), "
        "optional corpus (N,).",
    )
    p.add_argument("--embeddings", required=True, metavar="FILE.npz", help="per-utterance speaker embeddings")
    graph_options(p)
    p.add_argument("--layout", choices=("pca", "spring"), default="pca", help="node layout of the plots")
    p.add_argument("--max-speakers-per-corpus", type=int, default=None, help="plot at most this many (paper: 15)")
    common(p)
    p.set_defaults(func=run_speaker_graph)

    p = sub.add_parser(
        "phoneme-commonality",
        help="cross-corpus phoneme similarity (Table 2) and anchor candidates (Table 3)",
        description="Arrays in --inputs: embeddings (M, d), phone_ids (M,) (index into SHARED_VOWELS, -1 = none), "
        "emotion_ids (M,), groups (M,) (or corpus).",
    )
    p.add_argument("--inputs", required=True, metavar="FILE.npz", help="window-level content embeddings")
    p.add_argument("--source", default=None, help="source corpus (default: every pair of corpora)")
    p.add_argument("--target", action="append", default=None, help="target corpus, repeatable (default: all others)")
    p.add_argument("--min-count", type=int, default=1, help="windows a cell needs in each corpus (default 1)")
    p.add_argument("--rule", choices=("top_k", "threshold", "relative"), default="top_k", help="anchor rule")
    p.add_argument("--k", type=int, default=3, help="anchors per emotion for top_k (default 3)")
    p.add_argument("--threshold", type=float, default=0.7, help="minimum similarity for threshold (default 0.7)")
    p.add_argument("--margin", type=float, default=0.01, help="distance to the best for relative (default 0.01)")
    p.add_argument("--normalize-windows", action="store_true", help="L2-normalise window embeddings first")
    common(p)
    p.set_defaults(func=run_phoneme_commonality)

    p = sub.add_parser(
        "transferability",
        help="per-cluster accuracy of target test utterances under w/ Emo, w/o Emo and Rand groupings (Table 5)",
        description="Arrays in --inputs: predictions (N,), labels (N,), speaker_ids (N,). Clusters from --clusters "
        "(speaker_clusters.csv of `analyze speaker-graph`) or --embeddings (fitted here).",
    )
    p.add_argument("--inputs", required=True, metavar="FILE.npz", help="target test predictions, labels, speakers")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--clusters", metavar="FILE.csv", help="speaker_clusters.csv from `analyze speaker-graph`")
    source.add_argument("--embeddings", metavar="FILE.npz", help="speaker embeddings to fit the graphs on")
    graph_options(p)
    p.add_argument("--scope", choices=("all", "emotion"), default="all", help="utterances per row (default all)")
    p.add_argument(
        "--random",
        choices=("utterances", "speakers"),
        default="utterances",
        help="Rand baseline: random utterance groups (paper) or random speaker groups",
    )
    p.add_argument("--num-seeds", type=int, default=5, help="seeds of the Rand baseline (default 5)")
    common(p)
    p.set_defaults(func=run_transferability)


# ---------------------------------------------------------------------------------------------------------------------
# helpers (imports inside, so `hf-cser --help` stays fast)


def _load_npz(path: str, required: tuple[str, ...], aliases: dict[str, str] | None = None) -> dict:
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except ValueError as error:
        raise SystemExit(
            f"{path}: could not read the arrays without pickle ({error}); save strings as a unicode array, e.g. "
            "`np.asarray(ids, dtype=str)`."
        ) from error
    for alias, name in (aliases or {}).items():
        if name not in arrays and alias in arrays:
            arrays[name] = arrays[alias]
    missing = [name for name in required if name not in arrays]
    if missing:
        raise SystemExit(f"{path}: missing array(s) {missing}; it has {sorted(arrays)}.")
    return arrays


def _format_rows(rows: list[dict], columns: list[str] | None = None, digits: int = 3) -> str:
    import math

    if not rows:
        return "(empty)"
    columns = columns or list(rows[0])

    def cell(value):
        if isinstance(value, float):
            return "n/a" if math.isnan(value) else f"{value:.{digits}f}"
        if isinstance(value, (list, tuple)):
            return ", ".join(map(str, value))
        return str(value)

    cells = [[cell(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(columns, widths)))]
    lines.append("-" * len(lines[0]))
    for r in cells:
        lines.append("  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(r, widths))))
    return "\n".join(lines)


def _print_json(payload) -> None:
    import json

    from ..analysis.phoneme_commonality import json_safe

    print(json.dumps(json_safe(payload), indent=2, ensure_ascii=False))


def _fit_graph(path: str, args):
    import numpy as np

    from ..analysis import SpeakerStyleGraph

    arrays = _load_npz(path, ("speaker_embeddings", "speaker_ids", "emotion_ids"))
    speakers = np.asarray(arrays["speaker_ids"]).astype(str)
    corpus = None
    if "corpus" in arrays:
        corpus = dict(zip(speakers.tolist(), np.asarray(arrays["corpus"]).astype(str).tolist()))
    graph = SpeakerStyleGraph(tau=args.tau, resolution=args.resolution, seed=args.seed)
    return graph.fit(arrays["speaker_embeddings"], speakers, arrays["emotion_ids"], speaker_corpus=corpus)


# ---------------------------------------------------------------------------------------------------------------------
# subcommands


def run_speaker_graph(args) -> int:
    from pathlib import Path

    from ..analysis.reports import write_speaker_graph_report

    output = Path(args.output)
    graph = _fit_graph(args.embeddings, args)
    summary = graph.summary()
    options = {"layout": args.layout, "max_speakers_per_corpus": args.max_speakers_per_corpus}
    files = write_speaker_graph_report(graph, output, plot=not args.no_plot, **options)
    if args.json:
        _print_json({"summary": summary, "files": [str(f) for f in files]})
        return 0
    print(f"speaker-style graphs (tau={args.tau}); files in {output}")
    print(_format_rows(summary))
    return 0


def run_phoneme_commonality(args) -> int:
    from pathlib import Path

    from ..analysis.phoneme_commonality import anchor_rows, phoneme_similarity_table, select_anchor_phonemes
    from ..analysis.reports import write_phoneme_commonality_report

    arrays = _load_npz(args.inputs, ("embeddings", "phone_ids", "emotion_ids", "groups"), aliases={"corpus": "groups"})
    output = Path(args.output)
    groups = arrays["groups"].astype(str)
    table = phoneme_similarity_table(
        arrays["embeddings"],
        arrays["phone_ids"],
        arrays["emotion_ids"],
        groups,
        source=args.source,
        target=args.target,
        min_count=args.min_count,
        normalize_windows=args.normalize_windows,
    )
    anchors = select_anchor_phonemes(table, rule=args.rule, k=args.k, threshold=args.threshold, margin=args.margin)
    files = write_phoneme_commonality_report(table, anchors, output, plot=not args.no_plot)
    if args.json:
        payload = table.to_dict()
        payload.update(anchor_rule=args.rule, anchors=anchors, files=[str(f) for f in files])
        _print_json(payload)
        return 0
    for source, target in table.pairs:
        print(f"phoneme similarity (cosine of mean embeddings), {source} vs {target}:")
        print(_format_rows(table.matrix_rows(source, target), digits=2))
        print()
    missing = table.missing
    if missing:
        print(f"{len(missing)} cell(s) without a similarity (fewer than {args.min_count} window(s) in a corpus)")
    print(f"anchor candidates (rule={args.rule}):")
    print(_format_rows(anchor_rows(anchors), ["emotion", "anchor_labels"]))
    print(f"files in {output}")
    return 0


def _read_cluster_csv(path: str) -> dict[str, dict]:
    """``speaker_clusters.csv`` -> {grouping: {(speaker str, emotion id): cluster}}."""
    import csv

    from ..labels import EMOTIONS

    def emotion_id(name: str) -> int:
        if name in EMOTIONS:
            return EMOTIONS.index(name)
        try:
            return int(name)
        except ValueError:
            raise SystemExit(f"{path}: emotion {name!r} is neither one of {EMOTIONS} nor an integer id.") from None

    out: dict[str, dict] = {}
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        columns = [c for c in reader.fieldnames or [] if c.startswith("cluster_")]
        if "speaker" not in (reader.fieldnames or []) or "emotion" not in (reader.fieldnames or []) or not columns:
            raise SystemExit(
                f"{path}: expected columns speaker, emotion and cluster_<grouping>; got {reader.fieldnames}."
            )
        for row in reader:
            key = (row["speaker"], emotion_id(row["emotion"]))
            for column in columns:
                out.setdefault(column[len("cluster_") :], {})[key] = int(row[column])
    return out


def run_transferability(args) -> int:
    from pathlib import Path

    import numpy as np

    from ..analysis.reports import write_transferability_report
    from ..analysis.transferability import RANDOM_UTTERANCES, random_speaker_groupings, speaker_group_transferability

    if args.num_seeds < 1:
        raise SystemExit(f"--num-seeds must be >= 1, got {args.num_seeds}.")
    arrays = _load_npz(args.inputs, ("predictions", "labels", "speaker_ids"))
    output = Path(args.output)
    if args.clusters:
        clusters = _read_cluster_csv(args.clusters)
        if "emotion" not in clusters:
            raise SystemExit(f"{args.clusters}: no cluster_emotion column (the w/ Emo grouping).")
        emotion, agnostic = clusters["emotion"], clusters.get("agnostic")
    else:
        graph = _fit_graph(args.embeddings, args)
        emotion, agnostic = graph.cluster_assignments("emotion"), graph.cluster_assignments("agnostic")
    seeds = list(range(args.seed, args.seed + args.num_seeds))
    groupings = {"w/ Emo": emotion}
    if agnostic is not None:
        groupings["w/o Emo"] = agnostic
    groupings["Rand"] = RANDOM_UTTERANCES if args.random == "utterances" else random_speaker_groupings(emotion, seeds)
    result = speaker_group_transferability(
        arrays["predictions"],
        arrays["labels"],
        np.asarray(arrays["speaker_ids"]).astype(str),
        groupings,
        scope=args.scope,
        seeds=seeds,
        reference="w/ Emo",
    )
    table = result.table()
    files = write_transferability_report(result, output, plot=not args.no_plot)
    if args.json:
        payload = result.to_dict()
        payload["files"] = [str(f) for f in files]
        _print_json(payload)
        return 0
    print(
        f"speaker-group transferability: mean per-cluster accuracy (%), scope={args.scope}, Rand={args.random} "
        f"over {len(seeds)} seed(s)"
    )
    print(_format_rows(table, digits=1))
    print(f"files in {output}")
    return 0
