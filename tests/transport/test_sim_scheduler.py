"""The simulation's scheduler: ranks are greenlets of one OS thread that hand over control only to wait."""

from __future__ import annotations

import threading
import time

import pytest
import torch

from distgan.transport.base import PeerGone
from distgan.transport.sim import SimAborted, SimDeadlock, SimHub, SimTransport


def run_ranks(world_size: int, body, seed: int = 0, **hub_options) -> dict:
    """Run body(transport, results) on every rank of a fresh hub, closing each transport after, as the
    launcher does; return what the ranks put in results."""
    hub = SimHub(world_size, seed, **hub_options)
    results: dict = {}

    def main(rank: int):
        def run() -> None:
            transport = SimTransport(hub, rank)
            try:
                body(transport, results)
            finally:
                transport.close()
        return run

    hub.run([main(r) for r in range(world_size)])
    return results


def test_every_rank_runs_on_the_callers_thread():
    def body(t, results):
        results[t.rank] = threading.get_ident()
        t.barrier()
        results[f"after barrier {t.rank}"] = threading.get_ident()

    results = run_ranks(4, body)
    assert set(results.values()) == {threading.get_ident()}
    assert len(results) == 8


def test_each_rank_keeps_its_own_grad_mode_across_a_wait():
    """torch's grad mode is per thread, and every rank shares one: the scheduler gives each rank its own."""
    def body(t, results):
        if t.rank == 0:
            with torch.no_grad():
                got = torch.empty(1)
                t.recv(got, 1, "test/x")  # rank 1 computes meanwhile, with grad on
                results["rank 0 after its wait"] = torch.is_grad_enabled()
        else:
            results["rank 1 while rank 0 waits"] = torch.is_grad_enabled()
            w = torch.ones(1, requires_grad=True)
            (w * 3).sum().backward()
            results["rank 1 gradient"] = w.grad.item()
            t.send(torch.ones(1), 0, "test/x")

    results = run_ranks(2, body)
    assert results == {"rank 1 while rank 0 waits": True, "rank 1 gradient": 3.0, "rank 0 after its wait": False}
    assert torch.is_grad_enabled()


def test_ranks_that_wait_on_each_other_are_reported_not_hung_forever():
    def body(t, results):
        t.recv(torch.empty(1), 1 - t.rank, "test/x")

    start = time.monotonic()
    with pytest.raises(SimDeadlock):
        run_ranks(2, body)
    assert time.monotonic() - start < 5


def test_a_rank_that_fails_stops_the_others_and_its_error_is_raised():
    def body(t, results):
        if t.rank == 1:
            raise ValueError("rank 1 broke")
        try:
            t.recv(torch.empty(1), 1, "test/x")
        except SimAborted:
            results["rank 0"] = "aborted"
            raise

    hub = SimHub(2, 0)
    results: dict = {}
    with pytest.raises(ValueError, match="rank 1 broke"):
        hub.run([lambda: body(SimTransport(hub, 0), results), lambda: body(SimTransport(hub, 1), results)])
    assert results == {"rank 0": "aborted"}


def test_a_posted_receive_waits_to_its_deadline_while_the_sender_is_paused():
    def body(t, results):
        if t.rank == 0:
            incoming = t.irecv(torch.empty(2), 1, "test/late")
            results["by the deadline"] = t.wait_for(incoming, 0.05)
            results["in the end"] = t.wait_for(incoming, None)
            results["value"] = incoming.tensor.tolist()
        else:
            t.pause(0.3)
            t.send(torch.tensor([1.0, 2.0]), 0, "test/late")

    results = run_ranks(2, body)
    assert results == {"by the deadline": False, "in the end": True, "value": [1.0, 2.0]}


def test_posted_receives_fill_in_the_order_posted_and_learn_of_an_exited_sender():
    def body(t, results):
        if t.rank == 1:
            t.send(torch.tensor([1.0]), 0, "test/a")  # before rank 0 posts: held in the mailbox
            t.barrier()
            t.send(torch.tensor([2.0]), 0, "test/a")
            return  # exits: its mailboxes end with GONE
        t.barrier()
        first, second, third = (t.irecv(torch.empty(1), 1, "test/a") for _ in range(3))
        results["values"] = [t.wait_for(x) and x.tensor.item() for x in (first, second)]
        with pytest.raises(PeerGone):
            t.wait_for(third)
        results["third failed"] = True

    assert run_ranks(2, body) == {"values": [1.0, 2.0], "third failed": True}


def test_recv_any_follows_the_seeded_schedule():
    def body(t, results):
        if t.rank == 0:
            results["order"] = [t.recv_any(torch.empty(1), [1, 2, 3], "test/c") for _ in range(6)]
        else:
            for _ in range(2):
                t.send_control(torch.ones(1), 0, "test/c")

    assert run_ranks(4, body, seed=7)["order"] == run_ranks(4, body, seed=7)["order"]
    orders = {tuple(run_ranks(4, body, seed=seed)["order"]) for seed in range(5)}
    assert all(sorted(order) == [1, 1, 2, 2, 3, 3] for order in orders)
    assert len(orders) > 1  # the seed, not arrival, decides
