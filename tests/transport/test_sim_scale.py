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


@pytest.mark.parametrize("method", ["fl-gan", "fe-gan"])
def test_simulated_clients_share_one_spare_pair_of_models(tmp_path, monkeypatch, method):
    """Clients borrow G and D for a round and give them back, so 16 simulated clients over 3 rounds build
    two pairs (the server's and one spare), not one per client per round."""
    from distgan.methods import common, fl_gan

    built = []
    real_build = common.build_gan
    for module in (common, fl_gan):
        monkeypatch.setattr(module, "build_gan", lambda ctx, **kw: built.append(ctx.rank) or real_build(ctx, **kw))
    train(small_config(tmp_path, method=method, workers=16, backend="sim", steps=3, local_steps=1, log_every=1,
                       eval_samples=100))
    assert len(built) == 2
    assert built.count(0) == 1
