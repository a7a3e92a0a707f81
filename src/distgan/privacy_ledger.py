"""Every D step that read a worker's records, counted as it is taken, outside the checkpoints.

A crash throws away the steps taken since the last checkpoint, but what they released has already left the
worker, so they must still be accounted. Each start of a worker (an *incarnation*: the first start, a
launcher's restart, `--rejoin`, `--resume`) opens a ledger file of its own under `<out>/privacy/` and counts
its D steps there *before* each one reads a record: a step is counted even if the worker dies inside it.
The count is rewritten in place with one `os.pwrite`, which the kernel keeps when the process is killed.

The incarnation also seeds the worker's DP noise and Poisson sampling (context.py), so a restarted worker
never draws noise it drew before: two releases with the same noise would cancel it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

from distgan.run_files import make_subdir
from distgan.safe_read import UnreadableFile, read_object

FOLDER = "privacy"
_WIDTH = 256  # bytes of a ledger record: rewritten in place, so it never changes length


@dataclass(frozen=True)
class Entry:
    """One incarnation of one worker: its D steps on real data, and the mechanism they ran under."""

    worker: int
    incarnation: int
    d_steps: int
    noise_multiplier: float
    sample_rate: float
    workers: int  # N in this incarnation: a restart with fewer workers re-partitions the records


class Ledger:
    """This incarnation's ledger file, opened (and numbered) when the worker starts."""

    def __init__(self, out: str | Path, worker: int, noise_multiplier: float, sample_rate: float, workers: int):
        folder = make_subdir(Path(out) / FOLDER)
        self.incarnation = 0
        while True:  # the first free number is ours; O_EXCL makes the claim atomic
            try:
                self._fd = os.open(folder / f"worker{worker}.{self.incarnation}.json",
                                   os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                break
            except FileExistsError:
                self.incarnation += 1
        self.entry = Entry(worker, self.incarnation, 0, noise_multiplier, sample_rate, workers)
        self._write()

    def count_step(self) -> None:
        """Called before a D step reads any record."""
        self.entry = replace(self.entry, d_steps=self.entry.d_steps + 1)
        self._write()

    def _write(self) -> None:
        os.pwrite(self._fd, json.dumps(self.entry.__dict__).ljust(_WIDTH).encode(), 0)

    def close(self) -> None:
        os.close(self._fd)


def read(out: str | Path) -> list[Entry]:
    """Every incarnation's entry in a run folder, in worker then incarnation order."""
    folder = Path(out) / FOLDER
    entries = []
    for path in sorted(folder.glob("worker*.json")) if folder.is_dir() else []:
        value = read_object(path, limit=1 << 16)  # one padded line of a few hundred bytes
        try:
            entries.append(Entry(**value))
        except TypeError:
            raise UnreadableFile(f"{path}: not a privacy ledger entry (its fields are {sorted(value)}); restore "
                                 f"it from the run, or move it out of {path.parent}") from None
    return sorted(entries, key=lambda e: (e.worker, e.incarnation))


def forget(out: str | Path) -> None:
    """A fresh run in this folder: an earlier run's ledgers are not this run's."""
    folder = Path(out) / FOLDER
    if folder.is_dir() and not folder.is_symlink():
        for p in folder.glob("worker*.json"):
            p.unlink()
