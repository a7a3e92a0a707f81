"""Session-wide test setup."""

from __future__ import annotations

import pytest

# Tests whose verdicts rest on wall-clock time (heartbeat timeouts, signals, stops of a rank): `make test` runs
# them alone, after the rest has run on every core (pytest-xdist), so that a neighbour's load cannot decide them.
WALL_CLOCK = ("test_liveness.py", "test_launcher.py", "test_faults.py", "test_store_binding.py",
              "test_store_forgery.py", "test_standalone.py", "test_run_guard.py", "test_cli.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.name in WALL_CLOCK:
            item.add_marker(pytest.mark.wall_clock)


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Classifiers trained by tests are cached once per run of pytest, away from the user's cache; pytest-xdist's
    workers share the folder (the base temp's parent), so each classifier is trained about once."""
    import os

    shared = os.environ.get("PYTEST_XDIST_WORKER") is not None
    base = tmp_path_factory.getbasetemp()
    folder = (base.parent / "distgan-cache") if shared else tmp_path_factory.mktemp("distgan-cache")
    folder.mkdir(exist_ok=True)
    os.environ["DISTGAN_CACHE"] = str(folder)


@pytest.fixture(autouse=True)
def _short_compute_timing(monkeypatch: pytest.MonkeyPatch) -> None:
    """A study's compute timing (distgan/compute_timing.py) runs after its cells in every compare() here: 2 runs
    of 12 updates per method keep it the same code at a fraction of its cost."""
    from distgan import compute_timing

    monkeypatch.setattr(compute_timing, "REPEATS", 2)
    monkeypatch.setattr(compute_timing, "STEPS", 12)
    monkeypatch.setattr(compute_timing, "WARMUP", 2)
