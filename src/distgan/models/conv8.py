"""A small conv pair for 8x8 images (scikit-learn digits)."""

import torch
from torch import nn

from distgan.models.blocks import conv_blocks


class Conv8Generator(nn.Module):
    def __init__(self, z_dim: int, channels: int, width: int = 32, depth: int = 0):
        """`depth`: extra 3x3 conv blocks (conv, BatchNorm, ReLU) at 8x8 before the output layer."""
        super().__init__()
        self.z_dim = z_dim
        self.width = width
        self.project = nn.Sequential(nn.Linear(z_dim, width * 2 * 4 * 4, bias=False), nn.BatchNorm1d(width * 2 * 4 * 4),
                                     nn.ReLU())
        extra = conv_blocks(width, depth)  # built first, as before, so a seed draws the same weights
        self.net = nn.Sequential(
            nn.ConvTranspose2d(width * 2, width, 4, 2, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),  # 8x8
            *extra,
            nn.Conv2d(width, channels, 3, 1, 1), nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(self.project(z).view(-1, self.width * 2, 4, 4))


class Conv8Discriminator(nn.Module):
    def __init__(self, channels: int, width: int = 32):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, width, 3, 1, 1), nn.LeakyReLU(0.2),  # 8x8
            nn.Conv2d(width, width * 2, 4, 2, 1), nn.LeakyReLU(0.2),  # 4x4
            nn.Flatten(), nn.Linear(width * 2 * 4 * 4, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).view(-1)
