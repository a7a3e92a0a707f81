"""Where ranks compute: the CPU, a GPU each (NCCL), or several to a GPU (gloo, messages staged through host memory).

NCCL refuses two ranks on one GPU (seen on an H200: "invalid usage"), so processes that share a GPU talk over
gloo, and each message is copied device -> host -> device (transport/process.py). FeGAN's experiments ran up to 16
processes on one GPU; `--ranks-per-gpu` caps how many share one. A run whose processes cannot all fit in a GPU's
memory is refused before any starts, from an estimate of what each holds (`estimate_rank_bytes`).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
from torch import nn

from distgan.errors import DistganError

GiB = 2**30
CUDA_CONTEXT_BYTES = 600 * 2**20  # a CUDA context with cuDNN/cuBLAS loaded, per process (typically 300 to 600 MiB)
USABLE_SHARE = 0.9  # of a GPU's memory: what the allocator's fragmentation and other tenants leave


@dataclass(frozen=True)
class Placement:
    """The device of one process, and how many processes share it."""

    device: torch.device
    ranks_per_gpu: int = 1  # 0 on the CPU
    stage_through_host: bool = False  # several processes on one GPU: gloo, through host memory


def visible_gpus() -> int:
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def place(name: str, ranks_here: int, local_rank: int = 0, ranks_per_gpu: int = 0) -> Placement:
    """Where process `local_rank` of the `ranks_here` on this machine computes, for --device `name`.

    A GPU each where there are enough (NCCL); otherwise ranks go round the GPUs, as many to one as needed,
    at most `ranks_per_gpu` (0: no cap), and talk over gloo through host memory."""
    gpus = visible_gpus()
    if name == "cpu" or (name == "auto" and gpus == 0):
        return Placement(torch.device("cpu"), 0)
    if gpus == 0:
        raise DistganError("--device cuda: no CUDA device is visible; use --device cpu or auto")
    sharing = math.ceil(ranks_here / gpus)
    if ranks_per_gpu and sharing > ranks_per_gpu:
        raise DistganError(f"--device {name}: {ranks_here} processes on {gpus} GPU(s) put {sharing} on one GPU, "
                           f"over --ranks-per-gpu {ranks_per_gpu}; raise --ranks-per-gpu, use fewer workers, or "
                           "--backend sim (all ranks share the GPU in one process)")
    return Placement(torch.device("cuda", local_rank % gpus), sharing, stage_through_host=sharing > 1)


def estimate_rank_bytes(G: nn.Module | None, D: nn.Module, z_dim: int, sample_shape: tuple[int, ...],
                        batch_size: int) -> int:
    """What one process holds on its GPU, at most: a CUDA context; G's and D's weights, gradients and Adam's two
    moments (4 copies of every float parameter); and the activations of one step, from a forward pass on the
    meta device (no memory used), kept for backward and as large again for their gradients. D sees a real and
    a generated batch."""
    weights = sum(p.numel() for m in (G, D) if m is not None for p in m.parameters())
    activations = 2 * _activation_numel(D, torch.empty(batch_size, *sample_shape, device="meta"))
    if G is not None:
        activations += _activation_numel(G, torch.empty(batch_size, z_dim, device="meta"))
    return CUDA_CONTEXT_BYTES + 4 * 4 * weights + 2 * 4 * activations


def _activation_numel(module: nn.Module, x: torch.Tensor) -> int:
    """Elements of every leaf module's output for input `x`, run on the meta device."""
    total = 0

    def count(_module, _inputs, output) -> None:
        nonlocal total
        total += output.numel() if isinstance(output, torch.Tensor) else 0

    meta = copy.deepcopy(module).to("meta")
    hooks = [m.register_forward_hook(count) for m in meta.modules() if not list(m.children())]
    try:
        with torch.no_grad():
            meta(x)
    finally:
        for hook in hooks:
            hook.remove()
    return total


def check_fits(rank_bytes: int, ranks_per_gpu: int, gpu_bytes: int) -> None:
    """Refuse, in one line, `ranks_per_gpu` processes of `rank_bytes` each on a GPU of `gpu_bytes`."""
    need, usable = rank_bytes * ranks_per_gpu, int(gpu_bytes * USABLE_SHARE)
    if need <= usable:
        return
    fits = usable // rank_bytes
    fix = (f"{fits} fit: use --ranks-per-gpu {fits} with more GPUs, fewer workers" if fits else
           "not one fits: use a smaller --batch-size or --width")
    raise DistganError(f"--device cuda: {ranks_per_gpu} processes on one GPU need about {need / GiB:.1f} GiB "
                       f"({rank_bytes / GiB:.2f} GiB each: CUDA context, weights, Adam, activations), over the "
                       f"{usable / GiB:.1f} GiB usable of {gpu_bytes / GiB:.1f} GiB; {fix}, or --backend sim")


def peak_gpu_mb(device: torch.device) -> float | None:
    """This process's peak GPU memory held by tensors on `device` (None on the CPU)."""
    if device.type != "cuda":
        return None
    return torch.cuda.max_memory_allocated(device) / 2**20
