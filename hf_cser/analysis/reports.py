"""The files of SAPA's three analyses, written in one place with one naming scheme, for `hf-cser analyze` and for
the analyses `train_sapa.py` writes after training (`<output_dir>/analysis/`):

- speaker-style graphs (paper section 2.2, Table 1, Fig. 1): ``speaker_graph_summary.{json,csv}``,
  ``speaker_clusters.{json,csv}`` (speaker, emotion, corpus, cluster under each grouping) and
  ``speaker_graph_<emotion>.png``;
- phoneme commonality (section 2.3, Tables 2 and 3): ``phoneme_similarity.{json,csv}``,
  ``phoneme_similarity_matrix.csv`` (Table 2 layout), ``phoneme_anchors.{json,csv}`` (Table 3) and
  ``phoneme_similarity_<src>_vs_<tgt>.png``;
- speaker-group transferability (section 4.4, Table 5): ``transferability.json``, ``transferability.csv``,
  ``transferability_clusters.csv``, ``transferability_table.csv`` (Table 5, %) and ``transferability.png``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .phoneme_commonality import PhonemeSimilarity, anchor_rows, plot_phoneme_similarity, save_rows
from .speaker_graph import SpeakerStyleGraph, write_table
from .transferability import CLUSTER_FIELDS, TransferabilityResult, plot_transferability


def write_speaker_graph_report(
    graph: SpeakerStyleGraph, output: str | Path, *, plot: bool = True, **plot_options: Any
) -> list[Path]:
    """Summary, cluster assignments and (with `plot`) one figure per emotion of a fitted graph; the paths."""
    output = Path(output)
    files = [Path(graph.save_summary(output / f"speaker_graph_summary.{suffix}")) for suffix in ("json", "csv")]
    clusters = graph.assignments_table()
    files += [Path(write_table(clusters, output / f"speaker_clusters.{suffix}")) for suffix in ("json", "csv")]
    if plot:
        files += [Path(p) for p in graph.plot(output, **plot_options)]
    return files


def write_phoneme_commonality_report(
    table: PhonemeSimilarity, anchors: dict, output: str | Path, *, plot: bool = True
) -> list[Path]:
    """The similarity table (tidy and in Table 2's layout), the anchor phonemes (Table 3) and the figures."""
    output = Path(output)
    matrix_rows = [{"source": s, "target": t, **row} for s, t in table.pairs for row in table.matrix_rows(s, t)]
    files = [
        table.save(output / "phoneme_similarity.json"),
        table.save(output / "phoneme_similarity.csv"),
        save_rows(matrix_rows, output / "phoneme_similarity_matrix.csv"),
        save_rows(anchor_rows(anchors), output / "phoneme_anchors.json"),
        save_rows(anchor_rows(anchors), output / "phoneme_anchors.csv"),
    ]
    if plot:
        files += plot_phoneme_similarity(table, output, anchors=anchors)
    return [Path(f) for f in files]


def write_transferability_report(
    result: TransferabilityResult, output: str | Path, *, plot: bool = True
) -> list[Path]:
    """Everything (JSON), the per-emotion summary, the per-cluster rows, Table 5 (%) and the figure."""
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    (output / "transferability.json").write_text(json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n")
    files = [
        output / "transferability.json",
        result.save(output / "transferability.csv"),
        save_rows(result.cluster_rows, output / "transferability_clusters.csv", CLUSTER_FIELDS),
        save_rows(result.table(), output / "transferability_table.csv"),
    ]
    if plot:
        files.append(plot_transferability(result, output / "transferability.png"))
    return [Path(f) for f in files]


__all__ = ["write_phoneme_commonality_report", "write_speaker_graph_report", "write_transferability_report"]
