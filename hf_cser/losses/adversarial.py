"""The adversarial losses of the InfoGAN feature generator (paper 004, stage 2), with mixup.

Standard non-saturating GAN losses on discriminator logits, written with `binary_cross_entropy_with_logits` (so
log(sigmoid) is computed stably):

- discriminator, without mixup: L_D = -mean log D(h) - mean log(1 - D(h_hat)) (real -> 1, generated -> 0);
- discriminator, with mixup (library choice, the paper mixes real and generated features): inputs
  lam * h + (1 - lam) * h_hat with soft targets lam, L_D = mean BCE(D(mix), lam);
- generator: L_G = -mean log D(x) on its (generated or mixed) input x (non-saturating).

Example:

```python
>>> d_loss = discriminator_adversarial_loss(model.discriminate(real), model.discriminate(fake))
>>> g_loss = generator_adversarial_loss(model.discriminate(fake))
```
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


def discriminator_adversarial_loss(
    real_logits: torch.Tensor | None = None,
    fake_logits: torch.Tensor | None = None,
    *,
    mixed_logits: torch.Tensor | None = None,
    mix_weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """L_D from the discriminator's logits: `real_logits` and `fake_logits` `(B,)`, or with mixup `mixed_logits` of
    lam * real + (1 - lam) * fake and `mix_weights` lam `(B,)` as soft targets."""
    if mixed_logits is not None:
        if mix_weights is None or real_logits is not None or fake_logits is not None:
            raise ValueError("With `mixed_logits` pass `mix_weights` (the mixup targets) and no real/fake logits.")
        return F.binary_cross_entropy_with_logits(mixed_logits, mix_weights)
    if real_logits is None or fake_logits is None:
        raise ValueError("Pass `real_logits` and `fake_logits`, or `mixed_logits` with `mix_weights`.")
    return F.binary_cross_entropy_with_logits(
        real_logits, torch.ones_like(real_logits)
    ) + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))


def generator_adversarial_loss(logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating L_G = -mean log sigmoid(logits) on the discriminator's logits of the generator's input."""
    return F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))


__all__ = ["discriminator_adversarial_loss", "generator_adversarial_loss"]
