"""SAPA's two anchoring triplet losses (section 3.1): phoneme space ``L_p`` and speaker space ``L_s``.

Both are hinge triplet losses on *squared* Euclidean distances,

    L = max(0, ||z_A - z_P||^2 - ||z_A - z_N||^2 + margin),

mined online inside a batch from integer label tensors (phone ids, emotion ids, speaker-style cluster ids, speaker
ids). The module is a plain ``nn.Module`` that takes tensors: it imports nothing of our models, and the cluster ids
come from :class:`hf_cser.analysis.speaker_graph.SpeakerStyleGraph` (or anywhere else).

Mining is fully vectorised: a loss builds a ``(B, B)`` positive mask and a ``(B, B)`` negative mask once per call; a
triplet ``(a, p, n)`` is valid iff ``positive_mask[a, p] and negative_mask[a, n]``.

- ``mining="batch_all"`` uses every valid triplet without enumerating them: per anchor the negatives' distances are
  sorted once, and for each positive a binary search counts the active negatives (``D[a, n] < D[a, p] + margin``)
  while a prefix sum gives their summed distance, so the hinge sum over negatives is ``k (D[a, p] + margin) - S_k``.
  Time ``O(B^2 log B)``, memory ``O(anchor_chunk_size * B)`` (all anchors at once by default). Value and gradient
  are those of the explicit sum over triplets (tested against it).
- ``mining="batch_hard"`` keeps, per anchor, the hardest positive (largest distance) and the hardest negative
  (smallest distance): ``O(B^2)`` memory (Hermans et al., 2017).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from transformers.utils import logging

from .validation import check_embeddings_and_labels

logger = logging.get_logger(__name__)

MINING_STRATEGIES = ("batch_all", "batch_hard")
REDUCTIONS = ("mean_positive", "mean", "sum")


SAPA_CITATION = """
@inproceedings{sapa_cross_lingual_ser,
    title = "Speaker-Style Aware Phoneme Anchoring for Cross-Lingual Speech Emotion Recognition",
    note = "SAPA; MSP-Podcast and BIIC-Podcast; graph-based speaker-style clusters (section 2.2) and dual-space
            triplet anchoring (section 3.1, equations 4 and 5)",
}
"""


@dataclass
class TripletLossStats:
    """What one call of a triplet loss mined, for logging.

    With ``mining="batch_all"`` the counts are over triplets; with ``mining="batch_hard"`` each valid anchor gives one
    (hardest) triplet, so the counts are over anchors.

    Args:
        num_valid_triplets (`int`): triplets (or anchors, for batch_hard) that satisfy the mining rules.
        num_active_triplets (`int`): valid ones with a strictly positive hinge.
        fraction_active (`float`): ``num_active_triplets / num_valid_triplets`` (0.0 when nothing is valid).
        num_valid_anchors (`int`): anchors that have at least one positive and one negative in the batch.
    """

    num_valid_triplets: int
    num_active_triplets: int
    fraction_active: float
    num_valid_anchors: int

    def to_dict(self, prefix: str = "") -> dict[str, float]:
        """The stats as a flat ``dict`` for ``Trainer.log`` (keys optionally prefixed, e.g. ``"triplet_p/"``)."""
        return {f"{prefix}{key}": float(value) for key, value in self.__dict__.items()}


def pairwise_squared_distances(embeddings: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distances ``D[i, j] = ||x_i - x_j||^2`` of a ``(B, d)`` matrix, as a ``(B, B)`` matrix.

    Uses ``||x_i||^2 + ||x_j||^2 - 2 x_i.x_j`` (no ``(B, B, d)`` temporary), clamped at 0 against rounding, with an
    exact zero diagonal. There is no square root, so the gradient is finite everywhere (also for equal embeddings).
    """
    sq_norms = embeddings.pow(2).sum(dim=1)  # (B,)
    gram = embeddings @ embeddings.transpose(0, 1)  # (B, B)
    distances = (sq_norms.unsqueeze(1) + sq_norms.unsqueeze(0) - 2.0 * gram).clamp(min=0.0)  # (B, B)
    eye = torch.eye(embeddings.shape[0], dtype=torch.bool, device=embeddings.device)
    return distances.masked_fill(eye, 0.0)


