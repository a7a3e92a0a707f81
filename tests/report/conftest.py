"""One small real study shared by the report tests."""

from __future__ import annotations

import pytest

from distgan.compare import Study, compare


@pytest.fixture(scope="module")
def digits_study(tmp_path_factory: pytest.TempPathFactory):
    """standalone and md-gan on digits, simulated, 30 steps: two run folders and their report."""
    out = tmp_path_factory.mktemp("digits-study")
    study = Study(methods=["standalone", "md-gan"], workers=[2], dataset="digits", steps=30, batch_size=16,
                  backend="sim", out=str(out), progress=False, seeds=1)
    return study, compare(study)
