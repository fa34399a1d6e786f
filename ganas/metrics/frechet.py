"""FID's construction (Heusel et al. 2017) on the domain classifier's features."""
from __future__ import annotations

import warnings

import numpy as np
import torch

from ..errors import GanasError


@torch.no_grad()
def features(classifier, images: torch.Tensor, batch_size: int = 256, with_logits: bool = False):
    """Features [N, D] as float64 numpy (and logits as a CPU tensor when ``with_logits``), batch by batch."""
    dev = next(classifier.parameters()).device
    classifier.eval()
    feats, logits = [], []
    for i in range(0, len(images), batch_size):
        x = images[i:i + batch_size].to(dev, torch.float32)
        if with_logits:
            f, y = classifier.features_and_logits(x)
            logits.append(y.cpu())
        else:
            f = classifier.features(x)
        feats.append(f.double().cpu())
    out = torch.cat(feats).numpy() if feats else np.zeros((0, classifier.feature.out_features))
    return (out, torch.cat(logits) if logits else torch.zeros(0, 0)) if with_logits else out


def stats_of(feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if len(feats) < 2:
        raise GanasError(f"the domain FID needs at least 2 images, got {len(feats)}: raise search.eval_images "
                         "or the number of images scored")
    return feats.mean(axis=0), np.cov(feats, rowvar=False)


def feature_stats(classifier, images: torch.Tensor, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(mu [D], sigma [D, D]) of the classifier's features over ``images`` [N, C, H, W] in [-1, 1]."""
    return stats_of(features(classifier, images, batch_size))


def frechet_distance(stats_a: tuple[np.ndarray, np.ndarray], stats_b: tuple[np.ndarray, np.ndarray]) -> float:
    """The Frechet distance of two Gaussians given as (mu, sigma), by pytorch-fid's implementation."""
    from pytorch_fid.fid_score import calculate_frechet_distance  # imports torchvision: only when needed

    with warnings.catch_warnings():
        # pytorch-fid 0.3 passes sqrtm's `disp`, which SciPy >= 1.16 deprecates; the result is unaffected.
        warnings.filterwarnings("ignore", message=".*`disp` argument is deprecated", category=DeprecationWarning)
        d = calculate_frechet_distance(stats_a[0], stats_a[1], stats_b[0], stats_b[1])
    # The distance is >= 0; tiny negatives are round-off in the matrix square root.
    return max(float(d), 0.0)
