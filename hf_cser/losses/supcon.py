"""Language-aware supervised contrastive loss (METHODS.md section 2, zero-shot cross-lingual SER).

The paper's equations were lost; this is our reconstruction. For an anchor ``i`` of the batch,

    P(i) = same-emotion samples other than i,    A(i) = all samples other than i,
    w_ip = 1 + gamma  if language(p) != language(i)  else 1,
    L_i  = -1 / (sum_{p in P(i)} w_ip) * sum_{p in P(i)} w_ip * log( exp(s_ip) / sum_{a in A(i)} exp(s_ia) ),
    s_ij = cos(h_i, h_j) / tau,

and ``L_SCL`` is the mean of ``L_i`` over the anchors with a non-empty ``P(i)``. With ``gamma = 0`` (or no language
ids) this is the supervised contrastive loss of Khosla et al. (2020), and matches pytorch-metric-learning's
``SupConLoss(temperature)`` (tested). With ``gamma > 0`` a positive from another language weighs more, which pulls
same-emotion samples of different languages together.

Everything is one ``(B, B)`` computation, done in float32 whatever the input dtype (bf16 / fp16 inputs are upcast; the
loss is returned in float32). The log-softmax subtracts each row's maximum over ``A(i)`` (self excluded), so the
largest term of every denominator is ``exp(0) = 1`` for any temperature. A batch without any positive pair gives an
exact zero that keeps the graph (finite, zero gradients), unlike setfit's ``SupConLoss``, which divides by zero there.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers.utils import logging

from .validation import check_embeddings_and_labels

logger = logging.get_logger(__name__)


SUPCON_CITATION = """
@inproceedings{khosla2020supervised,
    title = "Supervised Contrastive Learning",
    author = "Khosla, Prannay and Teterwak, Piotr and Wang, Chen and Sarna, Aaron and Tian, Yonglong and Isola, Phillip
              and Maschinot, Aaron and Liu, Ce and Krishnan, Dilip",
    booktitle = "Advances in Neural Information Processing Systems",
    year = "2020",
    url = "https://arxiv.org/abs/2004.11362",
}
@misc{zero_shot_cross_lingual_ser_supcon_adversarial,
    title = "Zero-shot cross-lingual speech emotion recognition with language-aware supervised contrastive learning and
             speaker adversarial training",
    note = "METHODS.md section 2 (papers/001_c563226e57dc2b3b.txt); the loss equations were lost, the language weight
            w_ip = 1 + gamma is our reconstruction",
}
"""


@dataclass
class SupConLossStats:
    """What one call of :class:`LanguageAwareSupConLoss` used, for logging.

    Args:
        num_anchors (`int`): anchors with at least one positive (those averaged into the loss).
        num_positive_pairs (`int`): ordered (anchor, positive) pairs.
        num_cross_language_positive_pairs (`int`): positive pairs whose two samples have different language ids
            (0 when no language ids were given).
    """

    num_anchors: int
    num_positive_pairs: int
    num_cross_language_positive_pairs: int

    def to_dict(self, prefix: str = "") -> dict[str, float]:
        """The stats as a flat ``dict`` for ``Trainer.log`` (keys optionally prefixed, e.g. ``"supcon/"``)."""
        return {f"{prefix}{key}": float(value) for key, value in self.__dict__.items()}


class LanguageAwareSupConLoss(nn.Module):
    """Supervised contrastive loss whose cross-language positives weigh ``1 + gamma`` (METHODS.md section 2).

    ``L_i = -1 / sum_p w_ip * sum_{p in P(i)} w_ip * log softmax_{a in A(i)}(cos(h_i, h_a) / tau)[p]`` with
    ``w_ip = 1 + gamma`` when ``p`` and ``i`` have different language ids and ``1`` otherwise; the loss is the mean
    of ``L_i`` over anchors that have at least one positive (a same-label sample other than themselves). Embeddings
    are L2-normalised inside the loss (cosine similarity), so they need not be normalised by the caller.

    ``gamma = 0`` (or ``languages=None``) is the standard supervised contrastive loss (Khosla et al., 2020) and equals
    pytorch-metric-learning's ``SupConLoss(temperature)`` on any batch that has at least one positive and one negative
    pair (on a batch with no negative pair pml returns 0; this loss still averages its anchors).

    Args:
        temperature (`float`, *optional*, defaults to 0.07):
            The temperature ``tau`` dividing the cosine similarities. The paper's value was lost; 0.07 (Khosla et
            al.'s value) is our choice.
        gamma (`float`, *optional*, defaults to 0.5):
            Extra weight of a cross-language positive, ``w_ip = 1 + gamma``. The paper's value was lost; 0.5 is our
            choice. Must be > -1 (so every weight stays positive); 0 gives plain SupCon.

    References:
        - Supervised Contrastive Learning: https://arxiv.org/abs/2004.11362
        - METHODS.md section 2 (``papers/001_c563226e57dc2b3b.txt``); see :attr:`citation`.

    Requirements:
        1. Each batch should hold several samples per emotion, from several languages (e.g. with
           ``HierarchicalLanguageEmotionSampler``: L languages x E emotions x K instances).

    Inputs:
        +---------------------------------+---------------------------------------------------------------+
        | Argument                        | Shape / meaning                                               |
        +=================================+===============================================================+
        | ``embeddings``                  | ``(B, d)`` float (fp32, bf16, fp16): pooled utterance vectors |
        | ``labels``                      | ``(B,)`` int: emotion ids                                     |
        | ``languages`` (optional)        | ``(B,)`` int: language ids; ``None`` means plain SupCon       |
        | ``return_stats`` (optional)     | also return a :class:`SupConLossStats`                        |
        +---------------------------------+---------------------------------------------------------------+

        Returns a float32 scalar (and the stats when ``return_stats=True``).

    Example:
        ```python
        >>> import torch
        >>> from hf_cser.losses import LanguageAwareSupConLoss

        >>> loss_fct = LanguageAwareSupConLoss(temperature=0.07, gamma=0.5)
        >>> h = torch.randn(8, 16, requires_grad=True)
        >>> emotions = torch.tensor([0, 0, 1, 1, 0, 0, 1, 1])
        >>> languages = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
        >>> loss, stats = loss_fct(h, emotions, languages, return_stats=True)
        >>> loss.backward()
        >>> stats.num_anchors, stats.num_positive_pairs, stats.num_cross_language_positive_pairs
        (8, 24, 16)

        ```
    """

    def __init__(self, temperature: float = 0.07, gamma: float = 0.5) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"`temperature` must be > 0, got {temperature}.")
        if gamma <= -1:
            raise ValueError(f"`gamma` must be > -1 so that every positive weight 1 + gamma is positive, got {gamma}.")
        self.temperature = float(temperature)
        self.gamma = float(gamma)

    def forward(
        self,
        embeddings: torch.Tensor,
        labels: torch.Tensor,
        languages: torch.Tensor | None = None,
        return_stats: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, SupConLossStats]:
        check_embeddings_and_labels(embeddings, labels=labels, languages=languages)
        batch_size = embeddings.shape[0]
        device = embeddings.device

        features = F.normalize(embeddings.float(), p=2, dim=1)  # (B, d) float32, unit rows
        logits = features @ features.transpose(0, 1) / self.temperature  # (B, B) s_ij = cos / tau

        self_mask = torch.eye(batch_size, dtype=torch.bool, device=device)  # (B, B)
        positive_mask = (labels.unsqueeze(0) == labels.unsqueeze(1)) & ~self_mask  # (B, B) p in P(i)

        # log softmax over A(i): mask self with -inf, subtract the row max over A(i) (detached; it cancels exactly).
        logits = logits.masked_fill(self_mask, float("-inf"))  # (B, B)
        row_max = logits.amax(dim=1, keepdim=True).detach()  # (B, 1), -inf only when B == 1
        row_max = torch.where(torch.isfinite(row_max), row_max, torch.zeros_like(row_max))
        shifted = logits - row_max  # (B, B), <= 0 on A(i), -inf on the diagonal
        log_denominator = shifted.exp().sum(dim=1, keepdim=True).clamp_min(torch.finfo(shifted.dtype).tiny).log()
        log_prob = shifted - log_denominator  # (B, B)

        weights = positive_mask.float()  # (B, B) w_ip on P(i), 0 elsewhere
        if languages is not None:
            cross_language = languages.unsqueeze(0) != languages.unsqueeze(1)  # (B, B)
            weights = weights * torch.where(cross_language, 1.0 + self.gamma, 1.0)
        else:
            cross_language = torch.zeros_like(positive_mask)

        # torch.where (not a product) keeps the -inf diagonal out of the sum and out of the gradient.
        weighted_log_prob = torch.where(positive_mask, weights * log_prob, torch.zeros_like(log_prob))  # (B, B)
        weight_sum = weights.sum(dim=1)  # (B,)
        has_positive = positive_mask.any(dim=1)  # (B,)
        per_anchor = -weighted_log_prob.sum(dim=1) / torch.where(has_positive, weight_sum, torch.ones_like(weight_sum))
        num_anchors = has_positive.sum()
        # mean over anchors with a positive; 0 (graph kept, zero gradients) when there is none.
        loss = (per_anchor * has_positive).sum() / num_anchors.clamp_min(1)

        if not return_stats:
            return loss
        stats = SupConLossStats(
            num_anchors=int(num_anchors),
            num_positive_pairs=int(positive_mask.sum()),
            num_cross_language_positive_pairs=int((positive_mask & cross_language).sum()),
        )
        return loss, stats

    @property
    def citation(self) -> str:
        return SUPCON_CITATION

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, gamma={self.gamma}"
