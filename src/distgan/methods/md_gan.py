"""MD-GAN (Hardy, Le Merrer, Sericola, IPDPS 2019, arXiv 1811.03850): one G on a server, one D per worker.

    server holds G; worker n = 1..N holds D_n and shard B_n of m samples
    for i = 1..I:
        server:    X^(j) <- G(Z_j), j = 1..k, Z_j b noise vectors      (one more, X_d for all, when k = 1)
                   send X_g^(n) = X^((n mod k)+1) and X_d^(n) = X^(((n+1) mod k)+1) to every worker n
        worker n:  L times: D_n <- Adam step on L_D(real batch of B_n, X_d^(n))
                   F_n <- dL_G(D_n(X_g^(n))) / dX_g^(n)          (b x d error feedback)
                   send F_n to the server
        server:    dw <- (1/N) sum_n sum_i F_n,i dx_i/dw  (= (1/(N b)) sum e_n,i dx_i/dw, section IV-B2)
                   G <- Adam step on dw
        every m E / b iterations: the server draws a random cyclic order of the workers; each worker
        sends D_n to the next one in it and takes D from the one before (one N-cycle: nobody keeps its D).

Which line of the paper each choice follows:
- k: "the server generates k batches ... with k <= N" (IV-A); `--k log` is k = ceil(log N) with log to
  base 2 (IV-B4 and V-A-d; section II: "Writing log for the logarithm to the base 2").
- The assignment X_g^(n), X_d^(n) is section IV-B1's "possible way to distribute". So with k = 1 every
  worker computes its feedback on the same X_g ("If k = 1, all workers receive and compute their feedback
  on the same training batch", IV-B4), and k = N gives every worker its own X_g.
- With k = 1 that formula would make X_d = X_g, but IV-A asks for "two distinct batches" and IV-B1 for
  "separate data" for D and G. Algorithm 1's server loop generates batches j = 0..k, k+1 of them; the
  extra batch serves as every worker's X_d when k = 1.
- Each X^(j) = G(Z_j) is its own forward pass, as in Algorithm 1, so G's BatchNorm normalises over the b
  samples of one batch, as in standalone, and X^(j) does not depend on the other batches' noise. G's running
  statistics so take K updates per iteration instead of one; nothing reads them (samples for evaluation use
  batch statistics, recorder.generate). `--md-generation joint` is the one forward of all K b samples that
  distgan ran until 2026-12-06 (studies/mdgan-generation measures the difference).
- Swaps move the weights θ_n (IV-C1). The paper says nothing of Adam's moments: `--swap-adam carry`
  (default) sends them with D, as moving D's training state whole would; `reset` starts them afresh.
  They travel as their own kind, `md-gan/swap-adam`, after the weights, and in float32 under every --compress
  (bf16 only when --compress-kinds names the kind): fp16, int8 and top-k zero the small second moments Adam
  divides by (codecs.py; the compression study's first md-gan int8 cells, and fp16 until 2026-12-07, diverged).
- The swap plan is one cycle through a uniformly random order of the workers, so every worker's D moves on
  each swap: a derangement, but not a uniformly drawn one (at N = 4, two pairs trading Ds is never drawn).

At N = 1 MD-GAN is not standalone by design: D learns on X_d and G on a distinct X_g (standalone uses
one batch G(z) for both), and G is updated on the server from the feedback alone.

Data never leaves a worker. Per iteration the server sends 2 b d floats to each worker and receives
b d from each; a swap moves |theta| per worker (3|theta| with carried Adam moments). A dead worker is
dropped with its shard and D.

Privacy (--dp-epsilon, distgan/privacy.py): DP-SGD on each worker's D, for every one of its L steps. The
feedback F_n is then computed from the private D and generated data alone, and a swap hands over the
private D: both are post-processing, so the guarantee holds with swaps on. (GS-WGAN sanitises the feedback
alone, which is cheaper, but holds only while D never leaves its worker, i.e. without swaps; distgan keeps
one mechanism for every setting.)
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass

import torch

from distgan.context import RankContext
from distgan.method_spec import DROP, MethodSpec, check, one_of, option, positive_int
from distgan.methods.batched import batchable, md_gan_worker_steps
from distgan.methods.common import (
    build_gan,
    d_backward,
    flatten,
    float_state,
    noise,
    restore,
    train_state,
    unflatten_into,
    worker_batches,
)
from distgan.methods.rounds import Rounds
from distgan.transport.base import PeerGone

log = logging.getLogger(__name__)
STOP = -1.0  # on md-gan/control (only with --round-deadline): the run is over


@dataclass(kw_only=True)
class Options:
    k: str = option("1", "md-gan: k, distinct X_g batches per iteration: an integer, log (ceil(log2 N)) or n (N)")
    disc_steps: int = option(1, "md-gan: L, discriminator steps per iteration on each worker")
    swap_every: float = option(1.0, "md-gan: E, epochs between discriminator swaps among workers")
    swap_adam: str = option("carry", "md-gan: carry (Adam's moments travel with D, 3|theta| floats) | "
                                     "reset (fresh moments)")
    round_deadline: float = option(0.0, "md-gan: seconds the server waits for an iteration's feedback; late "
                                        "feedback is discarded (0: wait for all)")
    min_workers: int = option(1, "md-gan: with --round-deadline, the feedbacks an iteration needs")
    md_generation: str = option("per-batch", "md-gan: per-batch (a G forward pass for each of the K batches, so "
                                "BatchNorm sees b samples: Algorithm 1) | joint (one pass of all K b samples, "
                                "distgan until 2026-12-06)", before="joint")

    def resolved_k(self, N: int) -> int:
        if self.k == "log":  # the paper's ceil(log N), log to base 2 (its section II)
            return max(1, math.ceil(math.log2(N)))
        return N if self.k == "n" else int(self.k)

    def validate(self, workers: int) -> None:
        check(self.k in ("log", "n") or re.fullmatch(r"[1-9][0-9]*", str(self.k)) is not None,
              f"--k must be a positive integer, 'log' or 'n', got {self.k!r}")
        check(self.resolved_k(workers) <= workers, f"--k {self.k} exceeds the {workers} workers; use k <= N, "
              "'log' or 'n'")
        positive_int("disc_steps", self.disc_steps)
        check(self.swap_every > 0, f"--swap-every must be > 0 epochs, got {self.swap_every}")
        one_of("swap_adam", self.swap_adam, ("carry", "reset"))
        one_of("md_generation", self.md_generation, ("per-batch", "joint"))
        check(self.round_deadline >= 0, f"--round-deadline must be >= 0 seconds, got {self.round_deadline}")
        check(isinstance(self.min_workers, int) and 1 <= self.min_workers <= workers,
              f"--min-workers must be in 1..{workers} (the workers), got {self.min_workers}")


def num_batches(ctx: RankContext) -> int:
    """Batches G generates per iteration: k, and one more when k = 1 so that X_d differs from X_g."""
    k = ctx.options.resolved_k(ctx.config.workers)
    return 2 if k == 1 else k


def assigned(ctx: RankContext, n: int) -> tuple[int, int]:
    """Indices of worker n's X_g and X_d in the generated batches (section IV-B1, 0-based)."""
    k = ctx.options.resolved_k(ctx.config.workers)
    return (0, 1) if k == 1 else (n % k, (n + 1) % k)


