"""pytorch-CycleGAN-and-pix2pix's image preprocessing, so its datasets load here as they load there.

Facts kept from its data/base_dataset.py and data/*_dataset.py (read, not copied): images are opened as RGB and
made grayscale (PIL's "L") when their side has 1 channel; ``resize_and_crop`` resizes to load_size x load_size
(bicubic) then crops crop_size; ``scale_width`` scales the width to load_size and the height in proportion but to
no less than crop_size (an image already that wide and tall enough is kept); ``crop`` crops the image as it is;
``none`` rounds both sides to a multiple of 4; flips are horizontal with probability 1/2; values go to [-1, 1].
Its test options set load_size to crop_size "to avoid cropping", which is what the search and test splits do
here; where a test image still needs a crop, we take the centre one rather than a random one, so scores repeat.

Training augmentation is a training-time concern: the training split keeps each image after the deterministic
part (resize / scale / rounding) and ``Augment`` takes a random crop and flip of every image of a batch as the
batch is drawn (ganas.train.common.infinite_batches), with the stage's resumable RNG.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import GanasError

EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".tif", ".tiff", ".webp")


def image_files(folder: Path) -> list[Path]:
    """Every image file under ``folder`` (recursively, like that code's make_dataset), sorted by path."""
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in EXTENSIONS and p.is_file())


def read_image(path: Path):
    """The image as RGB (PIL); a missing or undecodable file is a one-line GanasError naming it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            return img.convert("RGB")  # convert() decodes the whole file, so a truncated one fails here
    except (OSError, UnidentifiedImageError, ValueError) as e:  # PIL reports a cut or corrupt file as OSError
        first = (str(e).splitlines() or [""])[0][:100]
        raise GanasError(f"image {path} cannot be read ({type(e).__name__}: {first}): replace or remove it") from None


def _bicubic():
    from PIL import Image
    return Image.BICUBIC


def resize_stage(img, preprocess: str, load_size: int, crop_size: int):
    """The deterministic part of the preprocessing: everything before the crop."""
    w, h = img.size
    if "resize" in preprocess:
        return img.resize((load_size, load_size), _bicubic())
    if "scale_width" in preprocess:
        if w == load_size and h >= crop_size:
            return img
        return img.resize((load_size, int(max(load_size * h / w, crop_size))), _bicubic())
    if preprocess == "none":
        nw, nh = int(round(w / 4) * 4), int(round(h / 4) * 4)
        return img if (nw, nh) == (w, h) else img.resize((nw, nh), _bicubic())
    return img  # "crop": cropped as it is


def centre_crop(img, size: int):
    w, h = img.size
    if w < size or h < size:
        raise GanasError(f"an image of {w}x{h} is smaller than data.crop_size = {size}: lower crop_size, or use "
                         "preprocess resize_and_crop")
    left, top = (w - size) // 2, (h - size) // 2
    return img.crop((left, top, left + size, top + size))


def to_tensor(img, channels: int) -> torch.Tensor:
    """PIL RGB image -> float32 [channels, H, W] in [-1, 1]; 1 channel is PIL's grayscale (ITU-R 601-2 luma)."""
    if channels == 1:
        img = img.convert("L")
    x = torch.from_numpy(np.asarray(img, dtype=np.uint8).copy()).float().div_(127.5).sub_(1)
    return x.unsqueeze(0) if x.dim() == 2 else x.permute(2, 0, 1).contiguous()


def prepare(img, cfg, channels: int, train: bool) -> torch.Tensor:
    """One image as the given split holds it. Training images stop before the crop (``Augment`` crops them);
    search and test images are preprocessed with load_size = crop_size and, where a crop remains, cropped at
    the centre."""
    load = cfg.load_size if train else cfg.crop_size
    img = resize_stage(img, cfg.preprocess, load, cfg.crop_size)
    if not train and "crop" in cfg.preprocess:
        img = centre_crop(img, cfg.crop_size)
    return to_tensor(img, channels)


def stack(images: list[torch.Tensor], where: str) -> torch.Tensor:
    """One tensor of same-sized images; differing sizes are a one-line error with the way out."""
    sizes = sorted({tuple(t.shape[-2:]) for t in images})
    if len(sizes) > 1:
        a, b = sizes[0], sizes[-1]
        raise GanasError(f"images of {where} come out of the preprocessing at different sizes ({a[1]}x{a[0]} and "
                         f"{b[1]}x{b[0]}), but a split is one tensor: use data.preprocess resize_and_crop, or "
                         "crop with a crop_size they all reach")
    if not images:
        raise GanasError(f"no images in {where}")
    return torch.stack(images)


@dataclass(frozen=True)
class Augment:
    """Random crop (to ``crop`` = (h, w), when the stored images are larger) and horizontal flip per image of a
    training batch. Paired data crops and flips input and target alike, as pix2pix's aligned dataset does;
    unpaired data draws for each side on its own."""
    crop: tuple[int, int] | None
    flip: bool
    paired: bool

    def __call__(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator):
        draw = self._draw(x, generator)
        return self._apply(x, draw), self._apply(y, draw if self.paired else self._draw(y, generator))

    def _draw(self, t: torch.Tensor, generator: torch.Generator):
        n, _, h, w = t.shape
        tops = lefts = None
        if self.crop is not None and (h, w) != tuple(self.crop):
            ch, cw = self.crop
            tops = torch.randint(0, h - ch + 1, (n,), generator=generator)
            lefts = torch.randint(0, w - cw + 1, (n,), generator=generator)
        flips = torch.rand(n, generator=generator) < 0.5 if self.flip else None
        return tops, lefts, flips

    def _apply(self, t: torch.Tensor, draw) -> torch.Tensor:
        tops, lefts, flips = draw
        if tops is not None:
            ch, cw = self.crop
            t = torch.stack([t[i, :, a:a + ch, b:b + cw] for i, (a, b) in enumerate(zip(tops.tolist(),
                                                                                      lefts.tolist()))])
        if flips is not None and bool(flips.any()):
            t = torch.where(flips.view(-1, 1, 1, 1), t.flip(-1), t)
        return t
