"""The folder layouts of pytorch-CycleGAN-and-pix2pix, read into memory.

aligned_folder: ``train/``, ``val/``, ``test/`` of images holding A and B side by side (A the left half, of width
int(w / 2)); AtoB makes A the input. unaligned_folder: ``trainA/``, ``trainB/``, ``testA/``, ``testB/`` of
separate images. Preprocessing follows that code's options (ganas.data.preprocess). The search split is cut from
the training images by the seed (never from the test images); the test split is ``test*`` when present, else
``val*`` (edges2shoes and cityscapes ship train and val only), or what ``data.test_phase`` names.

A split is held as tensors in memory: fine for the datasets of a few thousand images this machine trains on;
edges2shoes' 50k images at 286x286 need about 100 GB, so cap them with data.limit_train there.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..config import DataConfig
from ..errors import GanasError
from .pairs import ImagePairs, Splits
from .preprocess import Augment, image_files, prepare, read_image, stack
from .unpaired import UnpairedImages


@dataclass(eq=False)
class AugmentedPairs(ImagePairs):
    """Training pairs stored before their random crop and flip, which ``augment`` applies per batch."""
    augment: Augment | None = None


def _root(cfg: DataConfig, layout: str) -> Path:
    if not cfg.path:
        raise GanasError(f"data.path is not set: point it to the dataset folder ({layout})")
    root = Path(cfg.path).expanduser()
    if not root.is_dir():
        raise GanasError(f"data.path {cfg.path!r} is not a folder: point it to the dataset folder ({layout})")
    return root


def _files(root: Path, name: str, layout: str) -> list[Path]:
    folder = root / name
    if not folder.is_dir():
        raise GanasError(f"{folder} not found: a dataset in this layout has {layout}")
    files = image_files(folder)
    if not files:
        raise GanasError(f"{folder} holds no images ({', '.join(e[1:] for e in ('.png', '.jpg'))} ...): add them")
    return files


def _test_phase(cfg: DataConfig, root: Path, suffixes: tuple[str, ...]) -> str:
    if cfg.test_phase:
        return cfg.test_phase
    return "test" if all((root / f"test{s}").is_dir() for s in suffixes) else "val"


def _split_train(n: int, cfg: DataConfig, seed: int, what: str) -> tuple[np.ndarray, np.ndarray]:
    """(train, search) indices: the search images are cut by the seed before limit_train applies."""
    if not 1 <= cfg.search_holdout < n:
        raise GanasError(f"data.search_holdout = {cfg.search_holdout} must be between 1 and {n - 1}: {what} has {n} "
                         "training images and some must stay for training")
    for name in ("limit_train", "limit_test"):
        v = getattr(cfg, name)
        if v is not None and v < 1:
            raise GanasError(f"data.{name} = {v} must be at least 1, or left out for no limit")
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[cfg.search_holdout:][:cfg.limit_train]), np.sort(order[:cfg.search_holdout])


def _channels(cfg: DataConfig) -> tuple[int, int]:
    return cfg.input_nc or 3, cfg.output_nc or 3


def _augment(train: torch.Tensor, cfg: DataConfig, paired: bool) -> Augment | None:
    crop = (cfg.crop_size, cfg.crop_size) if "crop" in cfg.preprocess else None
    if crop is not None and (train.shape[-2] < crop[0] or train.shape[-1] < crop[1]):
        raise GanasError(f"training images of {train.shape[-1]}x{train.shape[-2]} are smaller than data.crop_size = "
                         f"{cfg.crop_size}: lower crop_size or raise load_size")
    if crop is None and not cfg.flip:
        return None
    return Augment(crop, cfg.flip, paired)


def _read(paths: list[Path], desc: str) -> list:
    return [read_image(p) for p in tqdm(paths, desc=f"read {desc}", leave=False, disable=len(paths) < 500)]


def aligned_folder(cfg: DataConfig, seed: int = 0) -> Splits:
    layout = "train/ and test/ (or val/) folders of A|B images side by side"
    root = _root(cfg, layout)
    in_nc, out_nc = _channels(cfg)
    train_files = _files(root, "train", layout)
    test_files = _files(root, _test_phase(cfg, root, ("",)), layout)[:cfg.limit_test]
    train_idx, search_idx = _split_train(len(train_files), cfg, seed, str(root / "train"))

    def halves(img):
        w, h = img.size
        a, b = img.crop((0, 0, w // 2, h)), img.crop((w // 2, 0, w, h))
        return (a, b) if cfg.direction == "AtoB" else (b, a)

    def split(paths, train: bool, where: str):
        xs, ys = [], []
        for img in _read(paths, where):
            a, b = halves(img)
            xs.append(prepare(a, cfg, in_nc, train))
            ys.append(prepare(b, cfg, out_nc, train))
        return stack(xs, where), stack(ys, where)

    x, y = split([train_files[i] for i in train_idx], True, str(root / "train"))
    train = AugmentedPairs(x, y, torch.zeros(len(x), dtype=torch.long), _augment(x, cfg, paired=True))
    search = ImagePairs(*split([train_files[i] for i in search_idx], False, str(root / "train")),
                        torch.zeros(len(search_idx), dtype=torch.long))
    tx, ty = split(test_files, False, str(test_files[0].parent))
    test = ImagePairs(tx, ty, torch.zeros(len(tx), dtype=torch.long))
    return Splits(train, search, test, input_nc=in_nc, output_nc=out_nc, size=tuple(search.inputs.shape[-2:]))


def unaligned_folder(cfg: DataConfig, seed: int = 0) -> Splits:
    layout = "trainA/, trainB/, testA/ and testB/ (or valA/, valB/) folders of images"
    root = _root(cfg, layout)
    in_nc, out_nc = _channels(cfg)
    src, dst = ("A", "B") if cfg.direction == "AtoB" else ("B", "A")
    test_phase = _test_phase(cfg, root, ("A", "B"))
    parts = {}
    for side in (src, dst):
        files = _files(root, f"train{side}", layout)
        train_idx, search_idx = _split_train(len(files), cfg, seed, str(root / f"train{side}"))
        parts[side] = {"train": [files[i] for i in train_idx], "search": [files[i] for i in search_idx],
                       "test": _files(root, f"{test_phase}{side}", layout)[:cfg.limit_test]}

    def images(side, part, train):
        where = str(parts[side][part][0].parent)
        nc = in_nc if side == src else out_nc
        return stack([prepare(img, cfg, nc, train) for img in _read(parts[side][part], where)], where)

    def split(part):
        train = part == "train"
        x, y = images(src, part, train), images(dst, part, train)
        return UnpairedImages(x, y, torch.zeros(len(x), dtype=torch.long),
                              _augment(x, cfg, paired=False) if train else None)

    train, search, test = split("train"), split("search"), split("test")
    if search.inputs.shape[-2:] != search.targets.shape[-2:]:
        raise GanasError(f"{src} and {dst} images come out of the preprocessing at different sizes: use "
                         "data.preprocess resize_and_crop")
    return Splits(train, search, test, input_nc=in_nc, output_nc=out_nc, size=tuple(search.inputs.shape[-2:]))
