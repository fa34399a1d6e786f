"""Quality numbers of an unconditional generator: generated images against held-out real ones."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .frechet import features, frechet_distance, stats_of


def to_side(images: torch.Tensor, side: int) -> torch.Tensor:
    """A lower exit's preview, shown at the data's size (bilinear) and clamped to the image range: previews are
    judged as what a user would see in place of the full image."""
    if images.shape[-1] != side:
        images = F.interpolate(images, size=(side, side), mode="bilinear", align_corners=False)
    return images.clamp(-1, 1)


def score_samples(generated: torch.Tensor, classifier, real_stats: tuple[np.ndarray, np.ndarray], classes,
                  teacher_outputs: torch.Tensor | None = None, batch_size: int = 256) -> dict:
    """domain_fid (generated vs real feature statistics); accuracy = the share of generated images the classifier
    puts in one of ``classes`` (the study's classes: with one class, the usual accuracy); accuracy_error; and,
    given the teacher's outputs for the same latents, l1 to them (consistency with the full network)."""
    feats, logits = features(classifier, generated, batch_size, with_logits=True)
    pred = logits.argmax(1)
    acc = float(torch.isin(pred, torch.as_tensor(list(classes))).double().mean()) if len(pred) else float("nan")
    out = {"domain_fid": frechet_distance(stats_of(feats), real_stats), "accuracy": acc, "accuracy_error": 1.0 - acc}
    if teacher_outputs is not None:
        out["l1"] = float((generated.cpu() - teacher_outputs.cpu()).abs().mean())
    return out
