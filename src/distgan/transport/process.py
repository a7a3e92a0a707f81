"""ProcessTransport: one process per rank over torch.distributed (gloo on CPU, NCCL on GPU).

This module and its launcher are the only code that imports torch.distributed.
"""

from __future__ import annotations

import datetime
import os
import re
from collections.abc import Sequence

import torch
import torch.distributed as dist

from distgan.transport.base import PeerGone, Pending, Transport

CONTROL_TAG = 1  # small control messages, received from any source; payloads use tag 0


class ProcessTransport(Transport):
    """Joins the process group described by the torchrun environment (RANK, WORLD_SIZE, MASTER_*)."""

    def __init__(self, device: torch.device, timeout_s: float):
        rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        super().__init__(rank, world_size)
        self.device = device
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, rank=rank, world_size=world_size,
                                timeout=datetime.timedelta(seconds=timeout_s))
        # recv from any source exists only in gloo, so NCCL runs keep a gloo group for control messages.
        self._control_group = dist.new_group(backend="gloo") if backend == "nccl" else None

    def _send_many(self, messages: Sequence[tuple[torch.Tensor, int]]) -> None:
        lost, works = None, []
        for t, dst in messages:  # post and wait for every send, so one dead peer does not strand the others
            try:
                works.append((_guard(dst, dist.isend, t.contiguous(), dst), dst))
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
            work = _guard(dst, dist.isend, buffer, dst, group=self._control_group, tag=CONTROL_TAG)
        else:
            buffer = tensor.contiguous()
            work = _guard(dst, dist.isend, buffer, dst)

        def wait(buffer: torch.Tensor = buffer) -> None:  # the default keeps the buffer alive until sent
            self._wait(work, dst)

        return Pending(wait)

    def _recv(self, tensor: torch.Tensor, src: int) -> None:
        self._wait(_guard(src, dist.irecv, tensor, src), src)

    def _recv_control(self, tensor: torch.Tensor, src: int) -> None:
        buffer = tensor.cpu() if tensor.device.type != "cpu" else tensor
        self._wait(_guard(src, dist.irecv, buffer, src, group=self._control_group, tag=CONTROL_TAG), src)
        if buffer is not tensor:
            tensor.copy_(buffer)

    def _recv_any(self, tensor: torch.Tensor, sources: Sequence[int]) -> int:
        buffer = tensor.cpu() if tensor.device.type != "cpu" else tensor
        try:
            src = dist.recv(buffer, src=None, group=self._control_group, tag=CONTROL_TAG)
        except RuntimeError as e:
            raise PeerGone(-1, _first_line(e)) from None
        if buffer is not tensor:
            tensor.copy_(buffer)
        return src

    def _exchange(self, send: torch.Tensor, dst: int, recv: torch.Tensor, src: int) -> None:
        try:
            sending = _guard(dst, dist.isend, send.contiguous(), dst)
        except PeerGone:
            sending = None  # the receiver died; we may still receive
        self._wait(_guard(src, dist.irecv, recv, src), src)
        try:
            if sending is not None:
                self._wait(sending, dst)
        except PeerGone:
            pass  # the receiver died; what we received is still good

    def _all_reduce_sum(self, tensor: torch.Tensor) -> None:
        try:
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        except RuntimeError as e:
            raise PeerGone(-1, _first_line(e)) from None

    def barrier(self) -> None:
        dist.barrier()

    def close(self) -> None:
        if dist.is_initialized():
            dist.destroy_process_group()

    @staticmethod
    def _wait(work: dist.Work, peer: int) -> None:
        try:
            work.wait()
        except RuntimeError as e:
            raise PeerGone(peer, _first_line(e)) from None


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
