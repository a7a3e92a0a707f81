"""The GAN pieces every method shares: models with optimizers, batches, single D and G steps."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from distgan.context import RankContext
from distgan.methods.poisson_batches import PoissonBatches
from distgan.models import build_models
from distgan.models.losses import get_losses
from distgan.privacy import Private


@dataclass
class Gan:
    G: nn.Module | None  # None on a rank that only discriminates (an md-gan worker)
    D: nn.Module
    opt_G: torch.optim.Optimizer | None
    opt_D: torch.optim.Optimizer
    z_dim: int
    d_loss: Any
    g_loss: Any
    flat: torch.Tensor | None = None  # a lent pair's float state as one buffer; G's and D's tensors are its views

    def state(self) -> dict[str, Any]:
        state = {"D": self.D.state_dict(), "opt_D": self.opt_D.state_dict()}
        if self.G is not None:
            state.update(G=self.G.state_dict(), opt_G=self.opt_G.state_dict())
        return state

    def load(self, state: dict[str, Any]) -> None:
        self.D.load_state_dict(state["D"])
        self.opt_D.load_state_dict(state["opt_D"])
        if self.G is not None:
            self.G.load_state_dict(state["G"])
            self.opt_G.load_state_dict(state["opt_G"])


def build_gan(ctx: RankContext, with_G: bool = True) -> Gan:
    """G and D with Adam(beta1=0.5 by default), identical on every rank for the same seed.

    `with_G=False` builds D alone (an md-gan worker); D is drawn first, so it is every other rank's D.
    """
    cfg = ctx.config
    G, D = ctx.build(lambda: build_models(ctx.dataset.sample_shape, cfg.z_dim, with_G, cfg.spectral_norm,
                                          cfg.width, cfg.g_depth))
    G = G.to(ctx.device) if with_G else None
    D = D.to(ctx.device)
    betas = (cfg.beta1, cfg.beta2)
    d_loss, g_loss = get_losses(cfg.loss)
    opt_G = torch.optim.Adam(G.parameters(), cfg.lr_g, betas=betas) if with_G else None
    return Gan(G, D, opt_G, torch.optim.Adam(D.parameters(), cfg.lr_d, betas=betas), cfg.z_dim, d_loss, g_loss)


class SparePair:
    """G and D with their optimizers, lent to one client at a time for the length of a round.

    A federated client holds models only while it trains (so 1,000 simulated clients cost what the few
    selected cost); building fresh modules each round cost as much as a local step. Simulated ranks share
    one SparePair per run and compute in turns, so it is built once; a process builds its own, once.
    """

    def __init__(self) -> None:
        self._spare: list[Gan] = []
        self._lock = threading.Lock()

    def borrow(self, ctx: RankContext) -> Gan:
        """A Gan with fresh optimizers; its weights are whatever the last borrower left, so load them."""
        with self._lock:
            gan = self._spare.pop() if self._spare else None
        if gan is None:
            gan = build_gan(ctx)
            gan.flat = views_of_one_buffer(float_state(gan.G) + float_state(gan.D))
        for opt in (gan.opt_G, gan.opt_D):
            opt.state.clear()
        return gan

    def give_back(self, gan: Gan) -> None:
        for module in (gan.G, gan.D):
            module.zero_grad(set_to_none=True)
        with self._lock:
            self._spare.append(gan)


def take_moments(gan: Gan) -> dict[str, list[dict]]:
    """Adam's per-parameter state of G and D, taken out by reference (no copy) for the next round."""
    return {name: [opt.state.pop(p, {}) for p in module.parameters()]
            for name, opt, module in (("G", gan.opt_G, gan.G), ("D", gan.opt_D, gan.D))}


def put_moments(gan: Gan, moments: dict[str, list[dict]]) -> None:
    for name, opt, module in (("G", gan.opt_G, gan.G), ("D", gan.opt_D, gan.D)):
        for p, state in zip(module.parameters(), moments[name]):
            if state:
                opt.state[p] = state


class Batches:
    """Shuffled mini-batches of a worker's shard, epoch after epoch, from a seeded RNG.

    The shard is a view: `data` is the whole training set and `shard` the worker's indices into it.
    """

    def __init__(self, data: torch.Tensor, shard: torch.Tensor, batch_size: int, rng: torch.Generator,
                 device: torch.device):
        self.data, self.shard, self.batch_size, self.rng, self.device = data, shard, batch_size, rng, device
        self.order = torch.empty(0, dtype=torch.long)
        self.position = 0

    def next(self) -> torch.Tensor:
        if self.position + self.batch_size > len(self.order):
            self.order = torch.randperm(len(self.shard), generator=self.rng)
            if len(self.order) < self.batch_size:  # a shard smaller than a batch: sample with repeats
                self.order = torch.randint(len(self.shard), (self.batch_size,), generator=self.rng)
            self.position = 0
        index = self.shard[self.order[self.position: self.position + self.batch_size]]
        self.position += self.batch_size
        return self.data[index].to(self.device)

    def state(self) -> dict[str, Any]:
        return {"order": self.order, "position": self.position, "rng": self.rng.get_state()}

    def load(self, state: dict[str, Any]) -> None:
        self.order, self.position = state["order"], int(state["position"])
        self.rng.set_state(state["rng"])


