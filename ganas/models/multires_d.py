"""The discriminator of unconditional families: multi-resolution, optionally conditioned on the generator's
architecture (Anycost GAN).

An image of side r enters through its own 1x1 fromRGB and runs the residual blocks from r down to 4x4, so one
discriminator judges every exit of a multi-resolution generator. With ``code_len`` > 0, the last
``n_modulated`` blocks are modulated by an architecture code (the sampled subnet as one one-hot vector per
layer): two linear layers map the code to a per-channel scale (1 + ...) and bias for each conv's output, so the
discriminator can hold a small subnet to a standard fit for its capacity. Called without a code it is a plain
discriminator (the full network's training uses it that way, with the same weights).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class ArchModulation(nn.Module):
    """code [L] or [B, L] -> per-channel scale and bias on x [B, C, H, W]."""

    def __init__(self, channels: int, code_len: int):
        super().__init__()
        self.scale = nn.Linear(code_len, channels)
        self.bias = nn.Linear(code_len, channels)

    def forward(self, x: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        code = code.to(x.dtype).reshape(-1, code.shape[-1])
        scale = 1 + self.scale(code)  # 1 +: a code of zeros leaves the features as they are
        return x * scale[:, :, None, None] + self.bias(code)[:, :, None, None]


class DBlock(nn.Module):
    """Two 3x3 convs and a 2x average-pool, with a pooled 1x1 skip (StyleGAN2's residual D block)."""

    def __init__(self, cin: int, cout: int, code_len: int = 0):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cin, 3, padding=1)
        self.conv2 = nn.Conv2d(cin, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1, bias=False)
        self.mod1 = ArchModulation(cin, code_len) if code_len else None
        self.mod2 = ArchModulation(cout, code_len) if code_len else None

    def forward(self, x: torch.Tensor, code: torch.Tensor | None = None) -> torch.Tensor:
        h = self.conv1(x)
        if self.mod1 is not None and code is not None:
            h = self.mod1(h, code)
        h = self.conv2(F.leaky_relu(h, 0.2))
        if self.mod2 is not None and code is not None:
            h = self.mod2(h, code)
        h = F.avg_pool2d(F.leaky_relu(h, 0.2), 2)
        return (h + self.skip(F.avg_pool2d(x, 2))) / math.sqrt(2)


class MultiResDiscriminator(nn.Module):
    def __init__(self, size: int = 32, input_nc: int = 1, ndf: int = 16, exits: tuple = (32,), code_len: int = 0,
                 n_modulated: int = 2):
        super().__init__()
        self.config = dict(size=size, input_nc=input_nc, ndf=ndf, exits=tuple(exits), code_len=code_len,
                           n_modulated=n_modulated)

        def ch(r):  # ndf at the full size, doubling per halving, at most 4 ndf
            return ndf * min(4, size // r)

        self.from_rgb = nn.ModuleDict({str(r): nn.Conv2d(input_nc, ch(r), 1) for r in exits})
        sides = [size // 2 ** i for i in range(int(math.log2(size)) - 2)]  # size, ..., 8: each block halves it
        self.blocks = nn.ModuleDict()
        for i, r in enumerate(sides):
            modulated = code_len and i >= len(sides) - n_modulated
            self.blocks[str(r)] = DBlock(ch(r), ch(r // 2), code_len if modulated else 0)
        c4 = ch(4)
        self.final_conv = nn.Conv2d(c4 + 1, c4, 3, padding=1)
        self.final = nn.Sequential(nn.Flatten(), nn.Linear(c4 * 16, c4), nn.LeakyReLU(0.2), nn.Linear(c4, 1))

    def forward(self, x: torch.Tensor, code: torch.Tensor | None = None) -> torch.Tensor:
        r = x.shape[-1]
        if str(r) not in self.from_rgb:
            raise ValueError(f"no discriminator entry for {r}x{r} images: it has {list(self.from_rgb)}")
        h = F.leaky_relu(self.from_rgb[str(r)](x), 0.2)
        for side, block in self.blocks.items():
            if int(side) <= r:
                h = block(h, code)
        # minibatch standard deviation: one feature map telling the batch's diversity (against mode collapse)
        std = h.var(dim=0, unbiased=False).add(1e-8).sqrt().mean().expand(h.shape[0], 1, *h.shape[2:])
        h = F.leaky_relu(self.final_conv(torch.cat([h, std], 1)), 0.2)
        return self.final(h)
