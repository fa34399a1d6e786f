"""GAN losses, one function per side, so training modes pick by name."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import GanasError

GAN_LOSSES = ("lsgan", "hinge", "vanilla")


def d_loss(kind: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Discriminator loss from its scores on real and fake batches."""
    if kind == "lsgan":
        return 0.5 * (F.mse_loss(real, torch.ones_like(real)) + F.mse_loss(fake, torch.zeros_like(fake)))
    if kind == "hinge":
        return F.relu(1 - real).mean() + F.relu(1 + fake).mean()
    if kind == "vanilla":
        return 0.5 * (F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
                      + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))
    raise GanasError(f"unknown gan_loss {kind!r}: choose one of {', '.join(GAN_LOSSES)}")


def g_loss(kind: str, fake: torch.Tensor) -> torch.Tensor:
    """Generator loss from the discriminator's scores on its fakes."""
    if kind == "lsgan":
        return F.mse_loss(fake, torch.ones_like(fake))
    if kind == "hinge":
        return -fake.mean()
    if kind == "vanilla":
        return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))
    raise GanasError(f"unknown gan_loss {kind!r}: choose one of {', '.join(GAN_LOSSES)}")
