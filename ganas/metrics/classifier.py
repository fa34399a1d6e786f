"""A small Fashion-MNIST classifier: the feature extractor of the domain FID and the judge of the accuracy metric.

FID's Inception weights cannot be fetched offline, and ImageNet features say little about 28x28 greyscale
clothes anyway; a classifier trained on the domain itself gives features that know sandals from sneakers.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from ..config import DataConfig
from ..errors import GanasError
from ..io import device as default_device
from ..io import load_checkpoint, save_checkpoint

KIND = "ganas-domain-classifier"


class DomainClassifier(nn.Module):
    """Three conv blocks, a ``feature_dim`` feature layer, a linear head. Works at any input size >= 8."""

    def __init__(self, num_classes: int = 10, width: int = 16, feature_dim: int = 128, in_channels: int = 1):
        super().__init__()
        self.config = dict(num_classes=num_classes, width=width, feature_dim=feature_dim, in_channels=in_channels)
        w = width

        def block(cin, cout):
            return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

        self.body = nn.Sequential(*block(in_channels, w), nn.MaxPool2d(2), *block(w, 2 * w), nn.MaxPool2d(2),
                                  *block(2 * w, 2 * w), nn.AdaptiveAvgPool2d(4), nn.Flatten())
        self.feature = nn.Linear(2 * w * 16, feature_dim)
        self.head = nn.Linear(feature_dim, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """[N, feature_dim]; taken before the ReLU, so no unit is stuck at zero and the covariance stays full."""
        return self.feature(self.body(x))

    def features_and_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.features(x)
        return f, self.head(F.relu(f))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features_and_logits(x)[1]


def train_classifier(images: torch.Tensor, labels: torch.Tensor, steps: int, batch_size: int = 128,
                     lr: float = 2e-3, seed: int = 0, device=None, show_progress: bool = True,
                     num_classes: int = 10) -> DomainClassifier:
    """Adam with a one-cycle schedule on random batches; returns the classifier in eval mode."""
    device = torch.device(device) if device is not None else default_device()
    with torch.random.fork_rng(devices=[]):  # seed the weights without touching the caller's global RNG
        torch.manual_seed(seed)
        net = DomainClassifier(num_classes=num_classes).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(steps, 1))
    gen = torch.Generator().manual_seed(seed)
    images, labels = images.to(device), labels.to(device)
    net.train()
    for _ in tqdm(range(steps), desc="domain classifier", disable=not show_progress, leave=False):
        idx = torch.randint(0, len(images), (min(batch_size, len(images)),), generator=gen).to(device)
        loss = F.cross_entropy(net(images[idx]), labels[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    return net.eval()


@torch.no_grad()
def accuracy(net: DomainClassifier, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 512) -> float:
    dev = next(net.parameters()).device
    net.eval()
    right = sum(int((net(images[i:i + batch_size].to(dev)).argmax(1).cpu() == labels[i:i + batch_size].cpu()).sum())
                for i in range(0, len(images), batch_size))
    return right / max(len(images), 1)


def _load(path: Path, data_cfg: DataConfig, device) -> DomainClassifier:
    ckpt = load_checkpoint(path, "domain classifier")
    fix = f"delete {path} and rerun to train a new one"
    if not isinstance(ckpt, dict) or ckpt.get("kind") != KIND or "state_dict" not in ckpt:
        raise GanasError(f"{path} is not a ganas domain classifier: {fix}")
    if ckpt.get("size") != data_cfg.size:
        raise GanasError(f"domain classifier {path} was trained on {ckpt.get('size')}px images but data.size is "
                         f"{data_cfg.size}: {fix}")
    try:
        net = DomainClassifier(**ckpt["config"])
        net.load_state_dict(ckpt["state_dict"])
    except (TypeError, RuntimeError) as e:
        raise GanasError(f"domain classifier {path} does not load ({str(e).splitlines()[0][:100]}): {fix}") from None
    net.test_accuracy = ckpt.get("test_accuracy")
    return net.to(device).eval()


def load_or_train_classifier(path: Path, data_cfg: DataConfig, seed: int = 0, device=None, *, epochs: float = 2,
                             min_steps: int = 200, show_progress: bool = True) -> DomainClassifier:
    """Load the classifier at ``path``, or train it on all 10 Fashion-MNIST classes and save it there.

    ``data_cfg.limit_train`` / ``limit_test`` cap the images it trains / is tested on (quick runs); ``min_steps``
    keeps a tiny training set from giving a useless judge. A full run takes ~90% test accuracy in under a minute
    on 2 CPU cores, so a run killed while training simply starts it again. The test accuracy is kept in the file
    and on the returned module as ``test_accuracy``.
    """
    from ..data import load_fashion_mnist, pad_and_scale

    path = Path(path)
    device = torch.device(device) if device is not None else default_device()
    if path.exists():
        return _load(path, data_cfg, device)
    images, labels = load_fashion_mnist(data_cfg.path, "train")
    if data_cfg.limit_train:
        images, labels = _subset(images, labels, data_cfg.limit_train, seed)
    x = pad_and_scale(images, data_cfg.size)
    steps = max(min_steps, math.ceil(epochs * len(x) / 128))
    net = train_classifier(x, torch.from_numpy(labels.copy()), steps, seed=seed, device=device,
                           show_progress=show_progress)
    test_images, test_labels = load_fashion_mnist(data_cfg.path, "test")
    n = data_cfg.limit_test or len(test_images)
    acc = accuracy(net, pad_and_scale(test_images[:n], data_cfg.size), torch.from_numpy(test_labels[:n].copy()))
    save_checkpoint({"kind": KIND, "config": dict(net.config), "size": data_cfg.size, "seed": seed,
                     "train_images": len(x), "steps": steps, "test_accuracy": acc, "test_images": n,
                     "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()}}, path)
    net.test_accuracy = acc
    return net


def _subset(images: np.ndarray, labels: np.ndarray, n: int, seed: int):
    idx = np.sort(np.random.default_rng(seed).permutation(len(images))[:n])
    return images[idx], labels[idx]


__all__ = ["DomainClassifier", "accuracy", "load_or_train_classifier", "train_classifier"]
