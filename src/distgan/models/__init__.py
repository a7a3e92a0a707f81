"""Generators and discriminators, chosen by data shape. Nothing here knows about distribution."""

from __future__ import annotations

from torch import nn

from distgan.errors import DistganError
from distgan.models.conv8 import Conv8Discriminator, Conv8Generator
from distgan.models.dcgan import DCGANDiscriminator, DCGANGenerator
from distgan.models.mlp import MLPDiscriminator, MLPGenerator


def default_z_dim(sample_shape: tuple[int, ...]) -> int:
    return 8 if len(sample_shape) == 1 else 64


def build_models(sample_shape: tuple[int, ...], z_dim: int = 0, with_G: bool = True,
                 spectral_norm: bool = False, width: int | None = None,
                 g_depth: int = 0) -> tuple[nn.Module | None, nn.Module]:
    """Return (G, D) for samples of `sample_shape`: (2,), (C, 8, 8), (C, 28, 28) or (C, 32, 32).

    D is built first, so under one seed a rank that needs D alone (`with_G=False`) gets the same D.
    `spectral_norm` normalises every layer of D (Miyato et al. 2018); `width` overrides each model's own;
    `g_depth` adds 3x3 conv blocks to a conv G: the 8x8 one's at full resolution, DCGAN's at half (docs/recipe.md).
    """
    G, D = _build(sample_shape, z_dim or default_z_dim(sample_shape), with_G, width, g_depth)
    if spectral_norm:
        for layer in list(D.modules()):
            if isinstance(layer, (nn.Conv2d, nn.Linear)):
                nn.utils.parametrizations.spectral_norm(layer)
    return G, D


def check_g_depth(sample_shape: tuple[int, ...], g_depth: int) -> None:
    """`g_depth` deepens the conv generators (8x8 and DCGAN); the 2-D MLP refuses it."""
    if g_depth and len(sample_shape) != 3:
        raise DistganError(f"--g-depth applies to the conv generators of images, not to samples of shape "
                           f"{tuple(sample_shape)}; leave it at 0")


def _build(sample_shape: tuple[int, ...], z_dim: int, with_G: bool,
           width: int | None, g_depth: int = 0) -> tuple[nn.Module | None, nn.Module]:
    check_g_depth(sample_shape, g_depth)
    if len(sample_shape) == 1:
        hidden = {"hidden": width} if width else {}
        D = MLPDiscriminator(sample_shape[0], **hidden)
        return (MLPGenerator(z_dim, sample_shape[0], **hidden) if with_G else None), D
    channels, height, size = sample_shape
    width = {"width": width} if width else {}
    if height != size or height not in (8, 28, 32) or channels not in (1, 3):
        raise DistganError(f"no model for samples of shape {sample_shape}; distgan has G/D for 2-D points and "
                           "1- or 3-channel images of 8x8, 28x28 or 32x32")
    if height == 8:
        D = Conv8Discriminator(channels, **width)
        return (Conv8Generator(z_dim, channels, **width, depth=g_depth) if with_G else None), D
    D = DCGANDiscriminator(channels, height, **width)
    return (DCGANGenerator(z_dim, channels, height, **width, depth=g_depth) if with_G else None), D


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
