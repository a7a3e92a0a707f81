"""What a private run's guarantee rests on: fresh noise for every start of a worker, every D step counted,
Poisson sampling, and nothing computed on raw records leaving a worker (issue 43, items 1-3)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from distgan import api, privacy, privacy_ledger
from distgan.methods.poisson_batches import PoissonBatches
from distgan.transport.base import Transport
from helpers import read_jsonl, read_summary, small_config

METHODS = ["standalone", "sync-dp", "async-ps", "fl-gan", "fe-gan", "md-gan", "gossip-gan"]


def test_the_default_delta_is_a_tenth_of_one_over_m():
    b = privacy.budget(3.0, None, 1.0, 64, 719, 800)
    assert b.delta == pytest.approx(1 / 7190)


def test_a_restart_draws_no_noise_twice_and_every_executed_step_counts(tmp_path, monkeypatch):
    """sync-dp N = 2, rank 1 dies at step 10, the group restarts from the checkpoint of step 8 with 1 worker:
    the steps 8-10 are taken twice, and the noise of the second time must be new, and both counted."""
    draws: dict[int, list[bytes]] = {}  # one list per noise stream: the stream's state before each D step
    original = privacy.private_d_backward

    def recording(D, opt_D, on_real, on_fake, real, fake, b, generator):
        draws.setdefault(id(generator), []).append(bytes(generator.get_state().numpy()))
        return original(D, opt_D, on_real, on_fake, real, fake, b, generator)

    monkeypatch.setattr(privacy, "private_d_backward", recording)
    api.train(small_config(tmp_path, method="sync-dp", workers=2, backend="sim", steps=12, checkpoint_every=4,
                           fail=["1@10"], dp_epsilon=5.0))

    states = [s for stream in draws.values() for s in stream]
    assert len(states) == len(set(states)), "a noise state was drawn from twice"
    entries = privacy_ledger.read(tmp_path)
    assert sorted(len(stream) for stream in draws.values()) == sorted(e.d_steps for e in entries)
    assert [(e.worker, e.incarnation, e.workers) for e in entries] == [(0, 0, 2), (0, 1, 1), (1, 0, 2)]
    executed_by_worker0 = entries[0].d_steps + entries[1].d_steps
    assert executed_by_worker0 > 12  # the steps a crash threw away are counted, not only the 12 kept

    spent = read_summary(tmp_path)["privacy"]
    first, second = [e for e in entries if e.incarnation == 0], [e for e in entries if e.incarnation == 1]
    assert spent["epsilon_spent"] == pytest.approx(privacy.epsilon_of([first, second], spent["delta"]), abs=1e-4)
    # composing the thrown-away steps costs more than the plan's 12 steps would have
    kept_only = dataclasses.replace(second[0], d_steps=12)
    assert spent["epsilon_spent"] > privacy.epsilon_of([[kept_only]], spent["delta"])


def test_epsilon_of_one_stage_is_opacus_accountants_own():
    from opacus.accountants import RDPAccountant

    entry = privacy_ledger.Entry(0, 0, 300, 1.1, 0.05, 1)
    accountant = RDPAccountant()
    accountant.history = [(1.1, 0.05, 300)]
    assert privacy.epsilon_of([[entry]], 1e-5) == pytest.approx(accountant.get_epsilon(delta=1e-5), rel=1e-9)


def test_a_private_worker_draws_poisson_batches(tmp_path):
    """Each record joins each batch with probability q = b / m, independently: sizes vary around b, and every
    record is drawn about q of the time."""
    data = torch.arange(400, dtype=torch.float32).reshape(400, 1)
    shard = torch.arange(0, 400, 2)  # m = 200
    batches = PoissonBatches(data, shard, 0.1, torch.Generator().manual_seed(0), torch.device("cpu"))
    drawn = [batches.next().reshape(-1).long() for _ in range(2000)]
    sizes = torch.tensor([len(x) for x in drawn], dtype=torch.float64)
    assert sizes.mean().item() == pytest.approx(20, abs=3 * (200 * 0.1 * 0.9 / 2000) ** 0.5)
    assert sizes.std().item() == pytest.approx((200 * 0.1 * 0.9) ** 0.5, rel=0.1)  # binomial, not fixed
    counts = torch.bincount(torch.cat(drawn), minlength=400)
    assert counts[1::2].sum() == 0  # only the shard's records
    assert counts[0::2].float().mean().item() == pytest.approx(200, rel=0.02)


@pytest.mark.parametrize("method", ["sync-dp", "md-gan"])
def test_a_private_run_samples_by_poisson_and_says_so(tmp_path, monkeypatch, method):
    sizes = []
    original = PoissonBatches.next

    def recording(self):
        batch = original(self)
        sizes.append(len(batch))
        return batch

    monkeypatch.setattr(PoissonBatches, "next", recording)
    summary = api.train(small_config(tmp_path, method=method, workers=2, backend="sim", steps=12, batch_size=16,
                                     dp_epsilon=5.0))
    assert summary["privacy"]["sampling"] == "poisson"
    assert len(sizes) == 24 and len(set(sizes)) > 1  # every D step of both workers, batches of varying size
    assert sum(sizes) / len(sizes) == pytest.approx(16, rel=0.35)


def _altered(dataset):
    """The same shapes, other records: every training image mirrored and negated."""
    return dataclasses.replace(dataset, train_x=-dataset.train_x.flip(-1))


def _payloads(monkeypatch) -> dict[tuple[int, str], list[torch.Tensor]]:
    """Everything any rank hands the transport to send, by (rank, what), in order."""
    sent: dict[tuple[int, str], list[torch.Tensor]] = {}

    def tensors(value):
        if isinstance(value, torch.Tensor):
            yield value
        elif isinstance(value, (list, tuple)):
            for v in value:
                yield from tensors(v)

    # send_uncounted carries only the end-of-run bookkeeping (byte counts, memory peaks, the timing trace)
    for name in ("send", "send_many", "isend", "send_control", "swap", "all_reduce_mean"):
        original = getattr(Transport, name)

        def wrapper(self, *args, _original=original, _name=name, **kwargs):
            kind = next((a for a in args if isinstance(a, str)), _name)
            for t in tensors(args):
                if t.is_floating_point():
                    sent.setdefault((self.rank, kind), []).append(t.detach().double().clone().reshape(-1))
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(Transport, name, wrapper)
    return sent


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
def test_nothing_computed_on_raw_records_leaves_a_private_worker(tmp_path, monkeypatch, method):
    """With the clip C near 0, DP-SGD's real-data gradient is near 0 whatever the records are, so a private
    worker's messages and logged values may not depend on its records: run once on digits and once on other
    records of the same shapes, and every payload and every logged number must agree. A value that reads raw
    records (the real-data term of D's loss, once logged and sent) differs by far more than the tolerance."""
    import distgan.training as training

    runs = []
    for altered in (False, True):
        load = training.load_dataset
        if altered:
            monkeypatch.setattr(training, "load_dataset", lambda name, _load=load: _altered(_load(name)))
        sent = _payloads(monkeypatch)
        out = tmp_path / ("altered" if altered else "digits")
        workers = 1 if method == "standalone" else 2
        api.train(small_config(out, method=method, workers=workers, backend="sim", steps=4, log_every=1,
                               dp_epsilon=5.0, dp_clip=1e-9, eval_samples=100))
        logged = [{k: v for k, v in r.items() if k != "wall_s"}
                  for r in read_jsonl(out / "metrics.jsonl") if r.get("type") == "train"]
        runs.append((sent, logged))
        monkeypatch.undo()
    (sent_a, logged_a), (sent_b, logged_b) = runs
    assert sent_a.keys() == sent_b.keys()
    for key in sent_a:
        assert len(sent_a[key]) == len(sent_b[key]), key
        for a, b in zip(sent_a[key], sent_b[key]):
            torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-5, msg=f"{method}: {key} reads raw records")
    assert len(logged_a) == len(logged_b) >= 2
    for a, b in zip(logged_a, logged_b):
        assert a.keys() == b.keys()
        for k in a:
            same = a[k] == pytest.approx(b[k], rel=1e-3, abs=1e-5) if isinstance(a[k], float) else a[k] == b[k]
            assert same, f"{method}: logged {k} reads raw records ({a[k]} against {b[k]})"
