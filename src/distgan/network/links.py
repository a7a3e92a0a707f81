"""A flow-level network: one access link per rank, flows sharing them max-min fairly, and timers.

A flow from rank a to rank b uses a's up link and b's down link. At every instant the flows in flight get
max-min fair rates (progressive filling: the most contended link is split evenly, its flows are frozen,
and so on), so N flows out of one server share its up link, while a swap's two directions do not meet.
A flow's bytes leave at its rate; it is delivered latency_a/2 + latency_b/2 after its last bit left.

Pure Python and event driven: time jumps from one flow completion or timer to the next.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

from distgan.network.profiles import Link

Callback = Callable[[], None]


@dataclass(eq=False)
class Flow:
    src: int
    dst: int
    bits: float  # still to send
    on_sent: Callback | None
    on_delivered: Callback | None
    rate: float = 0.0


@dataclass
class Network:
    links: list[Link]
    now: float = 0.0
    flows: list[Flow] = field(default_factory=list)
    _timers: list = field(default_factory=list)
    _order: itertools.count = field(default_factory=itertools.count)
    _dirty: bool = False

    def after(self, delay: float, callback: Callback) -> None:
        """Call `callback` `delay` seconds from now."""
        heapq.heappush(self._timers, (self.now + max(0.0, delay), next(self._order), callback))

    def transfer(self, src: int, dst: int, nbytes: int, on_sent: Callback | None = None,
                 on_delivered: Callback | None = None) -> None:
        """Start sending `nbytes` from src to dst now; `on_sent` when the last bit leaves, `on_delivered` on arrival."""
        flow = Flow(src, dst, 8.0 * nbytes, on_sent, on_delivered)
        if flow.bits <= 0 or math.isinf(min(self.links[src].up_bps, self.links[dst].down_bps)):
            self._finish(flow)
            return
        self.flows.append(flow)
        self._dirty = True

    def run(self) -> float:
        """Run until nothing is left in flight; return the time then."""
        while self.flows or self._timers:
            if self._dirty:
                share(self.flows, self.links)
                self._dirty = False
            ends = [self.now + f.bits / f.rate for f in self.flows]
            t_timer = self._timers[0][0] if self._timers else math.inf
            t = min(min(ends, default=math.inf), t_timer)
            elapsed, slack = t - self.now, 1e-12 * max(1.0, t)
            self.now = t
            done = []
            for f, end in zip(self.flows, ends):
                f.bits -= f.rate * elapsed
                if end <= t + slack:
                    done.append(f)
            if done:
                self.flows = [f for f in self.flows if f not in done]
                self._dirty = True
                for f in done:
                    self._finish(f)
            while self._timers and self._timers[0][0] <= self.now:
                _, _, callback = heapq.heappop(self._timers)
                callback()
        return self.now

    def _finish(self, flow: Flow) -> None:
        if flow.on_sent:
            flow.on_sent()
        if flow.on_delivered:
            delay = (self.links[flow.src].latency_s + self.links[flow.dst].latency_s) / 2
            self.after(delay, flow.on_delivered)


def share(flows: list[Flow], links: list[Link]) -> None:
    """Max-min fair rates for `flows` (progressive filling over every up and down link they use)."""
    capacity: dict[tuple[str, int], float] = {}
    users: dict[tuple[str, int], list[Flow]] = {}
    for f in flows:
        for key, cap in ((("up", f.src), links[f.src].up_bps), (("down", f.dst), links[f.dst].down_bps)):
            capacity.setdefault(key, cap)
            users.setdefault(key, []).append(f)
    unfrozen = set(flows)
    while unfrozen:
        best, fair = None, math.inf
        for key, fs in users.items():
            live = [f for f in fs if f in unfrozen]
            if live and capacity[key] / len(live) < fair:
                best, fair = key, capacity[key] / len(live)
        if best is None:
            break
        for f in [f for f in users[best] if f in unfrozen]:
            f.rate = fair
            unfrozen.discard(f)
            for key in (("up", f.src), ("down", f.dst)):
                capacity[key] -= fair


def ring_all_reduce(net: Network, ranks: list[int], sent_bytes: float, on_done: Callback) -> None:
    """A ring all-reduce in which each rank sends `sent_bytes` in all (2(n-1)/n of the tensor): 2(n-1) phases, in
    each of which rank i sends a chunk of sent_bytes / (2(n-1)) to rank i+1; a phase starts when the last ends."""
    n = len(ranks)
    if n < 2:
        net.after(0.0, on_done)
        return
    chunk = sent_bytes / (2 * (n - 1))

    def phase(j: int) -> None:
        if j == 2 * (n - 1):
            on_done()
            return
        left = [n]

        def arrived() -> None:
            left[0] -= 1
            if left[0] == 0:
                phase(j + 1)

        for i, r in enumerate(ranks):
            net.transfer(r, ranks[(i + 1) % n], chunk, on_delivered=arrived)

    phase(0)
