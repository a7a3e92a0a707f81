"""A server's round with a deadline and a quorum (`--round-deadline`, `--min-workers`).

The server goes on with the updates that arrived by the deadline, once at least `min_workers` did. A
late update is discarded when it lands, as FedAvg practice does (Flower's round timeout counts a late
client as a failure of that round; FeGAN's `--timeout` drops it): averaging it into a later round would
mix in a model trained from an older w with no staleness weighting in the method. Until its late update
lands, the worker is busy and is not selected. Every late update is one event: rank, step, how late.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import torch

from distgan.context import RankContext
from distgan.transport.base import Incoming, PeerGone

log = logging.getLogger(__name__)


@dataclass
class Pending:
    incoming: list[Incoming]
    step: int
    deadline: float  # time.monotonic() of the round's deadline


class Rounds:
    """Which workers are free to select, and what came in by each round's deadline."""

    def __init__(self, ctx: RankContext, deadline_s: float, min_workers: int):
        self.ctx, self.deadline_s, self.min_workers = ctx, deadline_s, min_workers
        self.busy: dict[int, Pending] = {}
        self.late: list[dict] = []
        self.owed: dict[int, list] = {}  # sends posted to a busy worker, waited for once it is free

    def owe(self, r: int, sent) -> None:
        """Keep a send to busy worker `r` (a transport Pending) until its late update has landed."""
        self.owed.setdefault(r, []).append(sent)

    def available(self, step: int, block: bool = False) -> list[int]:
        """Live workers not still busy with a late round; `block` waits for every late one first."""
        for r, pending in list(self.busy.items()):
            try:
                if all(self.ctx.transport.wait_for(x, None if block else 0.0) for x in pending.incoming):
                    self._record(r, pending, step)
                    del self.busy[r]
                    for sent in self.owed.pop(r, []):
                        sent.wait()
            except PeerGone as e:
                del self.busy[r]
                self.ctx.lose(r, step, e)
        return [r for r in self.ctx.live_workers() if r not in self.busy]

    def collect(self, S_r: list[int], messages: list[tuple[torch.Tensor, str]], step: int) -> dict[int, list]:
        """Receive one message like each (tensor, kind) from every worker in S_r, up to the deadline; past
        it, keep waiting for whichever comes first until `min_workers` have arrived. The rest are late."""
        t = self.ctx.transport
        pending = {r: [t.irecv(torch.empty_like(like), r, kind) for like, kind in messages] for r in S_r}
        deadline = time.monotonic() + self.deadline_s
        arrived: dict[int, list] = {}
        for r in list(pending):
            self._take(r, pending, arrived, max(0.0, deadline - time.monotonic()), step)
        while len(arrived) < self.min_workers and pending:
            for r in list(pending):
                self._take(r, pending, arrived, 0.05, step)
        for r, incoming in pending.items():
            self.busy[r] = Pending(incoming, step, deadline)
            log.info("step %d: rank %d missed the %g s round deadline; going on without it", step, r,
                     self.deadline_s)
        return arrived

    def _take(self, r: int, pending: dict, arrived: dict, timeout_s: float, step: int) -> None:
        try:
            if all(self.ctx.transport.wait_for(x, timeout_s) for x in pending[r]):
                arrived[r] = [x.tensor for x in pending.pop(r)]
        except PeerGone as e:
            del pending[r]
            self.ctx.lose(r, step, e)

    def _record(self, r: int, pending: Pending, step: int) -> None:
        late_s = round(max(x.arrived_at for x in pending.incoming) - pending.deadline, 2)
        event = {"rank": r, "step": pending.step, "late_s": late_s, "noticed_at_step": step, "what": "discarded"}
        self.late.append(event)
        if self.ctx.recorder is not None:
            self.ctx.recorder.write({"type": "late", **event, "wall_s": round(self.ctx.recorder.wall_s(), 3)})
