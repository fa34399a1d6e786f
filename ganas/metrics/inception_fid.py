"""FID as the papers report it: pytorch-fid's Inception network (pool3, 2048 features) and its Frechet distance.

Nothing is downloaded at run time: the weights file must already be in the torch hub cache, where pytorch-fid
(through torch.hub) looks for it; when it is missing the user is told which file and where to put it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import GanasError
from .frechet import frechet_distance, stats_of

WEIGHTS = "pt_inception-2015-12-05-6726825d.pth"
URL = f"https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/{WEIGHTS}"


def weights_path() -> Path:
    """Where torch.hub (so pytorch-fid) looks for the weights: $TORCH_HOME/hub/checkpoints/."""
    return Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS


def load_inception(device=None):
    """pytorch-fid's InceptionV3 returning the 2048 pool3 features, in eval mode on ``device``."""
    path = weights_path()
    if not path.is_file():
        raise GanasError(f"the fid metric needs pytorch-fid's Inception weights {WEIGHTS}, not found in {path.parent} "
                         f"($TORCH_HOME/hub/checkpoints): download {URL} there on a machine with internet access")
    from pytorch_fid.inception import InceptionV3

    net = InceptionV3([InceptionV3.BLOCK_INDEX_BY_DIM[2048]])  # finds the cached file; downloads nothing
    return net.to(device or "cpu").eval()


@torch.no_grad()
def inception_stats(net, images: torch.Tensor, batch_size: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """(mu, sigma) of the pool3 features of ``images`` [N, C, H, W] in [-1, 1]; grayscale is repeated to RGB.
    pytorch-fid resizes to 299x299 itself and wants [0, 1] input."""
    dev = next(net.parameters()).device
    feats = []
    for i in range(0, len(images), batch_size):
        x = images[i:i + batch_size].to(dev, torch.float32)
        if x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)
        f = net((x.clamp(-1, 1) + 1) / 2)[0]
        feats.append(f.squeeze(-1).squeeze(-1).double().cpu())
    return stats_of(torch.cat(feats).numpy() if feats else np.zeros((0, 2048)))


def fid(net, generated: torch.Tensor, real_stats: tuple[np.ndarray, np.ndarray]) -> float:
    return frechet_distance(inception_stats(net, generated), real_stats)


__all__ = ["URL", "WEIGHTS", "fid", "inception_stats", "load_inception", "weights_path"]
