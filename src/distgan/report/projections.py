"""Each run's trace replayed on a profile, once: the projected seconds the pick compares."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from distgan import compute_timing
from distgan.errors import DistganError
from distgan.network.profiles import Profile
from distgan.network.project import projector
from distgan.network.replay import Replay
from distgan.report.load import Run
from distgan.report.network import at_update
from distgan.safe_read import UnreadableFile


class Projections:
    """Each run's trace replayed once per profile (replays are cached: the decision map asks again)."""

    def __init__(self, timing: dict[str, Any] | None = None) -> None:
        self.timing = timing or {}  # label -> compute_timing.json's entry: each cell's compute is scaled to it
        self._on: dict[Path, Callable[[Profile], Replay] | None] = {}
        self._replays: dict[tuple[Path, Profile], Replay] = {}
        self.failed: dict[Path, str] = {}

    def projector(self, run: Run) -> Callable[[Profile], Replay] | None:
        """The run's trace, read and calibrated once, as a function of the profile; None (and why, in `failed`)
        when it cannot be projected."""
        if run.path not in self._on:
            try:
                self._on[run.path] = projector(run.path, compute_scale=self._scale(run))[0]
            except UnreadableFile:  # a damaged file is named, not passed over
                raise
            except DistganError as e:
                self._on[run.path] = None
                self.failed[run.path] = str(e)
        return self._on[run.path]

    def _scale(self, run: Run) -> float:
        """Compute timed apart over this run's traced compute, per update; 1 without a timing."""
        timed = (self.timing.get(run.label) or {}).get("median")
        if not timed:
            return 1.0
        traced = compute_timing.traced_seconds_per_update(run.path)
        return timed / traced if traced else 1.0

    def replay(self, run: Run, profile: Profile) -> Replay | None:
        on = self.projector(run)
        if on is None:
            return None
        key = (run.path, profile)
        if key not in self._replays:
            self._replays[key] = on(profile)
        return self._replays[key]

    def seconds_at(self, run: Run, profile: Profile, update: float) -> float | None:
        replayed = self.replay(run, profile)
        return None if replayed is None else at_update(replayed, update)
