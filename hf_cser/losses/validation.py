"""Input checks shared by the losses of :mod:`hf_cser.losses` (tensors only; nothing of our models)."""

from __future__ import annotations

import torch


def check_embeddings_and_labels(embeddings: torch.Tensor, **labels: torch.Tensor | None) -> None:
    """Raise a `ValueError` naming the argument unless ``embeddings`` is a float ``(batch_size, hidden_size)`` tensor
    and every given label tensor is an integer ``(batch_size,)`` tensor (``None`` labels are skipped)."""
    if embeddings.dim() != 2:
        raise ValueError(f"`embeddings` must have shape (batch_size, hidden_size), got {tuple(embeddings.shape)}.")
    if not embeddings.is_floating_point():
        raise ValueError(f"`embeddings` must be a floating point tensor, got dtype {embeddings.dtype}.")
    for name, tensor in labels.items():
        if tensor is None:
            continue
        if tensor.shape != (embeddings.shape[0],):
            raise ValueError(
                f"`{name}` must have shape ({embeddings.shape[0]},) to match `embeddings`, got {tuple(tensor.shape)}."
            )
        if tensor.is_floating_point():
            raise ValueError(f"`{name}` must hold integer ids, got dtype {tensor.dtype}.")
