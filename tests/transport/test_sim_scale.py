"""The simulation holds many more workers than this machine has cores."""

import pytest

from distgan import train
from helpers import small_config

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("method", ["md-gan", "fl-gan"])
def test_64_simulated_workers_on_mnist5k(tmp_path, method):
    own = {"local_steps": 1} if method == "fl-gan" else {}
    summary = train(small_config(tmp_path, method=method, workers=64, dataset="mnist5k", backend="sim",
                                 steps=2, batch_size=8, log_every=1, eval_samples=100, **own))
    assert summary["workers"] == 64
    assert len(summary["bytes"]["per_rank"]) == 65
    assert 0 < summary["peak_rss_mb"]["0"] < 8000
