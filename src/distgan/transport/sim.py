"""SimTransport: N ranks in one process, stepped cooperatively on one OS thread, exchanging tensors through
in-memory mailboxes.

Each rank is a greenlet. It runs until it has to wait (for a message, a collective, a deadline or a pause),
then hands control to the hub's scheduler, which resumes the next rank that can go on, first come first
served. So one rank computes at a time, however many there are, and 1,000 ranks cost their models, not
1,000 OS threads: a first step on a thread that has never computed costs a few ms more than on a warm one
(docs/benchmarks.md section 4), and at 1,000 workers with C = 0.02 most of a client's steps are first ones.

Receiving "from any source" follows a seeded schedule instead of arrival order, so asynchronous methods
repeat exactly. Collectives sum in rank order, so every rank sees identical results.
"""

from __future__ import annotations

import heapq
import itertools
import random
import time
from collections import deque
from collections.abc import Callable, Sequence

import torch
from greenlet import greenlet

from distgan.transport.base import Incoming, PeerGone, Pending, Transport
from distgan.transport.heartbeat import Lost

SWAP_TAG = 2
GONE, ABORTED, HUNG = object(), object(), object()  # end a mailbox: its sender exited / hung, or the run aborted


def is_end(item) -> bool:
    """Whether `item` is a sentinel (compared by identity: a payload is a tensor or a list of them)."""
    return item is GONE or item is ABORTED or item is HUNG


class SimAborted(Exception):
    """Another simulated rank failed, so this one stops too."""


class SimDropped(BaseException):
    """A frozen simulated rank woke up to find itself declared hung: it stops, as its process would."""


class SimDeadlock(RuntimeError):
    """Every simulated rank still running waits on another, and nothing (a deadline, a pause) will wake one."""


class Mailbox:
    """Messages from one rank to another on one tag, in order. One reader, so a waiter is one rank; a sentinel
    at the head stays there, for every later receive."""

    __slots__ = ("items", "waiter", "posted")

    def __init__(self) -> None:
        self.items: deque = deque()
        self.waiter: greenlet | None = None
        self.posted: deque[Incoming] = deque()  # receives posted ahead (irecv), filled in the order posted


