"""Synchronous data parallel (Goyal et al. 2017; what DDP does), for both G and D.

    every worker n holds replicas of G and D (same init) and its shard S_n
    for step = 1..T:
        x_n <- a batch of S_n;  X_g <- G(z_n)
        g_D <- (1/N) sum_n grad_D L_D(x_n, X_g)   all-reduce, one bucket;  D <- Adam(g_D)
        g_G <- (1/N) sum_n grad_G L_G(X_g)        all-reduce, one bucket;  G <- Adam(g_G)

The gradients are all-reduced by hand rather than by DDP: DDP's buffer broadcast breaks a GAN's
two forward passes through D before one backward (pytorch/pytorch#175024), and one flat bucket per
model is what DDP would send anyway.

The global batch is N b. `--lr-scaling none` (the default) keeps the learning rates of the standalone
baseline; `linear` is Goyal et al.'s rule: multiply them by N, reached by a linear warmup from the base
rate over the first 5 epochs of the training set (section 2.2 of Goyal et al. 2017).

Privacy (--dp-epsilon, distgan/privacy.py): each replica's D gradient is made private (DP-SGD on its own
batch) before the all-reduce, so what leaves a worker is already private; G's gradient is computed through
the private D on generated data alone, which is post-processing.
"""

from __future__ import annotations

from dataclasses import dataclass

from distgan import run_folder
from distgan.checkpoint import load_checkpoint
from distgan.context import RankContext
from distgan.method_spec import RESTART, MethodSpec, one_of, option
from distgan.methods.common import (
    Batches,
    Gan,
    build_gan,
    flatten,
    gan_step,
    grads,
    noise,
    restore,
    set_grads,
    train_state,
    worker_batches,
)


@dataclass(kw_only=True)
class Options:
    lr_scaling: str = option("none", "sync-dp: none (standalone's learning rates) | linear (x N after a 5-epoch "
                                     "warmup, Goyal et al.)")

    def validate(self, workers: int) -> None:
        one_of("lr_scaling", self.lr_scaling, ("none", "linear"))


def all_reduce_grads(ctx: RankContext, module, kind: str) -> None:
    """Average a model's gradients over the workers, as one flat bucket."""
    g = flatten(grads(module))
    ctx.transport.all_reduce_mean(g, kind)
    set_grads(module, g)


def train(ctx: RankContext) -> None:
    cfg, device = ctx.config, ctx.device
    gan = build_gan(ctx)
    real = worker_batches(ctx)
    z_rng = ctx.rng("noise")
    step = restore_replica(ctx, gan, real, z_rng)
    base_lr = {opt: [g["lr"] for g in opt.param_groups] for opt in (gan.opt_D, gan.opt_G)}
    while step < cfg.steps:
        ctx.trace.begin(step + 1)
        ctx.crash_point(step)
        if ctx.options.lr_scaling == "linear":
            scale_learning_rates(base_lr, linear_scale(ctx, step))
        ctx.trace.phase("D and G step")
        x_n = real.next()
        z_n = noise(gan, cfg.batch_size, z_rng, device)
        # D <- Adam(mean_n grad L_D), then G <- Adam(mean_n grad L_G): gradients all-reduced before each step
        loss_D, loss_G = gan_step(gan, x_n, z_n, private=ctx.privacy, sync=lambda model: all_reduce_grads(
            ctx, model, "sync-dp/grad_D" if model is gan.D else "sync-dp/grad_G"))
        step += 1
        if ctx.recorder is not None:
            seen = cfg.workers * cfg.batch_size
            ctx.recorder.after_step(step, gan.G, real=seen, fake=seen, loss_d=loss_D.item(), loss_g=loss_G.item())
        if ctx.checkpoint_due(step):
            ctx.save(step, {**train_state(ctx, gan, real, z_rng), "workers": cfg.workers})


def linear_scale(ctx: RankContext, step: int) -> float:
    """Goyal et al.'s factor at `step`: from 1 to N over the first 5 epochs of global batches of N b."""
    N, b = ctx.config.workers, ctx.config.batch_size
    warmup = max(1, round(5 * len(ctx.dataset.train_x) / (N * b)))
    return 1 + (N - 1) * min(1.0, step / warmup)


def scale_learning_rates(base_lr: dict, factor: float) -> None:
    for opt, rates in base_lr.items():
        for group, lr in zip(opt.param_groups, rates):
            group["lr"] = lr * factor


def restore_replica(ctx: RankContext, gan: Gan, real: Batches, z_rng) -> int:
    """Resume this replica. After a restart with fewer workers (or a rank whose checkpoint is stale)
    every replica takes rank 0's model and optimizers, and fresh batch and noise streams."""
    state = ctx.resumed
    if state is None:
        return 0
    if state.get("workers") == ctx.config.workers and not state.get("stale"):
        return restore(ctx, gan, real, z_rng)
    gan.load(load_checkpoint(ctx.out / run_folder.CHECKPOINT) if ctx.rank else state)
    for stream in (real.rng, z_rng):
        stream.manual_seed(stream.initial_seed() + ctx.start_step)
    return ctx.start_step


SPEC = MethodSpec(
    name="sync-dp", summary="synchronous data parallel (Goyal et al. 2017): D's, then G's gradients all-reduced "
    "every step", train=train, has_server=False, on_worker_death=RESTART, kinds=("sync-dp/grad_D", "sync-dp/grad_G"),
    step_definition="one synchronous step: every worker does one D and one G step on its own batch",
    options=Options, exposes="gradients of G and D, every step",
    payloads={"sync-dp/grad_D": "gradient", "sync-dp/grad_G": "gradient"})
