"""What the launcher checks before it writes to a run folder or starts a rank, so that a run it refuses leaves the
folder as it was:

- the folder is a usable place for a run (not `/`, not empty, not someone else's files);
- no other distgan run is using it (an exclusive `flock` on the folder itself, held until the run ends);
- a resume can succeed: the settings that shape the run are those of the run in the folder, every rank's
  checkpoint opens and belongs to this run (its run id, made when the run started) and this rank, and the run is
  not already finished.

Under torchrun each rank runs on its own and none of this applies; a rank still refuses a checkpoint of
another run when it loads it (`check_checkpoint`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from distgan import run_folder
from distgan.checkpoint import load_checkpoint
from distgan.config import RunConfig, load_config_json
from distgan.errors import DistganError
from distgan.run_files import make_dirs

RANK_MEMORY = 450 << 20  # a rank process's peak memory: 450 MB a worker, 530 MB rank 0 (studies/demo-digits)
# Settings a resume cannot change: they decide the shards, the models' shapes and who holds what.
FIXED_ON_RESUME = ("method", "workers", "dataset", "partition", "seed", "z_dim", "width", "g_depth", "spectral_norm")
# What a checkpoint records of its run: all of those but the workers, which a sync-dp restart lowers.
IDENTITY = tuple(name for name in FIXED_ON_RESUME if name != "workers")


def new_run_id() -> str:
    """A run's identity, made when it starts and kept in config.json through every resume."""
    return uuid.uuid4().hex


def identity(config: RunConfig, rank: int) -> dict[str, Any]:
    """What a checkpoint records of the run that wrote it, so that no other run, and no other rank, trains on it."""
    return {"rank": rank, "run_id": config.run_id, **{name: getattr(config, name) for name in IDENTITY}}


def check_checkpoint(path: Path, state: dict[str, Any], config: RunConfig, rank: int) -> None:
    """Refuse a checkpoint written by another run or for another rank (checkpoints before 2026-12-06 carry no
    identity, and those before 2026-12-07 no run id: they are matched by what they carry)."""
    written_by = state.get("run")
    if not isinstance(written_by, dict):
        return
    if written_by.get("rank", rank) != rank:
        raise DistganError(f"{path} is rank {written_by['rank']}'s checkpoint, not rank {rank}'s; put back the "
                           "file this rank wrote, or start afresh in a new --out")
    mine = identity(config, rank)
    differs = [k for k in IDENTITY if k in written_by and written_by[k] != mine[k]]
    if differs:
        k = differs[0]
        raise DistganError(f"{path} was written by another run ({k} = {written_by[k]!r}, this run has "
                           f"{mine[k]!r}); resume the folder that holds it, or start afresh in a new --out")
    if config.run_id and written_by.get("run_id", config.run_id) != config.run_id:
        raise DistganError(f"{path} was written by another run (run id {written_by['run_id']}, this run's is "
                           f"{config.run_id}); resume the folder that holds it, or start afresh in a new --out")


def check_out(config: RunConfig) -> None:
    """Refuse an --out that is no place for a run."""
    text = str(config.out).strip()
    if not text:
        raise DistganError("--out is empty; give a folder for the run, e.g. --out runs/mine")
    out = Path(text)
    if out.resolve() == Path(out.resolve().anchor):
        raise DistganError(f"--out {text} is the filesystem root; give a folder for the run, e.g. --out runs/mine")
    if out.exists() and not out.is_dir():
        raise DistganError(f"--out {text} is a file; give a folder for the run")
    if config.resume:
        if not (out / run_folder.CONFIG).is_file():
            raise DistganError(f"--resume {text}: no config.json there, so it is not a distgan run folder")
    elif out.is_dir() and not (out / run_folder.CONFIG).is_file() and any(out.iterdir()):
        raise DistganError(f"--out {text} holds files but is not a distgan run folder (no config.json); "
                           "move them or pick another --out")


@contextlib.contextmanager
def owned(out: Path) -> Iterator[None]:
    """Hold the run folder for this run: a second run on the same folder is refused while this one lives.

    The lock is on the folder itself, so no file is left behind; the kernel drops it when this process dies.
    """
    make_dirs(out, narrow=False)  # a refused resume leaves the folder as it was
    fd = os.open(out, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            raise DistganError(f"--out {out} is in use by another distgan run; wait for it to finish, or pick "
                               "another --out") from None
        yield
    finally:
        os.close(fd)


def check_resume(config: RunConfig) -> RunConfig:
    """Refuse a resume that would fail after spawning, or change the run in the folder; write nothing. Returns
    `config` under the folder's run id (a new one for a run that predates run ids)."""
    out = Path(config.out)
    saved = load_config_json(out / run_folder.CONFIG)
    config = dataclasses.replace(config, run_id=saved.run_id or new_run_id())
    for name in FIXED_ON_RESUME:
        if getattr(saved, name) != getattr(config, name):
            raise DistganError(f"--resume {out}: the run has {name} = {getattr(saved, name)!r}, and "
                               f"--{name.replace('_', '-')} {getattr(config, name)!r} cannot change on resume; drop "
                               "the flag, or start a new run in another --out")
    steps = None
    for rank in range(config.world_size):
        path = out / run_folder.rank_checkpoint(rank)
        if rank == 0 and not path.is_file():
            raise DistganError(f"--resume {out}: no checkpoint.pt there (the run stopped before its first "
                               "checkpoint); start it again without --resume")
        if not path.is_file():
            continue
        state = load_checkpoint(path)  # a damaged file: one line naming it
        if "step" not in state:
            raise DistganError(f"{path} is not a distgan checkpoint (no step); start afresh in a new --out")
        check_checkpoint(path, state, config, rank)
        if rank == 0:
            steps = int(state["step"])
    if (out / run_folder.SUMMARY).is_file() and steps is not None and steps >= config.steps:
        raise DistganError(f"--resume {out}: the run finished at step {steps}; give a larger --steps (e.g. --steps "
                           f"{2 * steps}) to train it further")
    return config


def check_processes(config: RunConfig, bytes_per_rank: int = RANK_MEMORY) -> None:
    """Refuse to start more rank processes than this machine's free memory holds (each has torch loaded)."""
    if config.backend != "process" or config.world_size == 1:
        return
    available = _available_memory()
    if available is not None and config.world_size * bytes_per_rank > available:
        fits = max(1, available // bytes_per_rank)
        raise DistganError(f"--workers {config.workers} starts {config.world_size} processes, and this machine's "
                           f"free memory holds about {fits} ({bytes_per_rank >> 20} MB each); use --backend sim "
                           "(every rank in one process, the same numbers) or fewer workers")


def _available_memory() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def remove_partial_writes(out: Path) -> None:
    """Delete what a killed run left behind: the temporary files of writes it never finished (`.NAME.XXXX.tmp`),
    and its launcher's files, which describe processes that are gone (a launcher killed by SIGKILL never removes
    them). The folder is this run's alone by now (`owned`)."""
    for tmp in out.glob(".*.tmp"):
        tmp.unlink(missing_ok=True)
    for name in (run_folder.LAUNCH_CONFIG, run_folder.PIDS):
        (out / name).unlink(missing_ok=True)

