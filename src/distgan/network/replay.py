"""Replay a run's trace on a network: every rank redoes its own items in order, on simulated links.

What waits for what comes from the trace itself, so no method is named here:
- compute takes its (calibrated) seconds; a blocking send holds the rank until its last bit leaves; a posted
  send (an asynchronous push) does not, and queues on the links with everything else in flight;
- a message moves only once its receiver has posted the receive (gloo's rendezvous: a measured 548 KB send
  blocked 10 s while its receiver was still starting), then takes the next place on the links;
- a receive takes the next message from that peer of that kind (both transports deliver each pair's
  messages in order). So an md-gan server waits for all feedback, an fl-gan round ends when the last selected
  worker's model arrives, and async-ps pushes queue at the server in the order it took them;
- a swap sends to one peer and waits for the other's message, peer to peer;
- an all-reduce starts when every rank has reached it, as a ring, and releases them all when it ends.
"""

from __future__ import annotations

import logging
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from distgan.network.links import Network, ring_all_reduce
from distgan.network.profiles import Link

log = logging.getLogger(__name__)
Compute = Callable[[dict[str, Any], str, float], float]  # (record, phase, traced seconds) -> seconds to replay


@dataclass
class Replay:
    wall_s: float  # when rank 0 finished its last step
    step_end_s: dict[int, float]  # rank 0: last generator update of each record -> when that record ended
    link_bytes: dict[tuple[int, str], int]  # (rank, "up" | "down") -> bytes through that link
    compute_s: dict[int, float]  # seconds each rank computed
    unmatched: int = 0  # receives with no matching send in the trace (a rank's trace missing), let through


@dataclass
class _Rank:
    rank: int
    records: list[dict[str, Any]]
    items: list[tuple[dict[str, Any], list]]  # (record, item) in order
    ends: list[int]  # item index where each record ends
    pos: int = 0
    record: int = 0  # records ended so far
    waiting: tuple | None = None  # the mailbox key it waits on
    end_times: list[float] = field(default_factory=list)


def by_rank(records: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    ranks: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        ranks[int(r["rank"])].append(r)
    return dict(sorted(ranks.items()))


def replay(records: list[dict[str, Any]], links: list[Link], compute: Compute) -> Replay:
    """Replay `records` (trace.jsonl's lines) on one link per rank; `compute` gives each compute item's seconds."""
    ranks = {r: _stream(r, recs) for r, recs in by_rank(records).items()}
    net = Network(links)
    sends: dict[tuple, deque] = defaultdict(deque)  # (src, dst, kind) -> sends posted before their receive
    recvs: dict[tuple, int] = defaultdict(int)  # (src, dst, kind) -> receives posted before their send
    collective: dict[tuple, list[int]] = defaultdict(list)
    arrivals: dict[tuple[int, str], int] = defaultdict(int)  # (rank, kind) -> all-reduces reached
    link_bytes: dict[tuple[int, str], int] = defaultdict(int)
    computed: dict[int, float] = defaultdict(float)
    members = sorted(ranks)

    def start(key: tuple, me: _Rank, nbytes: int, blocking: bool) -> None:
        src, dst, _ = key
        link_bytes[src, "up"] += nbytes
        link_bytes[dst, "down"] += nbytes
        net.transfer(src, dst, nbytes, on_sent=(lambda: wake(me, ("send", key))) if blocking else None,
                     on_delivered=lambda: wake(ranks[dst], key) if dst in ranks else None)

    def wake(me: _Rank, key: tuple) -> None:
        if me.waiting == key:
            me.waiting = None
            advance(me)

    def send(me: _Rank, peer: int, kind: str, nbytes: int, blocking: bool) -> None:
        key = (me.rank, peer, kind)
        if blocking:
            me.waiting = ("send", key)
        if recvs[key]:
            recvs[key] -= 1
            start(key, me, nbytes, blocking)
        else:
            sends[key].append((me, nbytes, blocking))

    def receive(me: _Rank, peer: int, kind: str) -> None:
        key = (peer, me.rank, kind)
        me.waiting = key
        if sends[key]:
            sender, nbytes, blocking = sends[key].popleft()
            start(key, sender, nbytes, blocking)
        else:
            recvs[key] += 1

    def all_reduce(me: _Rank, kind: str, nbytes: int) -> None:
        n = arrivals[me.rank, kind]
        arrivals[me.rank, kind] += 1
        waiting = collective[kind, n]
        waiting.append(me.rank)
        me.waiting = ("all-reduce", kind, n)
        if len(waiting) == len(members):
            for r in members:
                link_bytes[r, "up"] += nbytes
                link_bytes[r, "down"] += nbytes
            ring_all_reduce(net, members, nbytes, lambda: release(waiting))

    def release(waiting: list[int]) -> None:
        for r in waiting:
            ranks[r].waiting = None
            advance(ranks[r])

    def advance(me: _Rank) -> None:
        while True:
            while me.record < len(me.ends) and me.ends[me.record] <= me.pos:
                me.end_times.append(net.now)
                me.record += 1
            if me.pos >= len(me.items):
                return
            record, item = me.items[me.pos]
            me.pos += 1
            op = item[0]
            if op == "c":
                seconds = compute(record, item[1], item[2])
                computed[me.rank] += seconds
                if seconds > 0:
                    net.after(seconds, lambda: advance(me))
                    return
            elif op in ("s", "i"):
                send(me, item[2], item[1], item[3], blocking=op == "s")
                if op == "s":
                    return
            elif op == "x":  # a swap: post ours to the peer, then take the one from src
                send(me, item[2], item[1], item[3], blocking=False)
                me.items.insert(me.pos, (record, ["r", item[1], item[5], item[3], 0.0]))
                me.ends = [e + 1 if e >= me.pos else e for e in me.ends]
            elif op == "r":
                receive(me, item[2], item[1])
                return
            elif op == "a":
                all_reduce(me, item[1], item[3])
                return

    for me in ranks.values():
        advance(me)
    unmatched = 0
    while True:
        net.run()
        stuck = [me for me in ranks.values() if me.waiting is not None]
        if not stuck:
            break
        unmatched += len(stuck)  # let one waiting item through per stuck rank and go on
        for me in stuck:
            if me.waiting[0] == "send":  # nobody ever received it: withdraw it
                key = me.waiting[1]
                sends[key] = deque(entry for entry in sends[key] if entry[0] is not me)
            elif me.waiting[0] != "all-reduce":  # a receive nobody sent: withdraw it
                recvs[me.waiting] -= 1
            me.waiting = None
            advance(me)
    if unmatched:
        log.warning("the trace left %d receives or all-reduces unmatched (a rank's trace is missing?)", unmatched)
    zero = ranks.get(0)
    step_end = {}
    if zero is not None:
        for record, end in zip(zero.records, zero.end_times):
            step_end[int(record["step"]) + max(1, int(record.get("updates", 1))) - 1] = end
    wall = zero.end_times[-1] if zero and zero.end_times else net.now
    return Replay(wall, step_end, dict(link_bytes), dict(computed), unmatched)


def _stream(rank: int, records: list[dict[str, Any]]) -> _Rank:
    items, ends = [], []
    for record in records:
        items += [(record, item) for item in record["ops"]]
        ends.append(len(items))
    return _Rank(rank, records, items, ends)
