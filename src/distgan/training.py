"""One training run: validate, load the data, start the ranks (threads or processes), read the summary."""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
from pathlib import Path
from typing import Any

import torch

from distgan import privacy, privacy_ledger, run_folder, run_guard
from distgan.config import RunConfig
from distgan.data.dataset import Dataset
from distgan.data.registry import load_dataset
from distgan.errors import DistganError
from distgan.gpus import Placement, check_fits, estimate_rank_bytes, place
from distgan.launch import run_processes, run_simulated
from distgan.models import build_models
from distgan.runner import make_shards, run_rank
from distgan.safe_read import read_object

log = logging.getLogger(__name__)


def prepare(config: RunConfig) -> tuple[RunConfig, Dataset]:
    """Check the config and resolve every default against its dataset: once, before any rank starts.

    Our launcher hands the ranks the resolved config; under torchrun each rank resolves the same flags.
    """
    if config.is_resolved:
        return config, load_dataset(config.dataset)
    config.validate()  # bad flags are refused before the data is loaded (mnist5k takes seconds)
    dataset = load_dataset(config.dataset)
    return config.resolved(dataset), dataset


def train(config: RunConfig) -> dict[str, Any]:
    """Run one training run and return its summary (also written to `<out>/summary.json`)."""
    if "RANK" in os.environ:  # started by torchrun, or by our launcher
        run_this_rank(config)
        return _read_summary(config) if os.environ["RANK"] == "0" else {}
    config, dataset = prepare(config)
    run_guard.check_out(config)
    run_guard.check_processes(config)
    if config.dp_epsilon:  # the noise for every worker's budget, or why none fits, before anything starts
        privacy.plan(config, [len(shard) for shard in make_shards(config, dataset)])
    out = Path(config.out)
    with run_guard.owned(out):  # checked and written by this run alone, from here to its summary
        if config.resume:
            config = run_guard.check_resume(config)
        else:  # a fresh run: forget the restarts and privacy ledgers of an earlier run in this folder
            config = dataclasses.replace(config, run_id=run_guard.new_run_id())
            (out / run_folder.RESTARTS).unlink(missing_ok=True)
            privacy_ledger.forget(out)
        run_guard.remove_partial_writes(out)
        if config.backend == "sim" or config.world_size == 1:
            run_simulated(config, dataset, make_evaluator_for(config, dataset))
        else:
            placement_of(config, dataset, config.world_size)  # refuse what cannot be placed, before any starts
            codes = run_processes(config)
            if codes[0] != 0:
                raise DistganError(f"rank 0 exited with code {codes[0]}; its log above says why")
            if any(codes[1:]):
                log.warning("worker exit codes: %s", codes[1:])
    return _read_summary(config)


def run_this_rank(config: RunConfig) -> None:
    """Join the process group from the environment and run this rank."""
    config, dataset = prepare(config)
    world = int(os.environ["WORLD_SIZE"])
    if world != config.world_size:
        raise DistganError(f"{config.method} with --workers {config.workers} needs {config.world_size} processes, "
                           f"but WORLD_SIZE is {world}; set --nproc-per-node x --nnodes to {config.world_size}")
    if config.threads:
        torch.set_num_threads(config.threads)
    elif "OMP_NUM_THREADS" in os.environ:
        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    placement = placement_of(config, dataset, int(os.environ.get("LOCAL_WORLD_SIZE", config.world_size)),
                             int(os.environ.get("LOCAL_RANK", 0)))
    device = placement.device
    if device.type == "cuda":
        torch.cuda.set_device(device)
    from distgan.transport.process import ProcessTransport

    transport = ProcessTransport(device, config.worker_timeout, config.heartbeat_timeout,
                                 stage_through_host=placement.stage_through_host)
    try:
        if not config.run_id:  # under torchrun: every rank takes rank 0's
            config = dataclasses.replace(config, run_id=agreed_run_id(transport, device))
        evaluator = make_evaluator_for(config, dataset) if transport.rank == 0 else None
        run_rank(config, dataset, transport, device, evaluator)
    finally:
        transport.close()
    if transport.must_exit_hard:  # the rank's work is done and written; only gloo's teardown is left
        log.info("rank %d: leaving without tearing down the process group (a wait on a hung peer is pending)",
                 transport.rank)
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def agreed_run_id(transport, device: torch.device) -> str:
    """A new run id, drawn by rank 0 and sent to every rank."""
    drawn = bytes.fromhex(run_guard.new_run_id()) if transport.rank == 0 else bytes(16)
    tensor = torch.tensor(list(drawn), dtype=torch.uint8, device=device)
    transport.broadcast_uncounted(tensor)
    return bytes(tensor.cpu().tolist()).hex()


def placement_of(config: RunConfig, dataset: Dataset, ranks_here: int, local_rank: int = 0) -> Placement:
    """Where this machine's process `local_rank` computes; refuses a run whose processes do not fit their GPUs."""
    placement = place(config.device, ranks_here, local_rank, config.ranks_per_gpu)
    if placement.device.type == "cuda":
        G, D = build_models(dataset.sample_shape, config.z_dim, spectral_norm=config.spectral_norm,
                            width=config.width, g_depth=config.g_depth)
        per_rank = estimate_rank_bytes(G, D, config.z_dim, dataset.sample_shape, config.batch_size)
        check_fits(per_rank, placement.ranks_per_gpu, torch.cuda.get_device_properties(placement.device).total_memory)
    return placement


def make_evaluator_for(config: RunConfig, dataset: Dataset) -> Any:
    """The evaluator of this dataset (its classifier is trained once and cached)."""
    try:
        from distgan.metrics.evaluate import make_evaluator
    except ImportError:
        return None
    return make_evaluator(dataset, config.dataset, num_samples=config.eval_samples)


def _read_summary(config: RunConfig) -> dict[str, Any]:
    path = Path(config.out) / run_folder.SUMMARY
    return read_object(path, missing={})
