"""Pixel metrics against targets: PSNR.

Written out rather than taken from scikit-image: its peak_signal_noise_ratio works on one numpy image at a time,
and a search trial scores hundreds of tensors already on the device; the formula is one line.
"""
from __future__ import annotations

import torch

DATA_RANGE = 2.0  # generator images lie in [-1, 1]


@torch.no_grad()
def psnr(generated: torch.Tensor, targets: torch.Tensor, batch_size: int = 256) -> float:
    """Mean over images of 10 log10(range^2 / MSE) in dB; an exact copy counts as 100 dB, not infinity."""
    total, n = 0.0, len(generated)
    for i in range(0, n, batch_size):
        a = generated[i:i + batch_size].double()
        b = targets[i:i + batch_size].to(a.device, torch.float64)
        mse = (a - b).pow(2).flatten(1).mean(1).clamp_min(DATA_RANGE ** 2 * 1e-10)
        total += float((10 * torch.log10(DATA_RANGE ** 2 / mse)).sum())
    return total / max(n, 1)


__all__ = ["psnr"]
