from __future__ import annotations

from torch import nn

from ..errors import GanasError

NORMS = ("instance", "batch")


def make_norm(kind: str, channels: int) -> nn.Module:
    """pix2pix's conventions: InstanceNorm without affine or running stats; BatchNorm with both."""
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    raise GanasError(f"unknown norm {kind!r}: use one of {', '.join(NORMS)}")


def conv_bias(kind: str) -> bool:
    # A conv before BatchNorm needs no bias (the norm's shift replaces it); pix2pix does the same.
    return kind != "batch"
