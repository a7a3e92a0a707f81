"""Heartbeats through the rendezvous store: every rank beats from a background thread, and watches the
peers it waits on, so a hung peer (alive, silent) is told apart from a slow one (late, but beating).

A beat is a counter in the c10d store (`store.add`), so no clocks are compared across machines: a
watcher notes, on its own clock, when each counter last moved. A SIGSTOPped process stops beating with
all its threads, which is what makes it hung. The server (rank 0) writes a `dropped` key for a rank
it declares hung; that rank, if it ever wakes, reads the key and exits instead of sending stale updates.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass

log = logging.getLogger(__name__)
DROPPED_EXIT = 18  # exit code of a rank that wakes up to find the server dropped it
PREFIX = "distgan/"


def control_prefix() -> str:
    """Where the run's control keys live in the store: under the run's secret when its launcher gave one
    (distgan's own launcher does), so a host that can reach the store cannot drop a worker by naming its key.
    Under torchrun, set DISTGAN_RUN_SECRET to the same value on every node for the same protection."""
    secret = os.environ.get("DISTGAN_RUN_SECRET", "").strip()
    return f"{PREFIX}{secret}/" if secret else PREFIX


@dataclass(frozen=True)
class Lost:
    """A peer declared hung: how long it had been silent, and when (time.time()) that was decided."""

    silent_s: float
    at_unix_s: float

    def reason(self, timeout_s: float) -> str:
        return f"hung: no heartbeat for {self.silent_s:.1f} s (--heartbeat-timeout {timeout_s:g})"


def beat_interval(timeout_s: float) -> float:
    """A tenth of the timeout, between 50 ms and 1 s: detection lands within the timeout plus one beat."""
    return min(1.0, max(0.05, timeout_s / 10))


class StoreHeartbeat:
    """Beat `distgan/hb/RANK` from one daemon thread, and watch other ranks from another.

    Only the authority (rank 0) judges silence by `timeout_s`; its verdict is the `dropped/RANK` key,
    which the other ranks follow, so all agree on who is gone. A rank judges rank 0 itself only after
    `server_timeout_s` of silence: a busy server is no reason for a worker to quit.
    """

    def __init__(self, store, rank: int, timeout_s: float, authority: bool, server_timeout_s: float):
        self.store, self.rank, self.timeout_s, self.authority = store, rank, timeout_s, authority
        self.server_timeout_s = server_timeout_s
        self.prefix = control_prefix()
        self.lost: dict[int, Lost] = {}
        self._watched: dict[int, tuple[int, float]] = {}  # rank -> (last counter seen, when it moved)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._beat()
        for target, name in ((self._beat_loop, "heartbeat"), (self._watch_loop, "heartbeat-watch")):
            threading.Thread(target=target, name=f"{name}{rank}", daemon=True).start()

    def watch(self, rank: int) -> None:
        """Start watching `rank` (idempotent); its silence counts from now."""
        with self._lock:
            if rank not in self._watched and rank != self.rank:
                self._watched[rank] = (-1, time.monotonic())

    def stop(self) -> None:
        self._stop.set()

    def _beat(self) -> None:
        self.store.add(f"{self.prefix}hb/{self.rank}", 1)

    def _beat_loop(self) -> None:
        while not self._stop.wait(beat_interval(self.timeout_s)):
            try:
                self._beat()
                if not self.authority and self.store.add(f"{self.prefix}dropped/{self.rank}", 0):
                    log.warning("rank %d: the server dropped this rank as hung; exiting", self.rank)
                    os._exit(DROPPED_EXIT)
            except Exception as e:  # noqa: BLE001 - the store's host (rank 0) has gone: the run is over
                log.info("rank %d: heartbeat stopped (%s)", self.rank, e)
                return

    def _watch_loop(self) -> None:
        while not self._stop.wait(beat_interval(self.timeout_s)):
            try:
                self._check_peers()
            except Exception as e:  # noqa: BLE001 - as above
                log.info("rank %d: stopped watching peers (%s)", self.rank, e)
                return

    def _check_peers(self) -> None:
        with self._lock:
            watched = [r for r in self._watched if r not in self.lost]
        for r in watched:
            if not self.authority and r != 0:
                if self.store.add(f"{self.prefix}dropped/{r}", 0):  # rank 0 declared it hung
                    self._declare(r, self.timeout_s)
                continue
            count = self.store.add(f"{self.prefix}hb/{r}", 0)
            now = time.monotonic()
            last, moved = self._watched[r]
            if count != last:
                self._watched[r] = (count, now)
            elif now - moved > (self.timeout_s if self.authority else self.server_timeout_s):
                self._declare(r, now - moved)

    def _declare(self, rank: int, silent_s: float) -> None:
        self.lost[rank] = Lost(round(silent_s, 2), time.time())
        if self.authority:
            self.store.set(f"{self.prefix}dropped/{rank}", "1")
        log.warning("rank %d: rank %d has not beaten for %.1f s; declared hung", self.rank, rank, silent_s)
