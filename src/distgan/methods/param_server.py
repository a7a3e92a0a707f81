"""Asynchronous parameter server, Downpour-style (Dean et al. 2012; Li et al. 2014), for G and D.

    server holds w = (G, D) at version v; it serves one message at a time, in arrival order:
        pull from n:  reply (v, w)
        push from n:  (g_D, g_G) computed on version v_n;  staleness = v - v_n
                      D <- Adam(g_D);  G <- Adam(g_G);  v <- v + 1
    worker n (a model replica), forever until told to stop:
        every n_fetch steps: pull w                               (a round trip: it needs the reply)
        X_g <- G(z);  g_D <- grad_D L_D(x_n, X_g);  D <- D - Adam(g_D)      on its own copy
                      g_G <- grad_G L_G(D(X_g));    G <- G - Adam(g_G)      against the D just updated
        accumulate (g_D, g_G);  every n_push steps: push them     (posted; the replica does not wait)
Between pulls a replica keeps training its own copy: Dean et al. 2012, Algorithm 7.1 (DownpourSGDClient)
applies each gradient locally, "parameters <- parameters - alpha * gradient", besides accruing it for the
push. distgan's replica does so with its own Adam, so its D and G steps alternate exactly as in every
other method, and at N = 1 with n_fetch = n_push = 1 the server's G is standalone's, step for step.
One step of the budget is one push applied on the server (one D and one G update). Under the simulated
transport, "arrival order" is a seeded schedule, so runs repeat.

Under a sparsifying codec (`--compress topk:F`) a worker pushes its replica's own Adam updates since the last
push, u = w_n' - w_n, and the server applies them as they are (w <- w + u), as Efficient-Adam's workers send
their Adam updates to the server (Chen, Shen, Liu, Luo 2022, arXiv:2205.14473). Top-k's error feedback is sound
on an update that is applied linearly; on a gradient that then goes through the server's Adam it is not (the
server scales a late residual down to about its learning rate: 1-bit Adam, Tang et al. 2021). The server's
optimizers then go unused.

Privacy (--dp-epsilon, distgan/privacy.py): each replica's D step is DP-SGD's, so the D gradients it
accrues and pushes are private; the pushed G gradients come through the private D on generated data alone.
A worker takes at most one D step per budget step, so the planned steps bound its epsilon.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from distgan.context import RankContext
from distgan.method_spec import DROP, MethodSpec, option, positive_int
from distgan.methods.common import (
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
from distgan.transport.base import PeerGone, Pending


@dataclass(kw_only=True)
class Options:
    pull_every: int = option(1, "async-ps: n_fetch, steps between parameter pulls from the server")
    push_every: int = option(1, "async-ps: n_push, steps between gradient pushes to the server")

    def validate(self, workers: int) -> None:
        positive_int("pull_every", self.pull_every)
        positive_int("push_every", self.push_every)

PULL, PUSH, GO, STOP = 1.0, 2.0, 3.0, 4.0
HEADER = 4  # [type, version, loss_d, loss_g]


def train(ctx: RankContext) -> None:
    (server if ctx.rank == 0 else worker)(ctx)


def params(gan) -> list[torch.Tensor]:
    return list(gan.D.parameters()) + list(gan.G.parameters())


def buffers(gan) -> list[torch.Tensor]:
    return [b for b in gan.G.buffers() if b.is_floating_point()]


# --- the server --------------------------------------------------------------------------------------
def server(ctx: RankContext) -> None:
    cfg, t = ctx.config, ctx.transport
    gan = build_gan(ctx)
    v = restore(ctx, gan, None, ctx.rng("noise"))
    stale: list[int] = []
    applied = {r: 0 for r in ctx.worker_ranks}
    header = torch.empty(HEADER, dtype=torch.float64)
    while v < cfg.steps:
        ctx.trace.begin(v + 1)  # pulls served at version v belong to the record of the push that makes v + 1
        ctx.sweep_hung(v)
        n = t.recv_any(header, ctx.live_workers(), "async-ps/control")
        if header[0].item() == PULL:
            try:
                reply_to_pull(ctx, gan, n, v)
            except PeerGone as e:
                ctx.lose(n, v, e)
            continue
        try:
            pushed = receive_push(ctx, gan, n)
        except PeerGone as e:  # it hung, or died, between its header and its gradients
            ctx.lose(n, v, e)
            continue
        stale.append(v - int(header[1].item()))
        applied[n] += 1
        ctx.trace.phase("server apply")
        (apply_update if sends_updates(ctx) else apply_gradients)(gan, pushed)
        v += 1
        window = stale[-cfg.log_every:]
        seen = ctx.options.push_every * cfg.batch_size
        ctx.recorder.after_step(v, gan.G, real=seen, fake=seen, loss_d=header[2].item(), loss_g=header[3].item(),
                                staleness_mean=sum(window) / len(window), staleness_max=float(max(window)))
        if ctx.checkpoint_due(v):
            ctx.save(v, train_state(ctx, gan, None, ctx.rng("noise")))
    stop_workers(ctx, gan, v)
    ctx.recorder.extra["staleness"] = {"mean": sum(stale) / max(1, len(stale)), "max": max(stale, default=0),
                                       "histogram": _histogram(stale)}
    ctx.recorder.extra["pushes_applied"] = {str(r): c for r, c in applied.items()}


def reply_to_pull(ctx: RankContext, gan, n: int, v: int, stop: bool = False) -> None:
    reply = torch.tensor([STOP if stop else GO, v, 0, 0], dtype=torch.float64, device=ctx.device)
    ctx.transport.send(reply, n, "async-ps/control")
    if not stop:
        ctx.transport.send(flatten([p.detach() for p in params(gan)] + buffers(gan)), n, "async-ps/params")


def sends_updates(ctx: RankContext) -> bool:
    """Top-k: workers push their Adam updates, on which error feedback is sound, not gradients."""
    return ctx.transport.compression is not None and ctx.transport.compression.codec.sparse


def receive_push(ctx: RankContext, gan, n: int) -> torch.Tensor:
    pushed = torch.empty(sum(p.numel() for p in params(gan)), device=ctx.device)
    ctx.transport.recv(pushed, n, "async-ps/updates" if sends_updates(ctx) else "async-ps/grads")
    return pushed


def apply_update(gan, u: torch.Tensor) -> None:
    with torch.no_grad():
        for p, u_p in zip(params(gan), u.split([p.numel() for p in params(gan)])):
            p.add_(u_p.view_as(p))


def apply_gradients(gan, g: torch.Tensor) -> None:
    n_D = sum(p.numel() for p in gan.D.parameters())
    set_grads(gan.D, g[:n_D])
    gan.opt_D.step()
    set_grads(gan.G, g[n_D:])
    gan.opt_G.step()


def stop_workers(ctx: RankContext, gan, v: int) -> None:
    """The budget is spent: answer each worker's next pull with STOP, discarding late pushes.

    Each worker is heard alone, so a dead one is noticed here (gloo reports a closed
    connection at once) rather than blocking a receive from any source.
    """
    header = torch.empty(HEADER, dtype=torch.float64)
    for n in ctx.live_workers():
        while True:
            try:
                ctx.transport.recv_control(header, n, "async-ps/control")
                if header[0].item() == PULL:
                    reply_to_pull(ctx, gan, n, v, stop=True)
                    break
                receive_push(ctx, gan, n)  # a late push: discarded
            except PeerGone as e:
                ctx.lose(n, v, e)
                break


def _histogram(values: list[int]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for s in values:
        counts[str(s)] = counts.get(str(s), 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: int(kv[0])))


# --- a worker ----------------------------------------------------------------------------------------
def worker(ctx: RankContext) -> None:
    cfg, t, device = ctx.config, ctx.transport, ctx.device
    gan = build_gan(ctx)
    real = worker_batches(ctx)
    z_rng = ctx.rng("noise")
    w = flatten([p.detach() for p in params(gan)] + buffers(gan))
    reply = torch.empty(HEADER, dtype=torch.float64, device=device)
    accumulated, version, step = None, 0.0, 0
    pushing: list[Pending] = []
    updates = sends_updates(ctx)
    while True:
        ctx.trace.begin(step + 1)
        if step % ctx.options.pull_every == 0:
            t.send_control(torch.tensor([PULL, version, 0, 0], dtype=torch.float64), 0, "async-ps/control")
            t.recv(reply, 0, "async-ps/control")
            if reply[0].item() == STOP:
                break
            t.recv(w, 0, "async-ps/params")
            version = reply[1].item()
            with torch.no_grad():
                unflatten_into(w, [*params(gan), *buffers(gan)])
        ctx.crash_point(step)
        ctx.trace.phase("worker D and G step")
        kept: list[torch.Tensor] = []
        before = flatten([p.detach() for p in params(gan)]) if updates else None
        # D step then G step on the replica, as in standalone; `sync` keeps each gradient for the push
        with ctx.compute():
            loss_D, loss_G = gan_step(gan, real.next(), noise(gan, cfg.batch_size, z_rng, device),
                                      sync=None if updates else lambda model, kept=kept: kept.append(
                                          flatten(grads(model))), private=ctx.privacy)
        # [g_D, g_G] (gan_step syncs D first), or under top-k the replica's update [u_D, u_G]
        pushed = flatten([p.detach() for p in params(gan)]) - before if updates else torch.cat(kept)
        accumulated = pushed if accumulated is None else accumulated + pushed
        step += 1
        if step % ctx.options.push_every == 0:
            for sent in pushing:  # the previous push has surely left before this one is posted
                sent.wait()
            header = torch.tensor([PUSH, version, loss_D.item(), loss_G.item()], dtype=torch.float64)
            pushing = [t.isend(header, 0, "async-ps/control", control=True),
                       t.isend(accumulated, 0, "async-ps/updates" if updates else "async-ps/grads")]
            accumulated = None
    for sent in pushing:
        sent.wait()


SPEC = MethodSpec(
    name="async-ps", summary="asynchronous parameter server, Downpour-style (Dean et al. 2012; Li et al. 2014)",
    train=train, has_server=True, on_worker_death=DROP,
    kinds=("async-ps/control", "async-ps/params", "async-ps/grads", "async-ps/updates"),
    step_definition="one gradient push applied on the server (one D and one G update)", options=Options,
    exposes="gradients of G and D, every push (under top-k: the replica's Adam updates)",
    payloads={"async-ps/params": "weights", "async-ps/grads": "gradient", "async-ps/updates": "gradient"})
