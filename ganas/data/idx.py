"""Fashion-MNIST from its gzipped IDX files (the format of LeCun's MNIST: a magic number, the dimensions, bytes)."""
from __future__ import annotations

import functools
import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from ..errors import GanasError

DEFAULT_PATH = "/usr/share/datasets/fashion-mnist"  # where Debian's dataset-fashion-mnist puts them
FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
HOW_TO_GET = ("run `apt-get install dataset-fashion-mnist`, or put the four files (train-images-idx3-ubyte.gz, "
              "train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) in a folder "
              "and set data.path to it")
_UBYTE = 0x08  # the only element type Fashion-MNIST uses


def _corrupt(path: Path, why: str) -> GanasError:
    return GanasError(f"{path} is corrupt or truncated ({why}): re-install dataset-fashion-mnist / re-download it")


def read_idx(path: str | Path) -> np.ndarray:
    """An IDX file (gzipped when its name ends in .gz) as a read-only uint8 array of its declared shape."""
    path = Path(path)
    st = path.stat()
    return _read_cached(str(path), st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=4)  # keyed by mtime and size too, so a replaced file is read again
def _read_cached(path: str, mtime_ns: int, size: int) -> np.ndarray:
    path = Path(path)
    try:
        with (gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")) as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError; a cut stream is EOFError
        raise _corrupt(path, f"{type(e).__name__}: {e}") from None
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] != _UBYTE:
        raise _corrupt(path, f"bad magic number {raw[:4].hex() or 'none'}")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise _corrupt(path, "header cut short")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    expected = header + int(np.prod(dims, dtype=np.int64))
    if len(raw) != expected:
        raise _corrupt(path, f"{len(raw)} bytes where dims {list(dims)} need {expected}")
    return np.frombuffer(raw, np.uint8, offset=header).reshape(dims)


def find_folder(path: str | None) -> Path:
    folder = Path(path).expanduser() if path else Path(DEFAULT_PATH)
    if not folder.is_dir():
        where = f"data.path {path!r} is not a folder" if path else f"Fashion-MNIST not found in {DEFAULT_PATH}"
        raise GanasError(f"{where}: {HOW_TO_GET}")
    return folder


def _file(folder: Path, stem: str) -> Path:
    for name in (stem + ".gz", stem):  # torchvision's raw folder keeps both; either will do
        if (folder / name).is_file():
            return folder / name
    raise GanasError(f"{folder / (stem + '.gz')} not found: {HOW_TO_GET}")


def load_fashion_mnist(path: str | None, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 [N, 28, 28], labels int64 [N]) of split 'train' (60k) or 'test' (10k); arrays are read-only."""
    if split not in FILES:
        raise GanasError(f"unknown Fashion-MNIST split {split!r}: choose one of {', '.join(FILES)}")
    folder = find_folder(path)
    image_file, label_file = (_file(folder, stem) for stem in FILES[split])
    images, labels = read_idx(image_file), read_idx(label_file)
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise _corrupt(image_file, f"shape {list(images.shape)}, not [N, 28, 28]")
    if labels.ndim != 1 or len(labels) != len(images):
        raise _corrupt(label_file, f"shape {list(labels.shape)}, not [{len(images)}] like its images")
    if len(labels) and labels.max() > 9:
        raise _corrupt(label_file, f"label {labels.max()} outside 0-9")
    out = labels.astype(np.int64)
    out.flags.writeable = False
    return images, out


__all__ = ["DEFAULT_PATH", "HOW_TO_GET", "find_folder", "load_fashion_mnist", "read_idx"]
