"""Arch: the one value passed between supernet, cost model, search, report and export."""
from __future__ import annotations

from typing import Iterator, Mapping


class Arch(Mapping[str, int]):
    """An immutable, hashable mapping from layer name to channel width.

    Layer names belong to the generator family (see its ``LAYERS``); order of insertion is kept so
    that ``str(arch)`` reads like GAN Compression's ``16_16_32_...`` configs.
    """

    __slots__ = ("_items",)

    def __init__(self, widths: Mapping[str, int]):
        items = tuple((str(k), int(v)) for k, v in widths.items())
        for k, v in items:
            if v <= 0:
                raise ValueError(f"width of {k} must be positive, got {v}")
        object.__setattr__(self, "_items", items)

    def __setattr__(self, *_):
        raise AttributeError("Arch is immutable")

    def __reduce__(self):
        # pickle and copy.deepcopy would restore the slot with setattr, which immutability refuses.
        return Arch, (dict(self._items),)

    def __getitem__(self, key: str) -> int:
        for k, v in self._items:
            if k == key:
                return v
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return (k for k, _ in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(tuple(sorted(self._items)))

    def __eq__(self, other) -> bool:
        return isinstance(other, Mapping) and dict(self) == dict(other)

    def __repr__(self) -> str:
        return f"Arch({dict(self._items)})"

    def __str__(self) -> str:
        return "_".join(str(v) for _, v in self._items)

    def to_dict(self) -> dict[str, int]:
        return dict(self._items)
