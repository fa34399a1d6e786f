"""A small StyleGAN2-style unconditional generator (noise -> image), as a static network and as a supernet.

    z -> pixel norm -> mapping MLP -> w
    const 4x4 -> modconv3x3 (layer r4) -> toRGB_4 ----------------------------------> rgb_4
    for each side r = 8, 16, ..., size:
        bilinear x2 -> modconv3x3 (layer r{r}_up) -> modconv3x3 (layer r{r}) -> toRGB_r
        rgb_r = bilinear x2 (rgb_{r/2}) + toRGB_r(x)                          -> rgb_r   (a resolution exit)

Modulated convs (StyleGAN2): a per-input-channel style from w scales the input, and the output is demodulated
by the norm of the modulated kernel; toRGB modulates without demodulating. The modulation is applied to the
activations rather than folded into per-sample kernels: the same result, but a plain convolution, which is
fast on CPUs and counted like any conv. No per-pixel noise inputs: they would make an image a random function
of z (a subnet could not equal its supernet slice), and at these sizes they add little.

Every toRGB is an exit (Anycost GAN's multi-resolution outputs): a network whose ``resolution`` is below its
``size`` stops after that exit, so a low-resolution preview costs only what runs. ``Arch`` values of this
family hold one width per layer and, optionally, ``resolution``.

``dynamic=True`` builds the supernet: every conv owns its largest weight and runs at the first
``active_out`` output channels, reading its input width from the tensor. The static network at any widths and
exit has the same state_dict keys (a subset, below the exit), so extraction is slicing.
"""
from __future__ import annotations

import functools
import math
from typing import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from ..arch import Arch
from .mobile_resnet import slice_state_dict

SIZES = (32, 64)          # registered families: stylegan_32, stylegan_64
Z_DIM = 64                # the latent size (the unconditional datasets draw their fixed latents at this size)


def exits(size: int) -> tuple[int, ...]:
    """Sides with a toRGB exit: 4, 8, ..., size."""
    return tuple(2 ** i for i in range(2, int(math.log2(size)) + 1))


def layer_names(size: int) -> tuple[str, ...]:
    names = ["const", "r4"]
    for r in exits(size)[1:]:
        names += [f"r{r}_up", f"r{r}"]
    return tuple(names)


def _side(layer: str) -> int:
    return 4 if layer == "const" else int(layer.split("_")[0][1:])


class ModConv(nn.Module):
    """Modulated conv at fixed widths. ``demodulate=False`` is StyleGAN2's toRGB."""

    def __init__(self, cin: int, cout: int, kernel: int, w_dim: int, demodulate: bool = True):
        super().__init__()
        self.affine = nn.Linear(w_dim, cin)
        nn.init.ones_(self.affine.bias)  # styles start at 1: the conv starts as a plain conv
        # std 1/sqrt(fan_in) in the weight itself: a run-time scale would be one more op on every call
        self.weight = nn.Parameter(torch.randn(cout, cin, kernel, kernel) / math.sqrt(cin * kernel * kernel))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.demodulate, self.padding = demodulate, kernel // 2

    def _params(self, cin: int):
        return self.weight, self.affine.weight, self.affine.bias, self.bias

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        weight, aw, ab, bias = self._params(x.shape[1])
        s = F.linear(w, aw, ab)                                       # [B, cin]
        x = F.conv2d(x * s[:, :, None, None], weight, None, padding=self.padding)
        if self.demodulate:
            # 1 / ||W_o * s|| over (in, kernel), for all outputs at once: (s^2) @ sum_k(W^2)^T
            d = torch.rsqrt(F.linear(s.pow(2), weight.pow(2).sum(dim=(2, 3))) + 1e-8)
            x = x * d[:, :, None, None]
        return x + bias[None, :, None, None]


