"""The quality numbers of a generator on paired images, and which way each one is better."""
from __future__ import annotations

import numpy as np
import torch

from .frechet import feature_stats, features, frechet_distance, stats_of

# what score() returns: name -> "min" (lower is better) or "max"; search and report look directions up here
METRICS = {"domain_fid": "min", "accuracy": "max", "accuracy_error": "min", "l1": "min"}
# every quality number an evaluation may carry (ganas.evaluate adds these beside score's)
DIRECTIONS = {**METRICS, "psnr": "max", "neg_psnr": "min", "fid": "min", "lpips": "min"}


def score(generated: torch.Tensor, targets: torch.Tensor, labels: torch.Tensor, classifier,
          real_stats: tuple[np.ndarray, np.ndarray] | None = None, batch_size: int = 256) -> dict:
    """domain_fid (generated vs real feature statistics), accuracy of the classifier on the generated images against
    the targets' labels (the role mIoU plays for cityscapes), accuracy_error = 1 - accuracy, and l1 (mean absolute
    difference to the targets). ``real_stats`` defaults to the statistics of ``targets``; pass them when scoring
    many generators on the same images."""
    feats, logits = features(classifier, generated, batch_size, with_logits=True)
    if real_stats is None:
        real_stats = feature_stats(classifier, targets, batch_size)
    acc = float((logits.argmax(1) == labels.cpu()).double().mean()) if len(logits) else float("nan")
    l1 = sum(float((generated[i:i + batch_size] - targets[i:i + batch_size].to(generated.device)).abs().sum())
             for i in range(0, len(generated), batch_size)) / max(generated.numel(), 1)
    return {"domain_fid": frechet_distance(stats_of(feats), real_stats), "accuracy": acc,
            "accuracy_error": 1.0 - acc, "l1": l1}
