"""The pix2pix / CycleGAN ResNet generator (the usual teacher).

Modules sit in one ``model`` Sequential in the same order as pytorch-CycleGAN-and-pix2pix builds them,
so that code's checkpoints load by key, dropout's key shift included.
"""
from __future__ import annotations

import torch
from torch import nn

from .norm import conv_bias, make_norm


class ResnetBlock(nn.Module):
    def __init__(self, dim: int, norm: str, dropout: bool):
        super().__init__()
        bias = conv_bias(norm)
        layers = [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), make_norm(norm, dim), nn.ReLU(True)]
        if dropout:
            layers.append(nn.Dropout(0.5))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), make_norm(norm, dim)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    def __init__(self, input_nc: int = 3, output_nc: int = 3, ngf: int = 64, n_blocks: int = 9,
                 norm: str = "instance", dropout: bool = False):
        super().__init__()
        self.config = dict(input_nc=input_nc, output_nc=output_nc, ngf=ngf, n_blocks=n_blocks, norm=norm,
                           dropout=dropout)
        bias = conv_bias(norm)
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, 7, bias=bias), make_norm(norm, ngf), nn.ReLU(True)]
        for i in range(2):
            c = ngf * 2**i
            layers += [nn.Conv2d(c, 2 * c, 3, stride=2, padding=1, bias=bias), make_norm(norm, 2 * c), nn.ReLU(True)]
        self.trunk_start = len(layers)
        layers += [ResnetBlock(4 * ngf, norm, dropout) for _ in range(n_blocks)]
        for i in range(2):
            c = ngf * 4 // 2**i
            layers += [nn.ConvTranspose2d(c, c // 2, 3, stride=2, padding=1, output_padding=1, bias=bias),
                       make_norm(norm, c // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)
        # Distilled points: the trunk input, then the end of each third of the residual blocks.
        self.feature_points = [self.trunk_start] + [self.trunk_start + e for e in block_group_ends(n_blocks)]

    def forward(self, x: torch.Tensor, with_features: bool = False):
        feats = []
        for i, layer in enumerate(self.model):
            if i in self.feature_points:
                feats.append(x)
            x = layer(x)
        return (x, feats) if with_features else x

    @property
    def feature_widths(self) -> list[int]:
        return [4 * self.config["ngf"]] * len(self.feature_points)


def block_group(i: int, n_blocks: int) -> int:
    """Which third (0, 1, 2) residual block ``i`` belongs to; works for any block count >= 1."""
    return min(2, i * 3 // n_blocks)


def block_group_ends(n_blocks: int) -> list[int]:
    """Index just after the last block of each non-empty third (GAN Compression: blocks 3, 6, 9)."""
    ends = {}
    for i in range(n_blocks):
        ends[block_group(i, n_blocks)] = i + 1
    return [ends[g] for g in sorted(ends)]


def count_cost(ngf: int, n_blocks: int, height: int, width: int, input_nc: int = 3, output_nc: int = 3,
               norm: str = "instance") -> dict[str, int]:
    """Analytic MACs of the teacher, in torchprofile's convention (see mobile_resnet.count_cost)."""
    macs = true = params = 0
    affine = norm == "batch"  # torchprofile counts an affine norm as one MAC per output element

    def conv(cin, cout, k, h, w, transposed=False, bias=True):
        nonlocal macs, true, params
        oh, ow = (2 * h, 2 * w) if transposed else (h, w)
        macs += oh * ow * cout * cin * k * k + (oh * ow * cout if affine else 0)
        true += h * w * cin * cout * k * k
        params += cin * cout * k * k + (cout if bias else 2 * cout)

    b = norm != "batch"
    h, w = height, width
    conv(input_nc, ngf, 7, h, w, bias=b)
    for i in range(2):
        h, w = (h - 1) // 2 + 1, (w - 1) // 2 + 1
        conv(ngf * 2**i, ngf * 2 ** (i + 1), 3, h, w, bias=b)
    for _ in range(2 * n_blocks):
        conv(4 * ngf, 4 * ngf, 3, h, w, bias=b)
    for i in range(2):
        conv(ngf * 4 // 2**i, ngf * 2 // 2**i, 3, h, w, transposed=True, bias=b)
        h, w = 2 * h, 2 * w
    affine = False
    conv(ngf, output_nc, 7, h, w)
    return {"macs": macs, "macs_true": true, "params": params}
