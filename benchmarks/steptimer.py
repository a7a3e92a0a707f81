"""Timers wrapped around distgan's transport, recorder and checkpoints by monkeypatching, so src/ stays as it is.

Each process (one rank) adds up, in seconds: `train` (the method's whole train(ctx) call, wrapped in the
registry's MethodSpec), `transport` (time inside Transport.send/send_many/isend/recv/wait_for/recv_any/
recv_control/send_control/swap/all_reduce_mean: sending, receiving and waiting for the peer, which one side
alone cannot tell apart), `record` (Recorder.save_samples and Recorder.evaluate) and `checkpoint`
(RankContext.save). Compute is train - transport - record - checkpoint.

Child ranks started by distgan's launcher pick this up through benchmarks/_hook/sitecustomize.py when
DISTGAN_BENCH_TIMING_DIR is set, and write `timing_rank{RANK}.json` there when they exit.
"""

from __future__ import annotations

import atexit
import dataclasses
import functools
import json
import os
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ENV = "DISTGAN_BENCH_TIMING_DIR"
TIMES: dict[str, float] = defaultdict(float)
CALLS: dict[str, int] = defaultdict(int)
_installed = False
TRANSPORT_CALLS = ("send", "send_many", "isend", "recv", "wait_for", "recv_any", "recv_control", "send_control",
                   "swap", "all_reduce_mean")


def _timed(category: str, fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            TIMES[category] += time.perf_counter() - start
            CALLS[category] += 1

    return wrapper


def install() -> None:
    """Wrap the timed functions once per process."""
    global _installed
    if _installed:
        return
    from distgan.context import RankContext
    from distgan.methods import REGISTRY
    from distgan.recorder import Recorder
    from distgan.transport.base import Transport

    for name in TRANSPORT_CALLS:  # the public calls; ProcessTransport and SimTransport override only _-methods
        setattr(Transport, name, _timed("transport", getattr(Transport, name)))
    for name in ("save_samples", "evaluate"):
        setattr(Recorder, name, _timed("record", getattr(Recorder, name)))
    RankContext.save = _timed("checkpoint", RankContext.save)
    for name, spec in REGISTRY.items():  # the runner calls config.spec.train(ctx), looked up in REGISTRY
        REGISTRY[name] = dataclasses.replace(spec, train=_timed("train", spec.train))
    _installed = True


def reset() -> None:
    TIMES.clear()
    CALLS.clear()


def snapshot() -> dict[str, Any]:
    times = dict(TIMES)
    compute = times.get("train", 0.0) - sum(times.get(k, 0.0) for k in ("transport", "record", "checkpoint"))
    return {"seconds": {**times, "compute": compute}, "calls": dict(CALLS)}


def install_from_env() -> None:
    """In a child rank: install the timers and write this rank's totals when the process exits."""
    folder = os.environ.get(ENV)
    rank = os.environ.get("RANK")
    if not folder or rank is None:
        return
    install()

    def dump() -> None:
        path = Path(folder)
        path.mkdir(parents=True, exist_ok=True)
        (path / f"timing_rank{rank}.json").write_text(json.dumps(snapshot()))

    atexit.register(dump)
