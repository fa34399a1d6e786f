"""GAN Compression's mobile ResNet generator, as a static network and as a once-for-all supernet.

The same builder makes both: with ``dynamic=True`` every conv is a dynamic op holding the largest
weight; with ``dynamic=False`` it is a plain ``nn`` network at fixed widths. Both have the same state_dict
keys, so extracting a subnet is slicing each supernet tensor to the static tensor's shape.
"""
from __future__ import annotations

from typing import Mapping

import torch
from torch import nn

from ..arch import Arch
from ..nn import DynamicConv2d, DynamicConvTranspose2d, DynamicDepthwiseConv2d, DynamicInstanceNorm2d
from .resnet import block_group, block_group_ends

# Layer names of the 8-number search config: stem, two downsamples (down2 = trunk width), the inner
# width of each third of the residual blocks, two upsamples.
LAYERS = ("stem", "down1", "down2", "blocks1", "blocks2", "blocks3", "up1", "up2")


def _conv(dynamic, cin, cout, k, stride=1, padding=0, bias=True):
    cls = DynamicConv2d if dynamic else nn.Conv2d
    return cls(cin, cout, k, stride=stride, padding=padding, bias=bias)


def _dwconv(dynamic, c, k):
    return DynamicDepthwiseConv2d(c, k) if dynamic else nn.Conv2d(c, c, k, groups=c)


def _norm(dynamic, c):
    return DynamicInstanceNorm2d() if dynamic else nn.InstanceNorm2d(c)


def _up(dynamic, cin, cout):
    cls = DynamicConvTranspose2d if dynamic else nn.ConvTranspose2d
    return cls(cin, cout, 3, stride=2, padding=1, output_padding=1)


