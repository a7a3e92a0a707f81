"""Many simulated workers' local steps as one computation: their models stacked, one vmap'd functional_call.

The simulation runs every rank in one process. On a GPU, N small models stepping in turn leave it idle between
small kernels; stacking their weights along a new first dimension (`torch.func.stack_module_state`) and running
one `functional_call` under `vmap` does the N steps as one batched computation. Each worker keeps its own models
and its own Adam: the batched gradients are handed back to every model, and each optimizer steps as in the loop.
BatchNorm's running statistics are stacked too, updated in place under vmap, and copied back. The results equal
the loop's within float tolerance (tests/methods/test_batched.py). On this CPU vmap is no faster than the loop
(shared/FACTS.md), so `--batched-sim auto` batches on a GPU only.

Batched: md-gan's workers (L D steps and the feedback), and fl-gan's and fe-gan's selected clients (each local
step: one D step, then one G step through the updated D, as `common.gan_step`). A worker with DP-SGD (Opacus
hooks) or spectral norm (parametrizations) keeps the loop.
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
        _step(gans, "D", grads)
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


def gan_steps(items: list[tuple]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """`common.gan_step` for every item (gan, real x, noise z) at once: G(z) once, one D step of each D on x
    against G(z), then one G step of each G through its updated D. Returns (loss_D, loss_G) per item."""
    gans = [item[0] for item in items]
    G_skeleton, D_skeleton = _skeleton(gans[0].G), _skeleton(gans[0].D)
    d_loss, g_loss = gans[0].d_loss, gans[0].g_loss
    reals, zs = torch.stack([item[1] for item in items]), torch.stack([item[2] for item in items])

    params_G, buffers_G = stack_module_state([gan.G for gan in gans])
    fakes = vmap(lambda p, b, z: functional_call(G_skeleton, (p, b), (z,)))(params_G, buffers_G, zs)
    for n, gan in enumerate(gans):  # BatchNorm's running statistics, updated under vmap, go back to each G
        for name, buffer in gan.G.named_buffers():
            buffer.copy_(buffers_G[name][n])

    params_D, buffers_D = stack_module_state([gan.D for gan in gans])
    losses_D = vmap(lambda p, b, x, f: d_loss(functional_call(D_skeleton, (p, b), (x,)),
                                              functional_call(D_skeleton, (p, b), (f,))))(
        params_D, buffers_D, reals, fakes.detach())
    losses_D.sum().backward()  # the workers' losses are independent: each gets its own gradient slice
    _step(gans, "D", {name: p.grad for name, p in params_D.items()})

    params_D, buffers_D = stack_module_state([gan.D for gan in gans])  # D as updated
    params_D = {name: p.detach() for name, p in params_D.items()}
    losses_G = vmap(lambda p, b, f: g_loss(functional_call(D_skeleton, (p, b), (f,))))(params_D, buffers_D, fakes)
    losses_G.sum().backward()
    _step(gans, "G", {name: p.grad for name, p in params_G.items()})
    return [(losses_D[n].detach(), losses_G[n].detach()) for n in range(len(items))]


def _step(gans: list, which: str, grads: dict[str, torch.Tensor]) -> None:
    """Hand each worker its slice of the stacked gradients (by parameter name), then step its own optimizer."""
    for n, gan in enumerate(gans):
        module, optimizer = (gan.D, gan.opt_D) if which == "D" else (gan.G, gan.opt_G)
        for name, p in module.named_parameters():
            p.grad = grads[name][n]
        optimizer.step()
