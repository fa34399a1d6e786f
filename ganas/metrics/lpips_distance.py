"""LPIPS (Zhang et al. 2018) between generated images and their targets, through the lpips package.

lpips ships its small linear layers; the backbone's ImageNet weights come from the torch hub cache or a given
path (ganas.metrics.pretrained). AlexNet is the default: lpips' authors recommend it as a forward metric.
"""
from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F

from .pretrained import LPIPS_BACKBONES, find_weights, hub_file

# AlexNet's stride-4 stem and three poolings need about 64 pixels a side (lpips was trained on 64x64 patches);
# smaller images are upsampled to it.
MIN_SIDE = 64


def lpips_weights(net: str = "alex", weights: str | None = None):
    """The backbone file for ``net`` (a GanasError naming it when missing): checked when a study is prepared."""
    return find_weights(LPIPS_BACKBONES[net], weights, f"the lpips objective (backbone {net})",
                        "search.lpips_weights")


def load_lpips(net: str = "alex", weights: str | None = None, device=None) -> torch.nn.Module:
    """lpips.LPIPS with backbone ``net`` (alex | vgg | squeeze), frozen, in eval mode on ``device``."""
    path = lpips_weights(net, weights)
    import lpips  # imports torchvision: only when asked for

    with hub_file(LPIPS_BACKBONES[net], path), warnings.catch_warnings():
        # lpips still calls torchvision's deprecated pretrained=True; the weights it means are the file above
        warnings.filterwarnings("ignore", message=".*(pretrained|weight enum)", category=UserWarning)
        model = lpips.LPIPS(net=net, verbose=False)
    for p in model.parameters():
        p.requires_grad_(False)
    return model.to(device or "cpu").eval()


def _prepare(x: torch.Tensor, dev) -> torch.Tensor:
    x = x.to(dev, torch.float32).clamp(-1, 1)
    if x.shape[1] == 1:  # the backbones take RGB
        x = x.repeat(1, 3, 1, 1)
    if min(x.shape[-2:]) < MIN_SIDE:
        scale = MIN_SIDE / min(x.shape[-2:])
        size = (round(x.shape[-2] * scale), round(x.shape[-1] * scale))
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    return x


@torch.no_grad()
def lpips_distance(model, generated: torch.Tensor, targets: torch.Tensor, batch_size: int = 64) -> float:
    """Mean LPIPS over image pairs [N, C, H, W] in [-1, 1] (lpips' own input range)."""
    dev = next(model.parameters()).device
    total = 0.0
    for i in range(0, len(generated), batch_size):
        a, b = _prepare(generated[i:i + batch_size], dev), _prepare(targets[i:i + batch_size], dev)
        total += float(model(a, b).sum())
    return total / max(len(generated), 1)


__all__ = ["MIN_SIDE", "lpips_distance", "lpips_weights", "load_lpips"]
