"""Generator families behind a registry: ``create(kind, family, **config)`` lists valid names on error."""
from __future__ import annotations

import functools
from typing import Callable

from torch import nn

from ..errors import GanasError
from . import mobile_resnet, resnet, stylegan, unet
from .discriminator import NLayerDiscriminator
from .multires_d import MultiResDiscriminator
from .pix2pix_import import import_teacher

# family -> (constructor, analytic cost function). Teachers are plain generators; supernets are the
# dynamic twin of a static family and take ``dynamic=True``.
TEACHERS: dict[str, tuple[Callable[..., nn.Module], Callable[..., dict]]] = {
    "resnet": (resnet.ResnetGenerator, resnet.count_cost),
    "unet": (unet.UnetGenerator, unet.count_teacher_cost),
}
# Unconditional families (noise -> image) with a resolution exit per side; their teacher is their own full
# network (the same family at the search space's largest widths), so they are teachers too.
_STYLEGAN = {f"stylegan_{s}": (stylegan.constructor(s), functools.partial(stylegan.count_cost, size=s))
             for s in stylegan.SIZES}
TEACHERS.update(_STYLEGAN)
UNCONDITIONAL = frozenset(_STYLEGAN)
EXITS = {f"stylegan_{s}": stylegan.exits(s) for s in stylegan.SIZES}  # family -> output sides it can stop at
SUPERNETS: dict[str, tuple[Callable[..., nn.Module], Callable[..., dict]]] = {
    "mobile_resnet": (mobile_resnet.MobileResnetGenerator, mobile_resnet.count_cost),
    **{name: (unet.supernet_constructor(n), unet.count_cost) for name, n in unet.DEPTHS.items()},
    **_STYLEGAN,
}
LAYERS = {"mobile_resnet": mobile_resnet.LAYERS, **{name: unet.layer_names(n) for name, n in unet.DEPTHS.items()},
          **{f"stylegan_{s}": stylegan.layer_names(s) for s in stylegan.SIZES}}


def _lookup(table: dict, kind: str, family: str):
    if family not in table:
        raise GanasError(f"unknown {kind} family {family!r}: choose one of {', '.join(sorted(table))}")
    return table[family]


def create_teacher(family: str, **config) -> nn.Module:
    return _lookup(TEACHERS, "teacher", family)[0](**config)


def create_supernet(family: str, **config) -> nn.Module:
    return _lookup(SUPERNETS, "supernet", family)[0](dynamic=True, **config)


def create_subnet(family: str, **config) -> nn.Module:
    """The static network of a family: what an exported subnet is rebuilt with."""
    return _lookup(SUPERNETS, "supernet", family)[0](dynamic=False, **config)


def teacher_cost(family: str, **kwargs) -> dict:
    return _lookup(TEACHERS, "teacher", family)[1](**kwargs)


def subnet_cost(family: str, **kwargs) -> dict:
    return _lookup(SUPERNETS, "supernet", family)[1](**kwargs)


__all__ = ["TEACHERS", "SUPERNETS", "LAYERS", "UNCONDITIONAL", "EXITS", "NLayerDiscriminator", "MultiResDiscriminator",
           "create_teacher", "create_supernet", "create_subnet", "teacher_cost", "subnet_cost", "import_teacher"]
