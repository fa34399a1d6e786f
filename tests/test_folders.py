"""pytorch-CycleGAN-and-pix2pix's aligned and unaligned folder layouts, its preprocessing options, and the
training-time crop / flip, on tiny PNG folders."""
import numpy as np
import pytest
import torch
from PIL import Image

from folder_helpers import write_aligned, write_unaligned
from ganas.config import DataConfig
from ganas.data import Augment, is_paired, load_data
from ganas.data.preprocess import resize_stage
from ganas.errors import GanasError
from ganas.train.common import infinite_batches
from ganas.train.loop import Rng


def aligned(tmp_path, h=32, w=48, n=None, **cfg):
    root = write_aligned(tmp_path / "ds", n or {"train": 12, "test": 3}, h, w)
    return DataConfig(dataset="aligned_folder", path=str(root), search_holdout=2, **cfg)


def test_aligned_halves_direction_and_splits(tmp_path):
    cfg = aligned(tmp_path, preprocess="none")
    s = load_data(cfg, seed=0)
    assert s.size == (32, 48) and s.input_nc == s.output_nc == 3 and is_paired(s)
    assert (len(s.train), len(s.search), len(s.test)) == (10, 2, 3)
    # B is A inverted in every file: the halves are split at int(w / 2) and stay paired
    for part in (s.train, s.search, s.test):
        assert torch.allclose(part.targets, -part.inputs, atol=1 / 127)
    # the test images are the test/ folder's, in order
    first = np.asarray(Image.open(tmp_path / "ds" / "test" / "0000.png").convert("RGB"), np.float32)[:, :48]
    assert torch.allclose(s.test.inputs[0].permute(1, 2, 0), torch.from_numpy(first / 127.5 - 1))
    back = load_data(DataConfig(**{**cfg.__dict__, "direction": "BtoA"}), seed=0)
    assert torch.equal(back.train.inputs, s.train.targets) and torch.equal(back.train.targets, s.train.inputs)
    # the search images are cut from train/ by the seed, never from test/
    other = load_data(cfg, seed=1)
    assert not torch.equal(other.search.inputs, s.search.inputs) and torch.equal(other.test.inputs, s.test.inputs)


def test_val_is_the_test_split_when_there_is_no_test_folder_and_grayscale(tmp_path):
    cfg = aligned(tmp_path, n={"train": 6, "val": 2}, preprocess="none", input_nc=1)
    s = load_data(cfg)
    assert len(s.test) == 2 and s.input_nc == 1 and s.test.inputs.shape[1] == 1 and s.test.targets.shape[1] == 3
    rgb = load_data(DataConfig(**{**cfg.__dict__, "input_nc": 3}))
    luma = (rgb.test.inputs * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    assert torch.allclose(s.test.inputs, luma, atol=2 / 127)  # PIL's ITU-R 601-2 luma, as Grayscale(1)


def test_resize_and_crop_keeps_training_images_at_load_size_and_crops_per_batch(tmp_path):
    cfg = aligned(tmp_path, h=20, w=30, load_size=24, crop_size=16)  # resize_and_crop, flips on
    s = load_data(cfg)
    assert s.train.inputs.shape[-2:] == (24, 24) and s.search.inputs.shape[-2:] == (16, 16) == s.size
    assert s.train.augment == Augment((16, 16), True, True)
    x, y = next(infinite_batches(s.train, 6, Rng(0), "cpu"))
    assert x.shape == (6, 3, 16, 16) and torch.allclose(y, -x, atol=1 / 127)  # one crop and flip for both sides


def test_augment_crops_within_the_image_and_flips_about_half():
    x = torch.arange(2 * 1 * 4 * 6, dtype=torch.float32).view(2, 1, 4, 6).repeat(200, 1, 1, 1)
    g = torch.Generator().manual_seed(0)
    cx, cy = Augment((2, 3), flip=True, paired=True)(x, x + 1000, g)
    assert torch.equal(cy, cx + 1000)
    rows = cx.flatten(1)
    flipped = (rows[:, 1] < rows[:, 0]).float().mean()
    assert 0.35 < flipped < 0.65
    # every crop is a contiguous 2x3 window of its image (or its mirror)
    for img, crop in zip(x[:20], cx[:20]):
        windows = [img[:, a:a + 2, b:b + 3] for a in range(3) for b in range(4)]
        assert any(torch.equal(crop, wdw) or torch.equal(crop, wdw.flip(-1)) for wdw in windows)
    ux, uy = Augment((2, 3), flip=False, paired=False)(x[:50], x[:50], g)
    assert not torch.equal(ux, uy)  # unpaired sides draw on their own


def test_pix2pix_resize_rules():
    img = Image.new("RGB", (50, 30))
    assert resize_stage(img, "resize_and_crop", 40, 32).size == (40, 40)
    assert resize_stage(img, "scale_width", 40, 32).size == (40, 32)    # height in proportion (24) but >= crop
    assert resize_stage(img, "scale_width_and_crop", 100, 32).size == (100, 60)
    # sides rounded to a multiple of 4 by Python's round, as that code does: 12.5 -> 12, 7.5 -> 8
    assert resize_stage(img, "none", 0, 0).size == (48, 32)
    assert resize_stage(img, "crop", 40, 32) is img


def test_unaligned_domains_have_their_own_sizes_and_holdouts(tmp_path):
    root = write_unaligned(tmp_path / "ds", {"train": 8, "test": 3}, 16, 16)
    cfg = DataConfig(dataset="unaligned_folder", path=str(root), search_holdout=2, preprocess="none")
    s = load_data(cfg)
    assert not is_paired(s) and s.size == (16, 16)
    assert (len(s.train.inputs), len(s.train.targets)) == (6, 7)  # trainB has one more image
    assert (len(s.test.inputs), len(s.test.targets)) == (3, 4)
    assert s.train.targets.mean() > s.train.inputs.mean()  # B is the bright (inverted) domain
    x, y = next(infinite_batches(s.train, 4, Rng(0), "cpu"))
    assert x.shape == y.shape == (4, 3, 16, 16)
    back = load_data(DataConfig(**{**cfg.__dict__, "direction": "BtoA"}))
    assert back.train.inputs.mean() > back.train.targets.mean()


@pytest.mark.parametrize("damage,needle", [
    ("corrupt", "cannot be read"),
    ("no_test", "not found"),
    ("empty", "holds no images"),
    ("sizes", "different sizes"),
    ("no_path", "data.path"),
])
def test_bad_folders_are_one_line_errors(tmp_path, damage, needle):
    cfg = aligned(tmp_path, n={"train": 6, "test": 2}, preprocess="none")
    ds = tmp_path / "ds"
    if damage == "corrupt":
        (ds / "train" / "0001.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    elif damage == "no_test":
        for f in (ds / "test").iterdir():
            f.unlink()
        (ds / "test").rmdir()
    elif damage == "empty":
        for f in (ds / "test").iterdir():
            f.unlink()
    elif damage == "sizes":
        Image.new("RGB", (40, 20)).save(ds / "train" / "0002.png")
    else:
        cfg = DataConfig(dataset="aligned_folder")
    with pytest.raises(GanasError, match=needle) as e:
        load_data(cfg)
    assert "\n" not in str(e.value)
