"""Gossiping GANs (Hardy, Le Merrer, Sericola, "Gossiping GANs: Position paper", DIDL at Middleware 2018): no
server; every worker trains its own G and D on its shard and now and then pushes them to a random peer, which
merges them into its own, as GoSGD does (Blot, Picard, Cord, Thome, "Gossip training for deep learning", 2016).

    worker n = 1..N holds G_n, D_n, shard B_n, and a weight a_n = 1/N for each model (push-sum)
    for step = 1..T:
        D_n <- Adam step on L_D(real batch of B_n, G_n(z));  G_n <- Adam step on L_G(D_n(G_n(z)))
        every E steps (--gossip-every):
            joint:       draw a peer j != n; a_n <- a_n / 2; send (G_n, D_n, a_n) to j
            independent: draw j for G and, independently, k for D; each model's weight halves and travels with it
        on receiving (theta, a) for a model:  theta_n <- (a_n theta_n + a theta) / (a_n + a);  a_n <- a_n + a

What the papers fix, and what distgan chose where they are silent:
- The merge is GoSGD's sum-weight rule (push-sum): the sender halves its weight and keeps its model, the
  receiver takes the weighted mean, so the weights always sum to 1 over the workers and the models tend to
  their mean. The position paper gossips the way Blot et al. do; it says no more.
- Exchanges happen every E steps on every worker at once (the paper's workers gossip with a probability p per
  step; E = 1/p in expectation), and each worker draws its peer uniformly from the N - 1 others from a seeded
  stream that every worker shares, so every receiver knows whom to wait for and runs repeat.
- Only the models travel: parameters and BatchNorm statistics. Adam's moments stay where they are, each
  worker's own (the papers name no optimizer state), so a merge moves the weights, not the optimizer.
- The independent variant draws D's peer independently of G's, as the position paper's abstract has it ("GAN
  components are gossiped independently"): the same peer with probability 1/(N - 1), always at N = 2. Forcing
  different peers would make the draws dependent, and is impossible at N = 2.
- A worker that receives from several peers in one exchange merges them in rank order; one that receives
  nothing keeps its model. A worker that draws a dead peer skips that exchange (its peers stop sending to it);
  a dead sender is dropped when its message does not come.
- The evaluated G is rank 0's own G_1 (with the EMA the recipe keeps on digits): the model a user at that
  worker would hold. Gossip keeps the workers' models close but not equal, and no machine holds their mean.

At N = 1 no exchange happens and the worker is standalone, step for step (tests/methods/test_reduction.py).
Bytes: gossip-gan/G and gossip-gan/D, |theta| floats each, and gossip-gan/weight, the weight a (one float64)
after each; peer to peer, no rank relays.

Privacy (--dp-epsilon, distgan/privacy.py): every local D step is DP-SGD's, so the G and D a worker pushes are
post-processing of private steps. Compression (--compress) treats G and D as weights: casts and int8 apply,
top-k is skipped. The weight a is no payload and travels as it is: push-sum conserves the weights' sum only if
every a arrives exactly.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from distgan.context import RankContext
from distgan.method_spec import DROP, MethodSpec, one_of, option, positive_int
from distgan.methods.common import (
    build_gan,
    flatten,
    float_state,
    gan_step,
    noise,
    restore,
    train_state,
    unflatten_into,
    worker_batches,
)
from distgan.transport.base import PeerGone

log = logging.getLogger(__name__)
VARIANTS = ("joint", "independent")
WEIGHT = "gossip-gan/weight"  # push-sum's a, sent after each model: not a payload, so never encoded


@dataclass(kw_only=True)
class Options:
    gossip_every: int = option(10, "gossip-gan: E, local steps between exchanges (the paper's 1/p)")
    gossip_variant: str = option("joint", "gossip-gan: joint (G and D to one peer) | independent (G's and D's "
                                 "peers drawn independently: the same one with probability 1/(N-1)), the position "
                                 "paper's two variants")

    def validate(self, workers: int) -> None:
        positive_int("gossip_every", self.gossip_every)
        one_of("gossip_variant", self.gossip_variant, VARIANTS)


def train(ctx: RankContext) -> None:
    cfg, device = ctx.config, ctx.device
    gan = build_gan(ctx)
    real = worker_batches(ctx)
    z_rng = ctx.rng("noise")
    plan_rng = ctx.rng("gossip", shared=True)  # every worker draws the same plan
    weights = {"G": 1.0 / cfg.workers, "D": 1.0 / cfg.workers}
    step = restore(ctx, gan, real, z_rng)
    if ctx.resumed is not None:
        weights = {"G": float(ctx.resumed["gossip_weights"][0]), "D": float(ctx.resumed["gossip_weights"][1])}
        plan_rng.set_state(ctx.resumed["gossip_plan"])
    while step < cfg.steps:
        ctx.trace.begin(step + 1)
        ctx.crash_point(step)
        ctx.trace.phase("D and G step")
        with ctx.compute():
            loss_D, loss_G = gan_step(gan, real.next(), noise(gan, cfg.batch_size, z_rng, device),
                                      private=ctx.privacy)
        step += 1
        if cfg.workers > 1 and step % ctx.options.gossip_every == 0:
            ctx.trace.phase("gossip")
            gossip(ctx, gan, weights, plan_rng, step)
        if ctx.recorder is not None:
            seen = len(ctx.live_workers()) * cfg.batch_size
            ctx.recorder.after_step(step, gan.G, real=seen, fake=seen, loss_d=loss_D.item(), loss_g=loss_G.item())
        if ctx.checkpoint_due(step):
            ctx.save(step, {**train_state(ctx, gan, real, z_rng), "gossip_plan": plan_rng.get_state(),
                            "gossip_weights": torch.tensor([weights["G"], weights["D"]], dtype=torch.float64)})


def draw_peers(plan_rng: torch.Generator, workers: int) -> list[int]:
    """For each worker n (rank n), a peer j != n, uniformly."""
    shift = torch.randint(1, workers, (workers,), generator=plan_rng)
    return [(n + int(s)) % workers for n, s in enumerate(shift)]


def gossip(ctx: RankContext, gan, weights: dict[str, float], plan_rng: torch.Generator, step: int) -> None:
    """One exchange: push each model to its drawn peer, then merge what was pushed here, in rank order."""
    workers = ctx.config.workers
    joint = draw_peers(plan_rng, workers)
    targets = {"G": joint, "D": joint if ctx.options.gossip_variant == "joint" else draw_peers(plan_rng, workers)}
    t, me = ctx.transport, ctx.rank
    sent = []
    for part, module in (("G", gan.G), ("D", gan.D)):
        peer = targets[part][me]
        if peer in ctx.dead:
            continue  # a dead peer is not gossiped with
        weights[part] /= 2
        theta, a = flatten([x.detach() for x in float_state(module)]), push_sum_weight(weights[part], ctx.device)
        sent.append((peer, t.isend(theta, peer, f"gossip-gan/{part}")))
        sent.append((peer, t.isend(a, peer, WEIGHT)))
    for part, module in (("G", gan.G), ("D", gan.D)):
        mine = float_state(module)
        for sender in range(workers):
            if targets[part][sender] != me or sender == me or sender in ctx.dead:
                continue
            theirs = torch.empty(sum(x.numel() for x in mine), device=ctx.device)
            a = push_sum_weight(0.0, ctx.device)
            try:
                t.recv(theirs, sender, f"gossip-gan/{part}")
                t.recv(a, sender, WEIGHT)
            except PeerGone as e:
                _lose(ctx, sender, step, e)
                continue
            a = float(a)
            total = weights[part] + a
            with torch.no_grad():
                merged = (weights[part] * flatten([x.detach() for x in mine]) + a * theirs) / total
                unflatten_into(merged, mine)
            weights[part] = total
    for peer, pending in sent:
        try:
            pending.wait()
        except PeerGone as e:
            _lose(ctx, peer, step, e)


def push_sum_weight(a: float, device: torch.device) -> torch.Tensor:
    """The weight a as it travels: float64, as it is kept, and on its own kind, which no codec touches (in one
    int8 chunk with G's last values, 0.01 decoded 25% off and the weights stopped summing to 1)."""
    return torch.tensor([a], dtype=torch.float64, device=device)


def _lose(ctx: RankContext, rank: int, step: int, error: PeerGone) -> None:
    ctx.drop(rank, step, error.reason, ctx.recorder.wall_s() if ctx.recorder else 0.0, kind=error.kind,
             silent_s=error.silent_s, at_unix_s=error.at_unix_s)


SPEC = MethodSpec(
    name="gossip-gan", summary="Gossiping GANs (Hardy, Le Merrer, Sericola 2018): no server; each worker's G and "
    "D pushed to a random peer and merged (GoSGD)", train=train, has_server=False, on_worker_death=DROP,
    kinds=("gossip-gan/G", "gossip-gan/D", WEIGHT),
    step_definition="one local step (one D and one G step) on every worker; an exchange every E steps",
    options=Options, exposes="G and D weights, to one random peer every E steps",
    payloads={"gossip-gan/G": "weights", "gossip-gan/D": "weights"},
    stop_lead=lambda options: 2 * options.gossip_every + 1)  # peers run up to an exchange or two ahead of rank 0
