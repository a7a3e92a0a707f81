"""What a method sees on one rank: its config, data shard, transport, RNG streams and checkpoints."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from distgan import run_folder
from distgan.checkpoint import load_checkpoint, save_checkpoint
from distgan.config import RunConfig
from distgan.data.dataset import Dataset
from distgan.divergence import check_state
from distgan.run_guard import check_checkpoint, identity
from distgan.stopping import StopPlan
from distgan.transport.base import PeerGone, Transport

log = logging.getLogger(__name__)
CRASH_EXIT = 17  # exit code of a rank stopped by --fail
_INIT_LOCK = threading.Lock()  # model init draws on torch's global RNG, which simulated ranks share


class WorkerCrash(BaseException):
    """Raised by `--fail` in a simulated rank: the rank stops as if its process had died."""


@dataclass
class RankContext:
    config: RunConfig
    dataset: Dataset
    transport: Transport
    device: torch.device
    shards: list[torch.Tensor]  # indices into dataset.train_x, one tensor per worker
    out: Path
    recorder: Any = None  # the Recorder, on rank 0 only
    dead: set[int] = field(default_factory=set)  # ranks a server has dropped
    failures: list[dict] = field(default_factory=list)
    start_step: int = 0
    resumed: dict[str, Any] | None = None  # this rank's checkpoint when resuming
    simulated: bool = False
    shared: dict[str, Any] = field(default_factory=dict)  # what this run's ranks share: one dict for all
    # simulated ranks, one per process (e.g. the spare models federated clients borrow)

    @property
    def rank(self) -> int:
        return self.transport.rank

    @property
    def trace(self):
        """This rank's Trace: methods mark each step with `begin` and what they compute with `phase`."""
        return self.transport.trace

    @property
    def options(self) -> Any:
        """The method's own settings (its Options dataclass)."""
        return self.config.method_options()

    @property
    def worker(self) -> int | None:
        """This rank's worker index n in 0..N-1, or None on a server."""
        offset = 1 if self.config.has_server else 0
        return None if self.rank < offset else self.rank - offset

    @functools.cached_property
    def mean_shard_size(self) -> float:
        """m, the mean number of training samples per worker (asked every iteration: an O(N) sum)."""
        return sum(len(s) for s in self.shards) / len(self.shards)

    @property
    def worker_ranks(self) -> list[int]:
        offset = 1 if self.config.has_server else 0
        return [n + offset for n in range(self.config.workers)]

    def worker_of(self, rank: int) -> int:
        """The paper's 1-based worker number n of a worker rank."""
        return rank if self.config.has_server else rank + 1

    def live_workers(self) -> list[int]:
        return [r for r in self.worker_ranks if r not in self.dead]

    @functools.cached_property
    def privacy(self):
        """What this worker's D steps need to be private (distgan.privacy.Private: its budget, and this
        incarnation's noise stream and step ledger); None in a run without --dp-epsilon, and on a server.

        Every start of the worker is a new incarnation with its own noise: a restart must never draw noise
        it drew before (privacy_ledger.py)."""
        if not self.config.dp_epsilon or self.worker is None:
            return None
        from distgan.models.losses import D_TERMS
        from distgan.privacy import Private, worker_budget
        from distgan.privacy_ledger import Ledger

        budget = worker_budget(self.config, len(self.shards[self.worker]))
        ledger = Ledger(self.out, self.worker, budget.noise_multiplier, budget.sample_rate, self.config.workers)
        return Private(budget, self.rng(f"dp-noise/{ledger.incarnation}"), *D_TERMS[self.config.loss], ledger)

    def rng(self, purpose: str, shared: bool = False) -> torch.Generator:
        """A seeded RNG stream; `shared=True` gives every rank the same stream (e.g. swap permutations).

        Streams are keyed by role (worker n, or the server), not by rank, so worker 0 of any method draws
        the same batches and noise as the standalone baseline: at N = 1 the methods that reduce to it do.
        """
        who = "all" if shared else ("server" if self.worker is None else f"worker{self.worker}")
        digest = hashlib.sha256(f"{self.config.seed}/{who}/{purpose}".encode()).digest()
        return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") & (2**63 - 1))

    def build(self, factory):
        """Build modules from `factory()` with weights drawn from the run seed, identical on every rank."""
        with _INIT_LOCK:
            state = torch.random.get_rng_state()
            torch.manual_seed(self.config.seed)
            try:
                built = factory()
            finally:
                torch.random.set_rng_state(state)
        return built

    def crash_point(self, step: int) -> None:
        """Exit hard here if `--fail RANK@STEP` names this rank and step; freeze if `--hang` does."""
        if self.config.failures().get(self.rank) == step:
            log.warning("rank %d: --fail says exit at step %d", self.rank, step)
            if self.simulated:
                raise WorkerCrash()
            os._exit(CRASH_EXIT)
        seconds = self.config.hangs().get((self.rank, step))
        if seconds:
            log.warning("rank %d: --hang says freeze for %g s at step %d", self.rank, seconds, step)
            self.transport.freeze(seconds)

    @contextlib.contextmanager
    def compute(self):
        """Around a worker's compute: with `--slow RANK:FACTOR` this rank then idles FACTOR - 1 times as
        long as the compute took, so it runs FACTOR times slower while its heartbeat goes on."""
        factor = self.config.slowdowns().get(self.rank, 1.0)
        started = time.perf_counter()
        yield
        if factor > 1:
            self.transport.pause((factor - 1) * (time.perf_counter() - started))

    def lose(self, rank: int, step: int, error: PeerGone) -> None:
        """Drop worker `rank` after the transport gave up on it (`error.kind`: dead or hung)."""
        self.drop(rank, step, error.reason, self.recorder.wall_s(), kind=error.kind, silent_s=error.silent_s,
                  at_unix_s=error.at_unix_s)

    def sweep_hung(self, step: int) -> None:
        """Drop every worker the heartbeat declared hung, even one this server is not waiting on now."""
        for rank, lost in self.transport.hung_peers().items():
            if rank in self.worker_ranks and rank not in self.dead:
                self.drop(rank, step, lost.reason(self.config.heartbeat_timeout), self.recorder.wall_s(),
                          kind="hung", silent_s=lost.silent_s, at_unix_s=lost.at_unix_s)

    def drop(self, rank: int, step: int, reason: str, wall_s: float, kind: str = "dead",
             silent_s: float | None = None, at_unix_s: float | None = None) -> None:
        """Record a dead or hung worker; server methods then carry on without it."""
        if rank in self.dead:
            return
        self.dead.add(rank)
        failure = {"rank": rank, "step": step, "detected_at_s": round(wall_s, 2), "what": reason, "kind": kind,
                   "at_unix_s": round(at_unix_s or time.time(), 3)}
        if silent_s is not None:
            failure["silent_s"] = silent_s
        self.failures.append(failure)
        log.warning("rank %d lost at step %d (%s); continuing with %d workers", rank, step, reason,
                    len(self.live_workers()))

    # --- checkpoints: rank 0 writes checkpoint.pt, other ranks checkpoint_rank{r}.pt ----------------
    def checkpoint_path(self) -> Path:
        return self.out / run_folder.rank_checkpoint(self.rank)

    def save(self, step: int, state: dict[str, Any]) -> None:
        """This rank's checkpoint: the method's `state`, and the bytes counted so far, which a resumed run
        goes on from (as it does from the checkpoint's wall seconds)."""
        check_state(step, state, self.config)  # a NaN state never replaces the last whole checkpoint
        extra = {"residuals": self.transport.compression.state()} if self.transport.compression else {}
        save_checkpoint(self.checkpoint_path(), {"step": step, "bytes": self.transport.bytes.as_dict(),
                                                 "run": identity(self.config, self.rank), **extra, **state})
        self.stop_plan.after_save(step)  # a requested stop ends the rank here, its checkpoint whole

    def load(self) -> dict[str, Any] | None:
        path = self.checkpoint_path()
        if not path.is_file():
            return None
        state = load_checkpoint(path)
        check_checkpoint(path, state, self.config, self.rank)
        return state

    @functools.cached_property
    def stop_plan(self) -> StopPlan:
        return StopPlan(self.transport, self.rank, self.config.spec.stop_lead(self.options))

    def checkpoint_due(self, step: int) -> bool:
        """Whether this rank checkpoints at `step`, a step it has just finished: every --checkpoint-every steps,
        at the end, and where a requested stop (SIGTERM, Ctrl-C) ends the run."""
        return self.stop_plan.due(step) or step % self.config.checkpoint_every == 0 or step == self.config.steps