class SimHub:
    """What the simulated ranks share: mailboxes, the collective rendezvous, who is still alive, and the
    scheduler that steps them."""

    def __init__(self, world_size: int, seed: int, heartbeat_timeout: float | None = None):
        self.world_size = world_size
        self.mailboxes: dict[tuple[int, int, int], Mailbox] = {}
        self.slots: list[torch.Tensor | None] = [None] * world_size
        self.gone: set[int] = set()
        self.aborted = False
        self.schedule = random.Random(seed)
        # heartbeats: a simulated rank beats unless frozen (`--hang`), as a process's thread beats until SIGSTOP
        self.heartbeat_timeout = heartbeat_timeout
        self.frozen: dict[int, float] = {}  # rank -> when it froze (time.monotonic())
        self.hung: dict[int, Lost] = {}
        self._ready: deque[greenlet] = deque()
        self._scheduled: set[greenlet] = set()
        self._timers: list[tuple[float, int, greenlet]] = []  # a heap of (when, order, rank to wake)
        self._order = itertools.count()
        self._at_barrier: list[greenlet] = []
        self.batching = False  # gather ranks' `together` calls and run each key's job once (launch.py decides)
        self._batches: dict[str, tuple[Callable[[list], list], list[dict]]] = {}
        self._barriers_passed = 0
        self._scheduler: greenlet | None = None
        self.stop_at: int | None = None  # the step rank 0 named for a requested stop (distgan/stopping.py)

    # --- the scheduler ---------------------------------------------------------------------------
    def run(self, mains: Sequence[Callable[[], None]]) -> None:
        """Run one function per rank, cooperatively on this thread, until every one has returned.

        An exception that leaves a rank aborts the others and is raised here once they have stopped."""
        self._scheduler = greenlet.getcurrent()
        errors: list[BaseException] = []

        def guarded(main: Callable[[], None]) -> Callable[[], None]:
            def run_rank() -> None:
                try:
                    main()
                except BaseException as e:  # noqa: BLE001 - raised by run() once every rank has stopped
                    errors.append(e)
                    self.abort()
            return run_rank

        ranks = [greenlet(guarded(main)) for main in mains]
        grad_modes: dict[greenlet, bool] = {}
        own_grad_mode = torch.is_grad_enabled()
        for rank in ranks:
            self._wake(rank)
        while True:
            self._check_clock()
            if self._ready:
                rank = self._ready.popleft()
                self._scheduled.discard(rank)
                if not rank.dead:
                    torch.set_grad_enabled(grad_modes.get(rank, True))  # per thread in torch: kept per rank
                    rank.switch()
                    grad_modes[rank] = torch.is_grad_enabled()
                continue
            if self._batches:  # every rank that can go on has joined a batch, or waits on another
                torch.set_grad_enabled(True)
                self._run_batch()
                continue
            if all(rank.dead for rank in ranks):
                break
            wake_at = self._next_wake()
            if wake_at is None:
                errors.append(SimDeadlock("every simulated rank still running waits on another"))
                self.abort()
                continue
            time.sleep(max(0.0, wake_at - time.monotonic()))
        self._scheduler = None
        torch.set_grad_enabled(own_grad_mode)
        if errors:
            raise errors[0]

    def together(self, key: str, job: Callable[[list], list], item) -> tuple:
        """Join the batch under `key` and wait until the scheduler has run it; (result, this rank's share of
        the seconds). The batch runs once no rank can go on without it, so it holds every rank that got there."""
        entry = {"rank": greenlet.getcurrent(), "item": item, "done": False}
        self._batches.setdefault(key, (job, []))[1].append(entry)
        while not entry["done"]:
            self.park()
        if "error" in entry:
            raise entry["error"]
        return entry["result"], entry["share"]

    def _run_batch(self) -> None:
        key = next(iter(self._batches))
        job, entries = self._batches.pop(key)
        start = time.perf_counter()
        try:
            for entry, result in zip(entries, job([e["item"] for e in entries]), strict=True):
                entry["result"] = result
        except Exception as e:  # noqa: BLE001 - raised in every rank of the batch
            for entry in entries:
                entry["error"] = e
        share = (time.perf_counter() - start) / len(entries)
        for entry in entries:
            entry["done"], entry["share"] = True, share
            self._wake(entry["rank"])

    def park(self, until: float | None = None) -> None:
        """Give control back to the scheduler until another rank wakes this one, or `until` passes
        (time.monotonic()). A rank may be woken for nothing, so every wait checks its condition again."""
        me = greenlet.getcurrent()
        if until is not None:
            heapq.heappush(self._timers, (until, next(self._order), me))
        self._scheduler.switch()

    def sleep(self, seconds: float) -> None:
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            self.park(until)

    def _wake(self, rank: greenlet | None) -> None:
        if rank is not None and rank not in self._scheduled:
            self._scheduled.add(rank)
            self._ready.append(rank)

    def _check_clock(self) -> None:
        now = time.monotonic()
        while self._timers and self._timers[0][0] <= now:
            self._wake(heapq.heappop(self._timers)[2])
        if self.frozen and self.heartbeat_timeout is not None:
            for rank, since in list(self.frozen.items()):
                if rank not in self.hung and now - since > self.heartbeat_timeout:
                    self.mark_hung(rank, Lost(round(now - since, 2), time.time()))

    def _next_wake(self) -> float | None:
        """When the next timer fires or a frozen rank is declared hung; None if nothing ever will."""
        times = [self._timers[0][0]] if self._timers else []
        if self.heartbeat_timeout is not None:
            times += [since + self.heartbeat_timeout for r, since in self.frozen.items() if r not in self.hung]
        return min(times) if times else None

    # --- mailboxes and liveness ------------------------------------------------------------------
    def mailbox(self, src: int, dst: int, tag: int) -> Mailbox:
        box = self.mailboxes.get((src, dst, tag))
        if box is None:
            box = self.mailboxes[src, dst, tag] = Mailbox()
            for ended, sentinel in ((src in self.hung, HUNG), (src in self.gone, GONE), (self.aborted, ABORTED)):
                if ended:
                    box.items.append(sentinel)
        return box

    def put(self, box: Mailbox, item) -> None:
        box.items.append(item)
        self.fill_posted(box)
        self._wake(box.waiter)

    def fill_posted(self, box: Mailbox) -> None:
        """Hand what `box` holds to the receives posted on it, oldest first."""
        while box.posted and box.items:
            head = box.items[0]
            incoming = box.posted.popleft()
            if is_end(head):
                incoming.finish(PeerGone(incoming.src, "simulated worker exited" if head is GONE else "hung",
                                         kind="hung" if head is HUNG else "dead"))
            else:
                incoming.tensor.copy_(box.items.popleft())
                incoming.finish()

    def take(self, box: Mailbox):
        """The next item of `box`, waiting for one; a sentinel is left in place."""
        while not box.items:
            self.wait_on(box)
        return box.items[0] if is_end(box.items[0]) else box.items.popleft()

    def wait_on(self, box: Mailbox, until: float | None = None) -> None:
        """Park as `box`'s reader until something lands in it (or `until`, or for nothing: check again)."""
        box.waiter = greenlet.getcurrent()
        try:
            self.park(until)
        finally:
            box.waiter = None

    def mark_hung(self, rank: int, lost: Lost) -> None:
        """Every mailbox from `rank` ends with HUNG: its readers give up on it, after what it sent before."""
        self.hung[rank] = lost
        self._end_mailboxes_from(rank, HUNG)

    def mark_gone(self, rank: int) -> None:
        """After its last message, each mailbox from `rank` holds GONE: its reader learns it at once."""
        self.gone.add(rank)
        self._end_mailboxes_from(rank, GONE)

    def _end_mailboxes_from(self, rank: int, sentinel) -> None:
        for (src, _, _), box in list(self.mailboxes.items()):
            if src == rank:
                self.put(box, sentinel)

    def abort(self) -> None:
        self.aborted = True
        for box in list(self.mailboxes.values()):
            self.put(box, ABORTED)
        for rank in self._at_barrier:
            self._wake(rank)

    def wait_all(self) -> None:
        """A barrier of every rank."""
        if self.aborted:
            raise SimAborted()
        passed = self._barriers_passed
        self._at_barrier.append(greenlet.getcurrent())
        if len(self._at_barrier) == self.world_size:
            self._barriers_passed += 1
            for rank in self._at_barrier:
                self._wake(rank)
            self._at_barrier.clear()
            return
        while self._barriers_passed == passed:
            if self.aborted:
                raise SimAborted()
            self.park()


