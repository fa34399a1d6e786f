"""Datasets as paired image tensors with train / search / test splits, behind a registry (``DATASETS``)."""
from .edges import canny
from .folders import AugmentedPairs, aligned_folder, unaligned_folder
from .idx import DEFAULT_PATH, load_fashion_mnist, read_idx
from .pairs import (CLASS_NAMES, DATASETS, ImagePairs, Splits, check_dataset, fashion_mnist_edges2shoes, load_data,
                    pad_and_scale)
from .preprocess import Augment
from .unconditional import LATENT_DIM, LatentImages, fashion_mnist_images, is_unconditional
from .unpaired import UnpairedImages, fashion_mnist_unpaired, is_paired

DATASETS.update(aligned_folder=aligned_folder, unaligned_folder=unaligned_folder,
                fashion_mnist_unpaired=fashion_mnist_unpaired, fashion_mnist_images=fashion_mnist_images)
# Datasets whose input and target images are not pairs: trained as CycleGAN, distilled from the teacher's output.
UNPAIRED = frozenset({"unaligned_folder", "fashion_mnist_unpaired"})
# Datasets of Fashion-MNIST images, which the domain classifier (domain_fid, accuracy_error) can judge.
FASHION_MNIST = frozenset({"fashion_mnist_edges2shoes", "fashion_mnist_unpaired", "fashion_mnist_images"})
# Datasets of images alone (noise -> image): for the unconditional generator families.
UNCONDITIONAL_DATA = frozenset({"fashion_mnist_images"})


def is_unpaired(dataset: str) -> bool:
    return dataset in UNPAIRED


__all__ = ["Augment", "AugmentedPairs", "CLASS_NAMES", "DATASETS", "DEFAULT_PATH", "FASHION_MNIST", "ImagePairs",
           "Splits", "UNCONDITIONAL_DATA", "UNPAIRED", "LATENT_DIM", "LatentImages", "fashion_mnist_images",
           "is_unconditional", "UnpairedImages", "aligned_folder", "canny", "check_dataset",
           "fashion_mnist_edges2shoes", "fashion_mnist_unpaired", "is_paired", "is_unpaired", "load_data", "load_fashion_mnist", "pad_and_scale",
           "read_idx", "unaligned_folder"]
