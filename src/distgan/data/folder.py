"""A folder of PNG/JPEG images at 32x32; class subfolders give labels, loose images are unlabelled."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from distgan.data.dataset import Dataset
from distgan.data.files import one_line, require_folder
from distgan.data.split import split_arrays, uint8_image_dataset
from distgan.errors import DistganError

SIZE = 32
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}
MAX_PIXELS = 1 << 25  # ~33 megapixels; bigger inputs are refused before decoding
_GRAY_MODES = {"1", "L", "LA"}
_SPLIT_SEED = 8765


def load_image_folder(spec: str, path: str) -> Dataset:
    """folder:PATH -> (N, C, 32, 32), C = 1 if every image is grayscale else 3; split 80/20."""
    folder = require_folder(path, "folder:PATH")
    files, labels, num_classes = _list_images(folder)
    pixels, gray = zip(*(_read_image(f) for f in files))
    x = np.stack(pixels)  # (N, 32, 32, 3)
    x = x[:, None, :, :, 0] if all(gray) else x.transpose(0, 3, 1, 2)
    train_x, train_y, test_x, test_y = split_arrays(np.ascontiguousarray(x), labels, _SPLIT_SEED)
    return uint8_image_dataset(f"folder:{folder.name}", (train_x, train_y), (test_x, test_y), num_classes)


def _list_images(folder: Path) -> tuple[list[Path], np.ndarray | None, int | None]:
    """Image files in a stable order, with labels from sorted class-folder names (or None if loose)."""
    entries = _visible(folder)
    if not entries:
        raise DistganError(f"{folder}: folder is empty; add PNG/JPEG images or one subfolder per class")
    dirs = [e for e in entries if e.is_dir()]
    if not dirs:
        return [_check_image_name(e) for e in entries], None, None
    if len(dirs) != len(entries):
        loose = next(e for e in entries if not e.is_dir())
        raise DistganError(f"{loose}: a file beside class subfolders; move it into a class folder or remove it")
    files, labels = [], []
    for label, class_dir in enumerate(dirs):
        members = _visible(class_dir)
        if not members:
            raise DistganError(f"{class_dir}: class folder is empty; add images or remove the folder")
        files += [_check_image_name(m) for m in members]
        labels += [label] * len(members)
    return files, np.array(labels, dtype=np.int64), len(dirs)


def _visible(folder: Path) -> list[Path]:
    """Sorted entries of `folder`, skipping hidden ones such as .DS_Store."""
    try:
        return sorted(e for e in folder.iterdir() if not e.name.startswith("."))
    except OSError as e:
        raise DistganError(f"{folder}: cannot list folder ({e.strerror or one_line(e)}); check its permissions") from e


def _check_image_name(path: Path) -> Path:
    """`path` if it is a file named like a PNG/JPEG image."""
    if path.is_dir():
        raise DistganError(f"{path}: nested folder; use PATH/CLASS/image.png, one level of class folders")
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise DistganError(f"{path}: not a PNG/JPEG image (by its name); remove it from the dataset folder")
    return path


def _read_image(path: Path) -> tuple[np.ndarray, bool]:
    """(32, 32, 3) uint8 RGB pixels and whether the source was grayscale."""
    try:
        with Image.open(path, formats=["PNG", "JPEG"]) as img:  # no other decoders see the bytes
            if img.width * img.height > MAX_PIXELS:
                raise DistganError(f"{path}: {img.width}x{img.height} is over {MAX_PIXELS} pixels; downscale it")
            gray = img.mode in _GRAY_MODES
            rgb = img.convert("RGB").resize((SIZE, SIZE), Image.Resampling.BILINEAR)
            return np.asarray(rgb, dtype=np.uint8), gray
    except DistganError:
        raise
    except Exception as e:  # untrusted bytes: Pillow raises many types for damaged files
        raise DistganError(
            f"{path}: not a readable PNG/JPEG image ({type(e).__name__}: {one_line(e)}); remove or replace it"
        ) from e