def swap_interval(ctx: RankContext) -> int:
    """Iterations between swaps: m E / b, with m the mean shard size."""
    return max(1, round(ctx.mean_shard_size * ctx.options.swap_every / ctx.config.batch_size))


def is_swap(ctx: RankContext, i: int) -> bool:
    return ctx.config.workers > 1 and i % swap_interval(ctx) == 0


def logs_at(ctx: RankContext, i: int) -> bool:
    return i % ctx.config.log_every == 0 or i == ctx.config.steps


def train(ctx: RankContext) -> None:
    (server if ctx.rank == 0 else worker)(ctx)


# --- the server --------------------------------------------------------------------------------------
def server(ctx: RankContext) -> None:
    cfg, device = ctx.config, ctx.device
    gan = build_gan(ctx)
    z_rng, swap_rng = ctx.rng("noise"), ctx.rng("swap")
    K, b = num_batches(ctx), cfg.batch_size
    i = restore(ctx, gan, None, z_rng)
    if cfg.resume:
        plan_rejoin(ctx)
    options = ctx.options
    rounds = Rounds(ctx, options.round_deadline, options.min_workers) if options.round_deadline else None
    while i < cfg.steps:
        ctx.trace.begin(i + 1)
        ctx.trace.phase("server generate")
        X = generate(gan.G, noise(gan, K * b, z_rng, device).view(K, b, -1), options.md_generation)
        ctx.sweep_hung(i)
        workers = rounds.available(i) if rounds else ctx.live_workers()
        if rounds:
            for r in workers:  # workers that sat out iterations learn which one this is
                control(ctx, r, i, i)
        send_batches(ctx, X, workers, i)
        feedback, stats, arrived = receive_feedback(ctx, rounds, X, workers, i)
        N = len(arrived)
        if N == 0:
            raise PeerGone(-1, "every worker is dead; nothing left to train against")
        ctx.trace.phase("server G step")
        gan.opt_G.zero_grad(set_to_none=True)
        X.backward(feedback / N)
        gan.opt_G.step()

        i += 1
        if is_swap(ctx, i):
            send_swap_plan(ctx, swap_rng, i, arrived, rounds)
        k = ctx.options.resolved_k(ctx.config.workers)
        ctx.recorder.after_step(i, gan.G, real=N * ctx.options.disc_steps * b, fake=k * b, **stats)
        if ctx.checkpoint_due(i):
            ctx.save(i, {**train_state(ctx, gan, None, z_rng), "swap_rng": swap_rng.get_state(),
                         "dead": torch.tensor(sorted(ctx.dead), dtype=torch.long)})
    if rounds:
        rounds.available(i, block=True)  # late feedback still out lands (and is discarded) first
        ctx.recorder.extra["late"] = rounds.late
        for r in ctx.live_workers():
            control(ctx, r, STOP, i)