class SimTransport(Transport):
    def __init__(self, hub: SimHub, rank: int):
        super().__init__(rank, hub.world_size)
        self.hub = hub
        self.heartbeat_timeout = hub.heartbeat_timeout

    @property
    def batches_compute(self) -> bool:
        return self.hub.batching

    def announce_stop(self, step: int) -> None:
        self.hub.stop_at = step

    def stop_step(self) -> int | None:
        return self.hub.stop_at

    def together(self, key: str, job: Callable[[list], list], item):
        if not self.hub.batching:
            return super().together(key, job, item)
        start = time.perf_counter()
        result, share = self.hub.together(key, job, item)
        self.trace.elsewhere(start, share)
        return result

    def _send_many(self, messages: Sequence[tuple[torch.Tensor, int]]) -> None:
        for tensor, dst in messages:
            self.hub.put(self.hub.mailbox(self.rank, dst, 0), tensor.detach().clone())

    def _isend(self, tensor: torch.Tensor, dst: int, control: bool) -> Pending:
        self.hub.put(self.hub.mailbox(self.rank, dst, 1 if control else 0), tensor.detach().clone())
        return Pending()  # a mailbox takes the message at once

    def _take(self, src: int, tag: int) -> torch.Tensor:
        item = self.hub.take(self.hub.mailbox(src, self.rank, tag))
        if item is ABORTED:
            raise SimAborted()
        if item is GONE:
            raise PeerGone(src, "simulated worker exited")
        if item is HUNG:
            lost = self.hub.hung[src]
            raise PeerGone(src, lost.reason(self.hub.heartbeat_timeout), kind="hung", silent_s=lost.silent_s,
                           at_unix_s=lost.at_unix_s)
        return item

    def _recv(self, tensor: torch.Tensor, src: int) -> None:
        tensor.copy_(self._take(src, 0))

    def _irecv(self, incoming: Incoming) -> None:
        box = self.hub.mailbox(incoming.src, self.rank, 0)
        box.posted.append(incoming)
        self.hub.fill_posted(box)  # a message already there fills it now

    def _wait_incoming(self, incoming: Incoming, timeout_s: float | None) -> bool:
        until = None if timeout_s is None else time.monotonic() + timeout_s
        box = self.hub.mailbox(incoming.src, self.rank, 0)
        while not incoming.done.is_set() and (until is None or time.monotonic() < until):
            self.hub.wait_on(box, until)
        return incoming.done.is_set()

    def _recv_control(self, tensor: torch.Tensor, src: int) -> None:
        tensor.copy_(self._take(src, 1))

    def _recv_any(self, tensor: torch.Tensor, sources: Sequence[int]) -> int:
        candidates = sorted(sources)
        while candidates:
            src = self.hub.schedule.choice(candidates)
            try:
                tensor.copy_(self._take(src, 1))
                return src
            except PeerGone:  # like gloo: a dead source is skipped, not reported
                candidates.remove(src)
        raise PeerGone(-1, "every source has exited")

    def _swap(self, tensors: list[torch.Tensor], dst: int, src: int) -> list[torch.Tensor]:
        self.hub.put(self.hub.mailbox(self.rank, dst, SWAP_TAG), [t.detach() for t in tensors])  # moved, not copied
        return self._take(src, SWAP_TAG)

    def _exchange(self, send: torch.Tensor, dst: int, recv: torch.Tensor, src: int) -> None:
        self._send_many([(send, dst)])
        self._recv(recv, src)

    def _all_reduce_sum(self, tensor: torch.Tensor) -> None:
        self.hub.slots[self.rank] = tensor.detach().clone()
        self.hub.wait_all()
        total = torch.zeros_like(tensor)
        for slot in self.hub.slots:  # rank order, so every rank sums identically
            total += slot
        self.hub.wait_all()
        tensor.copy_(total)

    def _all_gather(self, tensor: torch.Tensor) -> list[torch.Tensor]:
        self.hub.slots[self.rank] = tensor.detach().clone()
        self.hub.wait_all()
        gathered = [slot.clone() for slot in self.hub.slots]
        self.hub.wait_all()
        return gathered

    def barrier(self) -> None:
        self.hub.wait_all()

    def hung_peers(self) -> dict[int, Lost]:
        return {r: lost for r, lost in self.hub.hung.items() if r != self.rank}

    def pause(self, seconds: float) -> None:
        self.hub.sleep(seconds)  # a slower machine: the others compute meanwhile

    def freeze(self, seconds: float) -> None:
        """Stop beating and computing for `seconds`; if declared hung meanwhile, stop for good."""
        self.hub.frozen[self.rank] = time.monotonic()
        try:
            self.hub.sleep(seconds)
        finally:
            del self.hub.frozen[self.rank]
        if self.rank in self.hub.hung:
            raise SimDropped()

    def close(self) -> None:
        self.hub.mark_gone(self.rank)
