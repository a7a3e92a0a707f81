"""Standalone GAN (Goodfellow et al. 2014), the baseline: one process, one D step then one G step.

    for step = 1..T:
        x   <- a real batch of b samples;  X_g <- G(z), z ~ N(0, I)
        D   <- Adam step on  L_D(D(x), D(X_g))
        G   <- Adam step on  L_G(D(X_g))

Privacy (--dp-epsilon, distgan/privacy.py): the D step is DP-SGD's (real term clipped per record, plus
noise), so the one worker's records get the guarantee; this is the baseline for quality at a given epsilon.
"""

from __future__ import annotations

from distgan.context import RankContext
from distgan.method_spec import RESTART, MethodSpec
from distgan.methods.common import build_gan, gan_step, noise, restore, train_state, worker_batches


def train(ctx: RankContext) -> None:
    cfg, device = ctx.config, ctx.device
    gan = build_gan(ctx)
    real = worker_batches(ctx)
    z_rng = ctx.rng("noise")
    step = restore(ctx, gan, real, z_rng)
    while step < cfg.steps:
        ctx.trace.begin(step + 1)
        ctx.trace.phase("D and G step")
        x = real.next()
        z = noise(gan, cfg.batch_size, z_rng, device)
        # D <- Adam(L_D(x, G(z))), then G <- Adam(L_G(G(z))); with --dp-epsilon, D's gradient is DP-SGD's
        loss_D, loss_G = gan_step(gan, x, z, private=ctx.privacy)
        step += 1
        b = cfg.batch_size
        ctx.recorder.after_step(step, gan.G, real=b, fake=b, loss_d=loss_D.item(), loss_g=loss_G.item())
        if ctx.checkpoint_due(step):
            ctx.save(step, train_state(ctx, gan, real, z_rng))


SPEC = MethodSpec(
    name="standalone", summary="the baseline: one process, one D step then one G step (Goodfellow et al. 2014)",
    train=train, has_server=False, on_worker_death=RESTART, kinds=(),
    step_definition="one D step and one G step on one process", exposes="all records, pooled on one machine",
    data_stays_local=False)
