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
records, sampling rate q = b / m and the run's planned D steps spends at most the target epsilon at delta
(default 1 / (10 m)). A budget that needs sigma > b is refused: each step's noise per coordinate of the mean
gradient, sigma C / b, would then exceed C, the bound on the whole clipped gradient.

What the accounting covers, and why it is an upper bound:
- **Sampling.** A private worker's real batches are Poisson samples (Opacus's UniformWithReplacementSampler,
  methods/common.py): each record joins each step's batch with probability q, independently, so the batch
  size varies around b. That is the mechanism the RDP accountant analyses (add/remove adjacency, sensitivity
  C), so the epsilon is an upper bound, not the shuffled-batch approximation most DP-SGD code reports.
- **Every step executed.** Each D step that reads a record is counted before it runs, in a ledger outside the
  checkpoints (privacy_ledger.py), so steps a crash threw away still count, and every start of a worker draws
  fresh noise and fresh samples. The epsilon spent composes every incarnation's steps.
- **Nothing raw leaves.** The D loss a private worker reports (logs, stats messages, push headers) is the
  generated-data term alone: the real-data term is computed on raw records outside the mechanism.
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from distgan import privacy_ledger
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
    """The noise multiplier for `epsilon` at `delta` (None: default_delta), or a DistganError saying why none fits."""
    from opacus.accountants.utils import get_noise_multiplier

    delta = default_delta(records) if delta is None else delta
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


def default_delta(records: int) -> float:
    """1 / (10 m): well below 1 / m, at which a mechanism that publishes one record at random would pass."""
    return 1.0 / (10 * records)


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


def summary(budgets: list[Budget], config, entries: list[privacy_ledger.Entry]) -> dict[str, Any]:
    """summary.json's "privacy": the guarantee asked for, and what was spent, from the ledgers: every D step
    every incarnation of every worker executed, at its own noise and sampling rate.

    A restart with fewer workers re-partitions the records, so a record may have sat on a different worker in
    each incarnation: the run's epsilon composes, incarnation by incarnation, the worst worker's Renyi DP at
    each order, at the smallest delta any worker has. With one incarnation it is the worst worker's epsilon."""
    delta = min(b.delta for b in budgets)
    # a worker whose ledger is on another machine (torchrun across hosts) counts at its planned steps, once
    unseen = [n for n in range(len(budgets)) if not any(e.worker == n for e in entries)]
    entries = entries + [privacy_ledger.Entry(n, 0, budgets[n].d_steps, budgets[n].noise_multiplier,
                                              budgets[n].sample_rate, len(budgets)) for n in unseen]
    per_incarnation: dict[int, list[privacy_ledger.Entry]] = {}
    for e in entries:
        per_incarnation.setdefault(e.incarnation, []).append(e)
    workers = []
    for n in sorted({e.worker for e in entries}):
        own = [e for e in entries if e.worker == n]
        workers.append({"worker": n, "d_steps_executed": sum(e.d_steps for e in own),
                        "incarnations": [{k: v for k, v in e.__dict__.items() if k != "worker"} for e in own]})
    return {"epsilon_target": config.dp_epsilon, "delta": delta, "clip": config.dp_clip,
            "noise_multiplier": max(b.noise_multiplier for b in budgets),
            "epsilon_spent": round(epsilon_of(list(per_incarnation.values()), delta), 4),
            "sampling": "poisson", "adjacency": "add/remove one record",
            "accountant": "rdp (Opacus), every D step executed (privacy/ ledgers)",
            "budgets": [b.to_json() for b in budgets], "workers": workers,
            "planned_not_counted": unseen}


