"""pix2pix's U-Net generator: the teacher, and a supernet family with one width choice per level.

Level 1 is the outermost, level N the innermost; ``w_i`` is the output width of encoder level i and the
decoder stage that returns to level i's input resolution has width ``w_{i-1}`` (the output image at
level 1). The decoder mirrors the encoder because pix2pix concatenates the skip with the decoder output,
so each level's up-convolution reads ``2 * w_i`` channels: one width per level keeps every concat square.

    level 1:     conv4x4/2(in -> w1),             [level 2], ReLU, convT4x4/2(2*w1 -> out), Tanh
    level 1<i<N: LReLU, conv4x4/2(w_{i-1} -> w_i), norm, [level i+1], ReLU, convT(2*w_i -> w_{i-1}), norm, [Dropout]
    level N:     LReLU, conv4x4/2(w_{N-1} -> w_N),              ReLU, convT(w_N -> w_{N-1}), norm
    every level but the first returns cat(skip, decoder output).

Each level is a block whose layers, its inner level included, sit in one ``model`` Sequential nested like
pytorch-CycleGAN-and-pix2pix's UnetSkipConnectionBlock, so that code's state_dict keys
(``model.model.1.model.3.model...``) are ours and its checkpoints load by key. Two facts of that code we keep:
its LeakyReLU runs in place on the block input, so the skip carries the *activated* input; and with batch
norm the convs have no bias except the last up-convolution.

Any input size runs: a side that is odd at some level (or below 4 above the innermost level, whose
outputs are normalised and a 1x1 map would normalise to zero) is padded by replication before that level's
stride-2 conv and the up-sampled result is cropped back. Sides divisible by 2**N never pad, so they run
exactly as pix2pix's.
"""
from __future__ import annotations

import functools
from typing import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from ..arch import Arch
from ..errors import GanasError
from ..nn import DynamicConv2d, DynamicConvTranspose2d, DynamicInstanceNorm2d
from .mobile_resnet import slice_state_dict
from .norm import conv_bias, make_norm

# Supernet families: ``unet_S`` has log2(S) levels, the depth that brings an SxS image to 1x1 (pix2pix's
# netG names); any input size runs on any of them.
DEPTHS = {f"unet_{2 ** n}": n for n in (5, 6, 7, 8)}


def layer_names(levels: int) -> tuple[str, ...]:
    return tuple(f"down{i}" for i in range(1, levels + 1))


def teacher_widths(ngf: int, num_downs: int) -> list[int]:
    """pix2pix's widths: ngf, 2ngf, 4ngf, then 8ngf down to the bottleneck."""
    return [ngf * min(2**i, 8) for i in range(num_downs)]


def padded_side(side: int, level: int, levels: int) -> int:
    """The side a level's stride-2 conv sees (see the module docstring)."""
    least = 4 if level < levels else 2  # every output above the bottleneck is normalised somewhere
    return max(side + side % 2, least)


