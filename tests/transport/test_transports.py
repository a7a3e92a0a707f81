"""Both transports: what they deliver, and what they count (by kind; bookkeeping not at all)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from distgan.launch import free_port
from distgan.transport.sim import SimHub, SimTransport

# One exchange between rank 0 and rank 1, the same on both transports; each rank prints its counts.
EXCHANGE = textwrap.dedent("""
    def exchange(t):
        if t.rank == 0:
            t.send(torch.arange(4.0), 1, "test/payload")
            pending = t.isend(torch.ones(2, dtype=torch.float64), 1, "test/async", control=True)
            got = torch.empty(3)
            t.recv(got, 1, "test/reply")
            pending.wait()
            t.send_uncounted(torch.zeros(5), 1)
        else:
            x = torch.empty(4)
            t.recv(x, 0, "test/payload")
            c = torch.empty(2, dtype=torch.float64)
            assert t.recv_any(c, [0], "test/async") == 0
            t.send(x[:3] * 2, 0, "test/reply")
            t.recv_uncounted(torch.empty(5), 0)
        m = torch.full((6,), float(t.rank + 1))
        t.all_reduce_mean(m, "test/allreduce")
        return {"bytes": t.bytes.as_dict(), "mean": m.tolist()}
""")

EXPECTED = {
    0: {"sent": {"test/allreduce": 24, "test/async": 16, "test/payload": 16},
        "recv": {"test/allreduce": 24, "test/reply": 12}},
    1: {"sent": {"test/allreduce": 24, "test/reply": 12},
        "recv": {"test/allreduce": 24, "test/async": 16, "test/payload": 16}},
}


def test_sim_transport_delivers_and_counts_by_kind():
    namespace = {"torch": torch}
    exec(EXCHANGE, namespace)
    hub = SimHub(2, seed=0)
    results = {}

    def run(rank):
        results[rank] = namespace["exchange"](SimTransport(hub, rank))

    hub.run([lambda: run(0), lambda: run(1)])
    for rank in (0, 1):
        assert results[rank]["bytes"] == EXPECTED[rank]  # 2(N-1)/N of 24 bytes each way for the all-reduce
        assert results[rank]["mean"] == [1.5] * 6


# Where processes share a GPU, every message goes through host memory; a swap and a posted receive take that path too.
STAGED = textwrap.dedent("""
    from distgan.transport.trace import Trace
    t.trace = Trace(t.rank)
    result = exchange(t)
    peer = 1 - t.rank
    (got,) = t.swap([torch.full((3,), float(t.rank))], peer, peer, "test/swap")
    incoming = t.irecv(torch.empty(2), peer, "test/posted")
    t.send(torch.full((2,), 10.0 + t.rank), peer, "test/posted")
    assert t.wait_for(incoming)
    ops = [op for record in t.trace.records() for op in record["ops"]]
    result.update(swapped=got.tolist(), posted=incoming.tensor.tolist(),
                  staging=sum(1 for op in ops if op[0] == "c" and op[1] == "host staging"),
                  bytes=t.bytes.as_dict())
""")


def run_ranks(tmp_path, script_text: str) -> list[dict]:
    script = tmp_path / "rank.py"
    script.write_text(script_text)
    port = str(free_port())
    procs = [subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "RANK": str(r), "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1",
                                   "MASTER_PORT": port}) for r in (0, 1)]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    return [json.loads(out.strip().splitlines()[-1]) for out in outputs]


@pytest.mark.slow
def test_process_transport_delivers_and_counts_the_same(tmp_path):
    results = run_ranks(tmp_path, "import json, torch\nfrom distgan.transport.process import ProcessTransport\n" +
                        EXCHANGE + "t = ProcessTransport(torch.device('cpu'), 60)\nprint(json.dumps(exchange(t)))\n"
                        "t.close()\n")
    for rank, result in enumerate(results):
        assert result["bytes"] == EXPECTED[rank]
        assert result["mean"] == [1.5] * 6


@pytest.mark.slow
def test_staging_through_host_memory_delivers_the_same_and_traces_its_copies(tmp_path):
    """The path of processes sharing a GPU, taken on the CPU (its copies are real there too): the same values
    and bytes as without it, and each staged message's copies filed in the trace as "host staging"."""
    results = run_ranks(tmp_path, "import json, torch\nfrom distgan.transport.process import ProcessTransport\n" +
                        EXCHANGE + "t = ProcessTransport(torch.device('cpu'), 60, stage_through_host=True)\n" +
                        STAGED + "print(json.dumps(result))\nt.close()\n")
    for rank, result in enumerate(results):
        expected = {way: {**EXPECTED[rank][way], "test/swap": 12, "test/posted": 8} for way in ("sent", "recv")}
        assert result["bytes"] == expected
        assert result["mean"] == [1.5] * 6
        assert result["swapped"] == [float(1 - rank)] * 3
        assert result["posted"] == [10.0 + (1 - rank)] * 2
        # every counted payload message staged at least once: payload/reply, all-reduce, swap, posted
        assert result["staging"] >= 4



def test_nccl_only_where_a_process_has_its_gpu_alone():
    from distgan.transport.process import backend_for

    assert backend_for(torch.device("cuda", 1), stage_through_host=False) == "nccl"
    assert backend_for(torch.device("cuda", 0), stage_through_host=True) == "gloo"
    assert backend_for(torch.device("cpu"), stage_through_host=False) == "gloo"
