"""distgan: train GANs across many workers and compare distributed training methods."""

from distgan import methods as _methods  # noqa: F401, E402 - installs every method's spec for the config
from distgan.config import RunConfig

__version__ = "0.1.0"


def train(config: RunConfig) -> dict:
    """Run one training run (see `distgan.api.train`)."""
    from distgan.api import train as _train

    return _train(config)


__all__ = ["RunConfig", "__version__", "train"]
