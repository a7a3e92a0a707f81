"""Small file helpers shared by the local-format loaders; every failure is a one-line DistganError."""

from __future__ import annotations

from pathlib import Path

from distgan.errors import DistganError


def require_folder(path: str, spec: str) -> Path:
    """The folder `path` as a Path, or a DistganError saying it is missing or not a folder."""
    if not path:
        raise DistganError(f"dataset spec '{spec}' needs a folder after the colon, e.g. {spec}/data/mnist")
    folder = Path(path).expanduser()
    if not folder.exists():
        raise DistganError(f"{folder}: no such folder; check the path in dataset spec '{spec}'")
    if not folder.is_dir():
        raise DistganError(f"{folder}: is a file, not a folder; pass the folder that holds the dataset files")
    return folder


def read_capped(path: Path, limit: int) -> bytes:
    """The whole file, refusing files over `limit` bytes before reading them."""
    try:
        size = path.stat().st_size
        if size > limit:
            raise DistganError(
                f"{path}: {size} bytes is over the {limit}-byte limit for this format; is it the right file?"
            )
        return path.read_bytes()
    except OSError as e:
        raise DistganError(f"{path}: cannot read file ({e.strerror or one_line(e)}); check its permissions") from e


def one_line(value: object, limit: int = 200) -> str:
    """`str(value)` collapsed to one short line, for quoting third-party errors and untrusted names."""
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
