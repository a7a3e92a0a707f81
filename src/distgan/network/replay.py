"""Replay a run's trace on a network: every rank redoes its own items in order, on simulated links.

What waits for what comes from the trace itself, so no method is named here:
- compute takes its (calibrated) seconds; a blocking send holds the rank until its receiver has posted the
  receive, and its bytes then go to the kernel's socket buffer (a 622 KB gloo send returned in 1 ms on a 10 Mbit/s
  link, traced), so the rank goes on while they leave; one larger than that buffer holds it until its last bit
  leaves. A posted send (an asynchronous push) does not wait at all, and queues on the links with the rest;
- a message moves only once its receiver has posted the receive (gloo's rendezvous: a measured 548 KB send
  blocked 10 s while its receiver was still starting), then takes the next place on the links;
- a receive takes the next message from that peer of that kind (both transports deliver each pair's
  messages in order). So an md-gan server waits for all feedback, an fl-gan round ends when the last selected
  worker's model arrives, and async-ps pushes queue at the server in the order it took them;
- a swap sends to one peer and waits for the other's message, peer to peer; with a peer that swaps back (md-gan
  at N = 2) the two messages go one after the other, as gloo sends them;
- any two point-to-point messages between one pair of ranks, whichever way each goes, move one at a time: gloo
  moved two isends exchanged both ways in the sum of the one-way times at 10 to 272 Mbit/s, while two pairs
  moved at once (benchmarks/gloo_pairs.py; gossip-gan's pushes of G and D each way at 10 Mbit/s took 0.93-0.98 s
  against 0.5 s one way), so a message matched while another is on its pair waits for that one's last bit to leave;
- an all-reduce starts when every rank has reached it, as a ring, and releases them all when it ends. Its two
  directions do overlap (gloo_duplex.py: at N = 2 it took one line time, not two), so it does not wait on pairs.
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
SOCKET_BUFFER = 4 * 2**20  # bytes a blocking send hands to the kernel and returns: tcp_wmem's largest here
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
    return _Replayer(records, links, compute).run()


class _Replayer:
    """The ranks of one replay on one network, with the messages posted but not yet matched."""

    def __init__(self, records: list[dict[str, Any]], links: list[Link], compute: Compute):
        self.ranks = {r: _stream(r, recs) for r, recs in by_rank(records).items()}
        self.members = sorted(self.ranks)
        self.net = Network(links)
        self.compute = compute
        self.sends: dict[tuple, deque] = defaultdict(deque)  # (src, dst, kind) -> sends posted before their receive
        self.recvs: dict[tuple, int] = defaultdict(int)  # (src, dst, kind) -> receives posted before their send
        self.collective: dict[tuple, list[int]] = defaultdict(list)  # (kind, n) -> ranks that reached it
        self.arrivals: dict[tuple[int, str], int] = defaultdict(int)  # (rank, kind) -> all-reduces reached
        self.link_bytes: dict[tuple[int, str], int] = defaultdict(int)
        self.computed: dict[int, float] = defaultdict(float)
        self.on_pair: dict[tuple[int, int], deque] = {}  # (low, high) rank -> messages waiting; present while busy

    def run(self) -> Replay:
        for me in self.ranks.values():
            self.advance(me)
        unmatched = 0
        while True:
            self.net.run()
            stuck = [me for me in self.ranks.values() if me.waiting is not None]
            if not stuck:
                break
            unmatched += len(stuck)  # let one waiting item through per stuck rank and go on
            for me in stuck:
                self.withdraw(me)
                self.advance(me)
        if unmatched:
            log.warning("the trace left %d messages or all-reduces unmatched (a rank's trace missing?)", unmatched)
        zero = self.ranks.get(0)
        step_end = {}
        if zero is not None:
            for record, end in zip(zero.records, zero.end_times):
                step_end[int(record["step"]) + max(1, int(record.get("updates", 1))) - 1] = end
        wall = zero.end_times[-1] if zero and zero.end_times else self.net.now
        return Replay(wall, step_end, dict(self.link_bytes), dict(self.computed), unmatched)

    def advance(self, me: _Rank) -> None:
        """Run `me` through its items until it has to wait for the network, a timer or its peers."""
        while True:
            while me.record < len(me.ends) and me.ends[me.record] <= me.pos:
                me.end_times.append(self.net.now)
                me.record += 1
            if me.pos >= len(me.items):
                return
            record, item = me.items[me.pos]
            me.pos += 1
            op = item[0]
            if op == "c":
                seconds = self.compute(record, item[1], item[2])
                self.computed[me.rank] += seconds
                if seconds > 0:
                    self.net.after(seconds, lambda: self.advance(me))
                    return
            elif op in ("s", "i"):
                self.send(me, item[2], item[1], item[3], blocking=op == "s")
                if op == "s":
                    return
            elif op == "x":
                send, take = ["s", item[1], item[2], item[3], 0.0], ["r", item[1], item[5], item[3], 0.0]
                if item[2] == item[5]:
                    # a swap with a peer that swaps back goes one direction at a time on gloo (an exchange of
                    # 410 KB took twice a one-way send: benchmarks/gloo_duplex.py): the lower rank sends then
                    # receives, the higher receives then sends
                    self._insert(me, record, [send, take] if me.rank < item[2] else [take, send])
                else:  # along a longer cycle: post ours to the peer, then take the one from src
                    self.send(me, item[2], item[1], item[3], blocking=False)
                    self._insert(me, record, [take])
            elif op == "r":
                self.receive(me, item[2], item[1])
                return
            elif op == "a":
                self.all_reduce(me, item[1], item[3])
                return

    @staticmethod
    def _insert(me: _Rank, record: dict[str, Any], items: list[list]) -> None:
        """Put `items` next in `me`'s stream, inside the current record."""
        for k, item in enumerate(items):
            me.items.insert(me.pos + k, (record, item))
        me.ends = [e + len(items) if e >= me.pos else e for e in me.ends]

    def send(self, me: _Rank, peer: int, kind: str, nbytes: int, blocking: bool) -> None:
        key = (me.rank, peer, kind)
        if blocking:
            me.waiting = ("send", key)
        if self.recvs[key]:
            self.recvs[key] -= 1
            self.start(key, me, nbytes, blocking)
        else:
            self.sends[key].append((me, nbytes, blocking))

    def receive(self, me: _Rank, peer: int, kind: str) -> None:
        key = (peer, me.rank, kind)
        me.waiting = key
        if self.sends[key]:
            sender, nbytes, blocking = self.sends[key].popleft()
            self.start(key, sender, nbytes, blocking)
        else:
            self.recvs[key] += 1

    def start(self, key: tuple, sender: _Rank, nbytes: int, blocking: bool) -> None:
        """A matched message goes on the links once its pair of ranks is free (one message at a time, either way);
        a blocking sender resumes when it has left, the receiver on arrival."""
        src, dst, _ = key
        pair = (min(src, dst), max(src, dst))
        if pair in self.on_pair:
            self.on_pair[pair].append((key, sender, nbytes, blocking))
            return
        self.on_pair[pair] = deque()
        self.link_bytes[src, "up"] += nbytes
        self.link_bytes[dst, "down"] += nbytes
        receiver = self.ranks.get(dst)

        buffered = blocking and nbytes <= SOCKET_BUFFER

        def sent() -> None:
            for waiting in self.on_pair.pop(pair):  # the next takes the pair over, the rest queue behind it again
                self.start(*waiting)
            if blocking and not buffered:
                self.wake(sender, ("send", key))

        self.net.transfer(src, dst, nbytes, on_sent=sent,
                          on_delivered=(lambda: self.wake(receiver, key)) if receiver else None)
        if buffered:
            self.wake(sender, ("send", key))

    def all_reduce(self, me: _Rank, kind: str, nbytes: int) -> None:
        n = self.arrivals[me.rank, kind]
        self.arrivals[me.rank, kind] += 1
        waiting = self.collective[kind, n]
        waiting.append(me.rank)
        me.waiting = key = ("all-reduce", kind, n)
        if len(waiting) == len(self.members):
            for r in self.members:
                self.link_bytes[r, "up"] += nbytes
                self.link_bytes[r, "down"] += nbytes
            ring_all_reduce(self.net, self.members, nbytes, lambda: [self.wake(self.ranks[r], key) for r in waiting])

    def wake(self, me: _Rank, key: tuple) -> None:
        if me.waiting == key:
            me.waiting = None
            self.advance(me)

    def withdraw(self, me: _Rank) -> None:
        """Give up what a stuck rank waits for: a send nobody received, a receive nobody sent, an all-reduce."""
        if me.waiting[0] == "send":
            key = me.waiting[1]
            self.sends[key] = deque(entry for entry in self.sends[key] if entry[0] is not me)
        elif me.waiting[0] != "all-reduce":
            self.recvs[me.waiting] -= 1
        me.waiting = None


def _stream(rank: int, records: list[dict[str, Any]]) -> _Rank:
    items, ends = [], []
    for record in records:
        items += [(record, item) for item in record["ops"]]
        ends.append(len(items))
    return _Rank(rank, records, items, ends)
