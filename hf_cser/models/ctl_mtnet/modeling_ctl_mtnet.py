"""CTL-MTNet (``papers/002``, METHODS.md section 3): the CPAC capsule network on MFCCs and CAAM's two classifiers.

CPAC (paper sections 2.2-2.4):

1. CNN-pooling: ``num_conv_blocks`` x [conv 3x3 (64 filters) -> batch norm -> ELU -> average pooling -> dropout 0.25]
   on the MFCC "image" ``(1, frames, 39)``.
2. PrimaryCaps: a conv whose channels are cut into ``primary_capsule_types`` capsules of ``primary_capsule_dim`` at
   every (time, MFCC-bin) position, squashed (eq. 1).
3. Self-attention across all primary capsules of the utterance (eq. 2): ``A = softmax(Q K^T / sqrt(d)) V`` with linear
   maps Q, K, V of width d = ``primary_capsule_dim``; the DigitCaps input is ``A * u`` element-wise (eq. 3, "attention
   x PrimaryCaps output"; the paper does not say which product, element-wise is our reading since both are (N, d)).
4. DigitCaps: at each pooled time step, the primary capsules of that step (MFCC bins x types, each with its own
   transformation matrices) route to one capsule per class by dynamic routing (Sabour et al., 2017).
5. Global average pooling of the DigitCaps over the valid time steps: ``v_k`` `(num_labels, digit_capsule_dim)`, whose
   lengths (in [0, 1)) are the class scores of the single-corpus task (margin loss, eq. 4).

Routing per time step, then pooling, is our reading of "DigitCaps and Avepooling layers": it keeps the transformation
matrices independent of the utterance length. Padded frames are masked throughout (zeroed after every block, left out
of the attention keys and of the pooling), so in eval mode a padded utterance scores as it does alone.

CAAM (section 2.5): the features psi are the flattened pooled DigitCaps; the classifier f and the auxiliary
classifier f' are one FC layer each, f' behind a gradient reversal layer. MDD and the source/target batches are the
trainer's business (`hf_cser.trainers.CtlMtNetTrainer`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers.utils import ModelOutput, logging

from ...hub import CheckedFolderLoadingMixin
from ...losses.capsule import MarginLoss, capsule_lengths, squash
from ...losses.grl import GradientReversalLayer
from .configuration_ctl_mtnet import CtlMtNetConfig

try:  # transformers >= 5: init helpers that respect already-loaded weights
    from transformers import initialization as init
except ImportError:  # transformers 4.x
    from torch.nn import init

logger = logging.get_logger(__name__)


@dataclass
class CtlMtNetOutput(ModelOutput):
    """
    Output of [`CtlMtNetForEmotionClassification`].

    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*):
            With `labels`: the margin loss (`head="capsule"`) or the cross-entropy of f (`head="linear"`). MDD is
            added by the trainer.
        logits (`torch.FloatTensor` of shape `(batch_size, num_labels)`):
            Class scores: the capsule lengths (`head="capsule"`) or f(psi) (`head="linear"`).
        embeddings (`torch.FloatTensor` of shape `(batch_size, num_labels * digit_capsule_dim)`):
            psi, the flattened pooled DigitCaps (CAAM's features).
        capsule_lengths (`torch.FloatTensor` of shape `(batch_size, num_labels)`):
            Lengths of the pooled DigitCaps, in [0, 1).
        auxiliary_logits (`torch.FloatTensor` of shape `(batch_size, num_labels)`, *optional*):
            f'(GRL(psi)) when `use_mdd`.
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    embeddings: torch.FloatTensor | None = None
    capsule_lengths: torch.FloatTensor | None = None
    auxiliary_logits: torch.FloatTensor | None = None


def lengths_to_mask(lengths: torch.Tensor, max_length: int) -> torch.Tensor:
    """`(B,)` valid lengths -> `(B, max_length)` float mask (1 on the first `lengths[b]` positions)."""
    positions = torch.arange(max_length, device=lengths.device)
    return (positions[None, :] < lengths[:, None]).float()


class CnnPoolingBlock(nn.Module):
    """Conv k x k -> BatchNorm -> ELU -> AvgPool -> Dropout (paper section 2.2); padded frames are kept at zero."""

    def __init__(self, in_channels: int, config: CtlMtNetConfig) -> None:
        super().__init__()
        k = config.conv_kernel_size
        self.conv = nn.Conv2d(in_channels, config.conv_filters, kernel_size=k, padding=k // 2)
        self.norm = nn.BatchNorm2d(config.conv_filters)
        self.activation = nn.ELU()
        self.pool = nn.AvgPool2d(config.pool_size)
        self.dropout = nn.Dropout(config.conv_dropout)
        self.pool_size = config.pool_size

    def forward(self, hidden: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # hidden: (B, C, T, F); lengths: (B,) valid frames
        hidden = self.activation(self.norm(self.conv(hidden)))
        hidden = hidden * lengths_to_mask(lengths, hidden.shape[2])[:, None, :, None]
        lengths = torch.div(lengths, self.pool_size, rounding_mode="floor")
        hidden = self.pool(hidden)  # (B, filters, T // p, F // p)
        # pooled steps that mix valid and padded frames are zeroed too, so the next conv sees what it would see at
        # the end of an unpadded utterance (its zero padding)
        hidden = hidden * lengths_to_mask(lengths, hidden.shape[2])[:, None, :, None]
        return self.dropout(hidden), lengths


class PrimaryCapsules(nn.Module):
    """Conv -> `(B, T', F', types, dim)` capsules -> squash (paper eq. 1)."""

    def __init__(self, config: CtlMtNetConfig) -> None:
        super().__init__()
        k = config.primary_kernel_size
        self.types = config.primary_capsule_types
        self.dim = config.primary_capsule_dim
        self.conv = nn.Conv2d(config.conv_filters, self.types * self.dim, kernel_size=k, padding=k // 2)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        batch, _, steps, bins = hidden.shape
        capsules = self.conv(hidden).view(batch, self.types, self.dim, steps, bins)
        return squash(capsules.permute(0, 3, 4, 1, 2), dim=-1)  # (B, T', F', types, dim)


class CapsuleSelfAttention(nn.Module):
    """Scaled dot-product self-attention across capsules (paper eq. 2); returns ``attention * capsules`` (eq. 3)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)
        self.value._is_capsule_attention_value = True  # bias initialised to 1 (see `_init_weights`)
        self.scale = 1.0 / math.sqrt(dim)

    def forward(self, capsules: torch.Tensor, capsule_mask: torch.Tensor) -> torch.Tensor:
        # capsules: (B, N, d); capsule_mask: (B, N), 1 on capsules of valid frames
        keep = capsule_mask != 0
        # an utterance without a valid capsule (all masked) attends to every capsule instead of producing NaN; its
        # output is masked out of the pooling anyway
        keep = keep | ~keep.any(dim=-1, keepdim=True)
        # softmax(Q K^T / sqrt(d)) V through torch's fused kernel: with a (B, 1, N, d) head axis it takes the
        # memory-efficient path on CPU (about 4x faster than the explicit (B, N, N) matrix for N ~ 1,000 capsules)
        attention = nn.functional.scaled_dot_product_attention(
            self.query(capsules)[:, None],
            self.key(capsules)[:, None],
            self.value(capsules)[:, None],
            attn_mask=keep[:, None, None, :],
            scale=self.scale,
        )[:, 0]  # (B, N, d)
        return attention * capsules


class DigitCapsules(nn.Module):
    """One output capsule per class from the `num_inputs` primary capsules of a time step, by dynamic routing.

    ``u_hat[i, k] = W[i, k] u_i``; ``b = 0``; repeat `iterations` times: ``c = softmax_k(b)``,
    ``v_k = squash(sum_i c_ik u_hat_ik)``, ``b_ik += u_hat_ik . v_k`` (Sabour et al., 2017, Procedure 1).
    """

    def __init__(self, num_inputs: int, input_dim: int, num_outputs: int, output_dim: int, iterations: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_inputs, num_outputs, output_dim, input_dim))
        nn.init.normal_(self.weight, std=1.0 / math.sqrt(input_dim))
        self.iterations = iterations

    def forward(self, capsules: torch.Tensor) -> torch.Tensor:
        # capsules: (B, T, I, d_in) -> (B, T, K, d_out)
        u_hat = torch.einsum("btid,ikod->btiko", capsules, self.weight)  # (B, T, I, K, d_out)
        logits = u_hat.new_zeros(u_hat.shape[:-1])  # (B, T, I, K)
        for iteration in range(self.iterations):
            coupling = torch.softmax(logits, dim=-1)  # over the output capsules
            outputs = squash((coupling.unsqueeze(-1) * u_hat).sum(dim=2), dim=-1)  # (B, T, K, d_out)
            if iteration < self.iterations - 1:
                logits = logits + (u_hat * outputs.unsqueeze(2)).sum(dim=-1)
        return outputs


class CtlMtNetPreTrainedModel(CheckedFolderLoadingMixin, PreTrainedModel):
    """Base class: config class and weight initialisation."""

    config_class = CtlMtNetConfig
    base_model_prefix = "ctl_mtnet"
    main_input_name = "input_features"
    supports_gradient_checkpointing = False

    @torch.no_grad()
    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            init.xavier_uniform_(module.weight)
            if getattr(module, "_is_capsule_attention_value", False):
                # value bias 1: the attention output starts near 1, so `attention * capsules` starts near the
                # capsules themselves instead of shrinking them towards zero (library choice)
                init.ones_(module.bias)
            elif module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.Conv2d):
            init.kaiming_normal_(module.weight, nonlinearity="relu")
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
            init.ones_(module.weight)
            init.zeros_(module.bias)
        elif isinstance(module, DigitCapsules):
            init.normal_(module.weight, std=1.0 / math.sqrt(module.weight.shape[-1]))


class CtlMtNetForEmotionClassification(CtlMtNetPreTrainedModel):
    r"""
    CTL-MTNet emotion classifier: CPAC (capsules with self-attention) and, for the cross-corpus task, CAAM's
    classifier f and auxiliary classifier f' (behind a gradient reversal layer).

    Inputs are MFCC features from [`CtlMtNetFeatureExtractor`] (`input_features` `(B, T, 39)`, `attention_mask`
    `(B, T)`); `save_pretrained` + `AutoModelForAudioClassification.from_pretrained` and
    `pipeline("audio-classification", model=folder)` work once the feature extractor is saved alongside.

    Example:

    ```python
    >>> import numpy as np
    >>> from hf_cser.models.ctl_mtnet import (
    ...     CtlMtNetConfig, CtlMtNetFeatureExtractor, CtlMtNetForEmotionClassification
    ... )

    >>> model = CtlMtNetForEmotionClassification(CtlMtNetConfig()).eval()
    >>> batch = CtlMtNetFeatureExtractor()([np.random.randn(16000)], sampling_rate=16000, return_tensors="pt")
    >>> model(**batch).capsule_lengths.shape
    torch.Size([1, 4])
    ```
    """

    accepts_loss_kwargs = False

    def __init__(self, config: CtlMtNetConfig):
        super().__init__(config)
        # per-coefficient input standardisation: MFCC 0 is in the hundreds, the deltas near 1 (library choice)
        self.input_norm = nn.BatchNorm1d(config.feature_size) if config.input_batch_norm else None
        blocks = []
        for index in range(config.num_conv_blocks):
            blocks.append(CnnPoolingBlock(1 if index == 0 else config.conv_filters, config))
        self.conv_blocks = nn.ModuleList(blocks)
        self.primary_capsules = PrimaryCapsules(config)
        self.attention = CapsuleSelfAttention(config.primary_capsule_dim) if config.use_attention else None
        self.digit_capsules = DigitCapsules(
            num_inputs=config.pooled_feature_bins * config.primary_capsule_types,
            input_dim=config.primary_capsule_dim,
            num_outputs=config.num_labels,
            output_dim=config.digit_capsule_dim,
            iterations=config.routing_iterations,
        )
        self.margin_loss = MarginLoss(config.margin_positive, config.margin_negative, config.margin_downweight)
        self.classifier_dropout = nn.Dropout(config.classifier_dropout)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels) if config.head == "linear" else None
        self.grl = GradientReversalLayer(config.grl_coefficient) if config.use_mdd else None
        self.auxiliary_classifier = nn.Linear(config.hidden_size, config.num_labels) if config.use_mdd else None
        self.post_init()

    def set_grl_coefficient(self, value: float) -> None:
        """Set the coefficient of f''s gradient reversal layer (e.g. from a `GrlScheduler`); no-op without MDD."""
        if self.grl is not None:
            self.grl.coeff = value

    def encode(
        self, input_features: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """CPAC: MFCCs `(B, T, F)` -> pooled DigitCaps `(B, num_labels, digit_capsule_dim)` and psi `(B, K * D)`."""
        if input_features.dim() != 3 or input_features.shape[-1] != self.config.feature_size:
            raise ValueError(
                f"`input_features` must have shape (batch_size, num_frames, {self.config.feature_size}), got "
                f"{tuple(input_features.shape)}; compute them with `CtlMtNetFeatureExtractor`."
            )
        batch, num_frames, _ = input_features.shape
        if attention_mask is None:
            lengths = torch.full((batch,), num_frames, dtype=torch.long, device=input_features.device)
        else:
            lengths = attention_mask.to(input_features.device).long().sum(dim=-1)  # right padding
        if self.input_norm is not None:
            input_features = self.input_norm(input_features.transpose(1, 2)).transpose(1, 2)  # (B, T, F)
        hidden = input_features.unsqueeze(1) * lengths_to_mask(lengths, num_frames)[:, None, :, None]  # (B,1,T,F)
        for block in self.conv_blocks:
            hidden, lengths = block(hidden, lengths)
        capsules = self.primary_capsules(hidden)  # (B, T', F', types, d)
        steps, bins, types, dim = capsules.shape[1:]
        step_mask = lengths_to_mask(lengths, steps)  # (B, T')
        if self.attention is not None:
            flat = capsules.reshape(batch, steps * bins * types, dim)  # (B, N, d)
            capsule_mask = step_mask[:, :, None].expand(batch, steps, bins * types).reshape(batch, -1)  # (B, N)
            capsules = self.attention(flat, capsule_mask).view(batch, steps, bins, types, dim)
        digit = self.digit_capsules(capsules.reshape(batch, steps, bins * types, dim))  # (B, T', K, D)
        weights = step_mask[:, :, None, None]
        pooled = (digit * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1.0)  # (B, K, D) global average pool
        return pooled, pooled.flatten(1)

    def forward(
        self,
        input_features: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        return_dict: bool | None = None,
    ) -> CtlMtNetOutput | tuple:
        r"""
        Args:
            input_features (`torch.FloatTensor` of shape `(batch_size, num_frames, feature_size)`):
                MFCCs (+ deltas) from [`CtlMtNetFeatureExtractor`].
            attention_mask (`torch.LongTensor` of shape `(batch_size, num_frames)`, *optional*):
                1 on real frames, 0 on right padding.
            labels (`torch.LongTensor` of shape `(batch_size,)`, *optional*):
                Emotion ids; gives `loss` (margin loss or cross-entropy, by `config.head`).
            return_dict (`bool`, *optional*):
                Whether to return a [`CtlMtNetOutput`] instead of a tuple.
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        pooled, embeddings = self.encode(input_features, attention_mask)
        lengths = capsule_lengths(pooled)  # (B, K) in [0, 1)
        features = self.classifier_dropout(embeddings)
        logits = lengths if self.classifier is None else self.classifier(features)
        auxiliary_logits = None
        if self.auxiliary_classifier is not None:
            auxiliary_logits = self.auxiliary_classifier(self.grl(features))  # f'(GRL(psi))

        loss = None
        if labels is not None:
            labels = labels.to(logits.device).long()
            if self.classifier is None:
                loss = self.margin_loss(lengths, labels)
            else:
                loss = nn.functional.cross_entropy(logits, labels)

        if not return_dict:
            output = tuple(t for t in (logits, embeddings, lengths, auxiliary_logits) if t is not None)
            return ((loss,) + output) if loss is not None else output
        return CtlMtNetOutput(
            loss=loss, logits=logits, embeddings=embeddings, capsule_lengths=lengths, auxiliary_logits=auxiliary_logits
        )


__all__ = [
    "CapsuleSelfAttention",
    "CnnPoolingBlock",
    "CtlMtNetForEmotionClassification",
    "CtlMtNetOutput",
    "CtlMtNetPreTrainedModel",
    "DigitCapsules",
    "PrimaryCapsules",
    "lengths_to_mask",
]
