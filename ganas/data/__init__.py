"""Datasets as paired image tensors with train / search / test splits, behind a registry (``DATASETS``)."""
from .edges import canny
from .idx import DEFAULT_PATH, load_fashion_mnist, read_idx
from .pairs import CLASS_NAMES, DATASETS, ImagePairs, Splits, fashion_mnist_edges2shoes, load_data, pad_and_scale

__all__ = ["CLASS_NAMES", "DATASETS", "DEFAULT_PATH", "ImagePairs", "Splits", "canny", "fashion_mnist_edges2shoes",
           "load_data", "load_fashion_mnist", "pad_and_scale", "read_idx"]
