"""Unconditional data (noise -> image): Fashion-MNIST images of one or several classes.

Each split holds the real images (``targets``) and, as ``inputs``, fixed latent codes drawn from the seed: the
search and the final numbers score every generator on the same codes, so two subnets differ only by what they
are. Training ignores them and draws fresh codes every step. ``n_images`` keeps only that many training images
(the low-data studies: 100-shot) while the domain classifier still learns from the whole dataset.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from ..config import DataConfig
from ..errors import GanasError
from .idx import load_fashion_mnist
from .pairs import Splits, _check, pad_and_scale, train_images

LATENT_DIM = 64  # = ganas.models.stylegan.Z_DIM: the size of the codes the unconditional families take


@dataclass(eq=False)
class LatentImages:
    inputs: torch.Tensor   # [N, LATENT_DIM] fixed latent codes (generators' inputs for scoring)
    targets: torch.Tensor  # [N, 1, H, W] real images in [-1, 1], unrelated to inputs[i]
    labels: torch.Tensor   # [N] int64 class of each real image
    paired: ClassVar[bool] = False
    unconditional: ClassVar[bool] = True

    def __len__(self) -> int:
        return len(self.targets)

    def take(self, n: int) -> "LatentImages":
        return LatentImages(self.inputs[:n], self.targets[:n], self.labels[:n])


def latents(n: int, seed: int, dim: int = LATENT_DIM) -> torch.Tensor:
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed))


def fashion_mnist_images(cfg: DataConfig, seed: int = 0) -> Splits:
    """Images of ``cfg.classes``, padded to ``cfg.size``. The search split is cut from the training images by the
    seed before ``n_images`` / ``limit_train`` apply, so a 100-shot run searches on the same held-out images as
    a full one; the test split is the test set's images of the classes."""
    if cfg.input_nc not in (None, 1) or cfg.output_nc not in (None, 1):
        raise GanasError("Fashion-MNIST images are grayscale: leave data.input_nc and data.output_nc out (or set 1)")
    images, labels = load_fashion_mnist(cfg.path, "train")
    keep = np.flatnonzero(np.isin(labels, cfg.classes))
    _check(cfg, len(keep))
    order = np.random.default_rng(seed).permutation(keep)
    search = np.sort(order[:cfg.search_holdout])
    train = train_images(cfg, order)
    if len(train) < 2:
        raise GanasError(f"only {len(train)} training images remain for data.classes {list(cfg.classes)}: lower "
                         "data.search_holdout or raise data.n_images")
    test_images, test_labels = load_fashion_mnist(cfg.path, "test")
    test = np.flatnonzero(np.isin(test_labels, cfg.classes))[:cfg.limit_test]

    def split(imgs, labs, idx, part):
        return LatentImages(latents(len(idx), seed * 1000 + part), pad_and_scale(imgs[idx], cfg.size),
                            torch.from_numpy(np.array(labs[idx], dtype=np.int64)))

    return Splits(train=split(images, labels, train, 0), search=split(images, labels, search, 1),
                  test=split(test_images, test_labels, test, 2), input_nc=LATENT_DIM, output_nc=1,
                  size=(cfg.size, cfg.size))


def is_unconditional(data) -> bool:
    """Whether a split (or a Splits) is noise -> image data."""
    return getattr(getattr(data, "train", data), "unconditional", False)
