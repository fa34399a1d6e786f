import gzip
import hashlib
import struct
from pathlib import Path

import numpy as np
import pytest
import scipy.ndimage as ndi
import torch

from ganas.config import DataConfig
from ganas.data import (DATASETS, ImagePairs, canny, idx, load_data, load_fashion_mnist, pad_and_scale,
                        read_idx)
from ganas.errors import GanasError

REAL = Path(idx.DEFAULT_PATH)
pytestmark = pytest.mark.skipif(not REAL.is_dir(), reason="needs apt-get install dataset-fashion-mnist")
SMALL = DataConfig(limit_train=300, limit_test=200, search_holdout=100)


@pytest.fixture(scope="module")
def shoes():
    x, y = load_fashion_mnist(None, "train")
    return x[np.isin(y, (5, 7, 9))][:300]


def _copy(tmp_path: Path) -> Path:
    for f in REAL.iterdir():
        (tmp_path / f.name).symlink_to(f)
    return tmp_path


def _replace(folder: Path, name: str, data: bytes) -> None:
    (folder / name).unlink()
    (folder / name).write_bytes(data)


def _hashes(t: torch.Tensor) -> set:
    return {hashlib.sha1(row.numpy().tobytes()).hexdigest() for row in t}


def test_reads_the_real_files():
    x, y = load_fashion_mnist(None, "train")
    xt, yt = load_fashion_mnist(None, "test")
    assert x.shape == (60000, 28, 28) and x.dtype == np.uint8 and y.shape == (60000,)
    assert xt.shape == (10000, 28, 28) and yt.shape == (10000,)
    assert np.bincount(y).tolist() == [6000] * 10 and np.bincount(yt).tolist() == [1000] * 10
    assert 0 < x.mean() < 255 and x.max() == 255


