"""FL-GAN: federated averaging (McMahan et al. 2017) of both G and D, the MD-GAN paper's baseline.

    server holds w = (G, D); worker n holds its own G_n, D_n and shard of m_n samples
    for round r = 1..R:
        S_r <- a random fraction C of the live workers
        s_r <- min(s, steps left in the budget)
        for n in S_r (in parallel):  w_n <- w;  s_r local steps of GAN training;  send w_n
        w <- sum_n p_n w_n,  p_n = m_n / sum_{n in S_r} m_n
One step of the budget is one local step on every selected worker, so a round of s local steps
counts s generator updates, and the last round stops where the budget does. Evaluation uses the
server's averaged G, so an evaluation interval that ends inside a round is recorded at the round's end.
A worker keeps its Adam moments from one round to the next (at N = 1 this is exactly standalone), or with
`--client-optimizer fresh` starts each round with a fresh Adam, as FedAvg clients usually do, so that
clients between rounds hold nothing at all.

Privacy (--dp-epsilon, distgan/privacy.py): every local D step is DP-SGD's (record-level DP for each
client's own records, as in DP-SGD inside FedAvg; DP-FedAvg-GAN's user-level DP clips whole updates
instead), so the weights a client sends are post-processing of private steps.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

from distgan.context import RankContext
from distgan.method_spec import DROP, MethodSpec, check, one_of, option, positive_int
from distgan.methods.batched import batchable, gan_steps
from distgan.methods.common import (
    SparePair,
    build_gan,
    flatten,
    float_state,
    gan_step,
    noise,
    put_moments,
    restore,
    take_moments,
    train_state,
    unflatten_into,
    worker_batches,
)
from distgan.methods.rounds import Rounds
from distgan.transport.base import PeerGone

TRAIN, STOP = 1.0, 0.0


@dataclass(kw_only=True)
class Options:
    local_steps: int = option(20, "fl-gan, fe-gan: s, local steps per round on every selected worker")
    local_epochs: float = option(0.0, "fl-gan, fe-gan: E, local epochs per round (overrides --local-steps when > 0)")
    client_fraction: float = option(1.0, "fl-gan, fe-gan: C, fraction of the workers selected per round")
    round_deadline: float = option(0.0, "fl-gan, fe-gan: seconds the server waits for a round's updates; late "
                                        "ones are discarded (0: wait for all)")
    min_workers: int = option(1, "fl-gan, fe-gan: with --round-deadline, the updates a round needs before it "
                                 "goes on")
    client_optimizer: str = option("keep", "fl-gan, fe-gan: keep (a client's Adam moments persist from one of its "
                                           "rounds to the next: at N = 1 this is standalone; memory grows with "
                                           "the clients ever selected) | fresh (a fresh Adam every round, as "
                                           "FedAvg clients usually start: memory bounded by the clients selected)")

    def validate(self, workers: int) -> None:
        positive_int("local_steps", self.local_steps)
        check(self.round_deadline >= 0, f"--round-deadline must be >= 0 seconds, got {self.round_deadline}")
        check(isinstance(self.min_workers, int) and 1 <= self.min_workers <= workers,
              f"--min-workers must be in 1..{workers} (the workers), got {self.min_workers}")
        check(self.local_epochs >= 0, f"--local-epochs must be >= 0, got {self.local_epochs}")
        check(0 < self.client_fraction <= 1, f"--client-fraction must be in (0, 1], got {self.client_fraction}")
        one_of("client_optimizer", self.client_optimizer, ("keep", "fresh"))


def local_steps(ctx: RankContext) -> int:
    options = ctx.options
    if options.local_epochs > 0:
        return max(1, math.ceil(options.local_epochs * ctx.mean_shard_size / ctx.config.batch_size))
    return options.local_steps


def model_state(gan) -> list[torch.Tensor]:
    return float_state(gan.G) + float_state(gan.D)


def train(ctx: RankContext) -> None:
    if ctx.rank == 0:
        select_rng = ctx.rng("clients")
        server(ctx, "fl-gan", select=lambda: sample_clients(ctx, select_rng), weigh=shard_weights,
               rng=select_rng)
    else:
        worker(ctx, "fl-gan")


# --- the server --------------------------------------------------------------------------------------
def server(ctx: RankContext, kind: str, select: Callable[[], list[int]],
           weigh: Callable[[RankContext, list[int]], dict[int, float]], rng: torch.Generator,
           sampler_state: Callable[[], dict] | None = None) -> None:
    """The round loop of a federated GAN; `select` picks S_r and `weigh` gives each client's p_n
    (FeGAN reuses it with its own two). `sampler_state()` is saved with the checkpoint if given."""
    cfg = ctx.config
    gan = build_gan(ctx)
    step = restore(ctx, gan, None, rng)
    options = ctx.options
    rounds = Rounds(ctx, options.round_deadline, options.min_workers) if options.round_deadline else None
    while step < cfg.steps:
        s_r = min(local_steps(ctx), cfg.steps - step)
        ctx.trace.begin(step + 1, s_r)
        w = flatten([p.detach() for p in model_state(gan)])
        ctx.sweep_hung(step)
        free = rounds.available(step) if rounds else None
        S_r = [r for r in select() if free is None or r in free]  # a worker still on a late round sits out
        for r in S_r:
            send(ctx, kind, r, torch.tensor([TRAIN, step, s_r], device=w.device), w, step)
        ctx.trace.phase("server average")
        p = weigh(ctx, S_r)
        total, weight, losses = torch.zeros_like(w), 0.0, []
        p_w_n = torch.empty_like(w)
        for r, w_n, stats in receive_round(ctx, kind, rounds, S_r, w, step):
            total += torch.mul(w_n, p[r], out=p_w_n)  # as p[r] * w_n rounds, into one buffer
            weight += p[r]
            losses.append(stats)
        if not losses:
            raise PeerGone(-1, "every selected worker is dead; nothing to average")
        if weight > 0:  # a weighting may give every client that arrived zero (FeGAN's dirac): keep w
            with torch.no_grad():
                unflatten_into(total if weight == 1.0 else total / weight, model_state(gan))
        done = step + s_r
        mean = torch.stack(losses).mean(0).tolist()
        seen = len(losses) * s_r * cfg.batch_size
        ctx.recorder.advance(step, done, gan.G, real=seen, fake=seen, loss_d=mean[0], loss_g=mean[1])
        if round_ends_at_checkpoint(ctx, step, done):
            ctx.save(done, {**train_state(ctx, gan, None, rng), **(sampler_state() if sampler_state else {})})
        step = done
    if rounds:
        rounds.available(step, block=True)  # the late updates still out land (and are discarded) first
        ctx.recorder.extra["late"] = rounds.late
    for r in ctx.live_workers():
        send(ctx, kind, r, torch.tensor([STOP, step, 0], device=ctx.device), None, step)


def receive_round(ctx: RankContext, kind: str, rounds: Rounds | None, S_r: list[int], w: torch.Tensor,
                  step: int) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
    """Each selected worker's (rank, w_n, stats): all of them in S_r's order, or those in by the round's
    deadline. Without a deadline every w_n lands in one buffer, so use it before taking the next."""
    if rounds is not None:
        for r, (w_n, stats) in rounds.collect(S_r, [(w, f"{kind}/params"),
                                                    (torch.empty(2, device=w.device), f"{kind}/stats")], step).items():
            yield r, w_n, stats
        return
    w_n = torch.empty_like(w)
    for r in S_r:
        stats = torch.empty(2, device=w.device)
        try:
            ctx.transport.recv(w_n, r, f"{kind}/params")
            ctx.transport.recv(stats, r, f"{kind}/stats")
        except PeerGone as e:
            ctx.lose(r, step, e)
            continue
        yield r, w_n, stats


def sample_clients(ctx: RankContext, rng: torch.Generator) -> list[int]:
    """S_r: a uniformly random fraction C of the live workers."""
    live = ctx.live_workers()
    count = max(1, round(ctx.options.client_fraction * len(live)))
    if count >= len(live):
        return live
    return sorted(live[j] for j in torch.randperm(len(live), generator=rng)[:count].tolist())


def shard_weights(ctx: RankContext, S_r: list[int]) -> dict[int, float]:
    """FedAvg's p_n = m_n / sum of m over S_r."""
    sizes = {r: len(ctx.shards[r - 1]) for r in S_r}
    return {r: m_n / sum(sizes.values()) for r, m_n in sizes.items()}


