"""How distgan creates files and folders: never through a symlink planted in a run folder, and with modes that a
permissive umask does not widen.

Modes: folders 0755, files 0644, checkpoints and privacy ledgers 0600. A stricter umask narrows them further
(077 makes everything owner-only); a looser one (000, 002) never widens them. Whole files are written to a
temporary file in the same folder and renamed over their name (checkpoint.atomic_write_bytes); files that grow
(metrics.jsonl, trace.jsonl) are opened with O_NOFOLLOW. A symlink, FIFO or hard link in their place is removed,
never written through.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import TextIO

DIR_MODE, FILE_MODE, PRIVATE_MODE = 0o755, 0o644, 0o600


def umask() -> int:
    """This process's umask, read without changing it (os.umask would, for every thread, for a moment)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


def mode(wanted: int) -> int:
    """`wanted`, narrowed by a stricter umask."""
    return wanted & ~umask()


def make_dirs(path: str | Path, narrow: bool = True) -> Path:
    """Create `path` and its missing parents as folders of DIR_MODE. An existing folder is kept, and (`narrow`)
    loses the write permission of group and others if it has it (whoever can write a run folder can plant links
    in it)."""
    path = Path(path)
    missing = [p for p in (path, *path.parents) if not p.exists()][::-1]
    for p in missing:
        try:
            os.mkdir(p, mode(DIR_MODE))
        except FileExistsError:
            pass
    if narrow and path.is_dir() and os.stat(path).st_mode & 0o022:
        os.chmod(path, stat.S_IMODE(os.stat(path).st_mode) & mode(DIR_MODE))
    return path


def make_subdir(path: str | Path) -> Path:
    """A folder inside a run folder (samples/, privacy/): a symlink or file planted in its place is removed, never
    followed."""
    path = Path(path)
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        path.unlink()
    return make_dirs(path)


def open_for_append(path: str | Path, fresh: bool = False) -> TextIO:
    """Open a growing text file (or empty it, `fresh`) without following a link; whatever is there that is not a
    plain file of this process's own (a symlink, a FIFO, a hard link to another name) is replaced."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_APPEND
    for _ in range(3):
        try:
            fd = os.open(path, flags, FILE_MODE)
        except OSError as e:  # ELOOP: a symlink; ENXIO: a FIFO nobody reads
            if e.errno not in (errno.ELOOP, errno.ENXIO):
                raise
            os.unlink(path)
            continue
        info = os.fstat(fd)
        if stat.S_ISREG(info.st_mode) and info.st_nlink == 1:
            os.set_blocking(fd, True)
            os.fchmod(fd, mode(FILE_MODE))
            if fresh:
                os.ftruncate(fd, 0)  # only now: a hard link's other name must not lose its content
            return os.fdopen(fd, "a")
        os.close(fd)
        os.unlink(path)
    raise OSError(errno.EEXIST, f"{path}: something keeps taking its place; is another process writing this run "
                                "folder?")
