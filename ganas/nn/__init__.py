"""Dynamic ops: each owns the largest weight, runs at a narrower output width by slicing the first
channels, reads its input width from the tensor, and can hand out its plain ``nn`` twin."""
from .dynamic import DynamicConv2d, DynamicConvTranspose2d, DynamicDepthwiseConv2d, DynamicInstanceNorm2d

__all__ = ["DynamicConv2d", "DynamicConvTranspose2d", "DynamicDepthwiseConv2d", "DynamicInstanceNorm2d"]
