"""Heartbeats through the rendezvous store: every rank beats from a background thread, and watches the
peers it waits on, so a hung peer (alive, silent) is told apart from a slow one (late, but beating).

A beat is a sequence number in the c10d store, so no clocks are compared across machines: a watcher notes, on
its own clock, when each rank's number last rose. A SIGSTOPped process stops beating with all its threads,
which is what makes it hung. The server (rank 0) writes a `dropped` key for a rank it declares hung; that
rank, if it ever wakes, reads the key and exits instead of sending stale updates.

The store has no authentication and lists its keys to anyone who reaches it, so every value is signed: an
HMAC over (attempt, rank, kind, sequence) keyed by the run's secret, which only the ranks hold (distgan's
launcher draws one per start; under torchrun it is DISTGAN_RUN_SECRET). A value that fails the check is
ignored, and logged once.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import threading
import time
from dataclasses import dataclass

from distgan.stopping import REQUESTED

log = logging.getLogger(__name__)
DROPPED_EXIT = 18  # exit code of a rank that wakes up to find the server dropped it
PREFIX = "distgan/"
SECRET_ENV = "DISTGAN_RUN_SECRET"


def attempt() -> str:
    """Which start of the group this is: torchrun's agent keeps its store across restarts, so a key signed in
    an earlier attempt must not count in this one (distgan's launcher draws a new secret per start instead)."""
    return os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")


def control_prefix() -> str:
    """Where the run's control keys live in the store. No secret is in it: the store lists its keys."""
    return f"{PREFIX}{attempt()}/"


class Signer:
    """Signs and checks control values with the run's secret (HMAC-SHA256 over attempt, rank, kind, sequence)."""

    def __init__(self, secret: str | None = None):
        secret = os.environ.get(SECRET_ENV, "").strip() if secret is None else secret
        if not secret:
            log.warning("%s is not set: any process that reaches the rendezvous store can forge heartbeats and "
                        "drop workers; export the same random value on every node", SECRET_ENV)
        self._key = secret.encode()
        self._warned = False

    def sign(self, rank: int, kind: str, sequence: int) -> str:
        message = f"{attempt()}|{rank}|{kind}|{sequence}".encode()
        return f"{sequence}.{hmac.new(self._key, message, hashlib.sha256).hexdigest()}"

    def verify(self, key: str, value: bytes, rank: int, kind: str) -> int | None:
        """The sequence number a value carries, or None (logged once) if it was not signed with the secret."""
        try:
            sequence = int(value.decode().split(".", 1)[0])
            if hmac.compare_digest(self.sign(rank, kind, sequence).encode(), value):
                return sequence
        except (UnicodeDecodeError, ValueError):
            pass
        if not self._warned:
            self._warned = True
            log.warning("ignored %s in the rendezvous store: its value is not signed with this run's secret "
                        "(another process reaches the store)", key)
        return None


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
    """Beat `distgan/ATTEMPT/hb/RANK` from one daemon thread, and watch other ranks from another.

    Only the authority (rank 0) judges silence by `timeout_s`; its verdict is the `dropped/RANK` key,
    which the other ranks follow, so all agree on who is gone. A rank judges rank 0 itself only after
    `server_timeout_s` of silence: a busy server is no reason for a worker to quit.
    """

    def __init__(self, store, rank: int, timeout_s: float, authority: bool, server_timeout_s: float,
                 signer: Signer | None = None):
        self.store, self.rank, self.timeout_s, self.authority = store, rank, timeout_s, authority
        self.server_timeout_s = server_timeout_s
        self.prefix = control_prefix()
        self.signer = signer or Signer()
        self.lost: dict[int, Lost] = {}
        self._beats = 0
        self._watched: dict[int, tuple[int, float]] = {}  # rank -> (last sequence seen, when it rose)
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
        self._beats += 1
        self.store.set(f"{self.prefix}hb/{self.rank}", self.signer.sign(self.rank, "hb", self._beats))

    def _read(self, kind: str, rank: int) -> int | None:
        """The signed sequence under `kind/rank`, or None if the key is absent or forged (never blocks)."""
        key = f"{self.prefix}{kind}/{rank}"
        if not self.store.check([key]):
            return None
        return self.signer.verify(key, self.store.get(key), rank, kind)

    def _dropped(self, rank: int) -> bool:
        return self._read("dropped", rank) is not None

    def announce_stop(self, step: int) -> None:
        """Rank 0 names the step at which every rank checkpoints and stops (distgan/stopping.py)."""
        self.store.set(f"{self.prefix}stop/0", self.signer.sign(0, "stop", step))

    def stop_step(self) -> int | None:
        """The stop step rank 0 named, read now from the store (signed by rank 0), or None."""
        return self._read("stop", 0)

    def _beat_loop(self) -> None:
        while not self._stop.wait(beat_interval(self.timeout_s)):
            try:
                self._beat()
                if not self.authority and self._dropped(self.rank):
                    log.warning("rank %d: the server dropped this rank as hung; exiting", self.rank)
                    os._exit(DROPPED_EXIT)
                if not self.authority and not REQUESTED.is_set() and self.stop_step() is not None:
                    REQUESTED.set()  # a rank no signal reached still stops with the others
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
                if self._dropped(r):  # rank 0 declared it hung
                    self._declare(r, self.timeout_s)
                continue
            count = self._read("hb", r)
            now = time.monotonic()
            last, moved = self._watched[r]
            if count is not None and count > last:
                self._watched[r] = (count, now)
            elif now - moved > (self.timeout_s if self.authority else self.server_timeout_s):
                self._declare(r, now - moved)

    def _declare(self, rank: int, silent_s: float) -> None:
        self.lost[rank] = Lost(round(silent_s, 2), time.time())
        if self.authority:
            self.store.set(f"{self.prefix}dropped/{rank}", self.signer.sign(rank, "dropped", 0))
        log.warning("rank %d: rank %d has not beaten for %.1f s; declared hung", self.rank, rank, silent_s)