def test_truncated_file_is_named(tmp_path):
    folder = _copy(tmp_path)
    raw = (REAL / "train-labels-idx1-ubyte.gz").read_bytes()
    _replace(folder, "train-labels-idx1-ubyte.gz", raw[: len(raw) // 2])
    with pytest.raises(GanasError, match="train-labels-idx1-ubyte.gz is corrupt or truncated.*re-install"):
        load_fashion_mnist(str(folder), "train")


@pytest.mark.parametrize("content, why", [
    (struct.pack(">HBBI", 0, 8, 1, 10000) + bytes(9999), "need"),          # one label short of the header's count
    (struct.pack(">HBBI", 0, 0x0D, 1, 10000) + bytes(40000), "magic"),     # float elements, not ubyte
    (b"not an idx file at all", "magic"),
])
def test_corrupt_file_is_named(tmp_path, content, why):
    folder = _copy(tmp_path)
    _replace(folder, "t10k-labels-idx1-ubyte.gz", gzip.compress(content))
    with pytest.raises(GanasError, match=f"corrupt or truncated.*{why}"):
        load_fashion_mnist(str(folder), "test")


def test_labels_that_do_not_match_images_are_caught(tmp_path):
    folder = _copy(tmp_path)
    _replace(folder, "t10k-labels-idx1-ubyte.gz", gzip.compress(struct.pack(">HBBI", 0, 8, 1, 5) + bytes(5)))
    with pytest.raises(GanasError, match="t10k-labels.*corrupt"):
        load_fashion_mnist(str(folder), "test")


def test_missing_data_says_how_to_get_it(tmp_path, monkeypatch):
    with pytest.raises(GanasError, match="apt-get install dataset-fashion-mnist.*data.path"):
        load_fashion_mnist(str(tmp_path / "nowhere"), "train")
    with pytest.raises(GanasError, match="train-images-idx3-ubyte.gz not found.*apt-get install"):
        load_fashion_mnist(str(tmp_path), "train")
    monkeypatch.setattr(idx, "DEFAULT_PATH", str(tmp_path / "nowhere"))
    with pytest.raises(GanasError, match="apt-get install dataset-fashion-mnist"):
        load_data(SMALL)


def test_uncompressed_files_work_too(tmp_path):
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (tmp_path / name).write_bytes(gzip.decompress((REAL / (name + ".gz")).read_bytes()))
    x, y = load_fashion_mnist(str(tmp_path), "test")
    np.testing.assert_array_equal(x, read_idx(REAL / "t10k-images-idx3-ubyte.gz"))
    assert len(y) == 10000


def test_bad_names_and_values():
    with pytest.raises(GanasError, match="choose one of .*fashion_mnist_edges2shoes"):
        load_data(DataConfig(dataset="edges2handbags"))
    with pytest.raises(GanasError, match="split"):
        load_fashion_mnist(None, "val")
    for cfg, what in [(DataConfig(classes=(5, 10)), "classes"), (DataConfig(classes=(7, 7)), "classes"),
                      (DataConfig(search_holdout=0), "search_holdout"),
                      (DataConfig(search_holdout=18000), "search_holdout"),
                      (DataConfig(limit_train=0), "limit_train")]:
        with pytest.raises(GanasError, match=what):
            load_data(cfg)


def test_splits_shapes_ranges_and_padding():
    s = load_data(SMALL, seed=0)
    assert "fashion_mnist_edges2shoes" in DATASETS
    assert (s.input_nc, s.output_nc, s.size) == (1, 1, (32, 32))
    for part, n in ((s.train, 300), (s.search, 100), (s.test, 200)):
        assert isinstance(part, ImagePairs) and len(part) == n
        assert part.inputs.shape == part.targets.shape == (n, 1, 32, 32)
        assert part.inputs.dtype == part.targets.dtype == torch.float32 and part.labels.dtype == torch.int64
        assert set(part.labels.tolist()) == {5, 7, 9}
        for t in (part.inputs, part.targets):
            assert t.min() == -1 and t.max() == 1
            border = torch.ones(32, 32, dtype=torch.bool)
            border[2:30, 2:30] = False
            assert (t[:, 0][:, border] == -1).all()  # padding is background
        assert set(part.inputs.unique().tolist()) == {-1.0, 1.0}  # edge maps are binary
        x, y, label = part[3]
        assert torch.equal(x, part.inputs[3]) and torch.equal(y, part.targets[3]) and label == part.labels[3]
    assert len(s.search.take(10)) == 10


def test_splits_are_disjoint_and_deterministic():
    full = load_data(DataConfig(limit_test=10), seed=0)
    assert len(full.train) + len(full.search) == 18000 and len(full.search) == 1000
    assert not _hashes(full.train.targets) & _hashes(full.search.targets)
    a, b, c = load_data(SMALL, seed=0), load_data(SMALL, seed=0), load_data(SMALL, seed=1)
    for name in ("train", "search", "test"):
        assert torch.equal(getattr(a, name).inputs, getattr(b, name).inputs)
        assert torch.equal(getattr(a, name).targets, getattr(b, name).targets)
    assert not torch.equal(a.search.targets, c.search.targets)
    assert torch.equal(a.test.targets, c.test.targets)  # the test set is fixed
    assert not _hashes(a.train.targets) & _hashes(a.search.targets)
    assert not _hashes(a.search.targets) & _hashes(a.test.targets)
    # the search images do not depend on how much training data a run keeps
    assert _hashes(a.search.targets) == _hashes(load_data(DataConfig(search_holdout=100, limit_test=10)).search.targets)


def test_edge_maps_are_deterministic_and_follow_the_outline(shoes):
    e1, e2 = canny(shoes), canny(shoes.copy())
    assert np.array_equal(e1, e2)
    share = e1.mean(axis=(1, 2))
    assert (share > 0.02).all() and 0.05 < share.mean() < 0.3  # every shoe has an outline, most pixels have none
    near_object = ndi.binary_dilation(shoes > 0, np.ones((1, 5, 5), bool))  # within 2 pixels: the blur spreads
    assert not e1[~near_object].any()  # no edges out in the empty background
    assert not canny(np.zeros((2, 28, 28), np.uint8)).any()


def test_edge_maps_agree_with_scikit_image(shoes):
    skimage_feature = pytest.importorskip("skimage.feature")
    ours = canny(shoes[:150])
    ref = np.stack([skimage_feature.canny(im, sigma=1.0, low_threshold=0.1 * 255, high_threshold=0.2 * 255)
                    for im in shoes[:150]])
    iou = (ours & ref).sum() / (ours | ref).sum()
    assert iou > 0.75, iou  # same algorithm; differences are the NMS interpolation and kernel truncation


def test_pad_and_scale():
    x = pad_and_scale(np.array([[[0, 255], [255, 0]]], np.uint8), 6)
    assert x.shape == (1, 1, 6, 6)
    assert x[0, 0, 2:4, 2:4].tolist() == [[-1, 1], [1, -1]] and x.sum() == -32
    with pytest.raises(GanasError, match="data.size"):
        pad_and_scale(np.zeros((1, 28, 28), np.uint8), 24)


@pytest.mark.parametrize("dataset, classes", [("fashion_mnist_edges2shoes", (5, 7, 9)),
                                              ("fashion_mnist_unpaired", (7, 9))])
def test_low_data_pairs_keep_n_images_and_search_the_same_held_out_images(dataset, classes):
    few = load_data(DataConfig(dataset=dataset, classes=classes, n_images=40, search_holdout=100, limit_test=10))
    full = load_data(DataConfig(dataset=dataset, classes=classes, search_holdout=100, limit_test=10))
    assert len(few.train.targets) == 40 and len(full.train.targets) > 1000
    assert _hashes(few.train.targets) <= _hashes(full.train.targets)
    assert torch.equal(few.search.targets, full.search.targets)
