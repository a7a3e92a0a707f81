"""What one process holds on a GPU, estimated before any starts (distgan/gpus.py)."""

from __future__ import annotations

import torch

from distgan.gpus import CUDA_CONTEXT_BYTES, estimate_rank_bytes, peak_gpu_mb
from distgan.models import build_models, count_parameters


def test_the_estimate_counts_weights_adam_and_activations_by_batch():
    G, D = build_models((1, 28, 28), 64)
    small, large = (estimate_rank_bytes(G, D, 64, (1, 28, 28), b) for b in (64, 128))
    weights = count_parameters(G) + count_parameters(D)
    fixed = CUDA_CONTEXT_BYTES + 16 * weights  # weights, gradients and Adam's two moments, float32
    assert small > fixed
    assert large - fixed == 2 * (small - fixed)  # activations grow with the batch, the rest does not
    # D sees two batches of 28x28 images, G makes one: at least the images themselves, kept and differentiated
    assert small - fixed >= 2 * 4 * 3 * 64 * 28 * 28
    assert next(G.parameters()).device.type == "cpu"  # the meta pass left the models alone


def test_without_g_only_d_is_counted():
    G, D = build_models((1, 8, 8), 64)
    assert estimate_rank_bytes(None, D, 64, (1, 8, 8), 64) < estimate_rank_bytes(G, D, 64, (1, 8, 8), 64)


def test_peak_gpu_memory_is_none_on_the_cpu():
    assert peak_gpu_mb(torch.device("cpu")) is None


def test_a_summary_names_the_machine_it_ran_on(tmp_path):
    """Float kernels differ by CPU, so a run says what it ran on (docs/run-format.md)."""
    import os
    import platform

    from distgan import train
    from helpers import small_config

    machine = train(small_config(tmp_path, method="standalone"))["machine"]
    assert machine["torch"] == torch.__version__ and machine["python"] == platform.python_version()
    assert machine["cores"] == os.cpu_count() and machine["gpu"] is None
    assert isinstance(machine["cpu"], str) and machine["cpu"].strip()
