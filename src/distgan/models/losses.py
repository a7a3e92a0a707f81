"""GAN losses on raw discriminator logits: non-saturating BCE, hinge, least squares.

Each discriminator loss is a mean over real samples plus a mean over generated ones; `D_TERMS` keeps the two
per-sample terms apart, so differential privacy can clip the real samples' part alone (distgan/privacy.py).
"""

from collections.abc import Callable

import torch
import torch.nn.functional as F

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Term = Callable[[torch.Tensor], torch.Tensor]

# per-sample (on real logits, on fake logits) terms of each discriminator loss
D_TERMS: dict[str, tuple[Term, Term]] = {
    "bce": (lambda real: F.softplus(-real), lambda fake: F.softplus(fake)),
    "hinge": (lambda real: F.relu(1 - real), lambda fake: F.relu(1 + fake)),
    "lsgan": (lambda real: 0.5 * (real - 1) ** 2, lambda fake: 0.5 * fake**2),
}


def _d_loss(name: str) -> Loss:
    on_real, on_fake = D_TERMS[name]

    def d_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return on_real(real).mean() + on_fake(fake).mean()

    return d_loss


def _bce_g(fake: torch.Tensor) -> torch.Tensor:
    return F.softplus(-fake).mean()  # non-saturating: maximise log D(G(z))


def _hinge_g(fake: torch.Tensor) -> torch.Tensor:
    return -fake.mean()


def _ls_g(fake: torch.Tensor) -> torch.Tensor:
    return 0.5 * ((fake - 1) ** 2).mean()


LOSSES = {"bce": (_d_loss("bce"), _bce_g), "hinge": (_d_loss("hinge"), _hinge_g), "lsgan": (_d_loss("lsgan"), _ls_g)}


def get_losses(name: str) -> tuple[Loss, Callable[[torch.Tensor], torch.Tensor]]:
    """Return (d_loss(real_logits, fake_logits), g_loss(fake_logits))."""
    return LOSSES[name]
