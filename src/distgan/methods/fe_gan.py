"""FeGAN (Guerraoui, Guirguis, Kermarrec, Le Merrer, Middleware 2020; code: LPD-EPFL/FeGAN, dist-lsgan.py).

    device n holds G_n, D_n, its shard and its label counts c_n; it sends c_n to the server once
    server: q <- sum_n c_n / sum_n |c_n|;  s_n <- KL(c_n/|c_n| || q) * |c_n| / sum_m |c_m|
    for round r = 1..R:
        S_r <- balanced sampling of a fraction C of the devices:
               per slot, the class taken least so far; the next device holding it, round robin;
               the class counts taken grow by that device's c_n
        s_r <- min(s, steps left in the budget)
        for n in S_r (in parallel):  (G_n, D_n) <- (G, D);  s_r local GAN steps;  send (G_n, D_n)
        (G, D) <- sum_n w_n (G_n, D_n),  w = softmax(s_S)  (exp) | s_S / sum s_S  (linear) |
                                           linear, below 0.5 zeroed, renormalised  (dirac)

What the paper fixes: each device trains a G and a D; the server aggregates with balanced sampling and
KL weighting. Its full text was not at hand, so the details follow the authors' code, with these choices:
- q is the label distribution of all devices together (the code hard-codes MNIST's), and |c_n| is
  normalised by the devices' total (the code divides by MNIST's 60,000).
- As in the code, a larger KL x share gives a larger weight, the size share lives inside the score (no
  separate FedAvg factor), both G and D are weighed alike, and Adam's moments stay on the device.
- The code picks the least-taken class even when no device left can give it, and leaves the slot empty;
  here such classes are skipped. dirac with no device at 0.5 (the code divides a list and fails) falls
  back to linear. `--kl-weighting none` is FedAvg's p_n, for ablations.
- Rank 0 is a server without data, as for fl-gan (the code's rank 0 also trains), and it takes no extra
  Adam step after averaging (the code's does, an artefact of averaging between backward and step).
- A local step is D then G, as in every distgan method (the code does G then D).
The label counts are the only metadata that leave a device: `fe-gan/labels`, once per start.

Privacy (--dp-epsilon, distgan/privacy.py): local D steps are DP-SGD's, as in fl-gan. The label counts are
outside the guarantee: they leave each device as they are, so a private fe-gan run protects the records'
images, not how many of each class a device holds.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import torch

from distgan.context import RankContext
from distgan.errors import DistganError
from distgan.method_spec import DROP, MethodSpec, one_of, option
from distgan.methods import fl_gan
from distgan.transport.base import PeerGone

SCHEMES = ("exp", "linear", "dirac", "none")


@dataclass(kw_only=True)
class Options(fl_gan.Options):
    sampling: str = option("balanced", "fe-gan: balanced (FeGAN's class-balanced device sampling) | uniform")
    kl_weighting: str = option("exp", "fe-gan: exp | linear | dirac (FeGAN's KL weights) | none (FedAvg's)")

    def validate(self, workers: int) -> None:
        super().validate(workers)
        one_of("sampling", self.sampling, ("balanced", "uniform"))
        one_of("kl_weighting", self.kl_weighting, SCHEMES)


def train(ctx: RankContext) -> None:
    if ctx.dataset.train_y is None:
        raise DistganError(f"fe-gan weighs devices by their label distributions, and {ctx.config.dataset} has no "
                           "labels; use fl-gan, or a folder with class subfolders")
    if ctx.rank == 0:
        server(ctx)
    else:
        counts = torch.bincount(ctx.dataset.train_y[ctx.shards[ctx.worker]], minlength=ctx.dataset.num_classes)
        ctx.transport.send(counts.float().to(ctx.device), 0, "fe-gan/labels")
        fl_gan.worker(ctx, "fe-gan")


def server(ctx: RankContext) -> None:
    counts = {}
    for r in ctx.worker_ranks:
        c_n = torch.empty(ctx.dataset.num_classes, device=ctx.device)
        try:
            ctx.transport.recv(c_n, r, "fe-gan/labels")
            counts[r] = c_n.cpu().double()
        except PeerGone as e:
            ctx.lose(r, 0, e)
    scores = kl_scores(counts)
    rng = ctx.rng("clients")
    sampler = BalancedSampler(counts, ctx.resumed)
    options = ctx.options

    def select() -> list[int]:
        live = ctx.live_workers()
        size = max(1, round(options.client_fraction * len(live)))
        if options.sampling == "balanced":
            return sampler.select(live, size)
        return fl_gan.sample_clients(ctx, rng)

    def weigh(ctx: RankContext, S_r: list[int]) -> dict[int, float]:
        if options.kl_weighting == "none":
            return fl_gan.shard_weights(ctx, S_r)
        return kl_weights(options.kl_weighting, {r: scores[r] for r in S_r})

    fl_gan.server(ctx, "fe-gan", select=select, weigh=weigh, rng=rng, sampler_state=sampler.state)


def kl_scores(counts: dict[int, torch.Tensor]) -> dict[int, float]:
    """s_n = KL(p_n || q) * |c_n| / sum |c|, natural log, with q the label distribution of all devices."""
    total = sum(counts.values())
    q = total / total.sum()
    scores = {}
    for r, c in counts.items():
        p = c / c.sum()
        held = p > 0
        scores[r] = float((p[held] * (p[held] / q[held]).log()).sum() * c.sum() / total.sum())
    return scores


def kl_weights(scheme: str, scores: dict[int, float]) -> dict[int, float]:
    """w over the round's devices: softmax of the scores (exp), their shares (linear), or dirac."""
    if scheme == "exp":
        top = max(scores.values())
        e = {r: math.exp(s - top) for r, s in scores.items()}
        return {r: v / sum(e.values()) for r, v in e.items()}
    total = sum(scores.values())
    linear = {r: (s / total if total > 0 else 1 / len(scores)) for r, s in scores.items()}
    if scheme == "dirac":
        kept = {r: (w if w >= 0.5 else 0.0) for r, w in linear.items()}
        if sum(kept.values()) > 0:
            return {r: w / sum(kept.values()) for r, w in kept.items()}
    return linear


