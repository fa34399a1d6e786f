"""Pieces the training stages share: optimisers, checkpoint files of finished networks."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..errors import GanasError
from ..io import load_checkpoint, save_checkpoint


def adam(params, lr: float) -> torch.optim.Adam:
    # pix2pix and GAN Compression use beta1 = 0.5 for both networks.
    return torch.optim.Adam(params, lr=lr, betas=(0.5, 0.999))


def save_network(path: Path, kind: str, family: str, config: dict, net: nn.Module, **extra) -> None:
    save_checkpoint({"kind": kind, "family": family, "config": config,
                     "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()}, **extra}, path)


def load_network(path: Path, kind: str, build) -> tuple[nn.Module, dict]:
    """Rebuild a network saved by ``save_network``; ``build(family, config)`` makes the empty module."""
    ckpt = load_checkpoint(path, kind)
    if not isinstance(ckpt, dict) or ckpt.get("kind") != kind or "state_dict" not in ckpt:
        raise GanasError(f"{path} is not a ganas {kind} checkpoint: point to a {kind}.pt written by ganas")
    net = build(ckpt["family"], ckpt["config"])
    try:
        net.load_state_dict(ckpt["state_dict"])
    except RuntimeError as e:
        raise GanasError(f"{path} does not fit a {ckpt['family']} {kind} with {ckpt['config']} "
                         f"({str(e).splitlines()[1].strip()[:120] if len(str(e).splitlines()) > 1 else e}): "
                         "it is corrupt or from another version; delete it and rerun") from None
    return net, ckpt


def infinite_batches(data, batch_size: int, rng, device):
    """Draw random batches with the loop's RNG (so resumed runs draw the same ones). Unpaired data draws its
    targets on their own; data with an ``augment`` (ganas.data.preprocess.Augment) is cropped / flipped here."""
    paired = getattr(data, "paired", True)
    augment = getattr(data, "augment", None)
    while True:
        idx = rng.batch(len(data.inputs), batch_size)
        x, y = data.inputs[idx], data.targets[idx if paired else rng.batch(len(data.targets), batch_size)]
        if augment is not None:
            x, y = augment(x, y, rng.torch)
        yield x.to(device), y.to(device)
