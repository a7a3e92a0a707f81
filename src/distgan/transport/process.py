"""ProcessTransport: one process per rank over torch.distributed (gloo on CPU, NCCL on GPU).

This module and its launcher are the only code that imports torch.distributed.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Sequence

import torch
import torch.distributed as dist

from distgan.transport.base import PeerGone, Transport

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
        works = [(dist.isend(t.contiguous(), dst), dst) for t, dst in messages]
        for work, dst in works:
            self._wait(work, dst)

    def _recv(self, tensor: torch.Tensor, src: int) -> None:
        self._wait(dist.irecv(tensor, src), src)

    def send_control(self, tensor: torch.Tensor, dst: int, kind: str) -> None:
        work = dist.isend(tensor.cpu(), dst, group=self._control_group, tag=CONTROL_TAG)
        self._wait(work, dst)
        self.bytes.sent[kind] += tensor.numel() * tensor.element_size()

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
        ops = [dist.P2POp(dist.isend, send.contiguous(), dst), dist.P2POp(dist.irecv, recv, src)]
        for work in dist.batch_isend_irecv(ops):
            self._wait(work, src)

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


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
