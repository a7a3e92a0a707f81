"""Session-wide test setup."""

from __future__ import annotations

from pathlib import Path

import pytest

# Tests whose verdicts rest on wall-clock time (a rank SIGSTOPped or frozen past a 2 s heartbeat timeout, and a
# run that must outlast it): `make test` runs them after the rest has run on every core (pytest-xdist), by
# themselves, so that no other test's load decides them. Tests that kill, stop or signal ranks without a timeout to
# meet (faults, the launcher, graceful stops, the store's forger, whose heartbeat timeout is 5 s) only get slower
# under load, and run with the rest.
WALL_CLOCK = ("test_liveness.py",)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.name in WALL_CLOCK:
            item.add_marker(pytest.mark.wall_clock)


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Classifiers trained by tests are cached away from the user's cache: in DISTGAN_TEST_CACHE where it is set
    (`make test` sets it, so its two runs of pytest train each classifier once), else once per run of pytest;
    pytest-xdist's workers share the folder (the base temp's parent). A classifier's file is named by the hash of
    what trains it, so a kept one is only ever the same classifier."""
    import os

    shared = os.environ.get("PYTEST_XDIST_WORKER") is not None
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("DISTGAN_TEST_CACHE"):
        folder = Path(os.environ["DISTGAN_TEST_CACHE"])
    else:
        folder = (base.parent / "distgan-cache") if shared else tmp_path_factory.mktemp("distgan-cache")
    folder.mkdir(parents=True, exist_ok=True)
    os.environ["DISTGAN_CACHE"] = str(folder)


@pytest.fixture(autouse=True)
def _short_compute_timing(monkeypatch: pytest.MonkeyPatch) -> None:
    """A study's compute timing (distgan/compute_timing.py) runs after its cells, and its pilots (distgan/estimate.py)
    before them, in every compare() here: 2 runs of 12 updates per method, and pilots of 8, keep them the same code
    at a fraction of their cost."""
    from distgan import compute_timing, estimate

    monkeypatch.setattr(compute_timing, "REPEATS", 2)
    monkeypatch.setattr(compute_timing, "STEPS", 12)
    monkeypatch.setattr(compute_timing, "WARMUP", 2)
    monkeypatch.setattr(estimate, "PILOT_STEPS", 8)
    monkeypatch.setattr(estimate, "PILOT_WARMUP", 2)
    monkeypatch.setattr(estimate, "PILOT_LOG_EVERY", 2)
