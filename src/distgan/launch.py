"""Start the ranks of a run: threads for the simulation, processes for the real transport."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import torch

from distgan.config import RunConfig
from distgan.context import WorkerCrash
from distgan.data.dataset import Dataset
from distgan.errors import DistganError
from distgan.runner import run_rank
from distgan.transport.sim import SimAborted, SimHub, SimTransport

log = logging.getLogger(__name__)


def resolve_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise DistganError("--device cuda: no CUDA device is visible; use --device cpu or auto")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def run_simulated(config: RunConfig, dataset: Dataset, evaluator) -> None:
    """All ranks as threads of this process, one torch thread each, so runs match the process transport."""
    device = resolve_device(config.device)
    hub = SimHub(config.world_size, config.seed)
    errors: list[BaseException] = []
    if config.world_size > 1:
        torch.set_num_threads(1)

    def rank_main(rank: int) -> None:
        transport = SimTransport(hub, rank)
        try:
            run_rank(config, dataset, transport, device, evaluator if rank == 0 else None, simulated=True)
        except WorkerCrash:
            pass
        except SimAborted:
            return
        except BaseException as e:  # noqa: BLE001 - handed to the main thread, which re-raises it
            errors.append(e)
            hub.abort()
        finally:
            transport.close()

    if config.world_size == 1:
        rank_main(0)
    else:
        threads = [threading.Thread(target=rank_main, args=(r,), name=f"rank{r}") for r in range(config.world_size)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    if errors:
        raise errors[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_processes(config: RunConfig) -> list[int]:
    """Spawn one process per rank on this machine, rendezvous on loopback; return their exit codes.

    Each child runs exactly what `torchrun -m distgan train ...` runs, from the env it is given.
    """
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    launch_file = out / "launch_config.json"
    launch_file.write_text(json.dumps(config.to_dict()))
    port = config.master_port or free_port()
    threads = config.threads or max(1, (os.cpu_count() or 1) // config.world_size)
    procs = []
    for rank in range(config.world_size):
        env = {**os.environ, "RANK": str(rank), "WORLD_SIZE": str(config.world_size), "LOCAL_RANK": str(rank),
               "LOCAL_WORLD_SIZE": str(config.world_size), "MASTER_ADDR": config.master_addr,
               "MASTER_PORT": str(port), "OMP_NUM_THREADS": str(threads), "DISTGAN_LAUNCHED": "1"}
        cmd = [sys.executable, "-m", "distgan.worker_main", str(launch_file)]
        procs.append(subprocess.Popen(cmd, env=env))
    (out / "pids.json").write_text(json.dumps({str(r): p.pid for r, p in enumerate(procs)}))
    try:
        codes = [p.wait() for p in procs[:1]]
        codes += [_wait_or_kill(p, config.worker_timeout) for p in procs[1:]]
    except KeyboardInterrupt:
        for p in procs:
            p.kill()
        raise
    finally:
        launch_file.unlink(missing_ok=True)
    return codes


def _wait_or_kill(proc: subprocess.Popen, timeout: float) -> int:
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()