def masked_triplet_loss(
    embeddings: torch.Tensor,
    positive_mask: torch.Tensor,
    negative_mask: torch.Tensor,
    margin: float,
    mining: str = "batch_all",
    reduction: str | None = None,
    anchor_chunk_size: int | None = None,
    return_stats: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, TripletLossStats]:
    """Hinge triplet loss on squared Euclidean distances over the triplets allowed by two ``(B, B)`` masks.

    Triplet ``(a, p, n)`` is valid iff ``positive_mask[a, p] and negative_mask[a, n]``. The masks must already exclude
    ``p == a`` (and ``n == a``) where that is wanted. This is the engine of :class:`PhonemeTripletLoss` and
    :class:`SpeakerTripletLoss`; use it directly for other mining rules.

    Args:
        embeddings (`torch.Tensor` of shape `(batch_size, hidden_size)`): the embeddings.
        positive_mask (`torch.BoolTensor` of shape `(batch_size, batch_size)`): allowed (anchor, positive) pairs.
        negative_mask (`torch.BoolTensor` of shape `(batch_size, batch_size)`): allowed (anchor, negative) pairs.
        margin (`float`): the hinge margin (``alpha`` / ``beta`` in the paper).
        mining (`str`, *optional*, defaults to `"batch_all"`): `"batch_all"` or `"batch_hard"`.
        reduction (`str`, *optional*): `"mean_positive"` (mean over valid triplets with a positive hinge), `"mean"`
            (mean over all valid triplets) or `"sum"`. ``None`` (library default) picks `"mean_positive"` for
            batch_all and `"mean"` for batch_hard, the conventions of Hermans et al. (2017) and of
            sentence-transformers' ``BatchAllTripletLoss`` / ``BatchHardTripletLoss``.
        anchor_chunk_size (`int`, *optional*): anchors per block in batch_all mining (memory ``O(chunk * B)``);
            ``None`` (library default) takes all anchors at once.
        return_stats (`bool`, *optional*, defaults to `False`): also return a :class:`TripletLossStats` (this reads
            the counts back to the host, one device sync).

    Returns:
        `torch.Tensor` or `tuple[torch.Tensor, TripletLossStats]`: the scalar loss (a real zero that keeps the graph,
        with zero gradients, when no triplet is valid), and the stats when ``return_stats=True``.
    """
    if mining not in MINING_STRATEGIES:
        raise ValueError(f"`mining` must be one of {MINING_STRATEGIES}, got {mining!r}.")
    if reduction is None:
        reduction = "mean_positive" if mining == "batch_all" else "mean"
    if reduction not in REDUCTIONS:
        raise ValueError(f"`reduction` must be one of {REDUCTIONS} or None, got {reduction!r}.")
    batch_size = embeddings.shape[0]
    distances = pairwise_squared_distances(embeddings)  # (B, B)
    positive_mask = positive_mask.bool()
    negative_mask = negative_mask.bool()
    valid_anchor = positive_mask.any(dim=1) & negative_mask.any(dim=1)  # (B,)

    if mining == "batch_hard":
        # hardest positive: largest distance among positives; hardest negative: smallest among negatives.
        hardest_positive = distances.masked_fill(~positive_mask, float("-inf")).amax(dim=1)  # (B,)
        hardest_negative = distances.masked_fill(~negative_mask, float("inf")).amin(dim=1)  # (B,)
        # invalid anchors hold +-inf: replace by 0 *before* the hinge so no inf / NaN reaches autograd.
        hinge = torch.where(valid_anchor, hardest_positive - hardest_negative, torch.zeros_like(hardest_positive))
        per_anchor = torch.relu(hinge + margin) * valid_anchor  # (B,)
        num_valid = valid_anchor.sum()
        num_active = (per_anchor > 0).sum()
        loss_sum = per_anchor.sum()
    else:
        chunk = anchor_chunk_size or batch_size
        if chunk < 1:
            raise ValueError(f"`anchor_chunk_size` must be a positive integer, got {anchor_chunk_size}.")
        # Exact batch-all in O(B^2 log B) time and O(chunk * B) memory, without enumerating the B^3 triplets: for
        # anchor a and positive p the active negatives are those with D[a, n] < D[a, p] + margin, so with the
        # negatives' distances sorted per anchor, a binary search gives their count k and a prefix sum S gives
        #     sum_n relu(D[a, p] - D[a, n] + margin) = k * (D[a, p] + margin) - S_k.
        # Sort and gather are differentiable in the values, so the gradient is the exact per-triplet gradient.
        work_dtype = torch.float32 if embeddings.device.type == "mps" else torch.float64
        loss_sum = distances.new_zeros((), dtype=work_dtype)
        num_valid = torch.zeros((), dtype=torch.long, device=embeddings.device)
        num_active = torch.zeros((), dtype=torch.long, device=embeddings.device)
        for start in range(0, batch_size, chunk):
            stop = min(start + chunk, batch_size)
            d = distances[start:stop].to(work_dtype)  # (c, B)
            pos, neg = positive_mask[start:stop], negative_mask[start:stop]  # (c, B)
            sorted_neg, _ = d.masked_fill(~neg, float("inf")).sort(dim=1)  # (c, B), +inf past the negatives
            prefix = torch.where(torch.isfinite(sorted_neg), sorted_neg, 0.0).cumsum(dim=1)  # (c, B)
            threshold = d + margin  # (c, B): D[a, p] + margin for every candidate positive p
            k = torch.searchsorted(sorted_neg.detach().contiguous(), threshold.detach().contiguous())  # (c, B)
            k = k.masked_fill(~pos, 0)
            summed = prefix.gather(1, (k - 1).clamp(min=0)) * (k > 0)  # (c, B): S_k
            loss_sum = loss_sum + (k.to(work_dtype) * threshold - summed).masked_fill(~pos, 0.0).sum()
            num_active = num_active + k.sum()
            num_valid = num_valid + (pos.sum(dim=1) * neg.sum(dim=1)).sum()
        loss_sum = loss_sum.to(distances.dtype)

    if reduction == "sum":
        loss = loss_sum
    else:
        denominator = num_active if reduction == "mean_positive" else num_valid
        loss = loss_sum / denominator.clamp(min=1).to(loss_sum.dtype)
    if not return_stats:
        return loss
    valid_count, active_count = int(num_valid), int(num_active)
    stats = TripletLossStats(
        num_valid_triplets=valid_count,
        num_active_triplets=active_count,
        fraction_active=active_count / valid_count if valid_count else 0.0,
        num_valid_anchors=int(valid_anchor.sum()),
    )
    return loss, stats