def generate(G: torch.nn.Module, Z: torch.Tensor, how: str) -> torch.Tensor:
    """X (K, b, ...) from noise Z (K, b, z): X^(j) = G(Z_j), a forward pass each (Algorithm 1), or with
    `joint` one pass of all K b, where BatchNorm normalises over K b samples. The same Z either way."""
    if how == "joint":
        return G(Z.flatten(0, 1)).unflatten(0, Z.shape[:2])
    return torch.stack([G(Z_j) for Z_j in Z])


def receive_feedback(ctx: RankContext, rounds: Rounds | None, X: torch.Tensor, workers: list[int], i: int):
    """Sum each worker's F_n into the gradient of its X_g; with a deadline, only the feedback in time.
    Returns the summed feedback, the mean losses when due, and the workers that sent feedback."""
    feedback = torch.zeros_like(X)
    if rounds is None:
        for r in workers:
            F_n = torch.empty_like(X[0])
            if receive(ctx, F_n, r, "md-gan/feedback", i):
                feedback[assigned(ctx, ctx.worker_of(r))[0]] += F_n
        arrived = ctx.live_workers()
        return feedback, (gather_stats(ctx, i + 1) if logs_at(ctx, i + 1) else {}), arrived
    messages = [(X[0].detach(), "md-gan/feedback")]
    if logs_at(ctx, i + 1):
        messages.append((torch.empty(2, device=ctx.device), "md-gan/stats"))
    got = rounds.collect(workers, messages, i)
    for r, (F_n, *_) in got.items():
        feedback[assigned(ctx, ctx.worker_of(r))[0]] += F_n
    losses = [rest[0] for _, *rest in got.values() if rest]
    mean = torch.stack(losses).mean(0).tolist() if losses else None
    return feedback, ({"loss_d": mean[0], "loss_g": mean[1]} if mean else {}), sorted(got)


