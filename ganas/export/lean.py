"""The inference build of a static generator: the same function, laid out for fast CPU (and GPU) inference.

Measured on a 2-core CPU with torch 2.14 (bench/export_bench.py), a GAN Compression subnet spends its time in
memory-bound layers, not in its MACs: InstanceNorm runs as a batch norm over a reshaped copy, 1x1 convs fall
back to im2col, and NCHW transposed / 7x7 convs with few channels run 2-3x slower in oneDNN than in
channels-last. ``make_lean`` rewrites a trained static network module by module, keeping its function:

- every tensor is channels-last (oneDNN's native layout for depthwise, transposed and few-channel convs);
- a 1x1 conv becomes one matrix product over the channels-last pixels (BLAS, no im2col);
- InstanceNorm (no affine, no running stats) becomes GroupNorm with one group per channel, which reads
  channels-last directly (InstanceNorm copies it to NCHW and back), on input centred per channel first:
  that kernel takes the variance as E[x^2] - E[x]^2 in float32, which loses every digit when a channel's
  mean is large against its spread (measured: 0.15 error on outputs in [-1, 1]); centred, it matches
  InstanceNorm to 1e-5;
- a conv bias right before such a norm is dropped: the norm subtracts the per-channel mean, so it cancels;
- a BatchNorm after a conv (teachers trained with norm: batch) is folded into the conv's weights.

InstanceNorm's statistics depend on the input, so unlike BatchNorm it cannot be folded into a conv's weights.
Everything else (reflection pads, residual adds, concats) is kept. The result has no trainable role; it
is what the exported formats are built from.
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval


class PointwiseConv(nn.Module):
    """A 1x1, stride-1, ungrouped conv as one matrix product over the pixels of a channels-last tensor."""

    def __init__(self, conv: nn.Conv2d, keep_bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(conv.weight.detach().flatten(1).clone(), requires_grad=False)
        b = conv.bias.detach().clone() if keep_bias and conv.bias is not None else None
        self.bias = nn.Parameter(b, requires_grad=False) if b is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # A channels-last NCHW tensor is NHWC in memory: permuting to NHWC is free, and linear runs one GEMM.
        y = F.linear(x.permute(0, 2, 3, 1), self.weight, self.bias)
        return y.permute(0, 3, 1, 2)


class InstanceNormChannelsLast(nn.Module):
    """InstanceNorm without affine or running statistics, fast on channels-last tensors (see above)."""

    def __init__(self, norm: nn.InstanceNorm2d):
        super().__init__()
        self.channels, self.eps = norm.num_features, norm.eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.group_norm(x - x.mean((2, 3), keepdim=True), self.channels, eps=self.eps)


class ChannelsLast(nn.Module):
    """Wraps the rewritten network: inputs go in channels-last, outputs come back in the usual layout."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4:  # images; a latent vector (unconditional families) goes in as it is
            x = x.contiguous(memory_format=torch.channels_last)
        return self.net(x).contiguous()


def _plain_instance_norm(m: nn.Module) -> bool:
    return isinstance(m, nn.InstanceNorm2d) and not m.affine and not m.track_running_stats


def _is_pointwise(m: nn.Module) -> bool:
    return (type(m) is nn.Conv2d and m.kernel_size == (1, 1) and m.stride == (1, 1) and m.groups == 1
            and m.padding in ((0, 0), "valid") and m.dilation == (1, 1))


def _rewrite(module: nn.Module) -> None:
    children = list(module.named_children())
    for i, (name, child) in enumerate(children):
        nxt = children[i + 1][1] if i + 1 < len(children) else None
        # Only inside a Sequential is "the next child" the next layer the data goes through.
        before_norm = isinstance(module, nn.Sequential) and nxt is not None and _plain_instance_norm(nxt)
        if (isinstance(module, nn.Sequential) and type(child) in (nn.Conv2d, nn.ConvTranspose2d)
                and type(nxt) is nn.BatchNorm2d and nxt.track_running_stats):
            fused = fuse_conv_bn_eval(child, nxt, transpose=isinstance(child, nn.ConvTranspose2d))
            setattr(module, name, fused)
            setattr(module, children[i + 1][0], nn.Identity())
            children[i] = (name, fused)
            child = fused
        if _is_pointwise(child):
            setattr(module, name, PointwiseConv(child, keep_bias=not before_norm))
        elif _plain_instance_norm(child):
            setattr(module, name, InstanceNormChannelsLast(child))
        elif isinstance(child, (nn.Conv2d, nn.ConvTranspose2d)):
            if before_norm and child.bias is not None:
                child.bias = None
        else:
            _rewrite(child)


@torch.no_grad()
def make_lean(net: nn.Module) -> nn.Module:
    """An inference-only copy of a static network ``net`` (eval mode, frozen weights, channels-last)."""
    lean = copy.deepcopy(net).eval()
    _rewrite(lean)
    for p in lean.parameters():
        p.requires_grad_(False)
    return ChannelsLast(lean.to(memory_format=torch.channels_last)).eval()
