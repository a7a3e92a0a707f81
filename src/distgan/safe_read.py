"""Read a run folder's files as untrusted input: stat before opening, never block on a FIFO or a device, read at
most a cap, and turn whatever is malformed into one UnreadableFile naming the file and the line."""

from __future__ import annotations

import json
import logging
import os
import stat
from pathlib import Path
from typing import Any

from distgan.errors import DistganError

log = logging.getLogger(__name__)
MIB = 2**20
JSON_LIMIT = 64 * MIB  # config, summary, study and calibration files hold kilobytes
JSONL_LIMIT = 2048 * MIB  # a long run's trace.jsonl: one line per rank and step
_RAISE = object()


class UnreadableFile(DistganError):
    """A file of a run folder that is there but cannot be read as what it should be."""


def read_bytes(path: str | Path, limit: int = JSON_LIMIT) -> bytes:
    """The bytes of the regular file at `path` (FileNotFoundError when there is none), at most `limit` of them."""
    path = Path(path)
    try:
        _check(path, os.stat(path), limit)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)  # a FIFO swapped in after the stat
    except FileNotFoundError:
        raise
    except OSError as e:
        raise UnreadableFile(f"{path}: cannot be read ({e.strerror}); {_fix(path)}") from None
    with os.fdopen(fd, "rb") as f:
        _check(path, os.fstat(f.fileno()), limit)
        data = f.read(limit + 1)
    if len(data) > limit:
        raise UnreadableFile(f"{path}: larger than the {limit // MIB} MiB a {path.name} may hold; {_fix(path)}")
    return data


def read_text(path: str | Path, limit: int = JSON_LIMIT) -> str:
    """The file as UTF-8 text; bytes that are not UTF-8 are an UnreadableFile naming their line."""
    data = read_bytes(path, limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise UnreadableFile(f"{path}, line {line}: not UTF-8 text (byte 0x{data[e.start]:02x}); "
                             f"{_fix(Path(path))}") from None


def read_json(path: str | Path, missing: Any = _RAISE, limit: int = JSON_LIMIT) -> Any:
    """The JSON value in `path`; `missing` when there is no such file (if given, else FileNotFoundError)."""
    try:
        text = read_text(path, limit)
    except FileNotFoundError:
        if missing is _RAISE:
            raise
        return missing
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise UnreadableFile(f"{path}, line {e.lineno}: not valid JSON ({e.msg}); {_fix(Path(path))}") from None
    except (ValueError, RecursionError) as e:  # digits past int's limit, nesting past the stack
        raise UnreadableFile(f"{path}: not valid JSON ({type(e).__name__}); {_fix(Path(path))}") from None


def read_object(path: str | Path, missing: Any = _RAISE, limit: int = JSON_LIMIT) -> Any:
    """A JSON object (dict) from `path`; anything else there is an UnreadableFile."""
    value = read_json(path, missing, limit)
    if value is not missing and not isinstance(value, dict):
        raise UnreadableFile(f"{path}: a JSON {type(value).__name__}, not an object; {_fix(Path(path))}")
    return value


def read_list(path: str | Path) -> list[Any]:
    """A JSON list from `path`, or [] when there is no such file; anything else there is an UnreadableFile."""
    value = read_json(path, missing=[])
    if not isinstance(value, list):
        raise UnreadableFile(f"{path}: a JSON {type(value).__name__}, not a list; {_fix(Path(path))}")
    return value


def read_jsonl(path: str | Path, limit: int = JSONL_LIMIT) -> list[tuple[int, dict[str, Any]]]:
    """(line number, object) for each line of a JSON-lines file. A last line without its newline that does not
    parse was cut short by a crash or is still being written: skipped, once a line before it was read."""
    text = read_text(path, limit)
    lines = text.split("\n")
    rows = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except (ValueError, RecursionError) as e:
            if number == len(lines) and rows:
                log.warning("%s, line %d: cut short; left out", path, number)
                continue
            raise UnreadableFile(f"{path}, line {number}: not a JSON line ({getattr(e, 'msg', type(e).__name__)}); "
                                 f"{_fix(Path(path))}") from None
        if not isinstance(value, dict):
            raise UnreadableFile(f"{path}, line {number}: a JSON {type(value).__name__}, not an object; "
                                 f"{_fix(Path(path))}")
        rows.append((number, value))
    return rows


def bad_line(path: str | Path, number: int, what: str) -> UnreadableFile:
    """The error for a line of the wrong shape: `what` says which field is missing or of which wrong type."""
    return UnreadableFile(f"{path}, line {number}: {what}; {_fix(Path(path))}")


def _check(path: Path, info: os.stat_result, limit: int) -> None:
    if not stat.S_ISREG(info.st_mode):
        kind = "a folder" if stat.S_ISDIR(info.st_mode) else "a FIFO" if stat.S_ISFIFO(info.st_mode) else \
            "a device" if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode) else "not a regular file"
        raise UnreadableFile(f"{path}: {kind}, not a regular file; {_fix(path)}")
    if info.st_size > limit:
        raise UnreadableFile(f"{path}: {info.st_size // MIB} MiB, larger than the {limit // MIB} MiB a {path.name} "
                             f"may hold; {_fix(path)}")


def _fix(path: Path) -> str:
    return f"restore {path.name} from the run, or move it out of {path.parent}"
