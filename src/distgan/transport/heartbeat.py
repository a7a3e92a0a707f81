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
    """Beat `distgan/hb/RANK` and watch other ranks' beats, from one daemon thread."""

    def __init__(self, store, rank: int, timeout_s: float, authority: bool):
        self.store, self.rank, self.timeout_s, self.authority = store, rank, timeout_s, authority
        self.lost: dict[int, Lost] = {}
        self._watched: dict[int, tuple[int, float]] = {}  # rank -> (last counter seen, when it moved)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat{rank}", daemon=True)
        self._beat()
        self._thread.start()

    def watch(self, rank: int) -> None:
        """Start watching `rank` (idempotent); its silence counts from now."""
        with self._lock:
            if rank not in self._watched and rank != self.rank:
                self._watched[rank] = (-1, time.monotonic())

    def lost_peer(self, rank: int) -> Lost | None:
        return self.lost.get(rank)

    def stop(self) -> None:
        self._stop.set()

    def _beat(self) -> None:
        self.store.add(f"{PREFIX}hb/{self.rank}", 1)

    def _run(self) -> None:
        interval = beat_interval(self.timeout_s)
        while not self._stop.wait(interval):
            try:
                self._beat()
                if not self.authority and self.store.add(f"{PREFIX}dropped/{self.rank}", 0):
                    log.warning("rank %d: the server dropped this rank as hung; exiting", self.rank)
                    os._exit(DROPPED_EXIT)
                self._check_peers()
            except Exception as e:  # noqa: BLE001 - the store's host (rank 0) has gone: the run is over
                log.debug("rank %d: heartbeat stopped (%s)", self.rank, e)
                return

    def _check_peers(self) -> None:
        with self._lock:
            watched = [r for r in self._watched if r not in self.lost]
        for r in watched:
            count = self.store.add(f"{PREFIX}hb/{r}", 0)
            now = time.monotonic()
            last, moved = self._watched[r]
            if count != last:
                self._watched[r] = (count, now)
            elif now - moved > self.timeout_s:
                self._declare(r, now - moved)

    def _declare(self, rank: int, silent_s: float) -> None:
        self.lost[rank] = Lost(round(silent_s, 2), time.time())
        if self.authority:
            self.store.set(f"{PREFIX}dropped/{rank}", "1")
        log.warning("rank %d: rank %d has not beaten for %.1f s; declared hung", self.rank, rank, silent_s)