def send(ctx: RankContext, kind: str, r: int, control: torch.Tensor, w: torch.Tensor | None, step: int) -> None:
    try:
        ctx.transport.send(control, r, f"{kind}/control")
        if w is not None:
            ctx.transport.send(w, r, f"{kind}/params")
    except PeerGone as e:
        ctx.lose(r, step, e)


# --- a worker ----------------------------------------------------------------------------------------
def worker(ctx: RankContext, kind: str) -> None:
    """A client holds models only while it trains a round: each round loads the server's w into models it
    borrows for the round (`SparePair`). Between rounds it keeps just its Adam moments (2 floats per
    parameter, none until it is first selected, and none with `--client-optimizer fresh`)."""
    t, device = ctx.transport, ctx.device
    spare = ctx.shared.setdefault("spare_pair", SparePair())
    real = worker_batches(ctx)
    z_rng = ctx.rng("noise")
    moments = restore_client(ctx, real, z_rng)
    control = torch.empty(3, device=device)
    local_step = 0
    while True:
        t.recv(control, 0, f"{kind}/control")
        if control[0].item() == STOP:
            break
        step, s_r = int(control[1].item()), int(control[2].item())
        ctx.trace.begin(step + 1, s_r)
        gan = spare.borrow(ctx)
        try:
            local_step, moments = local_round(ctx, kind, gan, moments, real, z_rng, step, s_r, local_step)
            if ctx.options.client_optimizer == "fresh":
                moments = None
        finally:
            spare.give_back(gan)


