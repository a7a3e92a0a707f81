"""The transport interface every method is written against, and its byte counter.

Methods only ever move tensors. Bytes are counted here, once, so both transports report the same.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Callable, Sequence
from time import perf_counter

import torch

from distgan.transport.codecs import Compression
from distgan.transport.trace import NULL_TRACE, Trace


class PeerGone(Exception):
    """A peer died (`kind` "dead": its connection closed) or hung ("hung": it stopped beating for the
    heartbeat timeout); server-based methods drop it and carry on."""

    def __init__(self, rank: int, reason: str, kind: str = "dead", silent_s: float | None = None,
                 at_unix_s: float | None = None):
        super().__init__(f"rank {rank}: {reason}")
        self.rank = rank
        self.reason = reason
        self.kind = kind
        self.silent_s = silent_s  # a hung peer: how long it had been silent when declared
        self.at_unix_s = at_unix_s if at_unix_s is not None else time.time()


class Pending:
    """A send that was posted and not yet waited for; `wait()` before reusing its tensor."""

    def __init__(self, wait: Callable[[], None] | None = None):
        self._wait = wait
        self.payload: torch.Tensor | None = None

    def wait(self) -> None:
        wait, self._wait = self._wait, None
        if wait is not None:
            wait()


class Incoming:
    """A receive posted ahead (`Transport.irecv`), completed by a helper thread (processes) or when its message
    lands in the mailbox (simulation), so a server can wait for it up to a deadline and go on without it.
    `arrived_at` is when it landed (time.monotonic())."""

    def __init__(self, tensor: torch.Tensor, src: int, kind: str):
        self.tensor, self.src, self.kind = tensor, src, kind
        self.target = tensor  # what the caller reads: `tensor` itself, or what an encoded `tensor` decodes into
        self.done = threading.Event()
        self.error: PeerGone | None = None
        self.arrived_at: float | None = None
        self.counted = False

    def finish(self, error: PeerGone | None = None) -> None:
        self.error, self.arrived_at = error, time.monotonic()
        self.done.set()


class ByteCounter:
    """Bytes sent and received by one rank, per message kind."""

    def __init__(self) -> None:
        self.sent: dict[str, int] = defaultdict(int)
        self.recv: dict[str, int] = defaultdict(int)

    def total_sent(self) -> int:
        return sum(self.sent.values())

    def total_recv(self) -> int:
        return sum(self.recv.values())

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {"sent": dict(sorted(self.sent.items())), "recv": dict(sorted(self.recv.items()))}

    def load(self, counts: dict[str, dict[str, int]]) -> None:
        """Go on from `as_dict()` counts, as a run resumed from a checkpoint does."""
        self.sent.update({k: int(v) for k, v in counts["sent"].items()})
        self.recv.update({k: int(v) for k, v in counts["recv"].items()})


def nbytes(tensor: torch.Tensor) -> int:
    return tensor.numel() * tensor.element_size()


class Transport(ABC):
    """Point-to-point and collective messaging among `world_size` ranks, with bytes counted by kind."""

    def __init__(self, rank: int, world_size: int):
        self.rank = rank
        self.world_size = world_size
        self.bytes = ByteCounter()
        self.trace: Trace = NULL_TRACE  # the runner gives each rank a real one (docs/run-format.md, trace.jsonl)
        self.heartbeat_timeout: float | None = None  # set where peers beat: a hung peer is then reported
        self.slow: dict[int, dict[str, float]] = {}  # peers waited on past the heartbeat timeout, yet beating
        self.compression: Compression | None = None  # --compress: counted payloads travel encoded (codecs.py)

    def _wire(self, tensor: torch.Tensor, peer: int | str, kind: str) -> torch.Tensor:
        """What goes on the wire for `tensor`: itself, or its encoding under --compress."""
        if self.compression is None or not self.compression.applies(kind, tensor):
            return tensor
        return self.compression.encode(kind, peer, tensor)

    def _landing(self, tensor: torch.Tensor, kind: str) -> torch.Tensor:
        """Where a message into `tensor` lands: `tensor` itself, or a wire buffer to decode from."""
        if self.compression is None or not self.compression.applies(kind, tensor):
            return tensor
        return self.compression.buffer(tensor)

    # --- point to point -------------------------------------------------------------------------
    def send(self, tensor: torch.Tensor, dst: int, kind: str) -> None:
        """Send `tensor` to `dst`, blocking until it is handed to the wire."""
        start = perf_counter()
        wire = self._wire(tensor, dst, kind)
        self._send_many([(wire, dst)])
        self.bytes.sent[kind] += nbytes(wire)
        self.trace.note("s", kind, dst, nbytes(wire), start)

    def send_many(self, messages: Sequence[tuple[torch.Tensor, int]], kind: str) -> None:
        """Send several tensors at once (e.g. a server to all its workers) without ordering deadlocks."""
        start = perf_counter()
        messages = [(self._wire(tensor, dst, kind), dst) for tensor, dst in messages]
        self._send_many(messages)
        self.bytes.sent[kind] += sum(nbytes(t) for t, _ in messages)
        for tensor, dst in messages:  # the call's seconds go to the first; the sends were posted together
            self.trace.note("s", kind, dst, nbytes(tensor), start)
            start = perf_counter()

    def isend(self, tensor: torch.Tensor, dst: int, kind: str, control: bool = False) -> Pending:
        """Post a send and return at once, without waiting for `dst` to take it (an asynchronous push).

        `control=True` sends on the control channel, which `dst` reads with `recv_any` or `recv_control`.
        """
        start = perf_counter()
        wire = tensor if control else self._wire(tensor, dst, kind)
        pending = self._isend(wire, dst, control)
        pending.payload = wire  # kept alive until the send is done
        self.bytes.sent[kind] += nbytes(wire)
        self.trace.note("i", kind, dst, nbytes(wire), start)
        return pending

    def recv(self, tensor: torch.Tensor, src: int, kind: str) -> None:
        """Receive into `tensor` from `src`; raises PeerGone if `src` is dead or hung."""
        started, start = time.monotonic(), perf_counter()
        wire = self._landing(tensor, kind)
        self._recv(wire, src)
        self._note_wait(src, time.monotonic() - started)
        if wire is not tensor:
            self.compression.decode_into(wire, tensor)
        self.bytes.recv[kind] += nbytes(wire)
        self.trace.note("r", kind, src, nbytes(wire), start)

    def irecv(self, tensor: torch.Tensor, src: int, kind: str) -> Incoming:
        """Post a receive from `src` and return at once; `wait_for` it, with or without a deadline."""
        wire = self._landing(tensor, kind)
        incoming = Incoming(wire, src, kind)
        incoming.target = tensor  # decoded into once it lands, when the wire is an encoding
        self._irecv(incoming)
        return incoming

    def wait_for(self, incoming: Incoming, timeout_s: float | None = None) -> bool:
        """Wait until `incoming` lands (True) or `timeout_s` passes (False, still pending). Raises PeerGone
        if its sender died or hung; a pending one may be waited for again later."""
        started, start = time.monotonic(), perf_counter()
        if not self._wait_incoming(incoming, timeout_s):
            return False
        if incoming.error is not None:
            raise incoming.error
        if not incoming.counted:
            incoming.counted = True
            self._note_wait(incoming.src, time.monotonic() - started)
            if incoming.target is not incoming.tensor:
                self.compression.decode_into(incoming.tensor, incoming.target)
            self.bytes.recv[incoming.kind] += nbytes(incoming.tensor)
            self.trace.note("r", incoming.kind, incoming.src, nbytes(incoming.tensor), start)
        return True

    def _irecv(self, incoming: Incoming) -> None:
        raise NotImplementedError(f"{type(self).__name__} has no posted receives")

    def _wait_incoming(self, incoming: Incoming, timeout_s: float | None) -> bool:
        return incoming.done.wait(timeout_s)

    def _note_wait(self, src: int, waited_s: float) -> None:
        """A wait longer than the heartbeat timeout on a peer that kept beating: it is slow, not hung."""
        if self.heartbeat_timeout is None or waited_s <= self.heartbeat_timeout:
            return
        seen = self.slow.setdefault(src, {"waits": 0, "longest_s": 0.0})
        seen["waits"] += 1
        seen["longest_s"] = round(max(seen["longest_s"], waited_s), 2)

    def hung_peers(self) -> dict:
        """Peers declared hung so far: rank -> heartbeat.Lost (how long silent, and when declared)."""
        return {}

    def announce_stop(self, step: int) -> None:
        """Rank 0: every rank checkpoints at `step` and stops (distgan/stopping.py)."""

    def stop_step(self) -> int | None:
        """The step rank 0 named for a requested stop, or None while it has named none."""
        return None

    def pause(self, seconds: float) -> None:
        """Idle for `seconds` as a slower machine would (a straggler): beating, but not computing."""
        time.sleep(seconds)

    def freeze(self, seconds: float) -> None:
        """Stop this rank, heartbeat and all, for `seconds`, as SIGSTOP would (`--hang`)."""
        raise NotImplementedError(f"{type(self).__name__} cannot freeze a rank")

    def send_control(self, tensor: torch.Tensor, dst: int, kind: str) -> None:
        """Send a small control tensor that `dst` takes with `recv_any` or `recv_control`, and wait for it."""
        start = perf_counter()
        self._isend(tensor, dst, True).wait()
        self.bytes.sent[kind] += nbytes(tensor)
        self.trace.note("s", kind, dst, nbytes(tensor), start)

    def recv_any(self, tensor: torch.Tensor, sources: Sequence[int], kind: str) -> int:
        """Receive a small control tensor from whichever of `sources` sends first; return its rank.

        As with gloo, a source that has died is not reported here: it simply never sends.
        """
        start = perf_counter()
        src = self._recv_any(tensor, sources)
        self.bytes.recv[kind] += nbytes(tensor)
        self.trace.note("r", kind, src, nbytes(tensor), start)
        return src

    def recv_control(self, tensor: torch.Tensor, src: int, kind: str) -> None:
        """Receive a control tensor from `src` alone; raises PeerGone at once if `src` is dead."""
        started, start = time.monotonic(), perf_counter()
        self._recv_control(tensor, src)
        self._note_wait(src, time.monotonic() - started)
        self.bytes.recv[kind] += nbytes(tensor)
        self.trace.note("r", kind, src, nbytes(tensor), start)

    def swap(self, tensors: list[torch.Tensor], dst: int, src: int, kind: str) -> list[torch.Tensor]:
        """Hand `tensors` to `dst` and take tensors of the same shapes from `src` in their place (a peer-to-peer
        swap, one message each way). The caller gives `tensors` up: the simulation moves them without a copy.

        Raises PeerGone only if nothing could be received from `src`; a dead `dst` is not an error. After a
        PeerGone, `tensors` may already be with `dst`: copy them before using them again.
        """
        start = perf_counter()
        flat = torch.cat([t.reshape(-1) for t in tensors]) if tensors else None
        if flat is not None and self.compression is not None and self.compression.applies(kind, flat):
            wire = self.compression.encode(kind, dst, flat)
            (landed,) = self._swap([wire], dst, src)
            values = self.compression.codec.decode(landed, len(flat))
            received = [piece.view_as(t).to(t.dtype) for piece, t in zip(values.split([t.numel() for t in tensors]),
                                                                          tensors)]
            moved = nbytes(wire)
        else:
            received = self._swap(tensors, dst, src)
            moved = sum(nbytes(t) for t in tensors)
        self.bytes.sent[kind] += moved
        self.bytes.recv[kind] += moved
        self.trace.note("x", kind, dst, moved, start, src)
        return received

    def _swap(self, tensors: list[torch.Tensor], dst: int, src: int) -> list[torch.Tensor]:
        outgoing = torch.cat([t.reshape(-1) for t in tensors])
        incoming = torch.empty_like(outgoing)
        self._exchange(outgoing, dst, incoming, src)
        return [piece.view_as(t) for piece, t in zip(incoming.split([t.numel() for t in tensors]), tensors)]

    # --- collectives ----------------------------------------------------------------------------
    def all_reduce_mean(self, tensor: torch.Tensor, kind: str) -> None:
        """Average `tensor` in place over all ranks.

        Counted as a ring all-reduce moves it: 2(N-1)/N of the tensor sent and received per rank.
        """
        start = perf_counter()
        if self.compression is not None and self.compression.applies(kind, tensor):
            moved = self._compressed_all_reduce_mean(tensor, kind)
        else:
            self._all_reduce_sum(tensor)
            tensor.div_(self.world_size)
            moved = 2 * (self.world_size - 1) * nbytes(tensor) // self.world_size
        self.bytes.sent[kind] += moved
        self.bytes.recv[kind] += moved
        self.trace.note("a", kind, -1, moved, start)

    def _compressed_all_reduce_mean(self, tensor: torch.Tensor, kind: str) -> int:
        """Average under --compress; return the bytes each rank sent (and received). Casts reduce in half
        precision after dividing by N, as DDP's compression hooks do; int8 and top-k are all-gathered and
        summed in rank order after decoding (codecs.py)."""
        codec, n = self.compression.codec, self.world_size
        if codec.is_cast:
            low = (tensor.detach().reshape(-1) / n).to(torch.float16 if codec.name == "fp16" else torch.bfloat16)
            self._all_reduce_sum(low)
            tensor.copy_(low.float().view_as(tensor))
            return 2 * (n - 1) * nbytes(low) // n
        wire = self.compression.encode(kind, "all", tensor)
        total = torch.zeros(tensor.numel(), dtype=torch.float32, device=tensor.device)
        for landed in self._all_gather(wire):  # rank order: every rank sums identically
            total += codec.decode(landed, tensor.numel())
        tensor.copy_((total / n).view_as(tensor))
        return (n - 1) * nbytes(wire)

    def _all_gather(self, tensor: torch.Tensor) -> list[torch.Tensor]:
        raise NotImplementedError(f"{type(self).__name__} has no all-gather")

    # --- compute shared among ranks ------------------------------------------------------------------
    batches_compute = False  # whether `together` may batch ranks' calls (the simulation, asked to: launch.py)

    def together(self, key: str, job: Callable[[list], list], item):
        """`job([item])[0]`: this rank's share of a computation that `job` does for a list of items. Where ranks
        share a process (the simulation), the transport may gather the calls of several ranks under one `key`
        and run `job` once on all their items; each rank then gets its own result, and its trace its share of
        the time."""
        return job([item])[0]

    # --- bookkeeping (resume step, final reports): not the method's traffic, so not counted ---------
    def send_uncounted(self, tensor: torch.Tensor, dst: int) -> None:
        self._send_many([(tensor, dst)])

    def recv_uncounted(self, tensor: torch.Tensor, src: int) -> None:
        """Receive from `src`; raises PeerGone if `src` is dead."""
        self._recv(tensor, src)

    def broadcast_uncounted(self, tensor: torch.Tensor) -> None:
        """Give every rank rank 0's `tensor`, point to point, so a dead rank does not stall the others."""
        if self.world_size == 1:
            return
        if self.rank == 0:
            self._send_many([(tensor, r) for r in range(1, self.world_size)])
        else:
            self._recv(tensor, 0)

    @abstractmethod
    def barrier(self) -> None: ...

    def close(self) -> None:
        """Release the transport; safe to call more than once."""

    # --- what a concrete transport provides ------------------------------------------------------
    @abstractmethod
    def _send_many(self, messages: Sequence[tuple[torch.Tensor, int]]) -> None: ...

    @abstractmethod
    def _isend(self, tensor: torch.Tensor, dst: int, control: bool) -> Pending: ...

    @abstractmethod
    def _recv(self, tensor: torch.Tensor, src: int) -> None: ...

    @abstractmethod
    def _recv_control(self, tensor: torch.Tensor, src: int) -> None: ...

    @abstractmethod
    def _recv_any(self, tensor: torch.Tensor, sources: Sequence[int]) -> int: ...

    @abstractmethod
    def _exchange(self, send: torch.Tensor, dst: int, recv: torch.Tensor, src: int) -> None: ...

    @abstractmethod
    def _all_reduce_sum(self, tensor: torch.Tensor) -> None: ...
