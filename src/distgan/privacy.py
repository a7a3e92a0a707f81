"""Differential privacy for each worker's records: DP-SGD (Abadi et al. 2016) on every discriminator step that
reads real data, through Opacus (per-sample clipping, Gaussian noise, the RDP accountant).

Where the mechanism sits, for every method: a worker's records are read in one place only, the real-data term
of its D's loss. That term's gradient is computed per record, each record's gradient is clipped to norm C, the
sum gets Gaussian noise of standard deviation sigma * C, and the result is divided by the batch size b (Opacus's
DPOptimizer.pre_step). The generated-data term reads no record and is added as it is. Everything that leaves a
worker afterwards (D's gradients in sync-dp and async-ps, D's weights in fl-gan, fe-gan and md-gan's swaps,
md-gan's feedback, G's updates) is computed from the private D and generated data alone: post-processing,
inside the same guarantee. FeGAN's label counts are not: they leave the device unprotected (methods/fe_gan.py).

The noise multiplier sigma is chosen before training (Opacus's get_noise_multiplier) so that a worker with m
records, batches of b (sampling rate q = b / m) and the run's planned D steps spends at most the target epsilon
at delta (default 1/m). A budget that needs sigma > b is refused: each step's noise per coordinate of the mean
gradient, sigma C / b, would then exceed C, the bound on the whole clipped gradient. A worker never takes
more D steps than planned (`planned_d_steps`), so the epsilon reported is an upper bound on what it spent.

What the accounting assumes: the RDP accountant analyses Poisson sampling at rate q, and distgan draws shuffled
batches of exactly b records, epoch after epoch. This is the common practice (Opacus's own examples without
Poisson sampling do it) but not what the theorem covers; the epsilon is the standard DP-SGD figure, not a proof
for shuffled batches.
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from distgan.errors import DistganError


@dataclass(frozen=True)
class Budget:
    """One worker's DP-SGD settings: the guarantee asked for and the noise that gives it."""

    epsilon: float  # the target; the worker spends at most this over the planned D steps
    delta: float
    clip: float  # C, each record's gradient norm bound
    noise_multiplier: float  # sigma: the noise's standard deviation is sigma * C
    sample_rate: float  # q = b / m
    d_steps: int  # the D steps on real data the worker may take (planned)
    records: int  # m

    def to_json(self) -> dict[str, Any]:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def planned_d_steps(config) -> int:
    """The most D steps on real data one worker may take: the budget, times md-gan's L, times async-ps's n_push
    (one budget step is one push applied, and a push carries n_push local steps). Federated and async-ps
    workers share the budget, so they take fewer; the bound counts them all."""
    options = config.options
    return int(config.steps) * int(options.get("disc_steps", 1) or 1) * int(options.get("push_every", 1) or 1)


@functools.lru_cache(maxsize=256)
def budget(epsilon: float, delta: float | None, clip: float, batch_size: int, records: int, d_steps: int) -> Budget:
    """The noise multiplier for `epsilon` at `delta` (None: 1/records), or a DistganError saying why none fits."""
    from opacus.accountants.utils import get_noise_multiplier

    delta = 1.0 / records if delta is None else delta
    if batch_size > records:
        raise DistganError(f"--dp-epsilon: a worker holds {records} records, fewer than the batch of {batch_size}; "
                           "DP-SGD needs b <= m: lower --batch-size or use fewer workers")
    rate = batch_size / records
    try:
        with warnings.catch_warnings():  # "Optimal order is the largest alpha": the search tries huge sigmas
            warnings.filterwarnings("ignore", message="Optimal order", category=UserWarning)
            sigma = get_noise_multiplier(target_epsilon=epsilon, target_delta=delta, sample_rate=rate,
                                         steps=d_steps, accountant="rdp",
                                         epsilon_tolerance=min(0.01, 0.005 * epsilon))  # 0.01 alone: 33% at 0.03
    except ValueError:
        raise DistganError(f"--dp-epsilon {epsilon:g}: no noise reaches it for {d_steps} D steps at sampling rate "
                           f"{rate:.3g} and delta {delta:.3g}; give a larger epsilon, fewer --steps or a smaller "
                           "--batch-size") from None
    if sigma > batch_size:
        raise DistganError(f"--dp-epsilon {epsilon:g}: {d_steps} D steps at sampling rate {rate:.3g} need noise "
                           f"sigma = {sigma:.3g}, and each D step's noise (sigma C / b per coordinate) would then "
                           "exceed the bound C on the whole clipped gradient, so D would learn nothing; give a "
                           "larger epsilon, fewer --steps or a larger --batch-size")
    return Budget(epsilon, delta, clip, sigma, rate, d_steps, records)