class BalancedSampler:
    """FeGAN's balanced sampling: each slot goes to the class taken least so far, and to the next device
    (round robin per class) that holds it; the class counts taken persist from round to round."""

    def __init__(self, counts: dict[int, torch.Tensor], resumed: dict | None):
        self.counts = counts
        classes = len(next(iter(counts.values()))) if counts else 0
        self.taken = torch.zeros(classes, dtype=torch.float64)
        # the code fills each class's queue in descending rank order
        self.queues = [deque(sorted((r for r, c in counts.items() if c[k] > 0), reverse=True)) for k in range(classes)]
        if resumed is not None and "fegan_taken" in resumed:
            self.taken = resumed["fegan_taken"]
            self.queues = [deque(q.tolist()) for q in resumed["fegan_queues"]]

    def select(self, live: list[int], size: int) -> list[int]:
        group: list[int] = []
        while len(group) < size:
            eligible = [k for k, q in enumerate(self.queues) if any(r in live and r not in group for r in q)]
            if not eligible:
                break
            k = min(eligible, key=lambda j: (self.taken[j].item(), j))
            queue = self.queues[k]
            while True:
                r = queue[0]
                queue.rotate(-1)
                if r in live and r not in group:
                    break
            group.append(r)
            self.taken += self.counts[r]
        return sorted(group)

    def state(self) -> dict:
        return {"fegan_taken": self.taken.clone(),
                "fegan_queues": [torch.tensor(list(q), dtype=torch.long) for q in self.queues]}


SPEC = MethodSpec(
    name="fe-gan", summary="FeGAN (Guerraoui et al. 2020): federated G and D with balanced device sampling and "
    "KL-weighted averaging", train=train, has_server=True, on_worker_death=DROP,
    kinds=("fe-gan/labels", "fe-gan/params", "fe-gan/control", "fe-gan/stats"),
    step_definition="one local step (one D and one G step) on every selected device; a round is s steps",
    options=Options, exposes="G and D weights every round; label counts once", payloads={"fe-gan/params": "weights"})
