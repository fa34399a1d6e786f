from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class DynamicConv2d(nn.Conv2d):
    """A dense conv whose active output width is ``self.active_out``; input width comes from the tensor."""

    def __init__(self, in_max: int, out_max: int, kernel_size: int, stride: int = 1, padding: int = 0,
                 bias: bool = True):
        super().__init__(in_max, out_max, kernel_size, stride=stride, padding=padding, bias=bias)
        self.active_out = out_max

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight[: self.active_out, : x.shape[1]]
        b = self.bias[: self.active_out] if self.bias is not None else None
        return F.conv2d(x, w, b, self.stride, self.padding)

    def static(self, in_channels: int) -> nn.Conv2d:
        conv = nn.Conv2d(in_channels, self.active_out, self.kernel_size, self.stride, self.padding,
                         bias=self.bias is not None)
        conv.weight.data.copy_(self.weight[: self.active_out, :in_channels])
        if self.bias is not None:
            conv.bias.data.copy_(self.bias[: self.active_out])
        return conv


class DynamicDepthwiseConv2d(nn.Conv2d):
    """A depthwise conv: its width is always its input's width."""

    def __init__(self, channels_max: int, kernel_size: int, padding: int = 0, bias: bool = True):
        super().__init__(channels_max, channels_max, kernel_size, padding=padding, groups=channels_max, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        b = self.bias[:c] if self.bias is not None else None
        return F.conv2d(x, self.weight[:c], b, self.stride, self.padding, groups=c)

    def static(self, in_channels: int) -> nn.Conv2d:
        conv = nn.Conv2d(in_channels, in_channels, self.kernel_size, self.stride, self.padding,
                         groups=in_channels, bias=self.bias is not None)
        conv.weight.data.copy_(self.weight[:in_channels])
        if self.bias is not None:
            conv.bias.data.copy_(self.bias[:in_channels])
        return conv


class DynamicConvTranspose2d(nn.ConvTranspose2d):
    """A transposed conv; its weight is laid out (in, out, k, k)."""

    def __init__(self, in_max: int, out_max: int, kernel_size: int, stride: int = 1, padding: int = 0,
                 output_padding: int = 0, bias: bool = True):
        super().__init__(in_max, out_max, kernel_size, stride=stride, padding=padding,
                         output_padding=output_padding, bias=bias)
        self.active_out = out_max

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight[: x.shape[1], : self.active_out]
        b = self.bias[: self.active_out] if self.bias is not None else None
        return F.conv_transpose2d(x, w, b, self.stride, self.padding, self.output_padding)

    def static(self, in_channels: int) -> nn.ConvTranspose2d:
        conv = nn.ConvTranspose2d(in_channels, self.active_out, self.kernel_size, self.stride, self.padding,
                                  self.output_padding, bias=self.bias is not None)
        conv.weight.data.copy_(self.weight[:in_channels, : self.active_out])
        if self.bias is not None:
            conv.bias.data.copy_(self.bias[: self.active_out])
        return conv


class DynamicInstanceNorm2d(nn.Module):
    """Non-affine InstanceNorm at any width (nn.InstanceNorm2d warns when the width differs from its own)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.instance_norm(x, eps=1e-5)

    def static(self, channels: int) -> nn.InstanceNorm2d:
        return nn.InstanceNorm2d(channels)
