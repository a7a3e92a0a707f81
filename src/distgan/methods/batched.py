"""md-gan's worker step for many simulated workers at once: their discriminators stacked, one computation.

The simulation runs every rank in one process. On a GPU, N small discriminators stepping in turn leave it idle
between small kernels; stacking their weights along a new first dimension (`torch.func.stack_module_state`) and
running one `functional_call` under `vmap` does the N steps as one batched computation. Each worker keeps its
own D and its own Adam: the batched gradients are handed back to every D, and each optimizer steps as in the
loop. The result equals the loop's within float tolerance (tests/methods/test_batched.py). On this CPU vmap is no
faster than the loop (shared/FACTS.md), so `--batched-sim auto` batches on a GPU only.

Not batched: fl-gan's and fe-gan's clients. Their G has BatchNorm, whose running statistics are updated in
place, which vmap cannot batch without changing the model (torch.func.replace_all_batch_norm_modules_ drops
them); a worker with DP-SGD (Opacus hooks) or spectral norm (parametrizations) keeps the loop too.
"""

from __future__ import annotations

import copy
import weakref
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, grad_and_value, stack_module_state, vmap

_META: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # D -> its skeleton on the meta device


def batchable(D: nn.Module, private: Any) -> bool:
    """Whether a worker's D steps can join a batch: no DP-SGD, no parametrized (spectral-norm) layer."""
    return private is None and not any(hasattr(m, "parametrizations") for m in D.modules())


def md_gan_worker_steps(items: list[tuple]) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """md-gan's worker step for every item (gan, real batches, X_g, X_d, L) at once: L steps of each D_n on its
    real data against its X_d, each an Adam step of its own optimizer, then each feedback F_n = dL_G/dX_g.
    Returns (loss_D, loss_G, F_n) per item, as `md_gan.worker_step` does."""
    gans = [item[0] for item in items]
    skeleton = _skeleton(gans[0].D)
    d_loss, g_loss = gans[0].d_loss, gans[0].g_loss

    def loss_D(params, buffers, real, fake):
        return d_loss(functional_call(skeleton, (params, buffers), (real,)),
                      functional_call(skeleton, (params, buffers), (fake,)))

    def loss_G(params, buffers, x):
        return g_loss(functional_call(skeleton, (params, buffers), (x,)))

    fakes = torch.stack([item[3] for item in items])
    for _ in range(items[0][4]):
        reals = torch.stack([item[1].next() for item in items])  # each worker draws from its own shard, in turn
        params, buffers = stack_module_state([gan.D for gan in gans])
        grads, losses_D = vmap(grad_and_value(loss_D))(params, buffers, reals, fakes)
        for n, gan in enumerate(gans):
            for name, p in gan.D.named_parameters():
                p.grad = grads[name][n]
            gan.opt_D.step()
    for gan in gans:
        gan.opt_D.zero_grad(set_to_none=True)  # no gradient is kept between iterations, as in the loop
    params, buffers = stack_module_state([gan.D for gan in gans])
    feedback, losses_G = vmap(grad_and_value(loss_G, argnums=2))(params, buffers,
                                                                 torch.stack([item[2] for item in items]))
    return [(losses_D[n].detach(), losses_G[n].detach(), feedback[n]) for n in range(len(items))]


def _skeleton(D: nn.Module) -> nn.Module:
    """D's structure without its weights (on the meta device), for functional_call; one per D, kept."""
    skeleton = _META.get(D)
    if skeleton is None:
        skeleton = _META[D] = copy.deepcopy(D).to("meta")
    return skeleton