class DynamicModConv(ModConv):
    """The supernet's modulated conv: input width from the tensor, output width ``active_out``."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.active_out = self.weight.shape[0]

    def _params(self, cin: int):
        o = self.active_out
        return self.weight[:o, :cin], self.affine.weight[:cin], self.affine.bias[:cin], self.bias[:o]


def _up(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


class StyleGenerator(nn.Module):
    """``widths``: layer -> width (``layer_names(size)``), optionally with ``resolution`` (the exit; default
    ``size``). Static when ``dynamic`` is False (what export ships); the supernet when True."""

    family_prefix = "stylegan"
    unconditional = True

    def __init__(self, widths: Mapping[str, int], size: int = 32, resolution: int | None = None,
                 z_dim: int = Z_DIM, n_mlp: int = 2, output_nc: int = 1, dynamic: bool = False):
        super().__init__()
        names = layer_names(size)
        missing = [k for k in names if k not in widths]
        if missing:
            raise ValueError(f"stylegan_{size} widths lack {missing}")
        resolution = int(resolution or widths.get("resolution", size))
        if resolution not in exits(size):
            raise ValueError(f"resolution {resolution} is not an exit of stylegan_{size}: choose from {exits(size)}")
        w = {k: int(widths[k]) for k in names}
        self.size, self.dynamic, self.layers = size, dynamic, names
        self.config = dict(widths=w, resolution=resolution, z_dim=z_dim, n_mlp=n_mlp, output_nc=output_nc)
        self.built = tuple(k for k in names if _side(k) <= resolution)   # the static net stops at its exit
        conv = DynamicModConv if dynamic else ModConv
        mlp = []
        for _ in range(n_mlp):
            mlp += [nn.Linear(z_dim, z_dim), nn.LeakyReLU(0.2)]
        self.mapping = nn.Sequential(*mlp)
        self.const = nn.Parameter(torch.randn(1, w["const"], 4, 4))
        self.convs = nn.ModuleDict()
        self.to_rgbs = nn.ModuleDict()
        prev = w["const"]
        for k in self.built[1:]:
            self.convs[k] = conv(prev, w[k], 3, z_dim)
            prev = w[k]
            if not k.endswith("_up"):
                self.to_rgbs[k] = conv(prev, output_nc, 1, z_dim, demodulate=False)
        self._active = self._arch(w, resolution)

    @staticmethod
    def _arch(widths: Mapping[str, int], resolution: int) -> Arch:
        return Arch({**{k: v for k, v in widths.items() if k != "resolution"}, "resolution": resolution})

    @property
    def z_dim(self) -> int:
        return self.config["z_dim"]

    @property
    def resolution(self) -> int:
        """The active exit."""
        return self._active["resolution"]

    @property
    def exits(self) -> tuple[int, ...]:
        return tuple(r for r in exits(self.size) if r <= self.config["resolution"])

    # -- both ------------------------------------------------------------------------------------
    def style(self, z: torch.Tensor) -> torch.Tensor:
        z = z * torch.rsqrt(z.pow(2).mean(dim=1, keepdim=True) + 1e-8)  # pixel norm
        return self.mapping(z)

    def forward(self, z: torch.Tensor, all_exits: bool = False):
        """The image at the active exit; with ``all_exits``, the list of every exit's image up to it."""
        w = self.style(z)
        c = self._active["const"] if self.dynamic else self.const.shape[1]
        x = self.const[:, :c].expand(z.shape[0], -1, -1, -1)
        rgb, out = None, []
        for k in self.built[1:]:
            if _side(k) > self.resolution:
                break
            if k.endswith("_up"):
                x = _up(x)
            x = F.leaky_relu(self.convs[k](x, w), 0.2)
            if k in self.to_rgbs:
                y = self.to_rgbs[k](x, w)
                rgb = y if rgb is None else _up(rgb) + y
                out.append(rgb)
        return out if all_exits else rgb

    # -- supernet side -------------------------------------------------------------------------
    @property
    def max_widths(self) -> dict[str, int]:
        return dict(self.config["widths"])

    @property
    def arch(self) -> Arch:
        return self._active

    def set_arch(self, arch: Mapping[str, int]) -> None:
        """Run as ``arch``: every layer keeps its first ``arch[name]`` channels; ``arch['resolution']`` (default
        the largest) is the exit where the forward pass stops."""
        if not self.dynamic:
            raise RuntimeError("set_arch needs the supernet (dynamic=True)")
        for k in self.layers:
            if not 0 < arch[k] <= self.config["widths"][k]:
                raise ValueError(f"{k}={arch[k]} outside 1..{self.config['widths'][k]}")
        res = int(arch.get("resolution", self.config["resolution"]))
        if res not in self.exits:
            raise ValueError(f"resolution {res} is not an exit of this supernet: choose from {self.exits}")
        for k, m in self.convs.items():
            m.active_out = arch[k]
        self._active = self._arch({k: arch[k] for k in self.layers}, res)

    def extract(self, arch: Mapping[str, int] | None = None) -> "StyleGenerator":
        """A plain static network equal to the supernet running ``arch`` (default: the active one), built only
        up to its exit."""
        arch = arch or self._active
        cfg = self.config
        sub = StyleGenerator({k: arch[k] for k in self.layers}, self.size,
                             int(arch.get("resolution", cfg["resolution"])), cfg["z_dim"], cfg["n_mlp"],
                             cfg["output_nc"], dynamic=False)
        sub.load_state_dict(slice_state_dict(self.state_dict(), sub.state_dict()))
        return sub

    @torch.no_grad()
    def sort_channels(self, n_latents: int = 4096, generator: torch.Generator | None = None) -> None:
        """Reorder every layer's channels by importance, most important first (Anycost GAN), so that the
        first-k slices every subnet takes keep what matters most. The function of the full network is unchanged.

        A channel's importance is the L1 norm of the kernels that read it in the next layers (the next conv
        and, where there is one, the toRGB), each input column weighted by its mean style magnitude |s| over
        ``n_latents`` random latents, since the style scales that column in the modulated kernel.
        """
        w = self.style(torch.randn(n_latents, self.z_dim, generator=generator).to(self.const.device))
        readers = {}     # layer -> modules that read its output channels
        order = list(self.built)
        for i, k in enumerate(order[:-1]):
            readers[k] = [self.convs[order[i + 1]]]
        for k in self.to_rgbs:
            readers.setdefault(k, []).append(self.to_rgbs[k])
        for k in order:
            if k not in readers:
                continue
            importance = sum((m.weight.abs().sum(dim=(0, 2, 3)) * F.linear(w, m.affine.weight, m.affine.bias)
                              .abs().mean(0)) for m in readers[k])
            perm = torch.argsort(importance, descending=True)
            if k == "const":
                self.const.copy_(self.const[:, perm])
            else:
                producer = self.convs[k]
                producer.weight.copy_(producer.weight[perm])
                producer.bias.copy_(producer.bias[perm])
            for m in readers[k]:
                m.weight.copy_(m.weight[:, perm])
                m.affine.weight.copy_(m.affine.weight[perm])
                m.affine.bias.copy_(m.affine.bias[perm])


