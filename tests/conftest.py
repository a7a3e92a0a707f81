"""Session-wide test setup."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Classifiers trained by tests are cached once per session, away from the user's cache."""
    import os

    os.environ["DISTGAN_CACHE"] = str(tmp_path_factory.mktemp("distgan-cache"))
