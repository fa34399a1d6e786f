"""Perceptual distances for AnyCost's consistency loss: LPIPS(VGG) as in the paper, or the domain classifier's.

LPIPS needs torchvision's ImageNet VGG16 weights, which it loads from the torch hub cache; nothing is downloaded at
run time, so a study asking for it checks the file when it is prepared and stops with where to put it. The
offline alternative measures the same kind of distance (unit-normalised activations of several layers, squared
differences averaged over positions, as LPIPS does before its learned weights) in the Fashion-MNIST domain
classifier that ganas trains anyway.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import GanasError

VGG16_FILE = "vgg16-397923af.pth"  # torchvision's VGG16_Weights.IMAGENET1K_V1, what lpips.LPIPS(net="vgg") loads


def vgg16_weights_path() -> Path:
    """Where torch looks for the file: $TORCH_HOME/hub/checkpoints (default ~/.cache/torch/hub/checkpoints)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / VGG16_FILE


def check_perceptual(kind: str) -> None:
    """Fail at once when ``kind`` needs weights this machine does not have."""
    if kind == "lpips" and not vgg16_weights_path().is_file():
        raise GanasError(f"supernet.perceptual: lpips needs torchvision's ImageNet VGG16 weights {VGG16_FILE}, not "
                         f"found in {vgg16_weights_path().parent} ($TORCH_HOME/hub/checkpoints): copy the file there, "
                         "or set supernet.perceptual: domain to use the domain classifier's features offline")


def _to_side(x: torch.Tensor, side: int) -> torch.Tensor:
    return x if x.shape[-1] == side else F.interpolate(x, size=(side, side), mode="bilinear", align_corners=False)


class LpipsDistance(nn.Module):
    """LPIPS(VGG) on images in [-1, 1] of any side (brought to ``side``, at least 32 for VGG's four poolings);
    grey images are repeated to three channels."""

    def __init__(self, side: int = 32):
        super().__init__()
        check_perceptual("lpips")
        import lpips  # imports torchvision: only when asked for

        self.net = lpips.LPIPS(net="vgg", verbose=False).eval()
        for p in self.net.parameters():
            p.requires_grad_(False)
        self.side = max(32, side)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        a, b = _to_side(a, self.side), _to_side(b, self.side)
        if a.shape[1] == 1:
            a, b = a.expand(-1, 3, -1, -1), b.expand(-1, 3, -1, -1)
        return self.net(a, b).mean()


class DomainDistance(nn.Module):
    """The distance in the domain classifier's ReLU activations: per layer, activations normalised to unit length
    over channels at each position, squared difference summed over channels and averaged over positions; then the
    mean over layers. The classifier is frozen; gradients flow to the images."""

    def __init__(self, classifier: nn.Module, side: int):
        super().__init__()
        self.classifier = classifier.eval()
        for p in self.classifier.parameters():
            p.requires_grad_(False)
        self.side = side

    def train(self, mode: bool = True):  # the classifier's BatchNorm statistics stay frozen
        super().train(mode)
        self.classifier.eval()
        return self

    def _activations(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = []
        for layer in self.classifier.body:
            x = layer(x)
            if isinstance(layer, nn.ReLU):
                out.append(x)
        return out

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        fa = self._activations(_to_side(a, self.side))
        fb = self._activations(_to_side(b, self.side))
        total = 0.0
        for x, y in zip(fa, fb):
            x = x / (x.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
            y = y / (y.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
            total = total + (x - y).pow(2).sum(1).mean()
        return total / len(fa)


def make_perceptual(kind: str, side: int, classifier: nn.Module | None = None) -> nn.Module | None:
    """The study's ``supernet.perceptual`` as a module (None for 'none')."""
    if kind == "none":
        return None
    if kind == "lpips":
        return LpipsDistance(side)
    if kind == "domain":
        if classifier is None:
            raise GanasError("supernet.perceptual: domain needs the domain classifier, which only Fashion-MNIST "
                             "studies have: use lpips or none")
        return DomainDistance(classifier, side)
    raise GanasError(f"unknown supernet.perceptual {kind!r}: choose lpips, domain or none")
