"""Stop a run whose numbers have gone wrong (a loss or a weight NaN or infinite) before it writes them anywhere."""

from __future__ import annotations

import math
from typing import Any

import torch

from distgan.errors import DistganError


class Diverged(DistganError):
    """A loss or a checkpointed tensor is NaN or infinite: the run stops, its last whole checkpoint kept."""


def check_losses(step: int, scalars: dict[str, Any], config: Any) -> None:
    """Raise Diverged if a loss the recorder got for `step` is not finite (Python floats: no tensor work)."""
    for name, value in scalars.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise Diverged(f"step {step}: {name} is {value}, so training diverged; the run stopped with its last "
                           f"whole checkpoint kept. Likely cause: {likely_cause(config)}")


def check_state(step: int, state: Any, config: Any) -> None:
    """Raise Diverged, so nothing is saved, if a floating tensor in a checkpoint's `state` is not finite."""
    for name, tensor in _tensors(state, "state"):
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise Diverged(f"step {step}: {name} holds NaN or inf, so training diverged; the checkpoint was not "
                           f"written, the last whole one kept. Likely cause: {likely_cause(config)}")


def likely_cause(config: Any) -> str:
    if getattr(config, "dp_epsilon", 0):
        return (f"--dp-clip {config.dp_clip:g} (the DP noise is sigma times the clip); try --dp-clip 1, or lower "
                "--lr-d")
    return "learning rates too high for this model; lower --lr-d and --lr-g"


def _tensors(value: Any, name: str):
    if isinstance(value, torch.Tensor):
        yield name, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _tensors(item, f"{name}.{key}" if name != "state" else str(key))
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _tensors(item, f"{name}[{i}]")
