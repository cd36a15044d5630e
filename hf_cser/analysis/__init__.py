"""Analyses of hf_cser (speaker-style graphs, ...): they may use data and metrics, never training code."""

from .speaker_graph import (
    EMOTION_AGNOSTIC,
    GROUPINGS,
    EmotionSpeakerGraph,
    SpeakerStyleGraph,
    build_similarity_graph,
    graph_modularity,
    louvain_partition,
    random_grouping,
    read_table,
    similarity_edges,
    write_table,
)


__all__ = [
    "EMOTION_AGNOSTIC",
    "GROUPINGS",
    "EmotionSpeakerGraph",
    "SpeakerStyleGraph",
    "build_similarity_graph",
    "graph_modularity",
    "louvain_partition",
    "random_grouping",
    "read_table",
    "similarity_edges",
    "write_table",
]