def control(ctx: RankContext, r: int, value: float, i: int) -> None:
    """With a deadline, each iteration starts with its number (STOP ends the run) on `md-gan/control`."""
    try:
        ctx.transport.send(torch.tensor([float(value)], device=ctx.device), r, "md-gan/control")
    except PeerGone as e:
        ctx.lose(r, i, e)


def send_batches(ctx: RankContext, X: torch.Tensor, workers: list[int], i: int) -> None:
    for kind, which in (("md-gan/X_g", 0), ("md-gan/X_d", 1)):
        for r in workers:
            try:
                ctx.transport.send(X[assigned(ctx, ctx.worker_of(r))[which]].detach(), r, kind)
            except PeerGone as e:
                ctx.lose(r, i, e)


def receive(ctx: RankContext, tensor: torch.Tensor, r: int, kind: str, i: int) -> bool:
    """Receive from worker rank r; a dead worker is dropped and False returned."""
    if r in ctx.dead:
        return False
    try:
        ctx.transport.recv(tensor, r, kind)
        return True
    except PeerGone as e:
        ctx.lose(r, i, e)
        return False


def gather_stats(ctx: RankContext, i: int) -> dict[str, float]:
    losses = []
    for r in ctx.live_workers():
        pair = torch.empty(2, device=ctx.device)
        if receive(ctx, pair, r, "md-gan/stats", i):
            losses.append(pair)
    if not losses:
        return {}
    mean = torch.stack(losses).mean(0).tolist()
    return {"loss_d": mean[0], "loss_g": mean[1]}


def send_swap_plan(ctx: RankContext, swap_rng: torch.Generator, i: int, on_time: list[int],
                   rounds: Rounds | None) -> None:
    """Draw a uniformly random order of the workers that sent feedback in time and read it as one cycle: each
    sends its D to the next and receives from the one before (a single N-cycle, each of the (N-1)! equally
    likely; not a uniform derangement). A late worker is told to keep its D ([-1, -1]), posted to wait until
    it is free."""
    workers = [r for r in on_time if r not in ctx.dead]
    order = [workers[j] for j in torch.randperm(len(workers), generator=swap_rng).tolist()]
    plans = {r: (order[(j + 1) % len(order)], order[j - 1]) if len(order) > 1 else (-1, -1)
             for j, r in enumerate(order)}  # a cycle through a random order: nobody keeps its own D
    # a lone survivor is told to keep its D too: every worker waits for a plan at every swap (before
    # 2026-12-06 it was sent nothing, and took the next X_g for its plan; benchmarks/multinode_check.py found it)
    for r in [r for r, late in rounds.busy.items() if late.step == i - 1] if rounds else ():  # late at i - 1
        rounds.owe(r, ctx.transport.isend(torch.tensor([-1.0, -1.0], device=ctx.device), r, "md-gan/swap-plan"))
    for r, plan in plans.items():
        try:
            ctx.transport.send(torch.tensor(plan, dtype=torch.float32, device=ctx.device), r, "md-gan/swap-plan")
        except PeerGone as e:
            ctx.lose(r, i, e)