def _skip_rows(weight: torch.Tensor, n_in: int) -> torch.Tensor:
    """Input rows of an up-convolution over cat(skip, up) at ``n_in`` channels: each half keeps its first
    channels, i.e. rows [0, n/2) and [H, H + n/2) of the largest weight with H its half-width."""
    half = weight.shape[0] // 2
    if n_in == weight.shape[0]:
        return weight
    return torch.cat([weight[: n_in // 2], weight[half: half + n_in // 2]])


class DynamicSkipConvTranspose2d(DynamicConvTranspose2d):
    """A transposed conv reading cat(skip, up), both halves sliced to the same active width."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = _skip_rows(self.weight, x.shape[1])[:, : self.active_out]
        b = self.bias[: self.active_out] if self.bias is not None else None
        return F.conv_transpose2d(x, w, b, self.stride, self.padding, self.output_padding)


class UnetBlock(nn.Module):
    """One level. ``model`` holds pix2pix's layer order; forward adds the padding, cropping and skip."""

    def __init__(self, layers: list[nn.Module], level: int, levels: int):
        super().__init__()
        self.model = nn.Sequential(*layers)
        self.level, self.levels = level, levels
        self.outermost, self.innermost = level == 1, level == levels

    def forward(self, x: torch.Tensor, feats: list | None = None) -> torch.Tensor:
        m = self.model
        h, w = x.shape[-2:]
        # pix2pix's LeakyReLU is in place, so its skip is the activated input: compute it once, use it twice.
        skip = x if self.outermost else m[0](x)
        ph, pw = padded_side(h, self.level, self.levels), padded_side(w, self.level, self.levels)
        y = F.pad(skip, (0, pw - w, 0, ph - h), mode="replicate") if (ph, pw) != (h, w) else skip
        if self.outermost:
            y, up = m[1](m[0](y), feats), 2
        elif self.innermost:
            y, up = m[1](y), 2
            if feats is not None:
                feats.append(y)  # the bottleneck
        else:
            y, up = m[3](m[2](m[1](y)), feats), 4
        y = m[up + 1](m[up](y))  # ReLU, up-convolution
        if (ph, pw) != (h, w):
            y = y[..., :h, :w]
        for i in range(up + 2, len(m)):
            y = m[i](y)
        if self.outermost:
            return y
        if feats is not None:
            feats.append(y)
        return torch.cat([skip, y], 1)


def _build(widths: list[int], input_nc: int, output_nc: int, norm: str, dropout_levels, dynamic: bool) -> UnetBlock:
    """The outermost block, built from the innermost outwards like pix2pix does."""
    n = len(widths)
    if n < 2:
        raise GanasError(f"a U-Net needs at least 2 levels, got {n}: add levels")
    bias = conv_bias(norm)
    conv = DynamicConv2d if dynamic else nn.Conv2d

    def norm_layer(c):
        return DynamicInstanceNorm2d() if dynamic else make_norm(norm, c)

    def upconv(cin, cout, skip, b):
        cls = (DynamicSkipConvTranspose2d if skip else DynamicConvTranspose2d) if dynamic else nn.ConvTranspose2d
        return cls(cin, cout, 4, stride=2, padding=1, bias=b)

    block = None
    for level in range(n, 0, -1):
        inner = widths[level - 1]
        outer = output_nc if level == 1 else widths[level - 2]
        cin = input_nc if level == 1 else outer
        down = conv(cin, inner, 4, stride=2, padding=1, bias=bias)
        if level == 1:
            layers = [down, block, nn.ReLU(True), upconv(2 * inner, outer, True, True), nn.Tanh()]
        elif level == n:
            # Not in place: the bottleneck it reads is also a distilled feature.
            layers = [nn.LeakyReLU(0.2), down, nn.ReLU(), upconv(inner, outer, False, bias), norm_layer(outer)]
        else:
            layers = [nn.LeakyReLU(0.2), down, norm_layer(inner), block, nn.ReLU(True),
                      upconv(2 * inner, outer, True, bias), norm_layer(outer)]
            if level in dropout_levels:
                layers.append(nn.Dropout(0.5))
        block = UnetBlock(layers, level, n)
    return block


class _Unet(nn.Module):
    widths: list[int]

    def forward(self, x: torch.Tensor, with_features: bool = False):
        """With ``with_features``: also the distilled features, deepest first: the bottleneck (the innermost
        conv's output, width w_N), then each decoder stage's output before its concat (widths w_{N-1}..w_1)."""
        feats = [] if with_features else None
        out = self.model(x, feats)
        return (out, feats) if with_features else out

    @property
    def levels(self) -> int:
        return len(self.widths)

    @property
    def feature_widths(self) -> list[int]:
        """Widths of the distilled features; on a supernet the largest ones (what adapters are built for)."""
        return self.widths[::-1]


class UnetGenerator(_Unet):
    """pix2pix's ``UnetGenerator(input_nc, output_nc, num_downs, ngf, norm, use_dropout)``: unet_256 has
    num_downs 8, unet_128 has 7. Dropout sits where pix2pix puts it: the 8ngf levels between level 5 and
    the innermost."""

    def __init__(self, input_nc: int = 3, output_nc: int = 3, num_downs: int = 8, ngf: int = 64,
                 norm: str = "instance", dropout: bool = False):
        super().__init__()
        self.config = dict(input_nc=input_nc, output_nc=output_nc, num_downs=num_downs, ngf=ngf, norm=norm,
                           dropout=dropout)
        self.widths = teacher_widths(ngf, num_downs)
        drop = range(5, num_downs) if dropout else ()
        self.model = _build(self.widths, input_nc, output_nc, norm, drop, dynamic=False)


class SlimUnetGenerator(_Unet):
    """The U-Net supernet (``dynamic=True``) and its static subnets: layer ``down{i}`` is level i's width
    (encoder output, and the decoder stage at the resolution above it). No dropout, and instance norm:
    BatchNorm's running statistics, shared by every subnet, would fit none of them."""

    def __init__(self, widths: Mapping[str, int], input_nc: int = 3, output_nc: int = 3, dynamic: bool = False,
                 levels: int | None = None):
        super().__init__()
        if levels is None:
            levels = sum(1 for i in range(1, len(widths) + 1) if f"down{i}" in widths)
        names = layer_names(levels)
        missing = [k for k in names if k not in widths]
        if missing or levels < 2:
            raise ValueError(f"U-Net widths lack {missing or 'levels'}: give {', '.join(names)}")
        w = {k: int(widths[k]) for k in names}
        self.layers, self.dynamic = names, dynamic
        self.config = dict(widths=w, input_nc=input_nc, output_nc=output_nc)
        self.widths = list(w.values())
        self.model = _build(self.widths, input_nc, output_nc, "instance", (), dynamic)
        self._active = Arch(w)

    # -- supernet side -------------------------------------------------------------------------
    @property
    def max_widths(self) -> dict[str, int]:
        return dict(self.config["widths"])

    @property
    def arch(self) -> Arch:
        return self._active

    def set_arch(self, arch: Mapping[str, int]) -> None:
        """Make the supernet run as ``arch``: every layer keeps its first ``arch[name]`` channels."""
        if not self.dynamic:
            raise RuntimeError("set_arch needs the supernet (dynamic=True)")
        for k in self.layers:
            if not 0 < arch[k] <= self.config["widths"][k]:
                raise ValueError(f"{k}={arch[k]} outside 1..{self.config['widths'][k]}")
        block, level = self.model, 1
        while block is not None:
            m = block.model
            m[0 if block.outermost else 1].active_out = arch[f"down{level}"]
            up = m[3] if block.outermost or block.innermost else m[5]
            if not block.outermost:
                up.active_out = arch[f"down{level - 1}"]
            block = None if block.innermost else (m[1] if block.outermost else m[3])
            level += 1
        self._active = Arch({k: arch[k] for k in self.layers})

    def extract(self, arch: Mapping[str, int] | None = None) -> "SlimUnetGenerator":
        """A plain static network equal to the supernet running ``arch`` (default: the active one)."""
        arch = Arch({k: (arch or self._active)[k] for k in self.layers})
        sub = SlimUnetGenerator(arch, self.config["input_nc"], self.config["output_nc"], dynamic=False)
        big, small = self.state_dict(), sub.state_dict()
        state = slice_state_dict(big, small)
        for name, m in self.named_modules():
            if isinstance(m, DynamicSkipConvTranspose2d):
                k = f"{name}.weight"
                state[k] = _skip_rows(big[k], small[k].shape[0])[:, : small[k].shape[1]].clone()
        sub.load_state_dict(state)
        return sub


def supernet_constructor(levels: int):
    return functools.partial(SlimUnetGenerator, levels=levels)


def _count(widths: list[int], height: int, width: int, input_nc: int, output_nc: int, norm: str) -> dict[str, int]:
    n = len(widths)
    affine, bias = norm == "batch", conv_bias(norm)
    macs = true = params = 0
    sizes = []  # per level: input side and padded side, for the way back up
    h, w, c = height, width, input_nc
    for level in range(1, n + 1):
        inner = widths[level - 1]
        if level > 1:
            macs += h * w * c  # LeakyReLU: torchprofile counts one MAC per element
        ph, pw = padded_side(h, level, n), padded_side(w, level, n)
        sizes.append((h, w, ph, pw))
        h, w = ph // 2, pw // 2
        macs += h * w * inner * c * 16
        true += h * w * inner * c * 16
        params += c * inner * 16 + (inner if bias else 0)
        if 1 < level < n and affine:
            macs += h * w * inner
            params += 2 * inner
        c = inner
    for level in range(n, 0, -1):
        h, w, ph, pw = sizes[level - 1]
        cin = widths[level - 1] * (1 if level == n else 2)
        cout = output_nc if level == 1 else widths[level - 2]
        macs += ph * pw * cout * cin * 16  # torchprofile: output elements x in x kernel area (4x the real work)
        true += (ph // 2) * (pw // 2) * cin * cout * 16
        params += cin * cout * 16 + (cout if bias or level == 1 else 0)
        if level > 1 and affine:
            macs += h * w * cout
            params += 2 * cout
    return {"macs": macs, "macs_true": true, "params": params}


def count_cost(widths: Mapping[str, int], height: int, width: int, input_nc: int = 3,
               output_nc: int = 3) -> dict[str, int]:
    """Analytic MACs and parameters of a SlimUnetGenerator, in torchprofile's convention (see
    mobile_resnet.count_cost); the depth is the number of ``down{i}`` widths."""
    levels = sum(1 for i in range(1, len(widths) + 1) if f"down{i}" in widths)
    return _count([int(widths[k]) for k in layer_names(levels)], height, width, input_nc, output_nc, "instance")


def count_teacher_cost(ngf: int, num_downs: int, height: int, width: int, input_nc: int = 3, output_nc: int = 3,
                       norm: str = "instance", dropout: bool = False) -> dict[str, int]:
    """Analytic cost of UnetGenerator (dropout costs nothing; accepted so its config passes straight in).
    Our LeakyReLU counts one MAC per element; torchprofile skips pix2pix's in-place one, a <0.1% difference."""
    return _count(teacher_widths(ngf, num_downs), height, width, input_nc, output_nc, norm)
