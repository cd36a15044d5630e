"""Corpora, the synthetic corpus, phone alignments and samplers (the ``data`` floor of hf_cser)."""

from .alignments import SILENCE_LABELS, read_ctm, read_textgrid, read_textgrid_tiers, validate_alignment
from .corpora import CorpusLoadReport, get_load_report, list_corpora, load_corpus
from .folds import FOLD_STRATEGIES, make_folds, speaker_independent_folds, stratified_folds
from .leakage import (
    TargetLeakageError,
    check_no_target_language_leak,
    check_no_target_rows,
    check_target_disjoint,
    dataset_languages,
)
from .phones import (
    SHARED_VOWELS,
    PhonemeWindows,
    centred_windows,
    map_alignment,
    phoneme_windows,
    to_shared_phone,
    voiced_energy_peaks,
)
from .sampler import HierarchicalLanguageEmotionSampler
from .schema import (
    SPLITS,
    build_dataset_dict,
    corpus_features,
    drop_bad_audio,
    make_record,
    save_dataset_dict,
    speaker_independent_split,
    with_decoded_audio,
)
from .synthetic import SyntheticCorpusConfig, load_synthetic_corpus, synthesize_corpus
from .zero_shot_protocol import (
    PAPER_SETTINGS,
    SYSTEMS,
    ZeroShotSetting,
    build_zero_shot_splits,
    check_no_target_leakage,
    training_languages,
)

__all__ = [
    "FOLD_STRATEGIES",
    "make_folds",
    "speaker_independent_folds",
    "stratified_folds",
    "PAPER_SETTINGS",
    "SHARED_VOWELS",
    "SILENCE_LABELS",
    "SPLITS",
    "SYSTEMS",
    "CorpusLoadReport",
    "HierarchicalLanguageEmotionSampler",
    "PhonemeWindows",
    "SyntheticCorpusConfig",
    "TargetLeakageError",
    "ZeroShotSetting",
    "build_dataset_dict",
    "build_zero_shot_splits",
    "check_no_target_leakage",
    "check_target_disjoint",
    "check_no_target_language_leak",
    "check_no_target_rows",
    "dataset_languages",
    "centred_windows",
    "corpus_features",
    "drop_bad_audio",
    "get_load_report",
    "list_corpora",
    "load_corpus",
    "load_synthetic_corpus",
    "make_record",
    "map_alignment",
    "phoneme_windows",
    "read_ctm",
    "read_textgrid",
    "read_textgrid_tiers",
    "save_dataset_dict",
    "speaker_independent_split",
    "synthesize_corpus",
    "to_shared_phone",
    "training_languages",
    "validate_alignment",
    "voiced_energy_peaks",
    "with_decoded_audio",
]
