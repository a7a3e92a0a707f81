"""The rendezvous store has no authentication and lists its keys to anyone who reaches it, so distgan signs its
control values with the run's secret: a process that reads every key and writes every drop key it can name drops
no one, and stops nothing (issue 44, items 1 and 8)."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
import threading
import time

import pytest
import torch.distributed as dist

from distgan.launch import free_port

pytestmark = pytest.mark.slow


def forge_drops(port: int, world_size: int, stop: threading.Event, tries: list[str]) -> None:
    """List the store's keys; for every prefix under which a heartbeat lies, write `dropped/RANK` for every rank,
    and rank 0's `stop`, with a plain value and with each heartbeat's own (signed) value replayed."""
    store = None
    while not stop.is_set():
        try:
            if store is None:
                store = dist.TCPStore("127.0.0.1", port, is_master=False, timeout=datetime.timedelta(seconds=2))
            keys = store.list_keys()
        except Exception:  # noqa: BLE001 - the store is not up yet, or has gone
            store = None
            time.sleep(0.05)
            continue
        beats = [k for k in keys if "/hb/" in k]
        values = [b"1"] + [store.get(k) for k in beats]
        for prefix in {k.split("hb/")[0] for k in beats}:
            for rank in range(world_size):
                for value in values:
                    store.set(f"{prefix}dropped/{rank}", value)
                    tries.append(f"{prefix}dropped/{rank}")
            for value in [b"2", *values]:  # and a stop (distgan/stopping.py) at step 2, or at a replayed value
                store.set(f"{prefix}stop/0", value)
        time.sleep(0.05)


def test_a_client_that_lists_the_keys_and_writes_every_drop_key_drops_no_one(tmp_path):
    port, out = free_port(), tmp_path / "run"
    run = subprocess.Popen([sys.executable, "-m", "distgan", "train", "--method", "md-gan", "--workers", "2",
                            "--dataset", "ring8", "--steps", "60", "--slow", "1:40", "--heartbeat-timeout", "5",
                            "--master-port", str(port), "--no-progress", "--no-tensorboard", "--out", str(out)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    stop, tries = threading.Event(), []
    attacker = threading.Thread(target=forge_drops, args=(port, 3, stop, tries), daemon=True)
    attacker.start()
    try:
        _, err = run.communicate(timeout=400)
    finally:
        stop.set()
        if run.poll() is None:
            run.kill()
    attacker.join(timeout=10)
    assert tries, "the forger never reached the store"
    assert run.returncode == 0, err[-3000:]  # not stopped either (a forged stop would end it with 143)
    assert json.loads((out / "summary.json").read_text())["g_updates"] == 60
    assert "dropped this rank" not in err and "declared hung" not in err, err[-3000:]
    assert "not signed with this run's secret" in err  # ignored, and said so
    liveness = json.loads((out / "summary.json").read_text())["liveness"]["workers"]
    assert set(liveness.values()) <= {"alive", "slow"}, liveness


def test_a_control_value_counts_only_signed_with_the_secret_for_its_rank_and_kind(monkeypatch):
    from distgan.transport.heartbeat import Signer

    monkeypatch.delenv("TORCHELASTIC_RESTART_COUNT", raising=False)
    mine, other = Signer("5eed"), Signer("other")
    value = mine.sign(2, "dropped", 0).encode()
    assert mine.verify("k", value, 2, "dropped") == 0
    assert mine.verify("k", other.sign(2, "dropped", 0).encode(), 2, "dropped") is None
    assert mine.verify("k", value, 1, "dropped") is None  # another rank's
    assert mine.verify("k", mine.sign(2, "hb", 0).encode(), 2, "dropped") is None  # a heartbeat replayed
    assert mine.verify("k", b"1", 2, "dropped") is None
    assert mine.verify("k", b"\xff", 2, "hb") is None
    monkeypatch.setenv("TORCHELASTIC_RESTART_COUNT", "1")  # torchrun restarted the group: old keys are stale
    assert mine.verify("k", value, 2, "dropped") is None
