"""A private worker's real batches: Poisson samples of its shard, as the DP accountant assumes.

Each step, every record of the shard joins the batch with probability q = b / m, independently of the others
and of earlier steps (Opacus's UniformWithReplacementSampler), so the batch holds b records on average and
may hold none. Shuffled fixed-size batches are a different mechanism, for which the RDP accountant's epsilon
is not an upper bound (privacy.py).
"""

from __future__ import annotations

from typing import Any

import torch


class PoissonBatches:
    """Same interface as common.Batches: `next()` gives a batch, `state()` / `load()` save and restore it."""

    def __init__(self, data: torch.Tensor, shard: torch.Tensor, sample_rate: float, rng: torch.Generator,
                 device: torch.device):
        self.data, self.shard, self.sample_rate, self.rng, self.device = data, shard, sample_rate, rng, device
        self.batch_size = max(1, round(sample_rate * len(shard)))  # expected; what the methods' counters use
        self._start()

    def _start(self) -> None:
        from opacus.utils.uniform_sampler import UniformWithReplacementSampler

        sampler = UniformWithReplacementSampler(num_samples=len(self.shard), sample_rate=self.sample_rate,
                                                generator=self.rng, steps=2**62)
        self._draws = iter(sampler)

    def next(self) -> torch.Tensor:
        index = self.shard[torch.as_tensor(next(self._draws), dtype=torch.long)]
        return self.data[index].to(self.device)

    def state(self) -> dict[str, Any]:
        return {"rng": self.rng.get_state()}

    def load(self, state: dict[str, Any]) -> None:
        self.rng.set_state(state["rng"])
        self._start()
