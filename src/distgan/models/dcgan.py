"""DCGAN-style pair (Radford et al. 2016) for 28x28 and 32x32 images, 1 or 3 channels.

Layers followed by BatchNorm have no bias: BatchNorm cancels it, so its gradient is rounding noise
that Adam would blow up to full-size steps, and runs would not repeat across transports.

D has no BatchNorm: a D without it needs no care under data parallelism and is what WGAN-style
and MD-GAN's MNIST experiments use.
"""

import torch
from torch import nn

from distgan.models.blocks import conv_blocks


class DCGANGenerator(nn.Module):
    def __init__(self, z_dim: int, channels: int, size: int, width: int = 64, depth: int = 0):
        """`depth`: extra 3x3 conv blocks (conv, BatchNorm, ReLU) at half resolution, before the last upsampling."""
        super().__init__()
        self.z_dim = z_dim
        self.base = size // 4  # 7 for 28x28, 8 for 32x32
        self.width = width
        self.project = nn.Sequential(nn.Linear(z_dim, 2 * width * self.base**2, bias=False),
                                     nn.BatchNorm1d(2 * width * self.base**2), nn.ReLU())
        extra = conv_blocks(width, depth)  # built first, as before, so a seed draws the same weights
        self.net = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            *extra,
            nn.ConvTranspose2d(width, channels, 4, 2, 1), nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(self.project(z).view(-1, 2 * self.width, self.base, self.base))


class DCGANDiscriminator(nn.Module):
    def __init__(self, channels: int, size: int, width: int = 64):
        super().__init__()
        base = size // 4
        self.net = nn.Sequential(
            nn.Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Flatten(), nn.Linear(2 * width * base * base, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).view(-1)