class MobileResnetBlock(nn.Module):
    """Residual block of two depthwise-separable 3x3 convs: trunk width -> inner width -> trunk width."""

    def __init__(self, dim: int, inner: int, dynamic: bool):
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1), _dwconv(dynamic, dim, 3), _norm(dynamic, dim),
            _conv(dynamic, dim, inner, 1), _norm(dynamic, inner), nn.ReLU(True),
            nn.ReflectionPad2d(1), _dwconv(dynamic, inner, 3), _norm(dynamic, inner),
            _conv(dynamic, inner, dim, 1), _norm(dynamic, dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class MobileResnetGenerator(nn.Module):
    """Static when ``dynamic`` is False (what export ships); the supernet when True."""

    family = "mobile_resnet"

    def __init__(self, widths: Mapping[str, int], n_blocks: int = 9, input_nc: int = 3, output_nc: int = 3,
                 dynamic: bool = False):
        super().__init__()
        missing = [k for k in LAYERS if k not in widths]
        if missing:
            raise ValueError(f"mobile_resnet widths lack {missing}")
        w = {k: int(widths[k]) for k in LAYERS}
        self.config = dict(widths=w, n_blocks=n_blocks, input_nc=input_nc, output_nc=output_nc)
        self.dynamic = dynamic
        c = w["down2"]
        layers = [nn.ReflectionPad2d(3), _conv(dynamic, input_nc, w["stem"], 7), _norm(dynamic, w["stem"]),
                  nn.ReLU(True),
                  _conv(dynamic, w["stem"], w["down1"], 3, 2, 1), _norm(dynamic, w["down1"]), nn.ReLU(True),
                  _conv(dynamic, w["down1"], c, 3, 2, 1), _norm(dynamic, c), nn.ReLU(True)]
        self.trunk_start = len(layers)
        layers += [MobileResnetBlock(c, w[f"blocks{block_group(i, n_blocks) + 1}"], dynamic) for i in range(n_blocks)]
        layers += [_up(dynamic, c, w["up1"]), _norm(dynamic, w["up1"]), nn.ReLU(True),
                   _up(dynamic, w["up1"], w["up2"]), _norm(dynamic, w["up2"]), nn.ReLU(True),
                   nn.ReflectionPad2d(3), _conv(dynamic, w["up2"], output_nc, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)
        self.feature_points = [self.trunk_start] + [self.trunk_start + e for e in block_group_ends(n_blocks)]
        self._active = Arch(w)

    # -- supernet side -------------------------------------------------------------------------
    @property
    def max_widths(self) -> dict[str, int]:
        return dict(self.config["widths"])

    @property
    def feature_widths(self) -> list[int]:
        """Widths at the distilled points (for a supernet, the largest ones): all are the trunk."""
        return [self.config["widths"]["down2"]] * len(self.feature_points)

    @property
    def arch(self) -> Arch:
        return self._active

    def set_arch(self, arch: Mapping[str, int]) -> None:
        """Make the supernet run as ``arch``: every layer keeps its first ``arch[name]`` channels."""
        if not self.dynamic:
            raise RuntimeError("set_arch needs the supernet (dynamic=True)")
        for k in LAYERS:
            if not 0 < arch[k] <= self.config["widths"][k]:
                raise ValueError(f"{k}={arch[k]} outside 1..{self.config['widths'][k]}")
        m, n = self.model, self.config["n_blocks"]
        m[1].active_out, m[4].active_out, m[7].active_out = arch["stem"], arch["down1"], arch["down2"]
        for i in range(n):
            block = m[self.trunk_start + i].conv_block
            block[3].active_out = arch[f"blocks{block_group(i, n) + 1}"]
            block[9].active_out = arch["down2"]
        up = self.trunk_start + n
        m[up].active_out, m[up + 3].active_out = arch["up1"], arch["up2"]
        self._active = Arch({k: arch[k] for k in LAYERS})

    def extract(self, arch: Mapping[str, int] | None = None) -> "MobileResnetGenerator":
        """A plain static network equal to the supernet running ``arch`` (default: the active one)."""
        arch = Arch({k: (arch or self._active)[k] for k in LAYERS})
        cfg = self.config
        sub = MobileResnetGenerator(arch, cfg["n_blocks"], cfg["input_nc"], cfg["output_nc"], dynamic=False)
        sub.load_state_dict(slice_state_dict(self.state_dict(), sub.state_dict()))
        return sub

    # -- both ------------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, with_features: bool = False):
        feats = []
        for i, layer in enumerate(self.model):
            if i in self.feature_points:
                feats.append(x)
            x = layer(x)
        return (x, feats) if with_features else x


def slice_state_dict(big: Mapping[str, torch.Tensor], small: Mapping[str, torch.Tensor]) -> dict:
    """Each tensor of ``big`` cut to the leading block of the shape of its twin in ``small``."""
    out = {}
    for k, t in small.items():
        src = big[k]
        out[k] = src[tuple(slice(0, s) for s in t.shape)].clone() if src.dim() else src.clone()
    return out


def count_cost(widths: Mapping[str, int], n_blocks: int, height: int, width: int,
               input_nc: int = 3, output_nc: int = 3) -> dict[str, int]:
    """Analytic MACs and parameters, without building the network (thousands of configs per second).

    ``macs`` follows torchprofile: every conv counts output elements x input channels per group x kernel
    area (so a stride-2 transposed conv counts 4x its real work); non-affine norms count 0.
    ``macs_true`` counts a transposed conv by its real multiplies (input elements x in x out x k x k).
    """
    w = widths
    c = w["down2"]
    macs = true = params = 0

    def conv(cin, cout, k, h, wd, groups=1):
        nonlocal macs, true, params
        m = h * wd * cout * (cin // groups) * k * k
        macs += m
        true += m
        params += cout * (cin // groups) * k * k + cout

    def down(h):
        return (h - 1) // 2 + 1

    h, wd = height, width
    conv(input_nc, w["stem"], 7, h, wd)
    h, wd = down(h), down(wd)
    conv(w["stem"], w["down1"], 3, h, wd)
    h, wd = down(h), down(wd)
    conv(w["down1"], c, 3, h, wd)
    for i in range(n_blocks):
        inner = w[f"blocks{block_group(i, n_blocks) + 1}"]
        conv(c, c, 3, h, wd, groups=c)
        conv(c, inner, 1, h, wd)
        conv(inner, inner, 3, h, wd, groups=inner)
        conv(inner, c, 1, h, wd)
    for cin, cout in ((c, w["up1"]), (w["up1"], w["up2"])):
        macs += (2 * h) * (2 * wd) * cout * cin * 9
        true += h * wd * cin * cout * 9
        params += cin * cout * 9 + cout
        h, wd = 2 * h, 2 * wd
    conv(w["up2"], output_nc, 7, h, wd)
    return {"macs": macs, "macs_true": true, "params": params}
