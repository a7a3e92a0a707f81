"""ProcessTransport: one process per rank over torch.distributed (gloo on CPU, NCCL on GPU).

NCCL puts one rank on a GPU. Where processes share a GPU (`stage_through_host`), they talk over gloo, and every
message is copied from the device into host memory before it is sent and from host memory onto the device once
received; the trace files those copies as compute under "host staging", apart from the message.

This module and its launcher are the only code that imports torch.distributed.
"""

from __future__ import annotations

import datetime
import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Sequence
from time import perf_counter

import torch
import torch.distributed as dist

from distgan.transport.base import Incoming, PeerGone, Pending, Transport
from distgan.transport.heartbeat import Lost, StoreHeartbeat

CONTROL_TAG = 1  # small control messages, received from any source; payloads use tag 0
FOREVER = datetime.timedelta(days=30)  # a point-to-point wait never times out: gloo would close every pair


OWN_STORE = "DISTGAN_OWN_STORE"  # set by distgan's launcher; torchrun's agent makes the store itself


def join_group(backend: str, rank: int, world_size: int, timeout: datetime.timedelta) -> socket.socket | None:
    """Join the process group. Under distgan's own launcher, rank 0's store listens on MASTER_ADDR only (a
    TCPStore left to itself listens on every interface): it gets a socket bound to that address. Under torchrun
    the group rendezvouses as torchrun set it up. Returns rank 0's listening socket, to keep it open."""
    if os.environ.get(OWN_STORE) != "1":
        dist.init_process_group(backend, rank=rank, world_size=world_size, timeout=timeout)
        return None
    host, port = os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"])
    listening = None
    if rank == 0:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        listening = socket.socket(family, socket.SOCK_STREAM)
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind((host, port))
        listening.listen(max(128, 2 * world_size))
        store = dist.TCPStore(host, port, world_size, is_master=True, timeout=timeout,
                              master_listen_fd=listening.fileno())
    else:
        store = dist.TCPStore(host, port, world_size, is_master=False, timeout=timeout)
    dist.init_process_group(backend, store=store, rank=rank, world_size=world_size, timeout=timeout)
    return listening


def backend_for(device: torch.device, stage_through_host: bool) -> str:
    """NCCL where the process has a GPU of its own; gloo on the CPU, and where processes share a GPU (NCCL refuses
    two ranks on one). An NCCL group also keeps a gloo group for control messages (receive from any source)."""
    return "nccl" if device.type == "cuda" and not stage_through_host else "gloo"


