"""Session-wide test setup."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Classifiers trained by tests are cached once per session, away from the user's cache."""
    import os

    os.environ["DISTGAN_CACHE"] = str(tmp_path_factory.mktemp("distgan-cache"))


@pytest.fixture(autouse=True)
def _short_compute_timing(monkeypatch: pytest.MonkeyPatch) -> None:
    """A study's compute timing (distgan/compute_timing.py) runs after its cells in every compare() here: 2 runs
    of 12 updates per method keep it the same code at a fraction of its cost."""
    from distgan import compute_timing

    monkeypatch.setattr(compute_timing, "REPEATS", 2)
    monkeypatch.setattr(compute_timing, "STEPS", 12)
    monkeypatch.setattr(compute_timing, "WARMUP", 2)
