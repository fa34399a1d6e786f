"""Unpaired image sets (CycleGAN's setting) and sneaker <-> ankle boot on Fashion-MNIST.

Unpaired data holds the generator's inputs (domain A) and real images of the target domain (B) that match none
of them: training draws each side on its own, the supernet's L1 target is the teacher's output, and the quality
numbers compare generated images with the real target-domain ones (ganas.evaluate).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from ..config import DataConfig
from ..errors import GanasError
from .idx import load_fashion_mnist
from .pairs import CLASS_NAMES, Splits, pad_and_scale, train_images
from .preprocess import Augment


@dataclass(eq=False)
class UnpairedImages:
    inputs: torch.Tensor   # [Na, C_in, H, W] float32 in [-1, 1]: the generator's inputs (domain A)
    targets: torch.Tensor  # [Nb, C_out, H', W']: real target-domain images, row i unrelated to inputs[i]
    labels: torch.Tensor   # [Na] int64: the class each generated image should have (0 when there are no classes)
    augment: Augment | None = None  # random crop / flip applied as training batches are drawn
    paired: ClassVar[bool] = False

    def __len__(self) -> int:
        return len(self.inputs)

    def take(self, n: int) -> "UnpairedImages":
        """The first n inputs and the first n real targets (all when n is larger)."""
        return UnpairedImages(self.inputs[:n], self.targets[:n], self.labels[:n])


def is_paired(data) -> bool:
    """Whether row i of ``data.targets`` is the target of ``data.inputs[i]`` (a split or a Splits)."""
    return getattr(getattr(data, "train", data), "paired", True)


def fashion_mnist_unpaired(cfg: DataConfig, seed: int = 0) -> Splits:
    """``classes = [a, b]``: images of class a are domain A, of class b domain B (different images by construction);
    AtoB translates a -> b. The search split holds ``search_holdout`` training images of each domain, cut by the
    seed before ``limit_train`` applies (so quick and full runs search on the same images); the test split is the
    test set's images of both classes."""
    classes = list(cfg.classes)
    if len(classes) != 2 or classes[0] == classes[1] or any(
            not isinstance(c, int) or isinstance(c, bool) or not 0 <= c <= 9 for c in classes):
        raise GanasError(f"data.classes = {classes} must be two different Fashion-MNIST labels [domain A, domain B] "
                         f"for fashion_mnist_unpaired, e.g. [7, 9] ({', '.join(f'{i} {n}' for i, n in enumerate(CLASS_NAMES))})")
    for name in ("limit_train", "limit_test"):
        v = getattr(cfg, name)
        if v is not None and v < 1:
            raise GanasError(f"data.{name} = {v} must be at least 1, or left out for no limit")
    if cfg.input_nc not in (None, 1) or cfg.output_nc not in (None, 1):
        raise GanasError("Fashion-MNIST images are grayscale: leave data.input_nc and data.output_nc out (or set 1)")
    src, dst = classes if cfg.direction == "AtoB" else classes[::-1]
    images, labels = load_fashion_mnist(cfg.path, "train")
    rng = np.random.default_rng(seed)
    train, search = {}, {}
    for c in classes:  # in the study's order, so both directions hold out the same images
        idx = rng.permutation(np.flatnonzero(labels == c))
        if not 1 <= cfg.search_holdout < len(idx):
            raise GanasError(f"data.search_holdout = {cfg.search_holdout} must be between 1 and {len(idx) - 1}: class "
                             f"{c} has {len(idx)} training images and some must stay for training")
        search[c] = np.sort(idx[:cfg.search_holdout])
        train[c] = train_images(cfg, idx)
    test_images, test_labels = load_fashion_mnist(cfg.path, "test")
    test = {c: np.flatnonzero(test_labels == c)[:cfg.limit_test] for c in (src, dst)}

    def split(imgs, part):
        x = pad_and_scale(imgs[part[src]], cfg.size)
        return UnpairedImages(x, pad_and_scale(imgs[part[dst]], cfg.size), torch.full((len(x),), dst, dtype=torch.long))

    return Splits(train=split(images, train), search=split(images, search), test=split(test_images, test),
                  input_nc=1, output_nc=1, size=(cfg.size, cfg.size))