def epsilon_of(stages: list[list[privacy_ledger.Entry]], delta: float) -> float:
    """Epsilon at `delta` of running the stages one after another, where each stage's Renyi DP is the largest
    of its entries' at each order (a record is on one worker of a stage, which one not known)."""
    from opacus.accountants import RDPAccountant
    from opacus.accountants.analysis import rdp

    orders = RDPAccountant.DEFAULT_ALPHAS
    total = [0.0] * len(orders)
    for stage in stages:
        worst = [0.0] * len(orders)
        for e in stage:
            if e.d_steps > 0:
                curve = rdp.compute_rdp(q=e.sample_rate, noise_multiplier=e.noise_multiplier, steps=e.d_steps,
                                        orders=orders)
                worst = [max(w, c) for w, c in zip(worst, curve)]
        total = [t + w for t, w in zip(total, worst)]
    if not any(total):
        return 0.0
    return float(rdp.get_privacy_spent(orders=orders, rdp=total, delta=delta)[0])


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
    """What a worker's D steps need to be private: its budget, this incarnation's noise stream and ledger, and
    the loss's two terms."""

    budget: Budget
    noise: torch.Generator
    on_real: Any
    on_fake: Any
    ledger: privacy_ledger.Ledger | None = None

    def d_backward(self, D: nn.Module, opt_D: torch.optim.Optimizer, real: torch.Tensor, fake: torch.Tensor
                   ) -> torch.Tensor:
        if self.ledger is not None:
            self.ledger.count_step()  # before any record is read: a step the worker dies in still counts
        return private_d_backward(D, opt_D, self.on_real, self.on_fake, real, fake, self.budget, self.noise)


def private_d_backward(D: nn.Module, opt_D: torch.optim.Optimizer, on_real, on_fake, real: torch.Tensor,
                       fake: torch.Tensor, b: Budget, generator: torch.Generator) -> torch.Tensor:
    """Set D's gradients to the DP-SGD estimate of the D loss's gradient; return the generated-data term of the
    loss, the only part that may leave the worker (the real-data term reads raw records outside the mechanism).

    The real term's per-record gradients come from torch.func (vmap over grad); Opacus's DPOptimizer clips
    them, sums them, adds the noise and divides by the *expected* batch size b (a Poisson batch's size varies,
    and may be 0). The fake term's gradient is added after.
    """
    from opacus.optimizers import DPOptimizer
    from torch.func import functional_call, grad, vmap

    params = {name: p.detach() for name, p in D.named_parameters()}
    buffers = dict(D.named_buffers())

    def real_term(p: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return on_real(functional_call(D, (p, buffers), (x.unsqueeze(0),))).sum()

    if len(real):
        per_record = vmap(grad(real_term), in_dims=(None, 0), randomness="different")(params, real)
    else:  # an empty Poisson batch: no record's gradient, the noise alone
        per_record = {name: p.new_zeros((0, *p.shape)) for name, p in params.items()}
    fake_loss = on_fake(D(fake.detach())).mean()
    opt_D.zero_grad(set_to_none=True)
    fake_loss.backward()
    fake_grads = {name: p.grad for name, p in D.named_parameters()}
    private = DPOptimizer(opt_D, noise_multiplier=b.noise_multiplier, max_grad_norm=b.clip, loss_reduction="mean",
                          expected_batch_size=round(b.sample_rate * b.records), generator=generator)
    for name, p in D.named_parameters():
        p.grad_sample = per_record[name]
    private.pre_step()  # p.grad <- (sum of clipped per-record gradients + N(0, (sigma C)^2)) / b
    for name, p in D.named_parameters():
        if fake_grads[name] is not None:
            p.grad += fake_grads[name]
        p.grad_sample = None
        p.summed_grad = None
    return fake_loss.detach()


def check_discriminator(D: nn.Module) -> list[str]:
    """What Opacus's validator finds wrong with D for DP-SGD (BatchNorm mixes records, for one); [] if nothing."""
    from opacus.validators import ModuleValidator

    return [str(e) for e in ModuleValidator.validate(D, strict=False)]


def is_private(config) -> bool:
    return bool(config.dp_epsilon) and not math.isnan(config.dp_epsilon)
