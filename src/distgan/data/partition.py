"""Split sample indices over workers: iid, label skew by Dirichlet(alpha), or McMahan's label shards."""

from __future__ import annotations

import math

import numpy as np

from distgan.errors import DistganError

SCHEMES_HELP = "iid, dirichlet:ALPHA (ALPHA > 0, e.g. dirichlet:0.5) or shards:K (integer K >= 1, e.g. shards:2)"
DIRICHLET_TRIES = 100  # resamples before giving up on a draw that leaves a worker empty


def parse_partition(scheme: str) -> tuple[str, float | int | None]:
    """('iid', None), ('dirichlet', alpha) or ('shards', K); anything else raises DistganError."""
    name, sep, arg = scheme.partition(":")
    if name == "iid" and not sep:
        return "iid", None
    if name == "dirichlet" and sep:
        try:
            alpha = float(arg)
        except ValueError:
            alpha = math.nan
        if not (math.isfinite(alpha) and alpha > 0):
            raise DistganError(f"partition '{scheme}': ALPHA must be a number > 0; use {SCHEMES_HELP}")
        return "dirichlet", alpha
    if name == "shards" and sep:
        if not (arg.strip().isdigit() and int(arg) >= 1):
            raise DistganError(f"partition '{scheme}': K must be an integer >= 1; use {SCHEMES_HELP}")
        return "shards", int(arg)
    raise DistganError(f"unknown partition scheme '{scheme}'; use {SCHEMES_HELP}")


def partition(
    labels: np.ndarray | None, num_samples: int, num_workers: int, scheme: str, seed: int
) -> list[np.ndarray]:
    """One sorted index array per worker, disjoint and covering all samples; deterministic in `seed`."""
    name, arg = parse_partition(scheme)
    if num_workers < 1:
        raise DistganError(f"need at least 1 worker, got {num_workers}")
    if num_workers > num_samples:
        raise DistganError(f"{num_workers} workers but only {num_samples} samples; use at most {num_samples} workers")
    if name != "iid":
        if labels is None:
            raise DistganError(f"partition '{scheme}' needs a labelled dataset; use iid for unlabelled data")
        labels = np.asarray(labels)
        if labels.shape != (num_samples,):
            raise DistganError(f"got {labels.shape[0] if labels.ndim else 0} labels for {num_samples} samples")
    if name == "iid":
        parts = _iid(num_samples, num_workers, np.random.default_rng(seed))
    elif name == "dirichlet":
        parts = _dirichlet(labels, num_workers, float(arg), seed)
    else:
        parts = _shards(labels, num_workers, int(arg), np.random.default_rng(seed))
    return [np.sort(p).astype(np.int64) for p in parts]


def _iid(n: int, num_workers: int, rng: np.random.Generator) -> list[np.ndarray]:
    """A random permutation cut into near-equal pieces."""
    return np.array_split(rng.permutation(n), num_workers)


def _dirichlet(labels: np.ndarray, num_workers: int, alpha: float, seed: int) -> list[np.ndarray]:
    """Per class, worker shares ~ Dir(alpha); resampled with derived seeds while any worker is empty."""
    for attempt in range(DIRICHLET_TRIES):
        rng = np.random.default_rng([seed, attempt])
        parts: list[list[np.ndarray]] = [[] for _ in range(num_workers)]
        for c in np.unique(labels):
            members = rng.permutation(np.flatnonzero(labels == c))
            shares = rng.dirichlet(np.full(num_workers, alpha))
            if not np.all(np.isfinite(shares)):
                continue
            cuts = np.round(np.cumsum(shares)[:-1] * len(members)).astype(np.int64)
            for worker, piece in enumerate(np.split(members, cuts)):
                parts[worker].append(piece)
        merged = [np.concatenate(p) if p else np.empty(0, np.int64) for p in parts]
        if sum(map(len, merged)) == len(labels) and all(len(p) for p in merged):
            return merged
    raise DistganError(
        f"dirichlet:{alpha} left a worker with no samples in {DIRICHLET_TRIES} draws; "
        f"raise ALPHA or use fewer than {num_workers} workers"
    )


def _shards(labels: np.ndarray, num_workers: int, k: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Sort by label, cut into num_workers*K shards, deal K random shards to each worker."""
    num_shards = num_workers * k
    if num_shards > len(labels):
        raise DistganError(
            f"shards:{k} with {num_workers} workers needs {num_shards} samples, have {len(labels)}; lower K"
        )
    shuffled = rng.permutation(len(labels))  # random order within each class, then a stable sort by label
    by_label = shuffled[np.argsort(labels[shuffled], kind="stable")]
    shards = np.array_split(by_label, num_shards)
    order = rng.permutation(num_shards)
    return [np.concatenate([shards[s] for s in order[w * k : (w + 1) * k]]) for w in range(num_workers)]


def partition_summary(parts: list[np.ndarray], labels: np.ndarray | None, num_classes: int | None, scheme: str) -> dict:
    """{'scheme', 'sizes', 'counts'}: per-worker sizes and per-class counts (counts None when unlabelled)."""
    sizes = [len(p) for p in parts]
    if labels is None:
        return {"scheme": scheme, "sizes": sizes, "counts": None}
    labels = np.asarray(labels)
    width = num_classes if num_classes is not None else int(labels.max()) + 1 if labels.size else 0
    counts = [np.bincount(labels[p], minlength=width).tolist() for p in parts]
    return {"scheme": scheme, "sizes": sizes, "counts": counts}