class _MinedTripletLoss(nn.Module):
    """Shared arguments and validation of the two SAPA triplet losses."""

    def __init__(
        self,
        margin: float,
        mining: str = "batch_all",
        reduction: str | None = None,
        anchor_chunk_size: int | None = None,
    ) -> None:
        super().__init__()
        if margin < 0:
            raise ValueError(f"`margin` must be >= 0, got {margin}.")
        if mining not in MINING_STRATEGIES:
            raise ValueError(f"`mining` must be one of {MINING_STRATEGIES}, got {mining!r}.")
        if reduction is not None and reduction not in REDUCTIONS:
            raise ValueError(f"`reduction` must be one of {REDUCTIONS} or None, got {reduction!r}.")
        if anchor_chunk_size is not None and anchor_chunk_size < 1:
            raise ValueError(f"`anchor_chunk_size` must be a positive integer or None, got {anchor_chunk_size}.")
        self.margin = float(margin)
        self.mining = mining
        self.reduction = reduction
        self.anchor_chunk_size = anchor_chunk_size

    def _reduce(
        self, embeddings: torch.Tensor, positive_mask: torch.Tensor, negative_mask: torch.Tensor, return_stats: bool
    ) -> torch.Tensor | tuple[torch.Tensor, TripletLossStats]:
        return masked_triplet_loss(
            embeddings,
            positive_mask,
            negative_mask,
            margin=self.margin,
            mining=self.mining,
            reduction=self.reduction,
            anchor_chunk_size=self.anchor_chunk_size,
            return_stats=return_stats,
        )

    @property
    def citation(self) -> str:
        return SAPA_CITATION

    def extra_repr(self) -> str:
        return f"margin={self.margin}, mining={self.mining!r}, reduction={self.reduction!r}"


