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

Under a sparsifying codec (`--compress topk:F`) the workers average Adam's updates, not its gradients,
as Efficient-Adam's workers do (Chen, Shen, Liu, Luo 2022, arXiv:2205.14473):
        D_n' <- Adam_n(g_D of worker n)          each worker its own moments, on its own gradient
        u_n <- D_n' - D;  D <- D + (1/N) sum_n topk(u_n + e_n)      e_n: what worker n's top-k held back
and the same for G. Error feedback is sound on the update, which is applied as it is; on gradients that then
go through Adam it is not: Adam scales a residual released late down to about its learning rate, so the mass
held back is lost (1-bit Adam, Tang et al. 2021, ICML, arXiv:2102.02888, on why error compensation fails under
Adam's non-linear step). Every worker decodes all N updates and sums them in rank order, so the replicas stay
identical. Without a sparsifying codec the gradients are averaged, as above. Its limits: a coordinate's update
waits about 1/F steps in the residual and then lands at once, so it overshoots where lr/F exceeds the distance
left to travel; and each worker's Adam normalizes its own gradient, which biases the mean update when the
workers' data differ (tests/methods/test_adam_error_feedback.py uses iid workers).

Privacy (--dp-epsilon, distgan/privacy.py): each replica's D gradient is made private (DP-SGD on its own
batch) before the all-reduce, so what leaves a worker is already private; G's gradient is computed through
the private D on generated data alone, which is post-processing.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

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
    unflatten_into,
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


def average_adam_update(transport, params: list[torch.Tensor], opt: torch.optim.Optimizer, kind: str) -> None:
    """Step this worker's Adam on its own gradient, then take the mean of every worker's update in its place
    (Efficient-Adam's worker; the transport's top-k keeps its error feedback on the update). Leaves no
    gradient behind, so gan_step's own optimizer step that follows has nothing to apply."""
    w = flatten([p.detach() for p in params])
    opt.step()
    u = flatten([p.detach() for p in params]) - w
    transport.all_reduce_mean(u, kind)
    with torch.no_grad():
        unflatten_into(w + u, params)
    opt.zero_grad(set_to_none=True)


def sync(ctx: RankContext, gan: Gan):
    """What each replica does before its optimizer step: all-reduce its gradients, or, under a sparsifying
    codec, take the step itself and average the updates."""
    compression = ctx.transport.compression
    if compression is None or not compression.codec.sparse:
        return lambda model: all_reduce_grads(ctx, model, "sync-dp/grad_D" if model is gan.D else "sync-dp/grad_G")
    return lambda model: average_adam_update(ctx.transport, list(model.parameters()),
                                             gan.opt_D if model is gan.D else gan.opt_G,
                                             "sync-dp/update_D" if model is gan.D else "sync-dp/update_G")


def train(ctx: RankContext) -> None:
    cfg, device = ctx.config, ctx.device
    gan = build_gan(ctx)
    real = worker_batches(ctx)
    z_rng = ctx.rng("noise")
    step = restore_replica(ctx, gan, real, z_rng)
    base_lr = {opt: [g["lr"] for g in opt.param_groups] for opt in (gan.opt_D, gan.opt_G)}
    average = sync(ctx, gan)
    while step < cfg.steps:
        ctx.trace.begin(step + 1)
        ctx.crash_point(step)
        if ctx.options.lr_scaling == "linear":
            scale_learning_rates(base_lr, linear_scale(ctx, step))
        ctx.trace.phase("D and G step")
        x_n = real.next()
        z_n = noise(gan, cfg.batch_size, z_rng, device)
        # D <- Adam(mean_n grad L_D), then G <- Adam(mean_n grad L_G): gradients all-reduced before each step
        # (under top-k: D <- D + mean_n of each worker's Adam update, then G likewise)
        loss_D, loss_G = gan_step(gan, x_n, z_n, private=ctx.privacy, sync=average)
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
    "every step", train=train, has_server=False, on_worker_death=RESTART,
    kinds=("sync-dp/grad_D", "sync-dp/grad_G", "sync-dp/update_D", "sync-dp/update_G"),
    step_definition="one synchronous step: every worker does one D and one G step on its own batch",
    options=Options, exposes="gradients of G and D, every step (under top-k: Adam's updates of them)",
    payloads={"sync-dp/grad_D": "gradient", "sync-dp/grad_G": "gradient", "sync-dp/update_D": "gradient",
              "sync-dp/update_G": "gradient"})
