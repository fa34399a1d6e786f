"""Tiny image folders in pytorch-CycleGAN-and-pix2pix's layouts, written as PNG files for tests."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def shapes(rng: np.random.Generator, h: int, w: int, channels: int = 3) -> np.ndarray:
    """A dark image with a few bright rectangles: uint8 [h, w, channels]."""
    img = np.zeros((h, w, channels), np.uint8)
    for _ in range(3):
        y, x = rng.integers(0, h - 4), rng.integers(0, w - 4)
        img[y:y + rng.integers(3, h // 2), x:x + rng.integers(3, w // 2)] = rng.integers(80, 256, channels)
    return img


def _save(img: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img.squeeze(-1) if img.shape[-1] == 1 else img).save(path)


def write_aligned(root: Path, n: dict, h: int, w: int, seed: int = 0) -> Path:
    """``root/<phase>/<i>.png`` holding A | B side by side (each h x w); B is A inverted: a task a net can learn."""
    rng = np.random.default_rng(seed)
    for phase, count in n.items():
        for i in range(count):
            a = shapes(rng, h, w)
            _save(np.concatenate([a, 255 - a], axis=1), root / phase / f"{i:04d}.png")
    return root


def write_unaligned(root: Path, n: dict, h: int, w: int, seed: int = 0) -> Path:
    """``root/<phase>A/``, ``root/<phase>B/`` of unrelated images (B: inverted shapes)."""
    rng = np.random.default_rng(seed)
    for phase, count in n.items():
        for side in "AB":
            for i in range(count + (side == "B")):  # the domains need not have as many images
                a = shapes(rng, h, w)
                _save(a if side == "A" else 255 - a, root / f"{phase}{side}" / f"{i:04d}.png")
    return root