def local_round(ctx: RankContext, kind: str, gan, moments, real, z_rng, step: int, s_r: int,
                local_step: int) -> tuple[int, dict]:
    """w_n <- w; s_r local steps; send w_n. Returns the local step count and Adam's moments to keep."""
    cfg, t = ctx.config, ctx.transport
    w = gan.flat  # G's and D's parameters and statistics are views of it: receiving w loads them
    t.recv(w, 0, f"{kind}/params")
    if moments is not None:
        put_moments(gan, moments)
    batched = t.batches_compute and batchable(gan.D, ctx.privacy)  # simulated clients' steps as one (batched.py)
    ctx.trace.phase("worker local steps, batched" if batched else "worker local steps")
    for _ in range(s_r):
        ctx.crash_point(local_step)
        x, z = real.next(), noise(gan, cfg.batch_size, z_rng, ctx.device)
        with ctx.compute():
            if batched:
                loss_D, loss_G = t.together(f"{kind}/local step", gan_steps, (gan, x, z))
            else:
                loss_D, loss_G = gan_step(gan, x, z, private=ctx.privacy)
        local_step += 1
    t.send(w, 0, f"{kind}/params")  # w_n: the models trained in place
    t.send(torch.stack([loss_D, loss_G]), 0, f"{kind}/stats")
    if round_ends_at_checkpoint(ctx, step, step + s_r):
        ctx.save(step + s_r, train_state(ctx, gan, real, z_rng))
    return local_step, take_moments(gan)


def restore_client(ctx: RankContext, real, z_rng: torch.Generator) -> dict | None:
    """A resuming client's batch order, noise stream and Adam moments (None if it has none yet, or if
    every round starts a fresh Adam)."""
    if ctx.resumed is None:
        return None
    real.load(ctx.resumed["batches"])
    z_rng.set_state(ctx.resumed["z_rng"])
    if ctx.options.client_optimizer == "fresh":
        return None
    gan = build_gan(ctx)
    gan.opt_G.load_state_dict(ctx.resumed["opt_G"])
    gan.opt_D.load_state_dict(ctx.resumed["opt_D"])
    return take_moments(gan)


def round_ends_at_checkpoint(ctx: RankContext, start: int, end: int) -> bool:
    """A round that reaches or crosses a checkpoint interval ends with a checkpoint, as does one where a requested
    stop ends the run."""
    every = ctx.config.checkpoint_every
    return ctx.stop_plan.due(end) or end == ctx.config.steps or end // every > start // every


SPEC = MethodSpec(
    name="fl-gan", summary="federated averaging of G and D (McMahan et al. 2017), the MD-GAN paper's FL-GAN",
    train=train, has_server=True, on_worker_death=DROP, kinds=("fl-gan/params", "fl-gan/control", "fl-gan/stats"),
    step_definition="one local step (one D and one G step) on every selected worker; a round is s steps",
    options=Options, exposes="G and D weights, every round", payloads={"fl-gan/params": "weights"})
