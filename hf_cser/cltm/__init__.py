"""CLTM: the cross-lingual transfer matrix of paper 003 and its diagnostics, applied to SER, gender recognition and
speaker verification (``shared/papers/003``, notes in ``shared/METHODS.md`` section 4; user guide: ``docs/cltm.md``).

- :mod:`~hf_cser.cltm.matrix`: runs table -> self-gains, cross-gains, row-normalised CLTM, standard errors.
- :mod:`~hf_cser.cltm.diagnostics`: RFD_1, Asym_rel, mean row cosine, prop_+, reciprocity_+, intra-family_+, RMS,
  top donors and receivers.
- :mod:`~hf_cser.cltm.families`: the shipped language-family table (overridable).
- :mod:`~hf_cser.cltm.protocol`: balanced speaker-disjoint subsets, dynamic interval [N, 2N], run planning,
  resumable runner.
- :mod:`~hf_cser.cltm.tasks` and :mod:`~hf_cser.cltm.models`: the tasks (SER / gender / SV) and the pluggable task
  models; :mod:`~hf_cser.cltm.features`: cached frozen utterance features.
- :mod:`~hf_cser.cltm.plots`: heatmap and learning curves.

It uses data, metrics and (optionally) models, never training scripts.
"""

from .diagnostics import (
    CltmDiagnostics,
    asym_rel,
    cltm_diagnostics,
    donor_scores,
    intra_family_pairs,
    intra_family_positive,
    intra_family_positive_mass,
    mean_row_cosine,
    prop_positive,
    receiver_scores,
    reciprocity_positive,
    reciprocity_positive_weighted,
    rfd_1,
    rms,
)
from .families import family_labels, language_family, load_language_families, order_by_family
from .features import (
    LazyWaveforms,
    LogMelStatistics,
    compute_utterance_features,
    default_feature_cache_dir,
    speaker_normalize,
)
from .matrix import RUN_KINDS, CltmResult, CltmRun, compute_cltm, read_runs_csv
from .models import AudioModelTaskModel, CltmTaskModel, MlpTaskModel
from .plots import plot_cltm_heatmap, plot_learning_curves
from .protocol import (
    RUN_FIELDS,
    CltmProtocolConfig,
    CltmRunner,
    CorpusTable,
    DynamicIntervalRule,
    DynamicIntervalSelection,
    LanguagePartition,
    RunLog,
    RunSpec,
    balanced_subset,
    check_run_config,
    partition_language,
    plan_cltm_runs,
    plan_self_runs,
    select_dynamic_interval,
)
from .tasks import (
    TASKS,
    CltmTask,
    GenderTask,
    SerTask,
    SpeakerVerificationTask,
    get_task,
    roc_auc,
    verification_trials,
)

__all__ = [
    "RUN_FIELDS",
    "RUN_KINDS",
    "TASKS",
    "AudioModelTaskModel",
    "CltmDiagnostics",
    "CltmProtocolConfig",
    "CltmResult",
    "CltmRun",
    "CltmRunner",
    "CltmTask",
    "CltmTaskModel",
    "CorpusTable",
    "DynamicIntervalRule",
    "DynamicIntervalSelection",
    "GenderTask",
    "LanguagePartition",
    "LazyWaveforms",
    "LogMelStatistics",
    "MlpTaskModel",
    "RunLog",
    "RunSpec",
    "SerTask",
    "SpeakerVerificationTask",
    "asym_rel",
    "balanced_subset",
    "check_run_config",
    "cltm_diagnostics",
    "compute_cltm",
    "compute_utterance_features",
    "default_feature_cache_dir",
    "donor_scores",
    "family_labels",
    "get_task",
    "intra_family_pairs",
    "intra_family_positive",
    "intra_family_positive_mass",
    "language_family",
    "load_language_families",
    "mean_row_cosine",
    "order_by_family",
    "partition_language",
    "plan_cltm_runs",
    "plan_self_runs",
    "plot_cltm_heatmap",
    "plot_learning_curves",
    "prop_positive",
    "read_runs_csv",
    "receiver_scores",
    "reciprocity_positive",
    "reciprocity_positive_weighted",
    "rfd_1",
    "rms",
    "roc_auc",
    "select_dynamic_interval",
    "speaker_normalize",
    "verification_trials",
]
