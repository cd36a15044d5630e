"""Analyses of hf_cser (speaker-style graphs, phoneme commonality, speaker-group transferability).

They may use data and metrics, never training code.
"""

from .phoneme_commonality import (
    ANCHOR_RULES,
    PhonemeSimilarity,
    anchor_rows,
    phoneme_similarity_table,
    plot_phoneme_similarity,
    save_rows,
    select_anchor_phonemes,
)
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
from .transferability import (
    RANDOM_UTTERANCES,
    TransferabilityResult,
    assign_speakers_to_clusters,
    broadcast_grouping,
    groupings_from_speaker_graph,
    plot_transferability,
    random_speaker_groupings,
    speaker_group_transferability,
    summarize_clusters,
)

__all__ = [
    "ANCHOR_RULES",
    "EMOTION_AGNOSTIC",
    "EmotionSpeakerGraph",
    "GROUPINGS",
    "PhonemeSimilarity",
    "RANDOM_UTTERANCES",
    "SpeakerStyleGraph",
    "TransferabilityResult",
    "anchor_rows",
    "assign_speakers_to_clusters",
    "broadcast_grouping",
    "build_similarity_graph",
    "graph_modularity",
    "groupings_from_speaker_graph",
    "louvain_partition",
    "phoneme_similarity_table",
    "plot_phoneme_similarity",
    "plot_transferability",
    "random_grouping",
    "random_speaker_groupings",
    "read_table",
    "save_rows",
    "select_anchor_phonemes",
    "similarity_edges",
    "speaker_group_transferability",
    "summarize_clusters",
    "write_table",
]