def worker_budget(config, records: int) -> Budget:
    return budget(float(config.dp_epsilon), config.dp_delta, float(config.dp_clip), int(config.batch_size), records,
                  planned_d_steps(config))


def plan(config, shard_sizes: list[int]) -> list[Budget]:
    """Every worker's budget, before any rank starts (a budget that cannot be met is a DistganError here)."""
    return [worker_budget(config, m) for m in shard_sizes]


def epsilon_at(budgets: list[Budget], config, step: int) -> float:
    """The largest epsilon any worker may have spent by generator update `step` (its D steps so far, at most)."""
    per_update = planned_d_steps(config) // max(1, int(config.steps))
    return max(spent(b, min(b.d_steps, step * per_update)) for b in budgets)


def summary(budgets: list[Budget], config) -> dict[str, Any]:
    """summary.json's "privacy": the guarantee asked for, and each worker's noise and epsilon spent (an upper
    bound: every planned D step counted)."""
    workers = [{**b.to_json(), "epsilon_spent": round(spent(b, b.d_steps), 4)} for b in budgets]
    return {"epsilon_target": config.dp_epsilon, "delta": max(b.delta for b in budgets), "clip": config.dp_clip,
            "noise_multiplier": max(b.noise_multiplier for b in budgets),
            "epsilon_spent": max(w["epsilon_spent"] for w in workers), "accountant": "rdp (Opacus)",
            "workers": workers}


def spent(b: Budget, d_steps: int) -> float:
    """Epsilon spent after `d_steps` D steps (Opacus's RDP accountant)."""
    from opacus.accountants import RDPAccountant

    if d_steps <= 0:
        return 0.0
    accountant = RDPAccountant()
    accountant.history = [(b.noise_multiplier, b.sample_rate, d_steps)]
    return float(accountant.get_epsilon(delta=b.delta))


@dataclass
class Private:
    """What a worker's D steps need to be private: its budget, the noise stream, and the loss's two terms."""

    budget: Budget
    noise: torch.Generator
    on_real: Any
    on_fake: Any

    def d_backward(self, D: nn.Module, opt_D: torch.optim.Optimizer, real: torch.Tensor, fake: torch.Tensor
                   ) -> torch.Tensor:
        return private_d_backward(D, opt_D, self.on_real, self.on_fake, real, fake, self.budget, self.noise)


def private_d_backward(D: nn.Module, opt_D: torch.optim.Optimizer, on_real, on_fake, real: torch.Tensor,
                       fake: torch.Tensor, b: Budget, generator: torch.Generator) -> torch.Tensor:
    """Set D's gradients to the DP-SGD estimate of the D loss's gradient; return the loss (for the logs).

    The real term's per-record gradients come from torch.func (vmap over grad); Opacus's DPOptimizer clips
    them, sums them, adds the noise and divides by the batch size. The fake term's gradient is added after.
    """
    from opacus.optimizers import DPOptimizer
    from torch.func import functional_call, grad, vmap

    params = {name: p.detach() for name, p in D.named_parameters()}
    buffers = dict(D.named_buffers())

    def real_term(p: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return on_real(functional_call(D, (p, buffers), (x.unsqueeze(0),))).sum()

    per_record = vmap(grad(real_term), in_dims=(None, 0), randomness="different")(params, real)
    fake_loss = on_fake(D(fake.detach())).mean()
    opt_D.zero_grad(set_to_none=True)
    fake_loss.backward()
    fake_grads = {name: p.grad for name, p in D.named_parameters()}
    private = DPOptimizer(opt_D, noise_multiplier=b.noise_multiplier, max_grad_norm=b.clip,
                          expected_batch_size=len(real), loss_reduction="mean", generator=generator)
    for name, p in D.named_parameters():
        p.grad_sample = per_record[name]
    private.pre_step()  # p.grad <- (sum of clipped per-record gradients + N(0, (sigma C)^2)) / b
    for name, p in D.named_parameters():
        if fake_grads[name] is not None:
            p.grad += fake_grads[name]
        p.grad_sample = None
        p.summed_grad = None
    with torch.no_grad():
        real_loss = on_real(D(real)).mean()
    return (real_loss + fake_loss).detach()


def check_discriminator(D: nn.Module) -> list[str]:
    """What Opacus's validator finds wrong with D for DP-SGD (BatchNorm mixes records, for one); [] if nothing."""
    from opacus.validators import ModuleValidator

    return [str(e) for e in ModuleValidator.validate(D, strict=False)]


def is_private(config) -> bool:
    return bool(config.dp_epsilon) and not math.isnan(config.dp_epsilon)
