"""FL-GAN: federated averaging (McMahan et al. 2017) of both G and D, the MD-GAN paper's baseline.

    server holds w = (G, D); worker n holds its own G_n, D_n and shard of m_n samples
    for round r = 1..R:
        S_r <- a random fraction C of the live workers
        for n in S_r (in parallel):  w_n <- w;  E local epochs (or s local steps) of GAN training;  send w_n
        w <- sum_n m_n w_n / sum_n m_n
One step of the budget is one local step on every selected worker, so a round of s local steps
counts s generator updates. Evaluation uses the server's averaged G.
"""

from __future__ import annotations

import math

import torch

from distgan.context import RankContext
from distgan.methods.common import (
    Batches,
    build_gan,
    flatten,
    float_state,
    gan_step,
    noise,
    restore,
    train_state,
    unflatten_into,
)
from distgan.transport.base import PeerGone

KINDS = ("fl-gan/params", "fl-gan/control", "fl-gan/stats")
STEP_DEFINITION = "one local step (one D and one G step) on every selected worker; a round is s steps"
TRAIN, STOP = 1.0, 0.0


def local_steps(ctx: RankContext) -> int:
    cfg = ctx.config
    if cfg.local_epochs > 0:
        m = sum(len(s) for s in ctx.shards) / len(ctx.shards)
        return max(1, math.ceil(cfg.local_epochs * m / cfg.batch_size))
    return cfg.local_steps


def model_state(gan) -> list[torch.Tensor]:
    return float_state(gan.G) + float_state(gan.D)


def train(ctx: RankContext) -> None:
    (server if ctx.rank == 0 else worker)(ctx)


# --- the server --------------------------------------------------------------------------------------
def server(ctx: RankContext) -> None:
    cfg, t = ctx.config, ctx.transport
    gan = build_gan(ctx)
    select_rng = ctx.rng("clients")
    step = restore(ctx, gan, None, select_rng)
    s = local_steps(ctx)
    while step < cfg.steps:
        w = flatten([p.detach() for p in model_state(gan)])
        S_r = sample_clients(ctx, select_rng)
        for r in S_r:
            send(ctx, r, torch.tensor([TRAIN, step], device=w.device), w, step)
        total, weight, losses = torch.zeros_like(w), 0.0, []
        for r in S_r:
            w_n, stats = torch.empty_like(w), torch.empty(2, device=w.device)
            try:
                t.recv(w_n, r, "fl-gan/params")
                t.recv(stats, r, "fl-gan/stats")
            except PeerGone as e:
                ctx.drop(r, step, e.reason, ctx.recorder.wall_s())
                continue
            m_n = len(ctx.shards[r - 1])
            total += m_n * w_n
            weight += m_n
            losses.append(stats)
        if weight == 0:
            raise PeerGone(-1, "every selected worker is dead; nothing to average")
        with torch.no_grad():
            unflatten_into(total / weight, model_state(gan))
        done = min(cfg.steps, step + s)
        mean = torch.stack(losses).mean(0).tolist()
        ctx.recorder.advance(step, done, gan.G, loss_d=mean[0], loss_g=mean[1])
        step = done
        if round_ends_at_checkpoint(ctx, step):
            ctx.save(step, train_state(ctx, gan, None, select_rng))
    for r in ctx.live_workers():
        send(ctx, r, torch.tensor([STOP, step], device=ctx.device), None, step)


def sample_clients(ctx: RankContext, rng: torch.Generator) -> list[int]:
    live = ctx.live_workers()
    count = max(1, round(ctx.config.client_fraction * len(live)))
    if count >= len(live):
        return live
    return sorted(live[j] for j in torch.randperm(len(live), generator=rng)[:count].tolist())


def send(ctx: RankContext, r: int, control: torch.Tensor, w: torch.Tensor | None, step: int) -> None:
    try:
        ctx.transport.send(control, r, "fl-gan/control")
        if w is not None:
            ctx.transport.send(w, r, "fl-gan/params")
    except PeerGone as e:
        ctx.drop(r, step, e.reason, ctx.recorder.wall_s())


# --- a worker ----------------------------------------------------------------------------------------
def worker(ctx: RankContext) -> None:
    cfg, t, device = ctx.config, ctx.transport, ctx.device
    gan = build_gan(ctx)
    real = Batches(ctx.local_data(), cfg.batch_size, ctx.rng("batches"))
    z_rng = ctx.rng("noise")
    restore(ctx, gan, real, z_rng)
    state = model_state(gan)
    w = flatten([p.detach() for p in state])
    control = torch.empty(2, device=device)
    local_step = 0
    while True:
        t.recv(control, 0, "fl-gan/control")
        if control[0].item() == STOP:
            break
        t.recv(w, 0, "fl-gan/params")
        with torch.no_grad():
            unflatten_into(w, state)
        for _ in range(local_steps(ctx)):
            ctx.crash_point(local_step)
            loss_D, loss_G = gan_step(gan, real.next(), noise(gan, cfg.batch_size, z_rng, device))
            local_step += 1
        t.send(flatten([p.detach() for p in state]), 0, "fl-gan/params")
        t.send(torch.stack([loss_D, loss_G]), 0, "fl-gan/stats")
        step = min(cfg.steps, int(control[1].item()) + local_steps(ctx))
        if round_ends_at_checkpoint(ctx, step):
            ctx.save(step, train_state(ctx, gan, real, z_rng))


def round_ends_at_checkpoint(ctx: RankContext, step: int) -> bool:
    """A round of s steps that reaches or crosses a checkpoint interval ends with a checkpoint."""
    every = ctx.config.checkpoint_every
    return step == ctx.config.steps or step // every > (step - local_steps(ctx)) // every
