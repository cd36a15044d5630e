"""One SAPA run (paper 000): data with the protocol checks, frozen encoders and cached window features,
speaker-style graphs on the source training speakers, the [`SapaTrainer`] with model selection on the source
validation split, evaluation on the source and target test splits, analyses, and the model folder with its
predictions, run record and card."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from collections.abc import Callable

import numpy as np
from datasets import Dataset
from transformers import set_seed

from hf_cser.analysis import SpeakerStyleGraph
from hf_cser.audio import BadAudioCounter
from hf_cser.console import summary_line
from hf_cser.data import check_target_disjoint, drop_bad_audio
from hf_cser.data.specs import describe_data_spec, is_synthetic_spec, load_data_spec
from hf_cser.encoders.backbones import hub_base_model
from hf_cser.metrics import compute_ser_metrics, make_compute_metrics
from hf_cser.metrics.predictions import write_predictions
from hf_cser.model_card import render_model_card, save_model_card
from hf_cser.models.sapa import SapaFeatureExtractor, SapaForEmotionClassification
from hf_cser.models.sapa.feature_cache import compute_window_features, normalize_window_feature_datasets
from hf_cser.run_record import RunRecord, write_run_records
from hf_cser.trainers import SapaTrainer, SapaTrainingArguments
from hf_cser.trainers.checkpointing import (
    check_output_dir,
    default_output_dir,
    finish_distributed,
    resolve_resume_checkpoint,
    train_or_restore,
)

from .analyses import run_analyses, utterance_speaker_embeddings
from .arguments import (
    DEFAULT_OUTPUT_DIR,
    PREDICTIONS_NAME,
    DataArguments,
    ModelArguments,
    resolve_content_layer,
    resolve_feature_normalization,
    resolve_tau_quantile,
)

logger = logging.getLogger(__name__)


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


def split_metrics(trainer, dataset, prefix: str) -> tuple[dict, np.ndarray, np.ndarray]:
    """Predict ``dataset`` and return (UAR/WAR/macro-F1 overall and per language, predicted ids, logits)."""

    output = trainer.predict(dataset, metric_key_prefix=prefix)
    logits = np.asarray(output.predictions[0] if isinstance(output.predictions, tuple) else output.predictions)
    preds = logits.argmax(-1)
    report = compute_ser_metrics(dataset["emotion"], preds, dataset["language"])
    return report, preds, logits


@dataclasses.dataclass
class SapaRunData:
    """Everything a SAPA run trains and evaluates on: the checked splits, the model around the frozen encoders, and
    the cached window features (normalised as `--feature_normalization` says; the raw ones feed the speaker-style
    graphs and the analyses)."""

    train_dict: dict
    target_test: Dataset
    source_languages: list[str]
    target_languages: list[str]
    content_path: str
    model: SapaForEmotionClassification
    feature_extractor: SapaFeatureExtractor
    train_feats: Dataset
    valid_feats: Dataset
    source_test_feats: Dataset | None
    target_feats: Dataset
    raw_train_feats: Dataset
    raw_target_feats: Dataset


def prepare_sapa_run(
    model_args: ModelArguments, data_args: DataArguments, training_args: SapaTrainingArguments, bad_audio
) -> SapaRunData:
    """Load and check the data (every file decoded once; bad files raise or are counted in `bad_audio`; the target
    test split disjoint from training and selection), build the model around the frozen encoders and compute the
    window features once (cached)."""
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
    feature_extractor = SapaFeatureExtractor.from_sapa_arguments(model.config)
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
    model.config.feature_normalization = norm_settings
    return SapaRunData(
        train_dict=train_dict,
        target_test=target_test,
        source_languages=source_languages,
        target_languages=target_languages,
        content_path=content_path,
        model=model,
        feature_extractor=feature_extractor,
        train_feats=train_feats,
        valid_feats=others["validation"],
        source_test_feats=others["source_test"],
        target_feats=others["target"],
        raw_train_feats=raw_train_feats,
        raw_target_feats=raw_target_feats,
    )


def save_sapa_card(
    run: SapaRunData, model_args: ModelArguments, data_args: DataArguments, training_args, summary: dict, model_id: str
) -> None:
    """The model card of the run's folder: source and target test results, training settings, SAPA's settings."""
    config = run.model.config
    eval_results = {
        "target_test": {
            "dataset": describe_data_spec(data_args.eval_data),
            "language": ",".join(run.target_languages),
            "split": "test",
            **summary["target"],
        },
    }
    if summary["source"] is not None:
        eval_results["source_test"] = {
            "dataset": describe_data_spec(data_args.train_data),
            "language": ",".join(run.source_languages),
            "split": "test",
            **summary["source"],
        }
    card = render_model_card(
        "sapa",
        model_id=model_id,
        base_models=[b for b in (hub_base_model(run.content_path), model_args.speaker_encoder) if b and b != "auto"],
        datasets=[data_args.train_data, data_args.eval_data],
        languages=run.source_languages + run.target_languages,
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
            "variant": config.variant,
            "phoneme_margin": config.phoneme_margin,
            "speaker_margin": config.speaker_margin,
            "phoneme_loss_weight": config.phoneme_loss_weight,
            "speaker_loss_weight": config.speaker_loss_weight,
            "graph_tau": data_args.graph_tau,
            "graph_tau_quantile": resolve_tau_quantile(data_args),
            "window_ms": config.window_ms,
        },
        data_description=f"trained on {describe_data_spec(data_args.train_data)}; evaluated zero-shot on "
        f"{describe_data_spec(data_args.eval_data)}",
        seeds=1,
        synthetic=is_synthetic_spec(data_args.train_data),
        method="sapa",
    )
    save_model_card(card, training_args.output_dir)


def run_sapa(
    model_args: ModelArguments,
    data_args: DataArguments,
    training_args: SapaTrainingArguments,
    echo: Callable[[str], None] | None = None,
) -> dict:
    """The experiment of `training_scripts/train_sapa.py`: train, evaluate and save one SAPA run in
    `training_args.output_dir` (resuming from its last checkpoint); returns the summary (source and target UAR / WAR /
    macro-F1).

    `echo` receives the run's report lines (tables, the summary line, the final JSON line); default: this module's
    logger at INFO. The training script passes `print` (its console report)."""
    echo = echo or logger.info
    start = time.time()
    default_output_dir(training_args, DEFAULT_OUTPUT_DIR)
    # an unusable output folder (not creatable, not writable, disk full) fails here, before any data is loaded
    check_output_dir(training_args.output_dir)
    resume = resolve_resume_checkpoint(
        training_args.output_dir, training_args.resume_from_checkpoint, world_size=training_args.world_size
    )
    if resume is not None:
        logger.warning(f"Resuming training from checkpoint '{resume}'.")
    set_seed(training_args.seed)

    bad_audio = BadAudioCounter()
    # ---- data, encoders and cached window features: once, on the main process first ----
    with training_args.main_process_first(desc="data, encoders and window features"):
        run = prepare_sapa_run(model_args, data_args, training_args, bad_audio)
    model = run.model

    # ---- speaker-style graphs on the source training speakers only (cluster ids of the speaker-space loss) ----
    graph = SpeakerStyleGraph(
        tau=data_args.graph_tau, seed=training_args.seed, tau_quantile=resolve_tau_quantile(data_args)
    ).fit(
        utterance_speaker_embeddings(run.raw_train_feats),
        list(run.raw_train_feats["speaker"]),
        np.asarray(run.raw_train_feats["emotion"]),
    )
    for row in graph.summary():
        logger.info(f"speaker graph {row}")

    # the Trainer's own hub integration creates the repo at start-up and pushes checkpoints; we push the finished
    # folder (weights, feature extractor, analyses, card) once at the end instead
    push_requested, training_args.push_to_hub = training_args.push_to_hub, False
    trainer = SapaTrainer(
        model=model,
        args=training_args,
        train_dataset=run.train_feats,
        eval_dataset=run.valid_feats,
        speaker_graph=graph,
        target_languages=run.target_languages,
        compute_metrics=make_compute_metrics(),
    )
    train_result = train_or_restore(trainer, resume)  # a finished run's model is restored, not trained on
    trainer.log_metrics("train", train_result.metrics)

    # ---- evaluation: source validation (selection), source test, target test (zero-shot) ----
    results = {"source_validation": trainer.evaluate()}
    source_report = None
    if run.source_test_feats is not None:
        source_report, _, _ = split_metrics(trainer, run.source_test_feats, "source_test")
    target_report, target_preds, target_logits = split_metrics(trainer, run.target_feats, "target_test")
    summary = {
        "variant": model.config.variant,
        "seed": training_args.seed,
        "source_languages": run.source_languages,
        "target_languages": run.target_languages,
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
        output_dir = training_args.output_dir
        trainer.save_model(output_dir)
        run.feature_extractor.save_pretrained(output_dir)
        # the Trainer pickles its arguments next to the weights; the final folder keeps them as JSON instead, so
        # nothing in it needs an unsafe unpickling load
        pickled_args = os.path.join(output_dir, "training_args.bin")
        if os.path.exists(pickled_args):
            os.remove(pickled_args)
        with open(os.path.join(output_dir, "training_args.json"), "w") as f:
            f.write(training_args.to_json_string())
        if data_args.run_analyses:
            results["analyses"] = run_analyses(
                output_dir,
                data_args,
                model,
                run.feature_extractor,
                run.train_dict,
                run.target_test,
                run.raw_train_feats,
                run.raw_target_feats,
                target_preds,
                training_args.seed,
            )
        target_columns = run.target_feats.column_names
        write_predictions(
            os.path.join(output_dir, PREDICTIONS_NAME),
            run.target_feats["emotion"],
            target_logits,
            audio=run.target_test.with_format(None)["audio"],
            **{key: run.target_feats[key] for key in ("speaker", "language", "corpus") if key in target_columns},
        )
        with open(os.path.join(output_dir, "results.json"), "w") as f:
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
                "source_languages": run.source_languages,
                "target_languages": run.target_languages,
                "triplet_l2_normalize": bool(training_args.triplet_l2_normalize),
            },
        )
        write_run_records(output_dir, [record])
        model_id = training_args.hub_model_id or os.path.basename(os.path.abspath(output_dir))
        save_sapa_card(run, model_args, data_args, training_args, summary, model_id)
        if push_requested:
            from hf_cser.hub import push_to_hub

            push_to_hub(
                output_dir,
                training_args.hub_model_id or model_id,
                token=training_args.hub_token,
                private=training_args.hub_private_repo,
            )
        target = summary["target"]
        metrics = {"target UAR": target["uar"], "WAR": target["war"], "macro-F1": target["macro_f1"]}
        echo(summary_line(f"SAPA ({model.config.variant})", time.time() - start, metrics, output_dir))
        echo(json.dumps(summary))
    finish_distributed()  # every process reaches the end before the process group goes
    return summary