def constructor(size: int):
    return functools.partial(StyleGenerator, size=size)


def count_cost(widths: Mapping[str, int], size: int = 32, resolution: int | None = None, z_dim: int = Z_DIM,
               n_mlp: int = 2, output_nc: int = 1, **_ignored) -> dict[str, int]:
    """Analytic MACs and parameters of a StyleGenerator running up to ``resolution`` (default
    ``widths['resolution']``, else ``size``), in torchprofile's convention: linear layers and convs count their
    multiplies, every elementwise multiply and LeakyReLU one per output element, a bilinear x2 four per output
    element, sums and square roots nothing. Height and width of other families' cost functions are accepted and
    ignored: the output side is fixed by the network. ``macs_true`` equals ``macs`` (no transposed convs)."""
    names = layer_names(size)
    res = int(resolution or widths.get("resolution", size))
    macs = params = 0
    # mapping: pixel norm (one mean per image, one multiply per element), then n_mlp x (linear, LeakyReLU)
    macs += 1 + z_dim + n_mlp * (z_dim * z_dim + z_dim)
    params += n_mlp * (z_dim * z_dim + z_dim)
    c = int(widths["const"])
    params += c * 16

    def modconv(cin, cout, k, side, demod):
        nonlocal macs, params
        macs += z_dim * cin                      # style: affine of w
        macs += cin * side * side                 # x * s
        macs += cout * cin * k * k * side * side  # conv
        if demod:
            macs += cin * cout + cout * side * side  # (s^2) @ sum(W^2)^T, x * d
        params += z_dim * cin + cin + cout * cin * k * k + cout

    prev = c
    for k in names[1:]:
        side = _side(k)
        if side > res:
            break
        if k.endswith("_up"):
            macs += 4 * prev * side * side        # bilinear x2 of the features
        cout = int(widths[k])
        modconv(prev, cout, 3, side, True)
        macs += cout * side * side                # LeakyReLU
        prev = cout
        if not k.endswith("_up"):
            modconv(prev, output_nc, 1, side, False)
            if side > 4:
                macs += 4 * output_nc * side * side  # bilinear x2 of the previous exit's image
    return {"macs": macs, "macs_true": macs, "params": params}
