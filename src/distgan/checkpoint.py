"""Atomic writes (temp file, fsync, rename) and safe checkpoint loads (`weights_only=True`)."""

from __future__ import annotations

import errno
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from distgan.errors import DistganError
from distgan.run_files import FILE_MODE, PRIVATE_MODE, make_dirs, mode


def atomic_write_bytes(path: str | Path, data: bytes, file_mode: int = FILE_MODE) -> None:
    """Write `data` so that `path` holds either its old content or all of the new, never a part. The rename
    replaces a symlink at `path` rather than writing through it; the file gets `file_mode` whatever the umask."""
    path = Path(path)
    if not path.parent.is_dir():
        make_dirs(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode(file_mode))
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        _before_rename(tmp)
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            kept = "its last whole version is kept" if path.exists() else "nothing was written"
            raise DistganError(f"{path}: no space left on the device while saving; {kept}. Free some space and "
                               "resume with --resume") from None
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _before_rename(tmp: str) -> None:
    """Hook for tests that crash between the temp write and the rename."""


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Save a dict of tensors, state dicts and plain numbers atomically, readable by its owner only."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(path, buffer.getvalue(), PRIVATE_MODE)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint with `weights_only=True`, so a crafted file cannot run code."""
    path = Path(path)
    if not path.is_file():
        raise DistganError(f"{path}: no checkpoint here; resume needs a run folder that wrote checkpoint.pt")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for a damaged or unsafe file
        raise DistganError(f"{path}: cannot load checkpoint ({type(e).__name__}: {str(e).splitlines()[0][:160]})"
                           ) from None
