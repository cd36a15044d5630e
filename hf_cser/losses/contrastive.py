"""Cross-modal contrastive losses of the MI-regularised feature generation method (``papers/004``, METHODS.md
section 5): InfoNCE (eqs. 6 and 13) and the CLAP-style audio-text contrastive loss (eq. 5).

For a batch of ``B`` paired embeddings ``(q_i, k_i)`` and the temperature ``tau``,

    s_ij = cos(q_i, k_j) / tau,
    InfoNCE(q, k) = -1/B sum_i log( exp(s_ii) / sum_j exp(s_ij) )          (van den Oord et al., 2018),
    CLAP(q, k)    = 1/2 [ InfoNCE(q, k) + InfoNCE(k, q) ]                   (Elizalde et al., 2023).

The paper writes eq. (5) in one direction (text anchors against audio candidates); CLAP itself, which the paper cites,
averages both directions, and so does :class:`ClapContrastiveLoss` by default (``symmetric=False`` gives eq. (5)
exactly). ``log(B) - InfoNCE`` is the InfoNCE lower bound on the mutual information I(q; k) in nats
(:func:`info_nce_mutual_information_bound`); the paper reports mutual information as a quality metric of generated
features. The paper does not give tau; 0.07 (CLIP's initial value) is our default.

Both losses compute the ``(B, B)`` similarity matrix in float32 (bf16 / fp16 inputs are upcast) and use
``log_softmax``, which is stable for any temperature. Rows that repeat the same key (two utterances of one transcript)
are treated as negatives, as in the paper's formulation.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from transformers.utils import logging

logger = logging.get_logger(__name__)


CONTRASTIVE_CITATION = """
@article{oord2018representation,
    title = "Representation Learning with Contrastive Predictive Coding",
    author = "van den Oord, Aaron and Li, Yazhe and Vinyals, Oriol",
    journal = "arXiv preprint arXiv:1807.03748",
    year = "2018",
}
@inproceedings{elizalde2023clap,
    title = "CLAP: Learning Audio Concepts from Natural Language Supervision",
    author = "Elizalde, Benjamin and Deshmukh, Soham and Al Ismail, Mahmoud and Wang, Huaming",
    booktitle = "ICASSP 2023",
    year = "2023",
}
"""

SIMILARITIES: tuple[str, ...] = ("cosine", "dot")


def _check_pair(query: torch.Tensor, keys: torch.Tensor) -> None:
    for name, tensor in (("query", query), ("keys", keys)):
        if tensor.dim() != 2:
            raise ValueError(f"`{name}` must have shape (batch_size, dim), got {tuple(tensor.shape)}.")
        if not tensor.is_floating_point():
            raise ValueError(f"`{name}` must be a floating point tensor, got dtype {tensor.dtype}.")
    if query.shape != keys.shape:
        raise ValueError(
            f"`query` and `keys` must have the same shape (paired rows, same dim), got {tuple(query.shape)} and "
            f"{tuple(keys.shape)}; project one side first (e.g. t_hat = W_t h + b_t)."
        )
    if query.shape[0] == 0:
        raise ValueError("`query` and `keys` are empty; InfoNCE needs at least one pair.")


def similarity_logits(
    query: torch.Tensor, keys: torch.Tensor, temperature: float, similarity: str = "cosine"
) -> torch.Tensor:
    """``(B, B)`` matrix ``s_ij = sim(query_i, keys_j) / temperature`` in float32.

    Args:
        query (`torch.Tensor` of shape `(batch_size, dim)`): anchors (rows).
        keys (`torch.Tensor` of shape `(batch_size, dim)`): candidates (columns); ``keys[i]`` is the positive of
            ``query[i]``.
        temperature (`float`): tau > 0.
        similarity (`str`, *optional*, defaults to `"cosine"`): `"cosine"` (the paper's sim) or `"dot"`.
    """
    _check_pair(query, keys)
    if not temperature > 0:
        raise ValueError(f"`temperature` must be > 0, got {temperature!r}.")
    if similarity not in SIMILARITIES:
        raise ValueError(f"`similarity` must be one of {list(SIMILARITIES)}, got {similarity!r}.")
    q, k = query.float(), keys.float()
    if similarity == "cosine":
        q, k = F.normalize(q, dim=-1, eps=1e-8), F.normalize(k, dim=-1, eps=1e-8)
    return q @ k.t() / temperature  # (B, B)


def info_nce_loss(
    query: torch.Tensor,
    keys: torch.Tensor,
    temperature: float = 0.07,
    similarity: str = "cosine",
    reduction: str = "mean",
) -> torch.Tensor:
    """InfoNCE with the batch as negatives: ``-log softmax_j(s_ij)[i]`` per row (eqs. 6 and 13 of ``papers/004``).

    Args:
        query, keys (`torch.Tensor` of shape `(batch_size, dim)`): paired rows (``keys[i]`` is the positive of
            ``query[i]``; the other rows are its negatives).
        temperature (`float`, *optional*, defaults to 0.07): tau (ours; the paper does not give it).
        similarity (`str`, *optional*, defaults to `"cosine"`): `"cosine"` or `"dot"`.
        reduction (`str`, *optional*, defaults to `"mean"`): `"mean"`, `"sum"` or `"none"` (per-row losses `(B,)`).

    Returns:
        `torch.Tensor`: float32 loss (scalar, or `(B,)` with ``reduction="none"``).
    """
    logits = similarity_logits(query, keys, temperature, similarity)  # (B, B)
    per_row = -torch.diagonal(F.log_softmax(logits, dim=-1))  # (B,)
    if reduction == "none":
        return per_row
    if reduction == "sum":
        return per_row.sum()
    if reduction == "mean":
        return per_row.mean()
    raise ValueError(f"`reduction` must be 'mean', 'sum' or 'none', got {reduction!r}.")


def info_nce_mutual_information_bound(loss: torch.Tensor | float, batch_size: int) -> float:
    """The InfoNCE lower bound ``I(q; k) >= log(B) - L_InfoNCE`` in nats (van den Oord et al., 2018, eq. 10).

    It can never exceed ``log(batch_size)``; compare bounds computed with the same batch size only.
    """
    if batch_size < 1:
        raise ValueError(f"`batch_size` must be >= 1, got {batch_size!r}.")
    return math.log(batch_size) - float(loss)


class InfoNCELoss(nn.Module):
    r"""
    InfoNCE between paired embeddings with in-batch negatives (van den Oord et al., 2018). In ``papers/004`` it is
    L_MI between the text embedding t and the projected audio feature t_hat = W_t h + b_t (eq. 6) and L_I_t between t
    and the projection of a generated feature (eq. 13).

    Args:
        temperature (`float`, *optional*, defaults to 0.07):
            tau of ``sim / tau`` (ours: the paper does not give its value).
        similarity (`str`, *optional*, defaults to `"cosine"`):
            `"cosine"` (the paper's sim) or `"dot"`.

    Inputs:
        query (`torch.Tensor` of shape `(batch_size, dim)`): anchors, e.g. t.
        keys (`torch.Tensor` of shape `(batch_size, dim)`): their positives in the same row, e.g. t_hat.

    Example:

    ```python
    >>> import torch
    >>> from hf_cser.losses import InfoNCELoss
    >>> loss = InfoNCELoss(temperature=0.1)(torch.randn(8, 16), torch.randn(8, 16))
    ```
    """

    def __init__(self, temperature: float = 0.07, similarity: str = "cosine"):
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"`temperature` must be > 0, got {temperature!r}.")
        if similarity not in SIMILARITIES:
            raise ValueError(f"`similarity` must be one of {list(SIMILARITIES)}, got {similarity!r}.")
        self.temperature = float(temperature)
        self.similarity = similarity

    def forward(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        return info_nce_loss(query, keys, self.temperature, self.similarity)

    @property
    def citation(self) -> str:
        return CONTRASTIVE_CITATION


class ClapContrastiveLoss(nn.Module):
    r"""
    CLAP-style audio-text contrastive loss L_CL (eq. 5 of ``papers/004``): matching (text, audio) pairs of a batch
    are pulled together and the other pairs pushed apart, in both directions by default (CLAP averages the
    text-to-audio and audio-to-text cross-entropies).

    Args:
        temperature (`float`, *optional*, defaults to 0.07):
            tau (ours). With ``learnable_temperature=True`` it is the initial value of a learned ``log(1 / tau)``
            (CLAP / CLIP style, clamped so that 1 / tau <= 100).
        symmetric (`bool`, *optional*, defaults to `True`):
            Average both directions (CLAP); `False` is eq. (5) as printed (text anchors, audio candidates).
        learnable_temperature (`bool`, *optional*, defaults to `False`):
            Learn the temperature (ours: off, so that alpha L_CL keeps a fixed scale).
        similarity (`str`, *optional*, defaults to `"cosine"`):
            `"cosine"` or `"dot"`.

    Inputs:
        text_embeds (`torch.Tensor` of shape `(batch_size, dim)`): t_i.
        audio_embeds (`torch.Tensor` of shape `(batch_size, dim)`): h_i (projected to the text width when the widths
            differ).
    """

    def __init__(
        self,
        temperature: float = 0.07,
        symmetric: bool = True,
        learnable_temperature: bool = False,
        similarity: str = "cosine",
    ):
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"`temperature` must be > 0, got {temperature!r}.")
        if similarity not in SIMILARITIES:
            raise ValueError(f"`similarity` must be one of {list(SIMILARITIES)}, got {similarity!r}.")
        self.symmetric = bool(symmetric)
        self.similarity = similarity
        self.learnable_temperature = bool(learnable_temperature)
        log_scale = torch.tensor(math.log(1.0 / temperature))
        if self.learnable_temperature:
            self.logit_scale = nn.Parameter(log_scale)
        else:
            self.register_buffer("logit_scale", log_scale, persistent=False)

    @property
    def temperature(self) -> float:
        return float(torch.exp(-self.logit_scale.detach()).clamp(min=0.01))

    def forward(self, text_embeds: torch.Tensor, audio_embeds: torch.Tensor) -> torch.Tensor:
        scale = self.logit_scale.clamp(max=math.log(100.0)).exp()
        logits = similarity_logits(text_embeds, audio_embeds, 1.0, self.similarity) * scale  # (B, B): text x audio
        targets = torch.arange(logits.shape[0], device=logits.device)
        text_to_audio = F.cross_entropy(logits, targets)
        if not self.symmetric:
            return text_to_audio
        return 0.5 * (text_to_audio + F.cross_entropy(logits.t(), targets))

    @property
    def citation(self) -> str:
        return CONTRASTIVE_CITATION


__all__ = [
    "CONTRASTIVE_CITATION",
    "ClapContrastiveLoss",
    "InfoNCELoss",
    "info_nce_loss",
    "info_nce_mutual_information_bound",
    "similarity_logits",
]