class ProcessTransport(Transport):
    """Joins the process group described by the torchrun environment (RANK, WORLD_SIZE, MASTER_*)."""

    def __init__(self, device: torch.device, timeout_s: float, heartbeat_s: float | None = None,
                 stage_through_host: bool = False):
        """`timeout_s` bounds the rendezvous and collectives; with `heartbeat_s`, point-to-point waits never
        time out, and a peer that stops beating for `heartbeat_s` seconds is reported as hung instead.
        `stage_through_host`: gloo, with every message copied through host memory (processes sharing a GPU; on
        the CPU the copies are real too, so the path can be tested without a GPU)."""
        rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        super().__init__(rank, world_size)
        self.device = device
        self.stage_through_host = stage_through_host
        backend = backend_for(device, stage_through_host)
        self._listening = join_group(backend, rank, world_size, datetime.timedelta(seconds=timeout_s))
        # recv from any source exists only in gloo, so NCCL runs keep a gloo group for control messages.
        self._control_group = dist.new_group(backend="gloo") if backend == "nccl" else None
        self.heartbeat: StoreHeartbeat | None = None
        self._abandoned: list = []  # waits given up on a hung peer: never waited on again, kept alive
        if heartbeat_s:
            self.heartbeat_timeout = heartbeat_s
            store = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), is_master=False,
                                  timeout=datetime.timedelta(seconds=max(timeout_s, heartbeat_s)))
            self.heartbeat = StoreHeartbeat(store, rank, heartbeat_s, authority=rank == 0,
                                            server_timeout_s=max(timeout_s, heartbeat_s))

    # --- host staging: only where processes share a GPU ------------------------------------------------
    def _to_host(self, tensor: torch.Tensor) -> torch.Tensor:
        """What goes to gloo for `tensor`: itself, or (staging) a copy in host memory."""
        if not self.stage_through_host:
            return tensor.contiguous()
        start = perf_counter()
        host = tensor.detach().to("cpu", copy=True).contiguous()
        self.trace.stage(perf_counter() - start)
        return host

    def _landing_buffer(self, tensor: torch.Tensor) -> torch.Tensor:
        """Where gloo receives into for `tensor`: itself, or (staging) a buffer in host memory."""
        return torch.empty(tensor.shape, dtype=tensor.dtype) if self.stage_through_host else tensor

    def _to_device(self, host: torch.Tensor, tensor: torch.Tensor) -> None:
        """Copy what landed in `host` into `tensor` (nothing to do when they are the same)."""
        if host is tensor:
            return
        start = perf_counter()
        tensor.copy_(host)
        self.trace.stage(perf_counter() - start)

    def _send_many(self, messages: Sequence[tuple[torch.Tensor, int]]) -> None:
        lost, works = None, []
        for t, dst in messages:  # post and wait for every send, so one dead peer does not strand the others
            try:
                works.append((self._guard(dst, dist.isend, self._to_host(t), dst), dst))
            except PeerGone as e:
                lost = lost or e
        for work, dst in works:
            try:
                self._wait(work, dst)
            except PeerGone as e:
                lost = lost or e
        if lost:
            raise lost

    def _isend(self, tensor: torch.Tensor, dst: int, control: bool) -> Pending:
        if control:
            buffer = tensor.cpu()
            work = self._guard(dst, dist.isend, buffer, dst, group=self._control_group, tag=CONTROL_TAG)
        else:
            buffer = self._to_host(tensor)
            work = self._guard(dst, dist.isend, buffer, dst)

        def wait(buffer: torch.Tensor = buffer) -> None:  # the default keeps the buffer alive until sent
            self._wait(work, dst)

        return Pending(wait)

    def _recv(self, tensor: torch.Tensor, src: int) -> None:
        buffer = self._landing_buffer(tensor)
        self._wait(self._guard(src, dist.irecv, buffer, src), src)
        self._to_device(buffer, tensor)

    def _irecv(self, incoming: Incoming) -> None:
        src = incoming.src
        incoming.host = self._landing_buffer(incoming.tensor)  # copied onto the device once waited for
        try:
            work = self._guard(src, dist.irecv, incoming.host, src)
        except PeerGone as e:
            incoming.finish(e)
            return
        if self.heartbeat is not None:
            self.heartbeat.watch(src)

        def wait() -> None:
            errors: list = []
            _wait_forever(work, threading.Event(), errors)
            incoming.finish(PeerGone(src, _first_line(errors[0])) if errors else None)

        incoming.work = work  # kept alive with the Incoming, even if it is never waited for again
        threading.Thread(target=wait, daemon=True).start()

    def _wait_incoming(self, incoming: Incoming, timeout_s: float | None) -> bool:
        """Wait up to `timeout_s`; a sender declared hung meanwhile ends the wait with PeerGone."""
        end = None if timeout_s is None else time.monotonic() + timeout_s
        while not incoming.done.wait(0.05 if end is None else max(0.0, min(0.05, end - time.monotonic()))):
            lost = self.heartbeat.lost.get(incoming.src) if self.heartbeat else None
            if lost is not None:
                self._abandoned.append(incoming)
                incoming.finish(PeerGone(incoming.src, lost.reason(self.heartbeat_timeout), kind="hung",
                                         silent_s=lost.silent_s, at_unix_s=lost.at_unix_s))
                return True
            if end is not None and time.monotonic() >= end:
                return False
        host = getattr(incoming, "host", None)
        if incoming.error is None and host is not None:
            incoming.host = None  # copied once, however often it is waited for
            self._to_device(host, incoming.tensor)
        return True

    def _recv_control(self, tensor: torch.Tensor, src: int) -> None:
        buffer = tensor.cpu() if tensor.device.type != "cpu" else tensor
        self._wait(self._guard(src, dist.irecv, buffer, src, group=self._control_group, tag=CONTROL_TAG), src)
        if buffer is not tensor:
            tensor.copy_(buffer)

    def _recv_any(self, tensor: torch.Tensor, sources: Sequence[int]) -> int:
        buffer = tensor.cpu() if tensor.device.type != "cpu" else tensor
        while True:
            try:
                work = dist.irecv(buffer, src=None, group=self._control_group, tag=CONTROL_TAG)
            except RuntimeError as e:
                raise PeerGone(-1, _first_line(e)) from None
            self._wait(work, -1, watching=sources)
            src = work._source_rank()
            if self.heartbeat is None or src not in self.heartbeat.lost:
                break  # a message from a rank declared hung is a late one: ignored, never acted on
        if buffer is not tensor:
            tensor.copy_(buffer)
        return src

    def _exchange(self, send: torch.Tensor, dst: int, recv: torch.Tensor, src: int) -> None:
        outgoing, landing = self._to_host(send), self._landing_buffer(recv)
        try:
            sending = self._guard(dst, dist.isend, outgoing, dst)
        except PeerGone:
            sending = None  # the receiver died; we may still receive
        self._wait(self._guard(src, dist.irecv, landing, src), src)
        try:
            if sending is not None:
                self._wait(sending, dst)
        except PeerGone:
            pass  # the receiver died; what we received is still good
        self._to_device(landing, recv)

    def _all_reduce_sum(self, tensor: torch.Tensor) -> None:
        host = self._to_host(tensor) if self.stage_through_host else tensor
        try:
            dist.all_reduce(host, op=dist.ReduceOp.SUM)
        except RuntimeError as e:
            raise PeerGone(-1, _first_line(e)) from None
        self._to_device(host, tensor)

    def _all_gather(self, tensor: torch.Tensor) -> list[torch.Tensor]:
        host = self._to_host(tensor)
        gathered = [torch.empty_like(host) for _ in range(self.world_size)]
        try:
            dist.all_gather(gathered, host)
        except RuntimeError as e:
            raise PeerGone(-1, _first_line(e)) from None
        if host is tensor:
            return gathered
        landed = [torch.empty_like(tensor) for _ in gathered]
        for piece, into in zip(gathered, landed):
            self._to_device(piece, into)
        return landed

    def barrier(self) -> None:
        dist.barrier()

    @property
    def must_exit_hard(self) -> bool:
        """A wait on a hung peer is still pending in gloo, which aborts the process when it tears that down
        (std::terminate, exit code -6), so this process must leave without running destructors."""
        return bool(self._abandoned)

    def close(self) -> None:
        if self.heartbeat is not None:
            self.heartbeat.stop()
        if dist.is_initialized() and not self.must_exit_hard:
            dist.destroy_process_group()

    def announce_stop(self, step: int) -> None:
        if self.heartbeat is not None:
            self.heartbeat.announce_stop(step)

    def stop_step(self) -> int | None:
        return self.heartbeat.stop_step() if self.heartbeat is not None else None

    def hung_peers(self) -> dict[int, Lost]:
        return dict(self.heartbeat.lost) if self.heartbeat else {}

    def freeze(self, seconds: float) -> None:
        """Stop this whole process, heartbeat included, for `seconds` (SIGSTOP; a child sends SIGCONT)."""
        subprocess.Popen(["/bin/sh", "-c", f"sleep {seconds}; kill -CONT {os.getpid()}"])
        os.kill(os.getpid(), signal.SIGSTOP)

    def _wait(self, work: dist.Work, peer: int, watching: Sequence[int] = ()) -> None:
        """Wait for `work` with `peer` (or, for peer -1, any of `watching`); raise PeerGone if it dies, or
        if it stops beating. The wait runs in a helper thread, so a hung peer's wait can be abandoned
        without a timeout, which on gloo would close every pair of this process."""
        if self.heartbeat is None:
            try:
                work.wait()
            except RuntimeError as e:
                raise PeerGone(peer, _first_line(e)) from None
            return
        peers = [peer] if peer >= 0 else list(watching)
        for p in peers:
            self.heartbeat.watch(p)
        done, errors = threading.Event(), []
        threading.Thread(target=_wait_forever, args=(work, done, errors), daemon=True).start()
        while not done.wait(0.05):
            lost = [p for p in peers if p in self.heartbeat.lost]
            if lost and len(lost) == len(peers):
                self._abandoned.append(work)
                found = self.heartbeat.lost[lost[0]]
                raise PeerGone(lost[0], found.reason(self.heartbeat_timeout), kind="hung",
                               silent_s=found.silent_s, at_unix_s=found.at_unix_s)
        if errors:
            raise PeerGone(peer, _first_line(errors[0])) from None

    def _guard(self, peer: int, post, *args, **kwargs) -> dist.Work:
        """Post a point-to-point operation; never with a rank declared hung (its late messages would match)."""
        lost = self.heartbeat.lost.get(peer) if self.heartbeat else None
        if lost is not None:
            raise PeerGone(peer, lost.reason(self.heartbeat_timeout), kind="hung", silent_s=lost.silent_s,
                           at_unix_s=lost.at_unix_s)
        return _guard(peer, post, *args, **kwargs)


def _wait_forever(work: dist.Work, done: threading.Event, errors: list) -> None:
    try:
        work.wait(FOREVER)
    except RuntimeError as e:
        errors.append(e)
    done.set()


def _guard(peer: int, post, *args, **kwargs) -> dist.Work:
    """Post a point-to-point operation; gloo raises at posting time too when the peer is gone."""
    try:
        return post(*args, **kwargs)
    except RuntimeError as e:
        raise PeerGone(peer, _first_line(e)) from None


def _first_line(error: Exception) -> str:
    """gloo's message without its source path and advice: e.g. 'Connection closed by peer [127.0.0.1]:4242'."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    text = re.sub(r"^\[[^\]]*\.(cc|cpp|h):\d+\]\s*", "", text)
    return text.split(". This is typically")[0][:160]
