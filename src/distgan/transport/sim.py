"""SimTransport: N ranks as threads of one process, exchanging tensors through in-memory queues.

Receiving "from any source" follows a seeded schedule instead of arrival order, so asynchronous
methods repeat exactly. Collectives sum in rank order, so every rank sees identical results.

Ranks take turns: a rank computes only while it holds the hub's `turn` lock, and gives it up while it
waits for a message. So one rank's tensors are in flight at a time, however many ranks there are: 1,000
ranks cost their models, not 1,000 concurrent steps and a scheduler thrashing between them.
"""

from __future__ import annotations

import contextlib
import ctypes
import queue
import random
import threading
import time
from collections.abc import Sequence

import torch

from distgan.transport.base import Incoming, PeerGone, Pending, Transport
from distgan.transport.heartbeat import Lost, beat_interval

SWAP_TAG = 2
GONE, ABORTED, HUNG = object(), object(), object()  # wake a reader: its sender exited / hung, or the run aborted


M_ARENA_MAX = -8  # glibc's mallopt parameter


def share_one_malloc_arena() -> bool:
    """Have every thread allocate from one glibc arena, as ranks in turns never allocate at once.

    By default a new thread may get an arena of its own, whose memory is fresh pages: a federated client
    that first computes on its thread paid for them (at N = 1,000 with C = 0.02 most selections are first
    ones; docs/benchmarks.md section 4). Returns False where there is no glibc."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(M_ARENA_MAX, 1))
    except (OSError, AttributeError):
        return False


class SimAborted(Exception):
    """Another simulated rank failed, so this one stops too."""


class SimDropped(BaseException):
    """A frozen simulated rank woke up to find itself declared hung: it stops, as its process would."""


class SimHub:
    """What the simulated ranks share: mailboxes, the collective rendezvous and who is still alive."""

    def __init__(self, world_size: int, seed: int):
        self.world_size = world_size
        self.mailboxes: dict[tuple[int, int, int], queue.Queue] = {}
        self.lock = threading.Lock()
        self.barrier = threading.Barrier(world_size)
        self.slots: list[torch.Tensor | None] = [None] * world_size
        self.gone: set[int] = set()
        self.aborted = threading.Event()
        self.schedule = random.Random(seed)
        self.turn = threading.Lock()  # held by the one rank that computes now
        # heartbeats: a simulated rank beats unless frozen (`--hang`), as a process's thread beats until SIGSTOP
        self.heartbeat_timeout: float | None = None
        self.frozen: dict[int, float] = {}  # rank -> when it froze (time.monotonic())
        self.hung: dict[int, Lost] = {}
        self._stop_beats = threading.Event()

    def start_heartbeats(self, timeout_s: float) -> None:
        """Watch every rank's (virtual) beats from one thread, as the store watchers of processes do."""
        self.heartbeat_timeout = timeout_s
        threading.Thread(target=self._watch, args=(timeout_s,), name="sim-heartbeat", daemon=True).start()

    def stop_heartbeats(self) -> None:
        self._stop_beats.set()

    def _watch(self, timeout_s: float) -> None:
        while not self._stop_beats.wait(beat_interval(timeout_s)):
            now = time.monotonic()
            for rank, since in list(self.frozen.items()):
                if rank not in self.hung and now - since > timeout_s:
                    self.mark_hung(rank, Lost(round(now - since, 2), time.time()))

    def mark_hung(self, rank: int, lost: Lost) -> None:
        """Every mailbox from `rank` ends with HUNG: its readers give up on it, after what it sent before."""
        with self.lock:
            self.hung[rank] = lost
            for (src, _, _), box in self.mailboxes.items():
                if src == rank:
                    box.put(HUNG)

    def mailbox(self, src: int, dst: int, tag: int) -> queue.Queue:
        """The queue from src to dst; one reader each, so a sentinel in it wakes exactly that reader."""
        with self.lock:
            box = self.mailboxes.get((src, dst, tag))
            if box is None:
                box = self.mailboxes[src, dst, tag] = queue.Queue()
                if src in self.hung:
                    box.put(HUNG)
                if src in self.gone:
                    box.put(GONE)
                if self.aborted.is_set():
                    box.put(ABORTED)
            return box

    def mark_gone(self, rank: int) -> None:
        """After its last message, each mailbox from `rank` holds GONE: its reader learns it at once."""
        with self.lock:
            self.gone.add(rank)
            for (src, _, _), box in self.mailboxes.items():
                if src == rank:
                    box.put(GONE)

    def abort(self) -> None:
        with self.lock:
            self.aborted.set()
            for box in self.mailboxes.values():
                box.put(ABORTED)
        self.barrier.abort()