def worker_batches(ctx: RankContext) -> Batches | PoissonBatches:
    """This worker's mini-batches, drawn from its shard of the training set without copying it: Poisson samples
    in a private run, from this incarnation's stream (a restart never repeats a sample it drew)."""
    if ctx.privacy is not None:
        return PoissonBatches(ctx.dataset.train_x, ctx.shards[ctx.worker], ctx.privacy.budget.sample_rate,
                              ctx.rng(f"batches/{ctx.privacy.ledger.incarnation}"), ctx.device)
    return Batches(ctx.dataset.train_x, ctx.shards[ctx.worker], ctx.config.batch_size, ctx.rng("batches"),
                   ctx.device)


def noise(gan: Gan, n: int, rng: torch.Generator, device: torch.device) -> torch.Tensor:
    return torch.randn(n, gan.z_dim, generator=rng).to(device)


def d_loss_on(gan: Gan, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return gan.d_loss(gan.D(real), gan.D(fake.detach()))


def d_backward(gan: Gan, real: torch.Tensor, fake: torch.Tensor, private: Private | None = None) -> torch.Tensor:
    """D's gradients for one step on `real` against `fake` (DP-SGD's with `private`); the loss."""
    if private is not None:
        return private.d_backward(gan.D, gan.opt_D, real, fake)
    loss_D = d_loss_on(gan, real, fake)
    gan.opt_D.zero_grad(set_to_none=True)
    loss_D.backward()
    return loss_D.detach()


def g_loss_on(gan: Gan, fake: torch.Tensor) -> torch.Tensor:
    return gan.g_loss(gan.D(fake))


def gan_step(gan: Gan, x: torch.Tensor, z: torch.Tensor, sync=None, private: Private | None = None
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """One D step on real `x` against G(z), then one G step; `sync(module)` may average gradients before each
    (with `private`, D's are DP-SGD's by then: what leaves the worker is already private)."""
    X_g = gan.G(z)
    loss_D = d_backward(gan, x, X_g, private)
    if sync is not None:
        sync(gan.D)
    gan.opt_D.step()

    loss_G = g_loss_on(gan, X_g)
    gan.opt_G.zero_grad(set_to_none=True)
    loss_G.backward()
    if sync is not None:
        sync(gan.G)
    gan.opt_G.step()
    return loss_D.detach(), loss_G.detach()


def flatten(tensors: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in tensors])


def views_of_one_buffer(tensors: list[torch.Tensor]) -> torch.Tensor:
    """Move `tensors` into one flat buffer and make each a view of its slice: receiving into the buffer
    then loads them all, and the buffer is what to send, with no copy either way."""
    flat = flatten([t.detach() for t in tensors])
    offset = 0
    for t in tensors:
        t.data = flat[offset: offset + t.numel()].view_as(t)
        offset += t.numel()
    return flat


def unflatten_into(flat: torch.Tensor, tensors: list[torch.Tensor]) -> None:
    offset = 0
    for t in tensors:
        t.copy_(flat[offset: offset + t.numel()].view_as(t))
        offset += t.numel()


def grads(module: nn.Module) -> list[torch.Tensor]:
    """The .grad of every parameter, zeros where a parameter got none."""
    return [p.grad if p.grad is not None else torch.zeros_like(p) for p in module.parameters()]


def set_grads(module: nn.Module, flat: torch.Tensor) -> None:
    offset = 0
    for p in module.parameters():
        p.grad = flat[offset: offset + p.numel()].view_as(p).clone()
        offset += p.numel()


def float_state(module: nn.Module) -> list[torch.Tensor]:
    """Parameters and float buffers (BatchNorm statistics): what averaging or swapping a model moves."""
    return list(module.parameters()) + [b for b in module.buffers() if b.is_floating_point()]


def train_state(ctx: RankContext, gan: Gan, real: Batches | None, z_rng: torch.Generator | None) -> dict[str, Any]:
    """What a rank must save to resume exactly: models, optimizers, batch order, RNG streams."""
    state = gan.state()
    if z_rng is not None:
        state["z_rng"] = z_rng.get_state()
    if real is not None:
        state["batches"] = real.state()
    if ctx.recorder is not None:
        state["wall_s"] = ctx.recorder.wall_s()
        state["seen"] = dict(ctx.recorder.seen)
        if ctx.recorder.ema is not None:
            state["g_ema"] = ctx.recorder.ema.state_dict()
    return state


def restore(ctx: RankContext, gan: Gan, real: Batches | None, z_rng: torch.Generator | None) -> int:
    """Load this rank's checkpoint if the run is resuming; return the step to continue from."""
    if ctx.resumed is None:
        return 0
    gan.load(ctx.resumed)
    if real is not None and ctx.privacy is None:  # a private worker's samples and noise are the incarnation's own
        real.load(ctx.resumed["batches"])
    if z_rng is not None:
        z_rng.set_state(ctx.resumed["z_rng"])
    return ctx.start_step
