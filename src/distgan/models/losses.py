"""GAN losses on raw discriminator logits: non-saturating BCE, hinge, least squares."""

from collections.abc import Callable

import torch
import torch.nn.functional as F

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _bce_d(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return F.softplus(-real).mean() + F.softplus(fake).mean()


def _bce_g(fake: torch.Tensor) -> torch.Tensor:
    return F.softplus(-fake).mean()  # non-saturating: maximise log D(G(z))


def _hinge_d(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return F.relu(1 - real).mean() + F.relu(1 + fake).mean()


def _hinge_g(fake: torch.Tensor) -> torch.Tensor:
    return -fake.mean()


def _ls_d(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return 0.5 * ((real - 1) ** 2).mean() + 0.5 * (fake**2).mean()


def _ls_g(fake: torch.Tensor) -> torch.Tensor:
    return 0.5 * ((fake - 1) ** 2).mean()


LOSSES = {"bce": (_bce_d, _bce_g), "hinge": (_hinge_d, _hinge_g), "lsgan": (_ls_d, _ls_g)}


def get_losses(name: str) -> tuple[Loss, Callable[[torch.Tensor], torch.Tensor]]:
    """Return (d_loss(real_logits, fake_logits), g_loss(fake_logits))."""
    return LOSSES[name]