class PhonemeTripletLoss(_MinedTripletLoss):
    """SAPA's phoneme-space anchoring loss ``L_p`` (equation 4) with online triplet mining.

    ``L_p = max(0, ||zA_c - zP_c||^2 - ||zA_c - zN_c||^2 + alpha)`` on content (phonetic) embeddings of
    phoneme-centred windows. For an anchor ``a``:

    - a **positive** ``p != a`` has the same phoneme class, the same emotion and a speaker in the same emotion-style
      cluster (it may come from the other corpus / language);
    - a **negative** ``n`` has the same phoneme class and a different emotion (any cluster).

    Phone id ``-1`` means "no alignment / unknown phone": such a sample is in no triplet, except in the **fallback**:
    when *no* sample of the batch has a phone id (all ``-1``, or ``phone_ids=None``), the phoneme constraint is
    dropped and the loss uses the emotion and cluster rules only (positive = same emotion and same cluster, negative
    = different emotion). The fallback is our choice (the paper always has forced alignments); it is decided per
    batch without a host-device sync. Cluster id ``-1`` (speaker not in any graph) can never be an anchor or a
    positive, but can still be a negative.

    Args:
        margin (`float`, *optional*, defaults to 0.4):
            The hinge margin ``alpha`` (paper value 0.4).
        mining (`str`, *optional*, defaults to `"batch_all"`):
            `"batch_all"` (every valid triplet of the batch, summed exactly in ``O(B^2 log B)`` time without
            enumerating them) or `"batch_hard"` (hardest positive and hardest negative per anchor, ``O(B^2)``).
            The paper does not say how triplets are mined; batch_all is the library default.
        reduction (`str`, *optional*):
            `"mean_positive"` (mean over valid triplets whose hinge is > 0), `"mean"` (mean over all valid triplets)
            or `"sum"`. ``None`` (library default) is `"mean_positive"` for batch_all and `"mean"` for batch_hard.
        anchor_chunk_size (`int`, *optional*):
            Anchors per block in batch_all mining (memory ``O(chunk * B)``); ``None`` takes all anchors at once.

    References:
        - SAPA, section 3.1, equation 4 (``papers/000_969dc1c303db022e.txt``); see :attr:`citation`.
        - In Defense of the Triplet Loss for Person Re-Identification: https://arxiv.org/abs/1703.07737

    Requirements:
        1. Each batch should hold several windows of the same phoneme class under different emotions and, for
           positives, from speakers of the same cluster.

    Inputs:
        +---------------------------------+---------------------------------------------------------------+
        | Argument                        | Shape / meaning                                               |
        +=================================+===============================================================+
        | ``embeddings``                  | ``(B, d_c)`` float: content embeddings ``z_c``                |
        | ``emotion_ids``                 | ``(B,)`` int: emotion ids (:data:`hf_cser.labels.EMOTIONS`)   |
        | ``cluster_ids``                 | ``(B,)`` int: global speaker-style cluster id, ``-1`` unknown |
        | ``phone_ids`` (optional)        | ``(B,)`` int: shared phone class id, ``-1`` no alignment      |
        | ``return_stats`` (optional)     | also return a :class:`TripletLossStats`                       |
        +---------------------------------+---------------------------------------------------------------+

    Example:
        ```python
        >>> import torch
        >>> from hf_cser.losses import PhonemeTripletLoss

        >>> loss_fct = PhonemeTripletLoss(margin=0.4)
        >>> z_c = torch.randn(8, 16, requires_grad=True)
        >>> phones = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
        >>> emotions = torch.tensor([2, 2, 3, 3, 2, 2, 3, 3])
        >>> clusters = torch.tensor([5, 5, 9, 9, 5, 5, 9, 9])
        >>> loss, stats = loss_fct(z_c, emotions, clusters, phone_ids=phones, return_stats=True)
        >>> loss.backward()
        >>> stats.num_valid_triplets
        16

        ```
    """

    def __init__(
        self,
        margin: float = 0.4,
        mining: str = "batch_all",
        reduction: str | None = None,
        anchor_chunk_size: int | None = None,
    ) -> None:
        super().__init__(margin=margin, mining=mining, reduction=reduction, anchor_chunk_size=anchor_chunk_size)

    @staticmethod
    def build_masks(
        emotion_ids: torch.Tensor, cluster_ids: torch.Tensor, phone_ids: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The ``(B, B)`` positive and negative masks of the mining rules above (built once, no Python loop)."""
        batch_size = emotion_ids.shape[0]
        device = emotion_ids.device
        not_self = ~torch.eye(batch_size, dtype=torch.bool, device=device)
        same_emotion = emotion_ids.unsqueeze(0) == emotion_ids.unsqueeze(1)
        same_cluster = (cluster_ids.unsqueeze(0) == cluster_ids.unsqueeze(1)) & (cluster_ids >= 0).unsqueeze(1)
        if phone_ids is None:
            same_phone = torch.ones_like(same_emotion)
        else:
            aligned = phone_ids >= 0
            same_phone = (phone_ids.unsqueeze(0) == phone_ids.unsqueeze(1)) & aligned.unsqueeze(1)
            # fallback: a batch with no alignment at all keeps only the emotion + cluster rules.
            same_phone = torch.where(aligned.any(), same_phone, torch.ones_like(same_phone))
        positive_mask = not_self & same_phone & same_emotion & same_cluster
        negative_mask = same_phone & ~same_emotion
        return positive_mask, negative_mask

    def forward(
        self,
        embeddings: torch.Tensor,
        emotion_ids: torch.Tensor,
        cluster_ids: torch.Tensor,
        phone_ids: torch.Tensor | None = None,
        return_stats: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, TripletLossStats]:
        check_embeddings_and_labels(embeddings, emotion_ids=emotion_ids, cluster_ids=cluster_ids, phone_ids=phone_ids)
        positive_mask, negative_mask = self.build_masks(emotion_ids, cluster_ids, phone_ids)
        return self._reduce(embeddings, positive_mask, negative_mask, return_stats)


class SpeakerTripletLoss(_MinedTripletLoss):
    """SAPA's speaker-space anchoring loss ``L_s`` (equation 5) with online triplet mining.

    ``L_s = max(0, ||zA_s - zP_s||^2 - ||zA_s - zN_s||^2 + beta)`` on speaker-encoder embeddings. For an anchor
    ``a``:

    - a **positive** ``p != a`` is a sample whose speaker is in the same emotion-style cluster (its own speaker's other
      samples included, unless ``positive_requires_other_speaker=True``);
    - a **negative** ``n`` is a sample whose speaker is in a different cluster **and is not the anchor's speaker**.
      Cluster ids are per (emotion, community), so the same speaker under another emotion has another cluster id;
      the paper's negative is "a speaker from a different cluster", so we never push a speaker away from itself
      (our reading; without ``speaker_ids`` only the cluster rule applies).

    Cluster id ``-1`` (speaker not in any graph) is in no triplet.

    Args:
        margin (`float`, *optional*, defaults to 0.6):
            The hinge margin ``beta`` (paper value 0.6).
        mining (`str`, *optional*, defaults to `"batch_all"`):
            `"batch_all"` (every valid triplet, summed exactly in ``O(B^2 log B)`` time without enumerating them) or
            `"batch_hard"` (hardest positive and negative per anchor, ``O(B^2)``). Library default: batch_all.
        reduction (`str`, *optional*):
            `"mean_positive"`, `"mean"` or `"sum"`; ``None`` (library default) is `"mean_positive"` for batch_all
            and `"mean"` for batch_hard.
        anchor_chunk_size (`int`, *optional*):
            Anchors per block in batch_all mining (memory ``O(chunk * B)``); ``None`` takes all anchors at once.
        positive_requires_other_speaker (`bool`, *optional*, defaults to `False`):
            Library option: when `True`, a positive must come from another speaker of the same cluster (needs
            ``speaker_ids``).

    References:
        - SAPA, section 3.1, equation 5 (``papers/000_969dc1c303db022e.txt``); see :attr:`citation`.
        - In Defense of the Triplet Loss for Person Re-Identification: https://arxiv.org/abs/1703.07737

    Requirements:
        1. Each batch should hold speakers of at least two clusters, and at least two samples per cluster.

    Inputs:
        +---------------------------------+---------------------------------------------------------------+
        | Argument                        | Shape / meaning                                               |
        +=================================+===============================================================+
        | ``embeddings``                  | ``(B, d_s)`` float: speaker embeddings ``z_s``                |
        | ``cluster_ids``                 | ``(B,)`` int: global speaker-style cluster id, ``-1`` unknown |
        | ``speaker_ids`` (optional)      | ``(B,)`` int: speaker ids                                     |
        | ``return_stats`` (optional)     | also return a :class:`TripletLossStats`                       |
        +---------------------------------+---------------------------------------------------------------+

    Example:
        ```python
        >>> import torch
        >>> from hf_cser.losses import SpeakerTripletLoss

        >>> loss_fct = SpeakerTripletLoss(margin=0.6)
        >>> z_s = torch.randn(6, 16, requires_grad=True)
        >>> clusters = torch.tensor([0, 0, 0, 1, 1, 1])
        >>> speakers = torch.tensor([10, 10, 11, 12, 13, 13])
        >>> loss = loss_fct(z_s, clusters, speaker_ids=speakers)
        >>> loss.backward()

        ```
    """

    def __init__(
        self,
        margin: float = 0.6,
        mining: str = "batch_all",
        reduction: str | None = None,
        anchor_chunk_size: int | None = None,
        positive_requires_other_speaker: bool = False,
    ) -> None:
        super().__init__(margin=margin, mining=mining, reduction=reduction, anchor_chunk_size=anchor_chunk_size)
        self.positive_requires_other_speaker = positive_requires_other_speaker

    def build_masks(
        self, cluster_ids: torch.Tensor, speaker_ids: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The ``(B, B)`` positive and negative masks of the mining rules above (built once, no Python loop)."""
        batch_size = cluster_ids.shape[0]
        not_self = ~torch.eye(batch_size, dtype=torch.bool, device=cluster_ids.device)
        known = cluster_ids >= 0
        both_known = known.unsqueeze(1) & known.unsqueeze(0)
        same_cluster = cluster_ids.unsqueeze(0) == cluster_ids.unsqueeze(1)
        positive_mask = not_self & both_known & same_cluster
        negative_mask = both_known & ~same_cluster
        if speaker_ids is not None:
            other_speaker = speaker_ids.unsqueeze(0) != speaker_ids.unsqueeze(1)
            negative_mask = negative_mask & other_speaker
            if self.positive_requires_other_speaker:
                positive_mask = positive_mask & other_speaker
        return positive_mask, negative_mask

    def forward(
        self,
        embeddings: torch.Tensor,
        cluster_ids: torch.Tensor,
        speaker_ids: torch.Tensor | None = None,
        return_stats: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, TripletLossStats]:
        check_embeddings_and_labels(embeddings, cluster_ids=cluster_ids, speaker_ids=speaker_ids)
        if self.positive_requires_other_speaker and speaker_ids is None:
            raise ValueError("`speaker_ids` is required when `positive_requires_other_speaker=True`.")
        positive_mask, negative_mask = self.build_masks(cluster_ids, speaker_ids)
        return self._reduce(embeddings, positive_mask, negative_mask, return_stats)