class SimTransport(Transport):
    def __init__(self, hub: SimHub, rank: int):
        super().__init__(rank, hub.world_size)
        self.hub = hub
        self.in_turns = False
        self.heartbeat_timeout = hub.heartbeat_timeout
        self._posted: dict[int, Incoming] = {}  # the last receive posted from each source

    def _send_many(self, messages: Sequence[tuple[torch.Tensor, int]]) -> None:
        for tensor, dst in messages:
            self.hub.mailbox(self.rank, dst, 0).put(tensor.detach().clone())

    def _isend(self, tensor: torch.Tensor, dst: int, control: bool) -> Pending:
        self.hub.mailbox(self.rank, dst, 1 if control else 0).put(tensor.detach().clone())
        return Pending()  # a mailbox takes the message at once

    def _take(self, src: int, tag: int) -> torch.Tensor:
        box = self.hub.mailbox(src, self.rank, tag)
        try:
            item = box.get_nowait()
        except queue.Empty:
            item = None
        if item is None:
            with self.waiting():  # blocks without the turn; no polling, so idle ranks cost nothing
                item = box.get()
        if item is ABORTED:
            raise SimAborted()
        if item is GONE:
            box.put(GONE)  # for any later receive from the same exited rank
            raise PeerGone(src, "simulated worker exited")
        if item is HUNG:
            box.put(HUNG)
            lost = self.hub.hung[src]
            raise PeerGone(src, lost.reason(self.hub.heartbeat_timeout), kind="hung", silent_s=lost.silent_s,
                           at_unix_s=lost.at_unix_s)
        return item

    def _recv(self, tensor: torch.Tensor, src: int) -> None:
        tensor.copy_(self._take(src, 0))

    def _irecv(self, incoming: Incoming) -> None:
        before = self._posted.get(incoming.src)  # receives from one source land in the order posted
        self._posted[incoming.src] = incoming

        def take() -> None:  # a helper thread: it moves one tensor and needs no turn
            if before is not None:
                before.done.wait()
            box = self.hub.mailbox(incoming.src, self.rank, 0)
            item = box.get()
            if item is GONE or item is HUNG or item is ABORTED:
                box.put(item)
                incoming.finish(PeerGone(incoming.src, "simulated worker exited" if item is GONE else "hung",
                                         kind="hung" if item is HUNG else "dead"))
                return
            incoming.tensor.copy_(item)
            incoming.finish()

        threading.Thread(target=take, daemon=True).start()

    def _wait_incoming(self, incoming: Incoming, timeout_s: float | None) -> bool:
        if incoming.done.is_set():
            return True
        with self.waiting():
            return incoming.done.wait(timeout_s)

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
        self.hub.mailbox(self.rank, dst, SWAP_TAG).put([t.detach() for t in tensors])  # moved, not copied
        return self._take(src, SWAP_TAG)

    def _exchange(self, send: torch.Tensor, dst: int, recv: torch.Tensor, src: int) -> None:
        self._send_many([(send, dst)])
        self._recv(recv, src)

    def _all_reduce_sum(self, tensor: torch.Tensor) -> None:
        self.hub.slots[self.rank] = tensor.detach().clone()
        self._wait_all()
        total = torch.zeros_like(tensor)
        for slot in self.hub.slots:  # rank order, so every rank sums identically
            total += slot
        self._wait_all()
        tensor.copy_(total)

    def barrier(self) -> None:
        self._wait_all()

    def _wait_all(self) -> None:
        try:
            with self.waiting():
                self.hub.barrier.wait()
        except threading.BrokenBarrierError:
            raise SimAborted() from None

    def hung_peers(self) -> dict[int, Lost]:
        return {r: lost for r, lost in self.hub.hung.items() if r != self.rank}

    def pause(self, seconds: float) -> None:
        with self.waiting():  # a slower machine: the others compute meanwhile
            time.sleep(seconds)

    def freeze(self, seconds: float) -> None:
        """Stop beating and computing for `seconds`; if declared hung meanwhile, stop for good."""
        self.hub.frozen[self.rank] = time.monotonic()
        try:
            with self.waiting():
                time.sleep(seconds)
        finally:
            del self.hub.frozen[self.rank]
        if self.rank in self.hub.hung:
            raise SimDropped()

    def take_turn(self) -> None:
        """Compute only in turns from now on (the launcher's ranks do; a bare transport need not)."""
        self.hub.turn.acquire()
        self.in_turns = True

    def end_turn(self) -> None:
        if self.in_turns:
            self.in_turns = False
            self.hub.turn.release()

    @contextlib.contextmanager
    def waiting(self):
        """Give up the turn while blocked, and take it back before computing again."""
        if not self.in_turns:
            yield
            return
        self.hub.turn.release()
        try:
            yield
        finally:
            self.hub.turn.acquire()

    def close(self) -> None:
        self.hub.mark_gone(self.rank)
