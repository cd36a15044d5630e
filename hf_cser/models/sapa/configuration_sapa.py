"""Configuration of SAPA, speaker-style aware phoneme anchoring for cross-lingual SER (``papers/000``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from transformers import PretrainedConfig
from transformers.utils import logging

from ...labels import ID2LABEL, LABEL2ID
from ..config_utils import check_backbone_model_type, nested_config_to_dict

logger = logging.get_logger(__name__)

SAPA_VARIANTS: tuple[str, ...] = ("sapa", "only_s", "only_p", "sapa_only_s", "sapa_only_p")
"""The full model and the four ablations of SAPA Table 4."""


def default_content_encoder_config() -> dict[str, Any]:
    """The default content backbone: the WavLM Base architecture (random weights; use
    [`SapaForEmotionClassification.from_encoders`] to load a pretrained one)."""
    from transformers import WavLMConfig

    return nested_config_to_dict(WavLMConfig(), "content_encoder_config")


def default_speaker_encoder_config() -> dict[str, Any]:
    """The default speaker encoder: the pretrained GE2E "voice encoder" architecture (FreeVC / resemblyzer)."""
    from ...encoders.ge2e import Ge2eSpeakerEncoderConfig

    return nested_config_to_dict(Ge2eSpeakerEncoderConfig(), "speaker_encoder_config")


class SapaConfig(PretrainedConfig):
    r"""
    Configuration of a [`SapaForEmotionClassification`] model: two frozen encoders (content f_c and speaker f_s, as in
    FreeVC), trainable projections to the phonetic embedding z_c and the speaker embedding z_s of every
    phoneme-centred window, and the SER head (a transformer encoder over the windows followed by four fully connected
    layers, SAPA section 3.2). The anchoring losses (phoneme-space L_p and speaker-space L_s, section 3.1) are added by
    the SAPA trainer; their margins and weights live here so a saved model records how it was trained.

    Args:
        content_encoder_config (`dict` or `PretrainedConfig`, *optional*):
            Config of the content backbone (WavLM, HuBERT, wav2vec2, ..., or Whisper, of which only the encoder is
            built), including its `model_type`; built with `hf_cser.encoders.build_speech_backbone`. Library
            default: the WavLM Base architecture (FreeVC uses WavLM features; the paper does not name the size).
        content_layer (`int` or `str`, *optional*):
            Which backbone output is the content feature: `None` (library default) the last hidden state, an `int`
            the `hidden_states[content_layer]` (0 = the input of the first transformer layer), `"weighted"` a
            softmax-weighted sum of all hidden states (SUPERB style; the weights belong to the content encoder and
            are frozen with it, i.e. a uniform mean, so that cached features stay valid).
        content_input_normalize (`bool`, *optional*, defaults to `False`):
            Whether the content backbone wants zero-mean unit-variance input (`do_normalize` of its feature
            extractor; WavLM Large and wav2vec2 Large-lv60 do). Applied inside the model to the content branch only:
            the speaker encoder always sees the raw waveform. `from_encoders` reads it from the backbone folder.
        content_whisper_mode (`str`, *optional*, defaults to `"unpadded"`):
            Whisper content backbones only: `"unpadded"` (the utterance's own frames; library default) or `"pad_30s"`
            (Whisper's 30 s training input), see `hf_cser.encoders.whisper.encoding`.
        feature_normalization (`dict`, *optional*):
            Per-group z-normalisation of the frozen window features (library addition for real corpora; see
            `hf_cser.normalization`): `{"group_by": "speaker" | "corpus" | "global", "content": ..., "speaker": ...}`
            with each branch's [`~hf_cser.normalization.FeatureNormalizer.to_dict`]. Training and evaluation on
            datasets normalise each speaker / corpus with its own statistics (the cached path gets normalised
            features); the raw-audio path (`pipeline`, one file, speaker unknown) applies the stored global training
            statistics. `None`: no normalisation.
        speaker_encoder_config (`dict` or [`Ge2eSpeakerEncoderConfig`], *optional*):
            Config of the GE2E speaker encoder (paper: FreeVC's speaker encoder). Defaults to the pretrained
            resemblyzer architecture.
        content_projection_size (`int`, *optional*, defaults to 256):
            d_c, size of the trainable bottleneck from the frozen content features to z_c (library default; FreeVC's
            bottleneck is 192, the paper gives no value).
        speaker_projection_size (`int`, *optional*, defaults to 256):
            d_s, size of the trainable projection from the frozen GE2E embedding to z_s (library default; equal to
            the GE2E embedding size).
        window_ms (`float`, *optional*, defaults to 240.0):
            Length of the phoneme-centred windows (paper value: 240 ms for training, section 3.1).
        max_windows (`int`, *optional*, defaults to 24):
            At most this many windows per utterance; longer utterances are subsampled uniformly (library default).
        hidden_size (`int`, *optional*, defaults to 256):
            Width of the fusion transformer (library default; the paper follows Upadhyay et al. without sizes).
        num_transformer_layers (`int`, *optional*, defaults to 2):
            Transformer encoder layers over the window tokens (library default).
        num_attention_heads (`int`, *optional*, defaults to 4):
            Attention heads of the fusion transformer (library default); must divide `hidden_size`.
        intermediate_size (`int`, *optional*):
            Feed-forward size of the fusion transformer; `4 * hidden_size` when `None` (library default).
        classifier_hidden_sizes (`Sequence[int]`, *optional*, defaults to `(256, 128, 64)`):
            Hidden sizes of the classifier; with the output layer these are the paper's four fully connected layers
            (sizes are a library default).
        dropout (`float`, *optional*, defaults to 0.1):
            Dropout in the fusion transformer and between the classifier layers (library default).
        variant (`str`, *optional*, defaults to `"sapa"`):
            `"sapa"` (both embeddings fused, both anchoring losses), `"only_s"` (speaker embedding only, no
            anchoring), `"only_p"` (content embedding only, no anchoring), `"sapa_only_s"` (fused, speaker-space
            loss only), `"sapa_only_p"` (fused, phoneme-space loss only): SAPA Table 4.
        phoneme_margin (`float`, *optional*, defaults to 0.4):
            alpha, margin of the phoneme-space triplet loss L_p (paper value, eq. 4).
        speaker_margin (`float`, *optional*, defaults to 0.6):
            beta, margin of the speaker-space triplet loss L_s (paper value, eq. 5).
        phoneme_loss_weight (`float`, *optional*, defaults to 0.5):
            lambda_1 of L_total = L_SER + lambda_1 L_p + lambda_2 L_s (paper value, eq. 8).
        speaker_loss_weight (`float`, *optional*, defaults to 0.5):
            lambda_2 (paper value, eq. 8).
        graph_tau (`float`, *optional*, defaults to 0.7):
            Cosine-similarity threshold of the speaker-graph edges that define the emotion-style clusters (paper
            value, section 2.2); in [-1, 1].
        freeze_encoders (`bool`, *optional*, defaults to `True`):
            Keep both encoders frozen (no gradients, always in eval mode), as in the paper.

    Example:

    ```python
    >>> from hf_cser.models.sapa import SapaConfig, SapaForEmotionClassification

    >>> config = SapaConfig(variant="sapa_only_p")
    >>> model = SapaForEmotionClassification(config)  # random encoders; see `from_encoders`
    ```
    """

    model_type = "sapa"

    def __init__(
        self,
        content_encoder_config: dict[str, Any] | PretrainedConfig | None = None,
        content_layer: int | str | None = None,
        content_input_normalize: bool = False,
        content_whisper_mode: str = "unpadded",
        feature_normalization: dict[str, Any] | None = None,
        speaker_encoder_config: dict[str, Any] | PretrainedConfig | None = None,
        content_projection_size: int = 256,
        speaker_projection_size: int = 256,
        window_ms: float = 240.0,
        max_windows: int = 24,
        hidden_size: int = 256,
        num_transformer_layers: int = 2,
        num_attention_heads: int = 4,
        intermediate_size: int | None = None,
        classifier_hidden_sizes: Sequence[int] = (256, 128, 64),
        dropout: float = 0.1,
        variant: str = "sapa",
        phoneme_margin: float = 0.4,
        speaker_margin: float = 0.6,
        phoneme_loss_weight: float = 0.5,
        speaker_loss_weight: float = 0.5,
        graph_tau: float = 0.7,
        freeze_encoders: bool = True,
        **kwargs,
    ):
        content = nested_config_to_dict(content_encoder_config, "content_encoder_config")
        content = content or default_content_encoder_config()
        speaker = nested_config_to_dict(speaker_encoder_config, "speaker_encoder_config")
        speaker = speaker or default_speaker_encoder_config()
        check_backbone_model_type(content, "content_encoder_config")
        speaker.setdefault("model_type", "ge2e_speaker_encoder")
        if speaker["model_type"] != "ge2e_speaker_encoder":
            raise ValueError(
                f"`speaker_encoder_config` must describe a GE2E speaker encoder (model_type "
                f"'ge2e_speaker_encoder'), got model_type {speaker['model_type']!r}."
            )
        if not (content_layer is None or content_layer == "weighted" or _is_int(content_layer)):
            raise ValueError(
                f"`content_layer` must be None (last layer), an int layer index or 'weighted', got {content_layer!r}."
            )
        if _is_int(content_layer):
            content_layer = int(content_layer)
            num_layers = content.get("num_hidden_layers", content.get("encoder_layers"))
            if content_layer < 0 or (num_layers is not None and content_layer > num_layers):
                raise ValueError(
                    f"`content_layer` must be between 0 and the backbone's num_hidden_layers ({num_layers}), got "
                    f"{content_layer}."
                )
        for name, value in (
            ("content_projection_size", content_projection_size),
            ("speaker_projection_size", speaker_projection_size),
            ("max_windows", max_windows),
            ("hidden_size", hidden_size),
            ("num_transformer_layers", num_transformer_layers),
            ("num_attention_heads", num_attention_heads),
        ):
            if not _is_int(value) or value <= 0:
                raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
        if intermediate_size is not None and (not _is_int(intermediate_size) or intermediate_size <= 0):
            raise ValueError(f"`intermediate_size` must be a positive integer or None, got {intermediate_size!r}.")
        if hidden_size % num_attention_heads:
            raise ValueError(
                f"`hidden_size` ({hidden_size}) must be divisible by `num_attention_heads` ({num_attention_heads})."
            )
        if not window_ms > 0:
            raise ValueError(f"`window_ms` must be positive (paper value: 240), got {window_ms!r}.")
        classifier_hidden_sizes = list(classifier_hidden_sizes)
        if any(not _is_int(size) or size <= 0 for size in classifier_hidden_sizes):
            raise ValueError(
                f"`classifier_hidden_sizes` must be positive integers, got {classifier_hidden_sizes!r} (the paper "
                "uses four fully connected layers: three hidden sizes plus the output layer)."
            )
        if not 0 <= dropout < 1:
            raise ValueError(f"`dropout` must be in [0, 1), got {dropout!r}.")
        if variant not in SAPA_VARIANTS:
            raise ValueError(f"`variant` must be one of {list(SAPA_VARIANTS)}, got {variant!r}.")
        for name, value in (("phoneme_margin", phoneme_margin), ("speaker_margin", speaker_margin)):
            if not value >= 0:
                raise ValueError(f"`{name}` must be non-negative, got {value!r}.")
        for name, value in (
            ("phoneme_loss_weight", phoneme_loss_weight),
            ("speaker_loss_weight", speaker_loss_weight),
        ):
            if not value >= 0:
                raise ValueError(f"`{name}` must be non-negative (use `variant` to drop a loss), got {value!r}.")
        if not -1 <= graph_tau <= 1:
            raise ValueError(
                f"`graph_tau` is a cosine-similarity threshold and must be in [-1, 1], got {graph_tau!r}."
            )

        kwargs.setdefault("id2label", dict(ID2LABEL))
        kwargs.setdefault("label2id", dict(LABEL2ID))
        self.content_encoder_config = content
        self.content_layer = content_layer
        self.content_input_normalize = bool(content_input_normalize)
        from ...encoders.whisper.encoding import WHISPER_POOLING_MODES

        if content_whisper_mode not in WHISPER_POOLING_MODES:
            raise ValueError(
                f"`content_whisper_mode` must be one of {WHISPER_POOLING_MODES}, got {content_whisper_mode!r}."
            )
        self.content_whisper_mode = content_whisper_mode
        if feature_normalization is not None:
            if not isinstance(feature_normalization, dict) or not {"group_by", "content", "speaker"} <= set(
                feature_normalization
            ):
                raise ValueError(
                    "`feature_normalization` must be None or a dict with `group_by`, `content` and `speaker` (as "
                    "written by `hf_cser.models.sapa.normalize_window_feature_datasets`), got "
                    f"{feature_normalization!r}."
                )
        self.feature_normalization = feature_normalization
        self.speaker_encoder_config = speaker
        self.content_projection_size = int(content_projection_size)
        self.speaker_projection_size = int(speaker_projection_size)
        self.window_ms = float(window_ms)
        self.max_windows = int(max_windows)
        self.hidden_size = int(hidden_size)
        self.num_transformer_layers = int(num_transformer_layers)
        self.num_attention_heads = int(num_attention_heads)
        self.intermediate_size = None if intermediate_size is None else int(intermediate_size)
        self.classifier_hidden_sizes = [int(size) for size in classifier_hidden_sizes]
        self.dropout = float(dropout)
        self.variant = variant
        self.phoneme_margin = float(phoneme_margin)
        self.speaker_margin = float(speaker_margin)
        self.phoneme_loss_weight = float(phoneme_loss_weight)
        self.speaker_loss_weight = float(speaker_loss_weight)
        self.graph_tau = float(graph_tau)
        self.freeze_encoders = bool(freeze_encoders)
        super().__init__(**kwargs)

    @property
    def uses_content(self) -> bool:
        """Whether the classifier sees the phonetic embedding z_c (every variant but `only_s`)."""
        return self.variant != "only_s"

    @property
    def uses_speaker(self) -> bool:
        """Whether the classifier sees the speaker embedding z_s (every variant but `only_p`)."""
        return self.variant != "only_p"

    @property
    def uses_phoneme_loss(self) -> bool:
        """Whether the phoneme-space triplet loss L_p is trained (`sapa`, `sapa_only_p`)."""
        return self.variant in ("sapa", "sapa_only_p")

    @property
    def uses_speaker_loss(self) -> bool:
        """Whether the speaker-space triplet loss L_s is trained (`sapa`, `sapa_only_s`)."""
        return self.variant in ("sapa", "sapa_only_s")

    def build_content_encoder_config(self) -> PretrainedConfig:
        """The content backbone's config as a `PretrainedConfig` (via `AutoConfig.for_model`)."""
        from transformers import AutoConfig

        values = dict(self.content_encoder_config)
        model_type = values.pop("model_type")
        return AutoConfig.for_model(model_type, **values)

    def build_speaker_encoder_config(self):
        """The speaker encoder's config as a [`Ge2eSpeakerEncoderConfig`]."""
        from ...encoders.ge2e import Ge2eSpeakerEncoderConfig

        values = {k: v for k, v in self.speaker_encoder_config.items() if k != "model_type"}
        return Ge2eSpeakerEncoderConfig(**values)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


__all__ = ["SAPA_VARIANTS", "SapaConfig"]