# --- a worker ----------------------------------------------------------------------------------------
def worker(ctx: RankContext) -> None:
    cfg, t = ctx.config, ctx.transport
    gan = build_gan(ctx, with_G=False)  # the server holds the only generator
    real = worker_batches(ctx)
    i = restore(ctx, gan, real, None)  # a worker draws no noise: X_g and X_d come from the server
    if cfg.resume:
        i = ctx.start_step
        rejoin(ctx, gan, stale=ctx.resumed is None or bool(ctx.resumed.get("stale")))
    shape = (cfg.batch_size, *ctx.dataset.sample_shape)
    X_g, X_d = torch.empty(shape, device=ctx.device), torch.empty(shape, device=ctx.device)
    deadline, header = ctx.options.round_deadline > 0, torch.empty(1, device=ctx.device)
    while deadline or i < cfg.steps:
        if deadline:  # the server names the iteration: this worker may have sat some out
            t.recv(header, 0, "md-gan/control")
            if header.item() == STOP:
                break
            i = int(header.item())
        ctx.trace.begin(i + 1)
        ctx.crash_point(i)
        t.recv(X_g, 0, "md-gan/X_g")
        t.recv(X_d, 0, "md-gan/X_d")
        with ctx.compute():
            if t.batches_compute and batchable(gan.D, ctx.privacy):  # simulated workers' steps as one (batched.py)
                ctx.trace.phase("worker steps, batched")
                loss_D, loss_G, F_n = t.together("md-gan/worker step", md_gan_worker_steps,
                                                 (gan, real, X_g, X_d, ctx.options.disc_steps))
            else:
                loss_D, loss_G, F_n = worker_step(ctx, gan, real, X_g, X_d)
        t.send(F_n, 0, "md-gan/feedback")

        i += 1
        if logs_at(ctx, i):
            t.send(torch.stack([loss_D.detach(), loss_G.detach()]), 0, "md-gan/stats")
        if is_swap(ctx, i):
            swap_discriminator(ctx, gan)
        if ctx.checkpoint_due(i):
            ctx.save(i, train_state(ctx, gan, real, None))


def worker_step(ctx: RankContext, gan, real, X_g: torch.Tensor, X_d: torch.Tensor):
    """L steps of D_n on real data against X_d, then the error feedback F_n on X_g."""
    ctx.trace.phase("worker D steps")
    for _ in range(ctx.options.disc_steps):
        loss_D = d_backward(gan, real.next(), X_d, ctx.privacy)
        gan.opt_D.step()
    gan.opt_D.zero_grad(set_to_none=True)  # no gradient is kept between iterations: memory at scale
    ctx.trace.phase("worker feedback")
    X_g = X_g.detach().requires_grad_(True)
    loss_G = gan.g_loss(gan.D(X_g))
    (F_n,) = torch.autograd.grad(loss_G, X_g)
    return loss_D, loss_G, F_n


def swap_discriminator(ctx: RankContext, gan) -> None:
    """Send D_n to the peer the server named and take the one received in its place.

    `--swap-adam carry` sends Adam's two moments with the weights (3|theta| floats), so the D that
    arrives goes on exactly as it would have on the sender; `reset` sends |theta| and starts them afresh.
    """
    plan = torch.empty(2, device=ctx.device)
    ctx.transport.recv(plan, 0, "md-gan/swap-plan")
    send_to, receive_from = (int(v) for v in plan.tolist())
    if send_to < 0:  # late for this swap, or alone: keep D
        return
    carry = ctx.options.swap_adam == "carry"
    parts = {"md-gan/swap": float_state(gan.D)}
    if carry:  # its own kind: every codec leaves optimizer state in float32 (codecs.py)
        parts["md-gan/swap-adam"] = adam_moments(gan)
    incoming = {}
    try:
        for kind, theta in parts.items():
            incoming[kind] = ctx.transport.swap([t.detach() for t in theta], send_to, receive_from, kind)
    except PeerGone:  # the peer died mid-swap: keep our own D (a copy: the simulation may have moved it)
        incoming = {kind: [t.detach().clone() for t in theta] for kind, theta in parts.items()}
    with torch.no_grad():
        for kind, theta in parts.items():
            for mine, theirs in zip(theta, incoming[kind]):
                mine.data = theirs
    if not carry:
        gan.opt_D.state.clear()


