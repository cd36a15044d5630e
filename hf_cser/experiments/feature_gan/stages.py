"""The three stages of the feature-GAN experiment: stage 1 the aligned baseline (Trainer), stage 2 the InfoGAN on
frozen stage-1 features, stage 3 the classifier on real (+ generated) features; each saved as a Hub-style folder with
its model card."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import torch
from transformers import set_seed

from hf_cser.cache import write_atomically
from hf_cser.labels import EMOTIONS
from hf_cser.metrics import compute_ser_metrics, make_compute_metrics
from hf_cser.models.feature_gan import FeatureGanConfig, FeatureGanForEmotionClassification, FeatureGanGeneratorModel
from hf_cser.trainers.checkpointing import resolve_run_resume, train_or_restore
from hf_cser.trainers.feature_gan import (
    FeatureGanBaselineTrainer,
    FeatureGanClassifierTrainer,
    FeatureGanClassifierTrainingArguments,
    FeatureGanDataCollator,
    FeatureGanTrainingArguments,
    FeatureInfoGanTrainer,
    FeatureInfoGanTrainingArguments,
    build_augmented_training_set,
    compute_pooled_features,
    mutual_information_report,
)

from .arguments import PREDICTIONS_NAME, SPLITS, ModelArguments, RunArguments, parse_sizes
from .data import PreparedData


def split_metrics(labels, logits, languages=None) -> dict:
    """UAR / WAR / macro-F1 (per language when `languages` is given) and the confusion matrix of one split."""
    return compute_ser_metrics(labels.numpy(), logits.argmax(-1).numpy(), languages, EMOTIONS, with_confusion=True)


def save_card(
    folder: str,
    stage: int,
    title: str,
    data: PreparedData,
    eval_results: dict,
    hyper: dict,
    training: dict,
    base_models: list[str],
    modality: str = "audio",
    mutual_information: str = "",
) -> None:
    from hf_cser.model_card import render_model_card, save_model_card

    card = render_model_card(
        "feature_gan",
        model_id=os.path.basename(os.path.normpath(folder)),
        base_models=[b for b in base_models if b and os.sep not in b and not b.startswith(".")],
        datasets=["synthetic"] if "synthetic" in data.description else None,
        languages=data.language_codes,
        eval_results=eval_results,
        training_args=training,
        hyperparameters=hyper,
        data_description=f"Trained on {data.description}.",
        seeds=1,
        extra={
            "stage": stage,
            "stage_title": title,
            "modality": modality,
            "mutual_information": mutual_information,
            "text_hidden_size": data.text_hidden_size,
        },
    )
    save_model_card(card, folder)


def eval_entry(metrics: dict, split: str) -> dict:
    return {
        "dataset": "synthetic",
        "split": split,
        "uar": metrics["uar"],
        "war": metrics["war"],
        "macro_f1": metrics["macro_f1"],
    }


def round_or_dash(value, digits: int = 3):
    return "-" if value is None else round(value, digits)


def write_json(path: str, value) -> None:
    """Write JSON atomically (a crash never leaves half a file; marker files are written last)."""
    write_atomically(path, lambda tmp: Path(tmp).write_text(json.dumps(value, indent=2, default=float)))


# ============================================================================================ stages


def run_stage1(data: PreparedData, model_args: ModelArguments, run_args: RunArguments, folder: str, seed: int) -> dict:
    """Train the aligned baseline (L_SER + alpha L_CL + beta L_MI) and save it to `folder`."""

    set_seed(seed)
    common = dict(
        text_encoder_name_or_path=data.text_encoder_name,
        text_hidden_size=data.text_hidden_size,
        pooling=model_args.pooling,
        contrastive_weight=model_args.contrastive_weight,
        mi_weight=model_args.mi_weight,
        contrastive_temperature=model_args.contrastive_temperature,
        cross_modal_alignment=model_args.cross_modal_alignment,
    )
    if model_args.backbone == "auto":
        config = FeatureGanConfig(**common)
        config.backbone_config["num_mel_bins"] = data.feature_extractor.feature_size
        model = FeatureGanForEmotionClassification(config)
    else:
        from transformers import AutoConfig

        from hf_cser.encoders.backbones import default_backbone_layer, resolve_backbone_path

        path = resolve_backbone_path(model_args.backbone)
        is_whisper = AutoConfig.from_pretrained(path).model_type == "whisper"
        layer = str(model_args.backbone_layer).strip().lower()
        freeze = str(model_args.freeze_backbone).strip().lower()
        backbone_layer = default_backbone_layer(path) if layer == "auto" else None if layer == "last" else int(layer)
        model = FeatureGanForEmotionClassification.from_backbone(
            path,
            **common,
            backbone_layer=backbone_layer,
            freeze_backbone=is_whisper if freeze == "auto" else freeze in ("true", "1", "yes"),
        )
    checkpoint_dir = os.path.join(folder, "checkpoints")
    args = FeatureGanTrainingArguments(
        output_dir=checkpoint_dir,
        num_train_epochs=run_args.stage1_epochs,
        learning_rate=run_args.stage1_learning_rate,
        per_device_train_batch_size=run_args.stage1_batch_size,
        per_device_eval_batch_size=64,
        eval_strategy="epoch",
        save_strategy="epoch",
        save_total_limit=1,
        load_best_model_at_end=True,
        metric_for_best_model="uar",
        logging_steps=10,
        report_to=[],
        seed=seed,
        class_weighted_loss=run_args.class_weighted_loss,
        disable_tqdm=run_args.disable_tqdm,
        dataloader_num_workers=0,
    )
    trainer = FeatureGanBaselineTrainer(
        model=model,
        args=args,
        train_dataset=data.examples("train"),
        eval_dataset=data.examples("validation"),
        data_collator=FeatureGanDataCollator(),
        compute_metrics=make_compute_metrics(),
    )
    start = time.time()
    train_or_restore(
        trainer, resolve_run_resume(checkpoint_dir, run_args.resume_from_checkpoint, world_size=args.world_size)
    )
    model = trainer.model
    results = {
        "train_seconds": time.time() - start,
        "world_size": args.world_size,
        "bad_audio_skipped": data.bad_audio_skipped,
    }
    for split in ("validation", "test"):  # every process predicts (gathered under DDP)
        logits = trainer.predict(data.examples(split)).predictions
        logits = torch.as_tensor(logits[0] if isinstance(logits, tuple) else logits)
        results[split] = split_metrics(data.labels[split], logits, data.languages[split])
    if not trainer.is_world_process_zero():
        return results  # the main process alone writes the folder
    model.save_pretrained(folder)
    data.write_test_predictions(os.path.join(folder, PREDICTIONS_NAME), logits)  # the last split predicted: test
    data.feature_extractor.save_pretrained(folder)
    write_json(os.path.join(folder, "log_history.json"), trainer.state.log_history)
    save_card(
        folder,
        1,
        "aligned baseline",
        data,
        {f"{s} (stage 1)": eval_entry(results[s], s) for s in ("validation", "test")},
        {
            "alpha": model_args.contrastive_weight,
            "beta": model_args.mi_weight,
            "tau": model_args.contrastive_temperature,
            "cross_modal_alignment": model_args.cross_modal_alignment,
            "text_encoder": data.text_encoder_name,
        },
        {
            "epochs": run_args.stage1_epochs,
            "learning_rate": run_args.stage1_learning_rate,
            "batch_size": run_args.stage1_batch_size,
            "seed": seed,
        },
        [model_args.backbone if model_args.backbone != "auto" else "", data.text_encoder_name],
    )
    write_json(os.path.join(folder, "results.json"), results)  # last: marks the stage finished (grid resume)
    shutil.rmtree(checkpoint_dir, ignore_errors=True)
    return results


class FeatureStore:
    """h of every split under a stage-1 model, computed once per folder."""

    def __init__(self, data: PreparedData):
        self.data = data
        self._cache: dict[str, dict[str, torch.Tensor]] = {}

    def get(self, baseline_dir: str) -> dict[str, torch.Tensor]:
        key = os.path.abspath(baseline_dir)
        if key not in self._cache:
            model = FeatureGanForEmotionClassification.from_pretrained(baseline_dir)
            self._cache[key] = {
                s: compute_pooled_features(model, self.data.examples(s), batch_size=64) for s in SPLITS
            }
        return self._cache[key]


def run_stage2(
    data: PreparedData,
    store: FeatureStore,
    baseline_dir: str,
    model_args: ModelArguments,
    run_args: RunArguments,
    folder: str,
    seed: int,
) -> dict:
    """Train the InfoGAN on the frozen stage-1 features and save it with its MI report."""
    set_seed(seed)
    baseline = FeatureGanForEmotionClassification.from_pretrained(baseline_dir)
    h = store.get(baseline_dir)
    gan = FeatureGanGeneratorModel.from_baseline(
        baseline,
        noise_size=model_args.noise_size,
        use_text_condition=model_args.use_text_condition,
        generator_hidden_sizes=parse_sizes(model_args.generator_hidden_sizes),
        discriminator_hidden_sizes=parse_sizes(model_args.discriminator_hidden_sizes),
        mi_label_weight=model_args.mi_label_weight,
        mi_text_weight=model_args.mi_text_weight,
        mi_temperature=model_args.contrastive_temperature,
        mixup_alpha=model_args.mixup_alpha,
    )
    args = FeatureInfoGanTrainingArguments(
        num_train_epochs=run_args.gan_epochs,
        per_device_train_batch_size=run_args.gan_batch_size,
        learning_rate=run_args.gan_learning_rate,
        seed=seed,
        disable_tqdm=run_args.disable_tqdm,
        logging_steps=20,
        output_dir=os.path.join(folder, "checkpoints"),
        save_steps=run_args.save_steps,
    )
    trainer = FeatureInfoGanTrainer(gan, args, h["train"], data.labels["train"], data.text_embeds["train"])
    start = time.time()
    history = trainer.train(
        resume_from_checkpoint=resolve_run_resume(args.output_dir, run_args.resume_from_checkpoint)
    )
    report = {
        "train_seconds": time.time() - start,
        "generated_train": trainer.evaluate_mutual_information(seed=seed),
        "generated_test": trainer.evaluate_mutual_information(
            data.labels["test"], data.text_embeds["test"], seed=seed
        ),
        "real_train": mutual_information_report(
            h["train"],
            data.labels["train"],
            baseline.classifier,
            baseline.text_projection,
            data.text_embeds["train"],
            run_args.gan_batch_size,
            model_args.contrastive_temperature,
        ),
        "real_test": mutual_information_report(
            h["test"],
            data.labels["test"],
            baseline.classifier,
            baseline.text_projection,
            data.text_embeds["test"],
            run_args.gan_batch_size,
            model_args.contrastive_temperature,
        ),
    }
    gan.save_pretrained(folder)
    write_json(os.path.join(folder, "log_history.json"), history)
    mi = report["generated_train"]
    table = (
        "| | head accuracy | I(c; h_hat) bound | InfoNCE bound I(t; h_hat) |\n|---|---|---|---|\n"
        + "\n".join(
            f"| {name} | {v['head_accuracy']:.3f} | - | {round_or_dash(v['mi_text_bound'])} |"
            for name, v in mi["per_class"].items()
        )
        + f"\n| all | {mi['head_accuracy']:.3f} | {mi['mi_label_bound']:.3f} | {mi['mi_text_bound']:.3f} |"
    )
    save_card(
        folder,
        2,
        "InfoGAN feature generator",
        data,
        {},
        {
            k: getattr(gan.config, k)
            for k in (
                "noise_size",
                "use_text_condition",
                "generator_hidden_sizes",
                "discriminator_hidden_sizes",
                "mi_label_weight",
                "mi_text_weight",
                "mi_temperature",
                "mixup_alpha",
            )
        },
        args.to_dict(),
        [],
        mutual_information=table,
    )
    write_json(os.path.join(folder, "mutual_information.json"), report)  # last: marks the stage finished
    shutil.rmtree(args.output_dir, ignore_errors=True)
    return report


def run_stage3(
    data: PreparedData,
    store: FeatureStore,
    baseline_dir: str,
    generator_dir: str | None,
    model_args: ModelArguments,
    run_args: RunArguments,
    folder: str | None,
    seed: int,
    modality: str = "audio",
    augmentation: str = "match",
    checkpoint_dir: str | None = None,
    predictions_path: str | None = None,
) -> dict:
    """Fine-tune only the classifier on real (+ generated) features; save to `folder` when given. Checkpoints go to
    `checkpoint_dir` (default `folder/checkpoints`; none when both are `None`) and are removed when it finishes. The
    test predictions go to `predictions_path` (default `folder/test_predictions.csv`; none when both are `None`)."""
    if checkpoint_dir is None and folder is not None:
        checkpoint_dir = os.path.join(folder, "checkpoints")
    set_seed(seed)
    overrides = {"modality": modality, "freeze_backbone": True}
    if modality == "audio_text":
        overrides["multimodal_hidden_sizes"] = parse_sizes(model_args.multimodal_hidden_sizes)
    model = FeatureGanForEmotionClassification.from_pretrained(baseline_dir, **overrides)
    h = store.get(baseline_dir)
    gan = FeatureGanGeneratorModel.from_pretrained(generator_dir) if augmentation != "none" else None
    text = data.text_embeds
    train_set = build_augmented_training_set(
        h["train"], data.labels["train"], text["train"], gan, model.text_projection, augmentation, modality, seed
    )
    args = FeatureGanClassifierTrainingArguments(
        num_train_epochs=run_args.classifier_epochs,
        per_device_train_batch_size=run_args.classifier_batch_size,
        learning_rate=run_args.classifier_learning_rate,
        class_weighted_loss=run_args.class_weighted_loss,
        seed=seed,
        disable_tqdm=True,
        output_dir=checkpoint_dir,
        save_steps=run_args.save_steps if checkpoint_dir else 0,
    )
    eval_text = text["validation"] if modality == "audio_text" else None
    trainer = FeatureGanClassifierTrainer(
        model, args, train_set, h["validation"], data.labels["validation"], eval_text
    )
    trainer.train(
        resume_from_checkpoint=resolve_run_resume(checkpoint_dir, run_args.resume_from_checkpoint)
        if checkpoint_dir
        else None
    )
    results = {
        "num_train": int(train_set.labels.numel()),
        "num_generated": int(train_set.is_generated.sum()),
        "bad_audio_skipped": data.bad_audio_skipped,
    }
    logits = {}
    for split in ("validation", "test"):
        split_text = text[split] if modality == "audio_text" else None
        logits[split] = trainer.predict(h[split], split_text)
        results[split] = split_metrics(data.labels[split], logits[split], data.languages[split])
        if modality == "audio_text":  # audio only: the text side is t_hat = W_t h + b_t (what the pipeline sees)
            results[f"{split}_audio_only"] = split_metrics(data.labels[split], trainer.predict(h[split]))
    if predictions_path is None and folder is not None:
        predictions_path = os.path.join(folder, PREDICTIONS_NAME)
    if predictions_path is not None:
        os.makedirs(os.path.dirname(os.path.abspath(predictions_path)), exist_ok=True)
        data.write_test_predictions(predictions_path, logits["test"])
    if folder is not None:
        if run_args.class_weighted_loss:
            from hf_cser.trainers.feature_gan import inverse_frequency_class_weights

            model.set_class_weights(inverse_frequency_class_weights(train_set.labels, model.config.num_labels))
        model.save_pretrained(folder)
        data.feature_extractor.save_pretrained(folder)
        write_json(os.path.join(folder, "results.json"), results)
        title = "augmented audio + text classifier" if modality == "audio_text" else "augmented classifier"
        evals = {f"{s} (stage 3)": eval_entry(results[s], s) for s in ("validation", "test")}
        save_card(
            folder,
            3,
            title,
            data,
            evals,
            {"augmentation": augmentation, "modality": modality, "num_generated": results["num_generated"]},
            args.to_dict(),
            [model_args.backbone if model_args.backbone != "auto" else "", data.text_encoder_name],
            modality=modality,
        )
    if checkpoint_dir:
        shutil.rmtree(checkpoint_dir, ignore_errors=True)
    return results
