"""Configuration of CTL-MTNet (CPAC capsule network + CAAM margin disparity discrepancy; ``papers/002``, METHODS.md
section 3)."""

from __future__ import annotations

from transformers import PretrainedConfig

from ...labels import ID2LABEL, LABEL2ID

CTL_MTNET_HEADS: tuple[str, ...] = ("capsule", "linear")
"""`"capsule"`: capsule lengths are the class scores, margin loss (single-corpus task, CPAC). `"linear"`: the FC
classifier f on the CPAC features, cross-entropy (cross-corpus task, CAAM)."""

GRL_SCHEDULES: tuple[str, ...] = ("constant", "warm_start")


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
    return int(value)


class CtlMtNetConfig(PretrainedConfig):
    r"""
    Configuration of a [`CtlMtNetForEmotionClassification`].

    CPAC: `num_conv_blocks` CNN-pooling blocks (conv `conv_kernel_size` x `conv_kernel_size`, `conv_filters` filters,
    batch norm, ELU, average pooling, dropout) on the MFCC "image" `(frames, 39)` -> PrimaryCaps (a conv whose output
    is cut into `primary_capsule_types` capsules of `primary_capsule_dim` values per position, squashed) ->
    self-attention across all primary capsules (input to DigitCaps = attention output x PrimaryCaps output,
    element-wise) -> DigitCaps (one capsule of `digit_capsule_dim` per class, dynamic routing with
    `routing_iterations`) -> global average pooling over time. CAAM adds the classifier f and, behind a gradient
    reversal layer, the auxiliary classifier f' (one FC layer each, paper section 2.5) on the flattened pooled
    DigitCaps (the features psi).

    Args:
        feature_size (`int`, *optional*, defaults to 39):
            MFCC values per frame (13 + deltas + delta-deltas; paper value).
        input_batch_norm (`bool`, *optional*, defaults to `True`):
            Standardise each MFCC coefficient with a batch norm before the first conv (library choice: the raw
            coefficients differ in scale by two orders of magnitude and the paper does not say how it scales them).
        num_conv_blocks (`int`, *optional*, defaults to 3):
            CNN-pooling blocks (paper value).
        conv_filters (`int`, *optional*, defaults to 64):
            Filters of every conv (paper value).
        conv_kernel_size (`int`, *optional*, defaults to 3):
            Square kernel size (paper value 3 x 3).
        pool_size (`int`, *optional*, defaults to 2):
            Average pooling size and stride over (time, MFCC) (library default; the paper gives none).
        conv_dropout (`float`, *optional*, defaults to 0.25):
            Dropout after each pooling (paper value).
        primary_capsule_types (`int`, *optional*, defaults to 8):
            Capsule channels of PrimaryCaps (library default).
        primary_capsule_dim (`int`, *optional*, defaults to 8):
            Length of a primary capsule vector (Sabour et al.'s 8); also the self-attention width d.
        primary_kernel_size (`int`, *optional*, defaults to 3):
            Kernel of the PrimaryCaps conv (library default, stride 1, "same" padding).
        use_attention (`bool`, *optional*, defaults to `True`):
            The self-attention between PrimaryCaps and DigitCaps; `False` is the paper's "Algorithm 2" ablation.
        digit_capsule_dim (`int`, *optional*, defaults to 16):
            Length of a DigitCaps vector (Sabour et al.'s 16).
        routing_iterations (`int`, *optional*, defaults to 3):
            Dynamic routing iterations (Sabour et al.'s 3).
        head (`str`, *optional*, defaults to `"capsule"`):
            `"capsule"` (single-corpus: logits = capsule lengths, margin loss) or `"linear"` (cross-corpus: logits =
            f(psi), cross-entropy).
        margin_positive (`float`, *optional*, defaults to 0.9), margin_negative (`float`, *optional*, defaults
        to 0.1), margin_downweight (`float`, *optional*, defaults to 0.5):
            m+, m- and rho of the margin loss (paper values).
        use_mdd (`bool`, *optional*, defaults to `False`):
            Build the auxiliary classifier f' behind a gradient reversal layer (CAAM). Needs `head="linear"`.
        mdd_margin (`float`, *optional*, defaults to 1.5):
            gamma, the MDD margin factor (paper value; TLlib's default is 4).
        mdd_weight (`float`, *optional*, defaults to 1.0):
            eta, the trade-off of `L_CE + eta * D_gamma` (paper value).
        grl_coefficient (`float`, *optional*, defaults to 0.1):
            Limit of the GRL coefficient (TLlib's MDD value `hi = 0.1`; the paper gives none).
        grl_schedule (`str`, *optional*, defaults to `"warm_start"`):
            `"warm_start"` (TLlib's ramp from 0 to `grl_coefficient`) or `"constant"`; read by the trainer.
        classifier_dropout (`float`, *optional*, defaults to 0.0):
            Dropout on psi before f and f' (library default).

    Example:

    ```python
    >>> from hf_cser.models.ctl_mtnet import CtlMtNetConfig, CtlMtNetForEmotionClassification

    >>> single = CtlMtNetForEmotionClassification(CtlMtNetConfig())  # CPAC, margin loss
    >>> caam = CtlMtNetForEmotionClassification(CtlMtNetConfig(head="linear", use_mdd=True))  # CAAM
    ```
    """

    model_type = "ctl_mtnet"

    def __init__(
        self,
        feature_size: int = 39,
        input_batch_norm: bool = True,
        num_conv_blocks: int = 3,
        conv_filters: int = 64,
        conv_kernel_size: int = 3,
        pool_size: int = 2,
        conv_dropout: float = 0.25,
        primary_capsule_types: int = 8,
        primary_capsule_dim: int = 8,
        primary_kernel_size: int = 3,
        use_attention: bool = True,
        digit_capsule_dim: int = 16,
        routing_iterations: int = 3,
        head: str = "capsule",
        margin_positive: float = 0.9,
        margin_negative: float = 0.1,
        margin_downweight: float = 0.5,
        use_mdd: bool = False,
        mdd_margin: float = 1.5,
        mdd_weight: float = 1.0,
        grl_coefficient: float = 0.1,
        grl_schedule: str = "warm_start",
        classifier_dropout: float = 0.0,
        **kwargs,
    ):
        for name in (
            "feature_size",
            "num_conv_blocks",
            "conv_filters",
            "conv_kernel_size",
            "pool_size",
            "primary_capsule_types",
            "primary_capsule_dim",
            "primary_kernel_size",
            "digit_capsule_dim",
            "routing_iterations",
        ):
            _positive_int(name, locals()[name])
        if conv_kernel_size % 2 == 0 or primary_kernel_size % 2 == 0:
            raise ValueError(
                f"`conv_kernel_size` and `primary_kernel_size` must be odd ('same' padding), got {conv_kernel_size} "
                f"and {primary_kernel_size}."
            )
        if pool_size**num_conv_blocks > feature_size:
            raise ValueError(
                f"{num_conv_blocks} poolings of size {pool_size} leave no MFCC bins of `feature_size`={feature_size}; "
                "lower `num_conv_blocks` or `pool_size`."
            )
        for name, value in (("conv_dropout", conv_dropout), ("classifier_dropout", classifier_dropout)):
            if not 0 <= value < 1:
                raise ValueError(f"`{name}` must be in [0, 1), got {value!r}.")
        if head not in CTL_MTNET_HEADS:
            raise ValueError(f"`head` must be one of {list(CTL_MTNET_HEADS)}, got {head!r}.")
        if use_mdd and head != "linear":
            raise ValueError("`use_mdd=True` needs `head='linear'` (CAAM's classifiers f and f' are FC layers).")
        if not 0 <= margin_negative < margin_positive <= 1:
            raise ValueError(
                f"Need 0 <= `margin_negative` < `margin_positive` <= 1, got {margin_negative!r}, {margin_positive!r}."
            )
        if not margin_downweight >= 0:
            raise ValueError(f"`margin_downweight` (rho) must be >= 0, got {margin_downweight!r}.")
        if not mdd_margin > 0:
            raise ValueError(f"`mdd_margin` (gamma) must be > 0, got {mdd_margin!r}.")
        if not mdd_weight >= 0 or not grl_coefficient >= 0:
            raise ValueError(
                f"`mdd_weight` (eta) and `grl_coefficient` must be >= 0, got {mdd_weight!r} and {grl_coefficient!r}."
            )
        if grl_schedule not in GRL_SCHEDULES:
            raise ValueError(f"`grl_schedule` must be one of {list(GRL_SCHEDULES)}, got {grl_schedule!r}.")

        kwargs.setdefault("id2label", dict(ID2LABEL))
        kwargs.setdefault("label2id", dict(LABEL2ID))
        self.feature_size = int(feature_size)
        self.input_batch_norm = bool(input_batch_norm)
        self.num_conv_blocks = int(num_conv_blocks)
        self.conv_filters = int(conv_filters)
        self.conv_kernel_size = int(conv_kernel_size)
        self.pool_size = int(pool_size)
        self.conv_dropout = float(conv_dropout)
        self.primary_capsule_types = int(primary_capsule_types)
        self.primary_capsule_dim = int(primary_capsule_dim)
        self.primary_kernel_size = int(primary_kernel_size)
        self.use_attention = bool(use_attention)
        self.digit_capsule_dim = int(digit_capsule_dim)
        self.routing_iterations = int(routing_iterations)
        self.head = head
        self.margin_positive = float(margin_positive)
        self.margin_negative = float(margin_negative)
        self.margin_downweight = float(margin_downweight)
        self.use_mdd = bool(use_mdd)
        self.mdd_margin = float(mdd_margin)
        self.mdd_weight = float(mdd_weight)
        self.grl_coefficient = float(grl_coefficient)
        self.grl_schedule = grl_schedule
        self.classifier_dropout = float(classifier_dropout)
        super().__init__(**kwargs)

    @property
    def pooled_feature_bins(self) -> int:
        """MFCC bins left after the CNN-pooling blocks (floor division per pooling)."""
        bins = self.feature_size
        for _ in range(self.num_conv_blocks):
            bins //= self.pool_size
        return bins

    @property
    def hidden_size(self) -> int:
        """Width of the CPAC features psi: `num_labels x digit_capsule_dim` (flattened pooled DigitCaps)."""
        return self.num_labels * self.digit_capsule_dim


__all__ = ["CTL_MTNET_HEADS", "CtlMtNetConfig"]
