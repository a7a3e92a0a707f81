"""Start the ranks of a run: greenlets of one thread for the simulation, processes for the real transport."""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import torch

from distgan import run_folder
from distgan.checkpoint import atomic_write_json, load_checkpoint
from distgan.config import RunConfig
from distgan.context import CRASH_EXIT, WorkerCrash
from distgan.data.dataset import Dataset
from distgan.errors import DistganError
from distgan.gpus import place
from distgan.method_spec import RESTART
from distgan.run_files import make_dirs
from distgan.runner import make_shards, run_rank
from distgan.safe_read import read_list
from distgan.stopping import GRACE_S, REQUESTED, STOPPED_EXIT, RunStopped
from distgan.transport.sim import SimAborted, SimDeadlock, SimDropped, SimHub, SimTransport

log = logging.getLogger(__name__)


def run_simulated(config: RunConfig, dataset: Dataset, evaluator) -> None:
    """All ranks in this process, stepped in turns on this thread, one torch thread each, so runs match the
    process transport.

    As with processes, a sync-dp worker that dies stops the collective, and the run restarts from
    its checkpoint with the surviving workers.
    """
    while True:
        crashed, seconds = _simulate_once(config, dataset, evaluator)
        if crashed is None or config.spec.on_worker_death != RESTART:
            return
        config = _restart_without(config, crashed, CRASH_EXIT, seconds)


def _simulate_once(config: RunConfig, dataset: Dataset, evaluator) -> tuple[int | None, float]:
    device = place(config.device, 1).device  # every simulated rank on one device
    hub = SimHub(config.world_size, config.seed, config.heartbeat_timeout)
    hub.batching = batches_ranks(config, device)
    shards = make_shards(config, dataset)
    shared: dict = {}
    errors: list[BaseException] = []
    crashed: list[int] = []
    stopped: list[RunStopped] = []
    if config.threads:
        torch.set_num_threads(config.threads)
    elif config.world_size > 1:
        torch.set_num_threads(1)
    start = time.monotonic()

    def rank_main(rank: int) -> None:
        transport = SimTransport(hub, rank)
        try:
            run_rank(config, dataset, transport, device, evaluator if rank == 0 else None, simulated=True,
                     shards=shards, shared=shared)
        except RunStopped as e:  # a requested stop, after this rank's checkpoint; the others go on to theirs
            if rank == 0:
                stopped.append(e)
        except WorkerCrash:
            crashed.append(rank)
            if config.spec.on_worker_death == RESTART:
                hub.abort()  # a collective cannot go on without this rank
        except (SimAborted, SimDropped):
            return
        except BaseException as e:  # noqa: BLE001 - re-raised once every rank has stopped
            errors.append(e)
            hub.abort()
        finally:
            transport.close()

    try:
        hub.run([functools.partial(rank_main, r) for r in range(config.world_size)])
    except SimDeadlock:
        if not stopped:
            raise  # else: the ranks left wait on rank 0, which has stopped (a server's workers, after the stop)
    if stopped:  # what failed after rank 0 stopped (a worker waiting on it) failed because of the stop
        raise stopped[0]
    if errors:
        raise errors[0]
    return (crashed[0] if crashed else None), time.monotonic() - start


def batches_ranks(config: RunConfig, device: torch.device) -> bool:
    """Whether simulated ranks' local steps run as one batched computation (methods/batched.py): on a GPU unless
    --batched-sim off, on the CPU only with --batched-sim on; never with --slow, whose idling times a rank's own
    compute, or on a single rank."""
    wanted = config.batched_sim == "on" or (config.batched_sim == "auto" and device.type == "cuda")
    return wanted and config.world_size > 1 and not config.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_processes(config: RunConfig) -> list[int]:
    """Spawn one process per rank on this machine, rendezvous on loopback; return their exit codes.

    Each child runs exactly what `torchrun -m distgan train ...` runs, from the env it is given.
    A collective cannot outlive a dead rank, so when a sync-dp worker dies the job is restarted
    from its last checkpoint with the surviving workers (what torchrun's elastic restart does).
    """
    while True:
        codes, crashed, when = _spawn_and_watch(config)
        if crashed is None:
            return codes
        if config.spec.on_worker_death != RESTART:  # --rejoin: the lost worker comes back with the group
            config = _restart_with_all(config, crashed, codes[crashed], when)
            continue
        config = _restart_without(config, crashed, codes[crashed], when)