# --- a worker that rejoins (--rejoin restarts the group from a checkpoint older than its own state) ------
def plan_rejoin(ctx: RankContext) -> None:
    """Each worker whose checkpoint is behind the server's (it was lost) takes D from a peer that is not."""
    stale, flag = [], torch.empty(1, device=ctx.device)
    for r in ctx.live_workers():  # bookkeeping, like the resume step: sent uncounted
        try:
            ctx.transport.recv_uncounted(flag, r)
        except PeerGone as e:
            ctx.lose(r, ctx.start_step, e)
            continue
        if flag.item():
            stale.append(r)
    fresh = [r for r in ctx.live_workers() if r not in stale]
    plans = {r: [-1.0, -1.0] for r in ctx.live_workers()}
    for taker, giver in zip(stale, fresh):  # one D each; with more stale than fresh, the rest keep theirs
        plans[giver][0], plans[taker][1] = taker, giver
        log.info("rank %d rejoins with the D of rank %d", taker, giver)
    for r, plan in plans.items():
        control_plan(ctx, r, plan)


def control_plan(ctx: RankContext, r: int, plan: list[float]) -> None:
    try:
        ctx.transport.send_uncounted(torch.tensor(plan, device=ctx.device), r)
    except PeerGone as e:
        ctx.lose(r, ctx.start_step, e)


def rejoin(ctx: RankContext, gan, stale: bool) -> None:
    """Tell the server whether this worker's D is behind; give or take a D (with Adam's state) as told."""
    t = ctx.transport
    t.send_uncounted(torch.tensor([float(stale)], device=ctx.device), 0)
    plan = torch.empty(2, device=ctx.device)
    t.recv_uncounted(plan, 0)
    send_to, receive_from = (int(v) for v in plan.tolist())
    state = d_state(gan)
    if send_to >= 0:
        t.send(flatten([x.detach() for x in state]), send_to, "md-gan/rejoin")
    if receive_from >= 0:
        incoming = torch.empty(sum(x.numel() for x in state), device=ctx.device)
        t.recv(incoming, receive_from, "md-gan/rejoin")
        with torch.no_grad():
            unflatten_into(incoming, state)


def d_state(gan) -> list[torch.Tensor]:
    """D's weights and float buffers, Adam's moments and step counts: all a D needs to go on elsewhere."""
    for p in gan.D.parameters():
        if not gan.opt_D.state[p]:  # no step taken yet: the state Adam would create, to be overwritten
            gan.opt_D.state[p].update(step=torch.tensor(0.0), exp_avg=torch.zeros_like(p),
                                      exp_avg_sq=torch.zeros_like(p))
    steps = [gan.opt_D.state[p]["step"] for p in gan.D.parameters()]
    return float_state(gan.D) + adam_moments(gan) + steps


def adam_moments(gan) -> list[torch.Tensor]:
    """D's Adam moments (exp_avg, exp_avg_sq) per parameter; every worker has taken the same number of
    D steps, so the step count needs no sending."""
    state = gan.opt_D.state
    return [state[p][m] for p in gan.D.parameters() for m in ("exp_avg", "exp_avg_sq")]


SPEC = MethodSpec(
    name="md-gan", summary="MD-GAN (Hardy, Le Merrer, Sericola 2019): one G on a server, one D per worker, "
    "error feedback, D swaps", train=train, has_server=True, on_worker_death=DROP,
    kinds=("md-gan/X_g", "md-gan/X_d", "md-gan/feedback", "md-gan/swap", "md-gan/swap-adam", "md-gan/swap-plan",
           "md-gan/stats", "md-gan/control", "md-gan/rejoin"),
    step_definition="one MD-GAN iteration: one G update on the server from all workers' feedback",
    options=Options, exposes="D's feedback on generated samples, every step; D itself in swaps",
    payloads={"md-gan/X_g": "samples", "md-gan/X_d": "samples", "md-gan/feedback": "sample-gradient",
              "md-gan/swap": "weights", "md-gan/swap-adam": "optimizer"})
