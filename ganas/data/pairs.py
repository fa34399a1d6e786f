"""Paired image datasets and their splits; the quickstart task is edges -> shoes on Fashion-MNIST."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..config import DataConfig
from ..errors import GanasError
from .edges import canny
from .idx import load_fashion_mnist

CLASS_NAMES = ("t-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
               "ankle boot")


@dataclass(eq=False)
class ImagePairs(torch.utils.data.Dataset):
    """Input and target images in [-1, 1], row i of each belonging together, with the target's class label."""
    inputs: torch.Tensor   # [N, C_in, H, W] float32
    targets: torch.Tensor  # [N, C_out, H, W] float32
    labels: torch.Tensor   # [N] int64

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, i):
        return self.inputs[i], self.targets[i], self.labels[i]

    def take(self, n: int) -> "ImagePairs":
        """The first n pairs (all when n is larger)."""
        return ImagePairs(self.inputs[:n], self.targets[:n], self.labels[:n])


@dataclass(eq=False)
class Splits:
    train: ImagePairs   # what the teacher and the supernet train on
    search: ImagePairs  # held out of the training set: what search trials are scored on
    test: ImagePairs    # the official test set: final numbers only
    input_nc: int
    output_nc: int
    size: tuple[int, int]  # (H, W)


def pad_and_scale(images: np.ndarray, size: int) -> torch.Tensor:
    """uint8 [N, h, w] -> float32 [N, 1, size, size] in [-1, 1], padded with background (0, i.e. -1)."""
    h, w = images.shape[1:]
    if size < max(h, w):
        raise GanasError(f"data.size = {size} is smaller than the {h}x{w} images: use at least {max(h, w)}")
    top, left = (size - h) // 2, (size - w) // 2
    x = torch.from_numpy(np.array(images, dtype=np.uint8))  # a copy: the loader's arrays are read-only
    x = x.float().div_(127.5).sub_(1).unsqueeze(1)
    return F.pad(x, (left, size - w - left, top, size - h - top), value=-1.0)


def _pairs(images: np.ndarray, labels: np.ndarray, size: int) -> ImagePairs:
    # Edges are white (1) on black (-1), found on the 28x28 image before padding, so the pad adds none.
    edges = pad_and_scale(canny(images).astype(np.uint8) * 255, size)
    return ImagePairs(edges, pad_and_scale(images, size), torch.from_numpy(np.array(labels, dtype=np.int64)))


def _check(cfg: DataConfig, n_train: int) -> None:
    classes = list(cfg.classes)
    if not classes or len(set(classes)) != len(classes) or any(
            not isinstance(c, int) or isinstance(c, bool) or not 0 <= c <= 9 for c in classes):
        raise GanasError(f"data.classes = {list(cfg.classes)} must be distinct Fashion-MNIST labels 0-9 "
                         f"({', '.join(f'{i} {n}' for i, n in enumerate(CLASS_NAMES))})")
    for name in ("limit_train", "limit_test"):
        v = getattr(cfg, name)
        if v is not None and v < 1:
            raise GanasError(f"data.{name} = {v} must be at least 1, or left out for no limit")
    if not 1 <= cfg.search_holdout < n_train:
        raise GanasError(f"data.search_holdout = {cfg.search_holdout} must be between 1 and {n_train - 1}: the "
                         f"kept classes have {n_train} training images and some must stay for training")


def train_images(cfg: DataConfig, order: np.ndarray) -> np.ndarray:
    """The training part of a class's shuffled indices: what the search holds out, then ``n_images`` (low-data
    studies; the domain classifier still trains on all) or ``limit_train`` (quick runs), whichever is smaller."""
    limit = min(n for n in (cfg.n_images, cfg.limit_train, len(order)) if n is not None)
    return np.sort(order[cfg.search_holdout:][:limit])


def fashion_mnist_edges2shoes(cfg: DataConfig, seed: int = 0) -> Splits:
    """Edge map -> image of the kept classes (shoes by default): edges2shoes in miniature.

    The search images are cut from the training set by the seed, before ``limit_train`` / ``n_images`` apply, so
    quick, low-data and full runs with one seed search on the same images. The test set does not depend on the seed.
    """
    images, labels = load_fashion_mnist(cfg.path, "train")
    keep = np.flatnonzero(np.isin(labels, cfg.classes))
    _check(cfg, len(keep))
    order = np.random.default_rng(seed).permutation(keep)
    search = np.sort(order[:cfg.search_holdout])
    train = train_images(cfg, order)
    test_images, test_labels = load_fashion_mnist(cfg.path, "test")
    test = np.flatnonzero(np.isin(test_labels, cfg.classes))[:cfg.limit_test]
    return Splits(train=_pairs(images[train], labels[train], cfg.size),
                  search=_pairs(images[search], labels[search], cfg.size),
                  test=_pairs(test_images[test], test_labels[test], cfg.size),
                  input_nc=1, output_nc=1, size=(cfg.size, cfg.size))


DATASETS: dict[str, Callable[[DataConfig, int], Splits]] = {
    "fashion_mnist_edges2shoes": fashion_mnist_edges2shoes,
}


def check_dataset(name: str) -> None:
    if name not in DATASETS:
        raise GanasError(f"unknown data.dataset {name!r}: choose one of {', '.join(sorted(DATASETS))}")


def load_data(cfg: DataConfig, seed: int = 0) -> Splits:
    check_dataset(cfg.dataset)
    return DATASETS[cfg.dataset](cfg, seed)
