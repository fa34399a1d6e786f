"""FID as the papers report it: pytorch-fid's Inception network (pool3, 2048 features) and its Frechet distance.

Nothing is downloaded at run time: the weights file must already be in the torch hub cache, where pytorch-fid
(through torch.hub) looks for it, or at a path the study gives (search.fid_weights); when it is missing the user
is told which file and where to put it. The real images' statistics are computed once per run folder.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .frechet import frechet_distance, stats_of

WEIGHTS = "pt_inception-2015-12-05-6726825d.pth"
URL = f"https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/{WEIGHTS}"


def weights_path() -> Path:
    """Where torch.hub (so pytorch-fid) looks for the weights: $TORCH_HOME/hub/checkpoints/."""
    return Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS


def load_inception(device=None, weights: str | Path | None = None):
    """pytorch-fid's InceptionV3 returning the 2048 pool3 features, in eval mode on ``device``; its weights
    from ``weights`` (a file path) or the torch hub cache."""
    from .pretrained import find_weights, hub_file

    path = find_weights(WEIGHTS, weights, "the fid metric (pytorch-fid's Inception)", "search.fid_weights")
    from pytorch_fid.inception import InceptionV3

    with hub_file(WEIGHTS, path):  # pytorch-fid reads the file through torch.hub; downloads nothing
        net = InceptionV3([InceptionV3.BLOCK_INDEX_BY_DIM[2048]])
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


def cached_real_stats(net, images: torch.Tensor, cache: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """inception_stats of ``images``, kept in the file ``cache`` (.npz) under a digest of the images: computed
    once per run folder, not once per search worker; other images (a changed data split) are computed again."""
    import hashlib
    import io

    from ..io import write_bytes

    digest = hashlib.sha256(images.detach().cpu().contiguous().float().numpy().tobytes()).hexdigest()
    cache = Path(cache)
    if cache.is_file():
        try:
            with np.load(cache) as f:
                if str(f["digest"]) == digest:
                    return f["mu"], f["sigma"]
        except (OSError, ValueError, KeyError):
            pass  # unreadable: computed again below
    mu, sigma = inception_stats(net, images)
    buf = io.BytesIO()
    np.savez(buf, mu=mu, sigma=sigma, digest=np.array(digest))
    write_bytes(cache, buf.getvalue())
    return mu, sigma


def fid(net, generated: torch.Tensor, real_stats: tuple[np.ndarray, np.ndarray]) -> float:
    return frechet_distance(inception_stats(net, generated), real_stats)


__all__ = ["URL", "WEIGHTS", "fid", "inception_stats", "load_inception", "cached_real_stats", "weights_path"]
