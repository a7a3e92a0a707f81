"""Partitioning sample indices over workers: iid, dirichlet:ALPHA, shards:K, summaries and errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from distgan.data.partition import parse_partition, partition, partition_summary
from distgan.errors import DistganError

LABELS = np.repeat(np.arange(10), 100)  # 1,000 samples, 100 per class


def _check_cover(parts: list[np.ndarray], n: int) -> None:
    joined = np.concatenate(parts)
    assert len(joined) == n and np.array_equal(np.sort(joined), np.arange(n))  # disjoint and complete
    assert all(len(p) > 0 and p.dtype == np.int64 for p in parts)


@pytest.mark.parametrize("scheme", ["iid", "dirichlet:0.5", "dirichlet:100", "shards:2", "shards:1"])
@pytest.mark.parametrize("workers", [1, 3, 10])
def test_parts_are_disjoint_cover_all_and_repeat_with_the_seed(scheme: str, workers: int) -> None:
    parts = partition(LABELS, 1000, workers, scheme, seed=7)
    _check_cover(parts, 1000)
    again = partition(LABELS, 1000, workers, scheme, seed=7)
    assert all(np.array_equal(a, b) for a, b in zip(parts, again))


@pytest.mark.parametrize("scheme", ["iid", "dirichlet:0.5", "shards:2"])
def test_a_different_seed_gives_a_different_split(scheme: str) -> None:
    a, b = partition(LABELS, 1000, 4, scheme, seed=1), partition(LABELS, 1000, 4, scheme, seed=2)
    assert not all(np.array_equal(x, y) for x, y in zip(a, b))


def test_iid_sizes_differ_by_at_most_one_and_work_unlabelled() -> None:
    parts = partition(None, 103, 10, "iid", seed=0)
    _check_cover(parts, 103)
    assert max(map(len, parts)) - min(map(len, parts)) <= 1


def test_shards_gives_equal_sizes_and_few_classes() -> None:
    parts = partition(LABELS, 1000, 10, "shards:2", seed=3)
    assert [len(p) for p in parts] == [2 * 1000 // (10 * 2)] * 10
    assert all(len(np.unique(LABELS[p])) <= 2 for p in parts)


def test_small_alpha_dirichlet_is_skewed_and_large_alpha_is_not() -> None:
    def top_class_share(alpha: float) -> float:
        parts = partition(LABELS, 1000, 5, f"dirichlet:{alpha}", seed=11)
        return float(np.mean([np.bincount(LABELS[p], minlength=10).max() / len(p) for p in parts]))

    assert top_class_share(0.05) > 0.4
    assert top_class_share(1000.0) < 0.2


def test_labels_may_be_a_torch_tensor() -> None:
    parts = partition(torch.from_numpy(LABELS), 1000, 4, "shards:3", seed=0)
    _check_cover(parts, 1000)


def test_summary_counts_per_class() -> None:
    parts = partition(LABELS, 1000, 4, "dirichlet:0.3", seed=5)
    summary = partition_summary(parts, LABELS, 10, "dirichlet:0.3")
    assert summary["scheme"] == "dirichlet:0.3" and summary["sizes"] == [len(p) for p in parts]
    assert [sum(c) for c in summary["counts"]] == summary["sizes"]
    assert np.sum(summary["counts"], axis=0).tolist() == [100] * 10
    assert partition_summary(parts, None, None, "iid")["counts"] is None


@pytest.mark.parametrize(
    ("scheme", "parsed"),
    [("iid", ("iid", None)), ("dirichlet:0.5", ("dirichlet", 0.5)), ("shards:3", ("shards", 3))],
)
def test_parse_partition(scheme: str, parsed: tuple) -> None:
    assert parse_partition(scheme) == parsed


@pytest.mark.parametrize(
    "scheme",
    [
        "",
        "IID",
        "iid:2",
        "dirichlet",
        "dirichlet:",
        "dirichlet:0",
        "dirichlet:-1",
        "dirichlet:nan",
        "dirichlet:inf",
        "dirichlet:x",
        "shards",
        "shards:0",
        "shards:-2",
        "shards:1.5",
        "shards:two",
        "random",
    ],
)
def test_bad_schemes_name_the_accepted_forms(scheme: str) -> None:
    with pytest.raises(DistganError, match=r"iid, dirichlet:ALPHA .* shards:K"):
        parse_partition(scheme)


def test_more_workers_than_samples() -> None:
    with pytest.raises(DistganError, match="11 workers but only 10 samples"):
        partition(None, 10, 11, "iid", seed=0)


def test_zero_workers() -> None:
    with pytest.raises(DistganError, match="at least 1 worker"):
        partition(None, 10, 0, "iid", seed=0)


@pytest.mark.parametrize("scheme", ["dirichlet:1", "shards:2"])
def test_label_schemes_need_labels(scheme: str) -> None:
    with pytest.raises(DistganError, match="use iid for unlabelled"):
        partition(None, 100, 2, scheme, seed=0)


def test_dirichlet_that_keeps_leaving_a_worker_empty_says_what_to_change() -> None:
    labels = np.repeat(np.arange(2), 10)
    with pytest.raises(DistganError, match="raise ALPHA or use fewer than 15 workers"):
        partition(labels, 20, 15, "dirichlet:0.01", seed=0)


def test_too_many_shards() -> None:
    with pytest.raises(DistganError, match="needs 30 samples"):
        partition(np.zeros(20, np.int64), 20, 10, "shards:3", seed=0)


def test_label_count_must_match_samples() -> None:
    with pytest.raises(DistganError, match="labels for 50 samples"):
        partition(np.zeros(40, np.int64), 50, 2, "shards:1", seed=0)
