"""Layers the generators share."""

from torch import nn


def conv_blocks(width: int, depth: int) -> list[nn.Module]:
    """`depth` 3x3 conv blocks (conv, BatchNorm, ReLU) that keep `width` channels and the resolution."""
    return [layer for _ in range(depth)
            for layer in (nn.Conv2d(width, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU())]