class _StderrTail(threading.Thread):
    """Passes a rank's stderr through as it comes (progress bars included) and keeps its last line."""

    def __init__(self, stream) -> None:
        super().__init__(daemon=True)
        self.stream, self.last = stream, ""

    def run(self) -> None:
        fd, pending = self.stream.fileno(), b""
        while chunk := os.read(fd, 65536):
            sys.stderr.buffer.write(chunk)
            sys.stderr.buffer.flush()
            lines = [line.strip() for line in (pending + chunk).replace(b"\r", b"\n").split(b"\n")]
            pending = (pending + chunk).rsplit(b"\n", 1)[-1][-4096:]
            if any(lines):
                self.last = [line for line in lines if line][-1].decode(errors="replace")[:300]


def _spawn_and_watch(config: RunConfig) -> tuple[list[int], int | None, float]:
    out = make_dirs(config.out)
    launch_file = out / run_folder.LAUNCH_CONFIG
    atomic_write_json(launch_file, config.to_dict())
    port = config.master_port or free_port()
    threads = config.threads or max(1, (os.cpu_count() or 1) // config.world_size)
    secret = secrets.token_hex(16)  # control keys live under it: reaching the store is not enough to forge one
    procs, tails = [], []
    for rank in range(config.world_size):
        env = {**os.environ, "RANK": str(rank), "WORLD_SIZE": str(config.world_size), "LOCAL_RANK": str(rank),
               "LOCAL_WORLD_SIZE": str(config.world_size), "MASTER_ADDR": config.master_addr,
               "MASTER_PORT": str(port), "OMP_NUM_THREADS": str(threads), "DISTGAN_OWN_STORE": "1",
               "DISTGAN_RUN_SECRET": secret, "DISTGAN_LAUNCHER_PID": str(os.getpid()),
               "DISTGAN_COMMAND": shlex.join(sys.argv)}
        procs.append(subprocess.Popen([sys.executable, "-m", "distgan.worker_main", str(launch_file)], env=env,
                                      stderr=subprocess.PIPE))
        tails.append(_StderrTail(procs[-1].stderr))
        tails[-1].start()
    pids = out / run_folder.PIDS
    atomic_write_json(pids, {str(r): p.pid for r, p in enumerate(procs)})
    start = time.monotonic()
    try:
        crashed = _watch(procs, config, tails)
    except KeyboardInterrupt:  # a second Ctrl-C or SIGTERM: stop at once
        for p in procs:
            p.kill()
        raise
    finally:
        launch_file.unlink(missing_ok=True)
        codes = [p.wait() for p in procs]
        for tail in tails:
            tail.join(timeout=5)
        pids.unlink(missing_ok=True)
    if codes[0] == STOPPED_EXIT or REQUESTED.is_set():  # also when killed before rank 0 named a step: disk stays
        raise RunStopped(None)
    if codes[0] != 0 and crashed is None:
        why = tails[0].last or "no message"
        raise DistganError(f"rank 0 exited with code {codes[0]}: {why}")
    return codes, crashed, time.monotonic() - start


def _watch(procs: list[subprocess.Popen], config: RunConfig, tails: list[_StderrTail]) -> int | None:
    """Wait for the ranks; return the rank of a sync-dp worker that died (the rest are then stopped).

    Every rank is watched at once: rank 0 failing ends the run at once (no rank can go on without it), and a
    worker failing is named with its last line as it happens."""
    restarts = config.spec.on_worker_death == RESTART or config.rejoin
    reported: set[int] = set()
    stop_by: float | None = None  # after a stop request: when the ranks are killed if they have not stopped
    while procs[0].poll() is None:
        if REQUESTED.is_set() and stop_by is None:
            stop_by = _forward_stop(procs)
        if stop_by is not None:
            if time.monotonic() > stop_by:
                log.warning("the ranks did not stop within %.0f s of the request; killing them", GRACE_S)
                _kill_all(procs)
                return None
            time.sleep(0.2)
            continue
        dead = [r for r, p in enumerate(procs) if p.poll() not in (None, 0, STOPPED_EXIT)]
        for r in dead:
            if r not in reported:
                reported.add(r)
                log.warning("rank %d exited with code %d: %s", r, procs[r].returncode, tails[r].last or "no message")
        if dead and restarts:
            time.sleep(1.0)  # let the survivors fail their collective and exit on their own
            for p in procs:
                if p.poll() is None:
                    p.kill()
            killed = [r for r in dead if procs[r].returncode < 0 or procs[r].returncode == CRASH_EXIT]
            return (killed or dead)[0]
        time.sleep(0.2)
    if procs[0].returncode == STOPPED_EXIT:  # the others are writing their stop checkpoints, or waited on rank 0
        _wait_all(procs, stop_by or time.monotonic() + GRACE_S)
        return None
    if procs[0].returncode != 0:
        _kill_all(procs)
        return None
    for p in procs[1:]:
        try:
            p.wait(timeout=config.worker_timeout)
        except subprocess.TimeoutExpired:
            p.kill()
    return None


def _forward_stop(procs: list[subprocess.Popen]) -> float:
    """Pass a stop request on to every rank (SIGTERM: each checkpoints at the step rank 0 names, then exits);
    return when the launcher gives up waiting."""
    log.warning("stopping: every rank finishes its step and writes a checkpoint (within %.0f s; Ctrl-C again "
                "to stop at once)", GRACE_S)
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    return time.monotonic() + GRACE_S


def _wait_all(procs: list[subprocess.Popen], until: float) -> None:
    for p in procs:
        try:
            p.wait(timeout=max(0.0, until - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()


def _kill_all(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.kill()


def _restart_with_all(config: RunConfig, lost: int, code: int, after_s: float) -> RunConfig:
    """`--rejoin`: gloo cannot add a process to a running group, so the whole group restarts from rank 0's
    last checkpoint with every worker, the lost one included (torchrun's elastic restart does the same)."""
    step = _note_restart(config, lost, code, after_s, "rejoined: the group restarted from checkpoint step "
                         "{step} with all %d workers" % config.workers)
    log.warning("%s rank %d exited (code %d): restarting all %d workers from step %d so that it rejoins",
                config.method, lost, code, config.workers, step)
    return dataclasses.replace(config, fail=[], hang=[], resume=step > 0)


def _note_restart(config: RunConfig, rank: int, code: int, after_s: float, what: str) -> int:
    """Add a restart to restarts.json (listed among the run's failures); return the checkpoint's step."""
    out = Path(config.out)
    step = load_checkpoint(out / run_folder.CHECKPOINT)["step"] if (out / run_folder.CHECKPOINT).is_file() else 0
    restarts_file = out / run_folder.RESTARTS
    restarts = read_list(restarts_file)
    restarts.append({"rank": rank, "step": step, "detected_at_s": round(after_s, 2), "kind": "restart",
                     "what": f"worker exited (code {code}); " + what.format(step=step)})
    atomic_write_json(restarts_file, restarts)
    return step


def _restart_without(config: RunConfig, crashed: int, code: int, after_s: float) -> RunConfig:
    if config.workers <= 1:
        raise DistganError(f"{config.method} lost its only worker (rank {crashed}, exit code {code}); "
                           "nothing to restart")
    step = _note_restart(config, crashed, code, after_s,
                         "restarted from checkpoint step {step} with %d workers" % (config.workers - 1))
    log.warning("%s rank %d died (exit code %d): restarting from step %d with %d workers",
                config.method, crashed, code, step, config.workers - 1)
    return dataclasses.replace(config, workers=config.workers - 1, fail=[], resume=step > 0)
