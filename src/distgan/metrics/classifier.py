"""A small CNN trained on the dataset itself: its features stand in for Inception's, its logits give scores.

Pretrained Inception weights cannot be fetched here, and Inception features mean little on 8x8 or 28x28
grey digits anyway. So each labelled image dataset gets its own classifier, trained once and cached on disk.
An unlabelled image dataset gets the same network trained on a self-supervised pretext task (which of four
rotations was applied), so its features are still learned from the data; see `rotation_task`.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from distgan.checkpoint import save_checkpoint
from distgan.data.dataset import Dataset
from distgan.errors import DistganError

log = logging.getLogger(__name__)

SUPPORTED_SIZES = {(8, 8), (28, 28), (32, 32)}
# Held-out accuracy below these logs a warning, not an error. 32x32 sets (CIFAR-like) have no known target;
# 0.5 there only catches training that went wrong. The rotation task cannot reach 1: a 0 or an 8 looks the
# same upside down (sklearn digits: about 0.88).
ACCURACY_TARGET = {(8, 8): 0.95, (28, 28): 0.97, (32, 32): 0.5}
ROTATION_TARGET = 0.75
CACHE_VERSION = 1  # bump when the network or the training recipe changes, so old cache files are ignored


@dataclass(frozen=True)
class ClassifierConfig:
    """Network width and training recipe; part of the cache key."""

    width: int = 16
    feature_dim: int = 128
    steps: int = 1000
    batch_size: int = 64
    lr: float = 2e-3
    max_shift: int = 2  # random translation in pixels, scaled down for 8x8 images


class SmallCNN(nn.Module):
    """Two conv blocks at full and half resolution, a linear layer of `feature_dim` features, then logits."""

    def __init__(
        self, in_channels: int, image_size: int, num_classes: int, width: int = 16, feature_dim: int = 128
    ) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1, bias=False),
            nn.BatchNorm2d(2 * width),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(2 * width * (image_size // 4) ** 2, feature_dim),
            nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(feature_dim, num_classes))
        self.num_classes = num_classes
        self.feature_dim = feature_dim

    def features(self, x: Tensor) -> Tensor:
        """Penultimate features (N, feature_dim) of images in [-1, 1]."""
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.body(x))


def check_image_shape(shape: tuple[int, ...]) -> None:
    """Raise unless `shape` is (C, H, W) with 1 or 3 channels and a supported size."""
    if len(shape) != 3 or shape[0] not in (1, 3) or tuple(shape[1:]) not in SUPPORTED_SIZES:
        raise DistganError(
            f"the metrics classifier takes images of shape (1 or 3, H, W) with H x W in "
            f"{sorted(SUPPORTED_SIZES)}, got {tuple(shape)}; resize the images to a supported size"
        )


def random_shift(x: Tensor, max_shift: int, generator: torch.Generator) -> Tensor:
    """Translate each image by up to `max_shift` pixels (edge-padded), the only augmentation used."""
    if max_shift <= 0:
        return x
    n, _, h, w = x.shape
    padded = F.pad(x, (max_shift,) * 4, mode="replicate")
    dy, dx = torch.randint(0, 2 * max_shift + 1, (2, n), generator=generator)
    rows = (dy[:, None] + torch.arange(h))[:, None, :, None].expand(n, x.shape[1], h, w + 2 * max_shift)
    out = padded.gather(2, rows)
    cols = (dx[:, None] + torch.arange(w))[:, None, None, :].expand(n, x.shape[1], h, w)
    return out.gather(3, cols)


def rotation_task(x: Tensor) -> tuple[Tensor, Tensor]:
    """The self-supervised pretext task for unlabelled images: every image in 4 rotations, labelled 0..3."""
    rotated = torch.cat([torch.rot90(x, k, dims=(2, 3)) for k in range(4)])
    labels = torch.arange(4).repeat_interleave(x.shape[0])
    return rotated, labels


def uses_labels(dataset: Dataset) -> bool:
    """True when the classifier learns the dataset's classes; False when it learns the rotation task."""
    return dataset.labelled and bool(dataset.num_classes)


def task_data(dataset: Dataset) -> tuple[Tensor, Tensor, Tensor, Tensor, int]:
    """(train_x, train_y, test_x, test_y, num_classes) for the dataset's labels, or the rotation task."""
    if uses_labels(dataset):
        if dataset.test_y is None:
            raise DistganError(
                f"dataset {dataset.name!r} has train labels but no test labels; give both or none"
            )
        return dataset.train_x, dataset.train_y, dataset.test_x, dataset.test_y, dataset.num_classes
    return (*rotation_task(dataset.train_x), *rotation_task(dataset.test_x), 4)


@torch.no_grad()
def accuracy(model: nn.Module, x: Tensor, y: Tensor, batch_size: int = 500) -> float:
    """Fraction of `x` that `model` labels as `y`, in eval mode."""
    model.eval()
    correct = sum(
        int((model(x[i : i + batch_size]).argmax(1) == y[i : i + batch_size]).sum())
        for i in range(0, len(x), batch_size)
    )
    return correct / max(len(x), 1)


def fit(
    model: SmallCNN, x: Tensor, y: Tensor, config: ClassifierConfig, shift: int, gen: torch.Generator
) -> None:
    """`config.steps` AdamW steps with a one-cycle learning rate on shuffled, randomly shifted batches."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=config.steps)
    model.train()
    order, cursor = torch.randperm(len(x), generator=gen), 0
    for _ in range(config.steps):
        if cursor + config.batch_size > len(order):
            order, cursor = torch.randperm(len(x), generator=gen), 0
        idx = order[cursor : cursor + config.batch_size]
        cursor += config.batch_size
        loss = F.cross_entropy(model(random_shift(x[idx], shift, gen)), y[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()


@contextlib.contextmanager
def intra_op_threads(n: int | None) -> Iterator[None]:
    """Run the block with `n` torch intra-op threads (None: leave the setting alone), then restore it."""
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train_classifier(
    dataset: Dataset,
    seed: int = 0,
    config: ClassifierConfig | None = None,
    num_threads: int | None = 1,
) -> tuple[SmallCNN, float]:
    """Train on `train_x` (labels, or rotations if unlabelled); return the eval-mode model and test accuracy.

    One thread by default: these small convolutions gain little from a second one, and on a busy 2-core
    machine two threads spin-waiting on each other trained mnist5k in 430 s instead of 30 s.
    """
    if dataset.kind != "image":
        raise DistganError(f"dataset {dataset.name!r} is {dataset.kind!r}; the classifier is for images only")
    check_image_shape(dataset.sample_shape)
    config = config or ClassifierConfig()
    train_x, train_y, test_x, test_y, num_classes = task_data(dataset)
    shift = config.max_shift if dataset.sample_shape[1] >= 28 else min(config.max_shift, 1)
    # fork_rng seeds init and dropout without touching the caller's RNG
    with torch.random.fork_rng(devices=[]), intra_op_threads(num_threads):
        torch.manual_seed(seed)
        c, h, _ = dataset.sample_shape
        model = SmallCNN(c, h, num_classes, config.width, config.feature_dim)
        fit(model, train_x, train_y, config, shift, torch.Generator().manual_seed(seed))
        acc = accuracy(model, test_x, test_y)
    target = ACCURACY_TARGET[tuple(dataset.sample_shape[1:])] if uses_labels(dataset) else ROTATION_TARGET
    if acc < target:
        msg = "metrics classifier on %s: held-out accuracy %.4f is below the target %.2f; metrics are weaker"
        log.warning(msg, dataset.name, acc, target)
    else:
        log.info("metrics classifier on %s: held-out accuracy %.4f", dataset.name, acc)
    return model.eval(), acc


def cache_dir() -> Path:
    """`$DISTGAN_CACHE/classifiers`, or `~/.cache/distgan/classifiers` when the variable is unset."""
    root = os.environ.get("DISTGAN_CACHE") or Path.home() / ".cache" / "distgan"
    return Path(root) / "classifiers"


def cache_key(dataset: Dataset, fingerprint: str, config: ClassifierConfig) -> str:
    """sha256 of the fingerprint, the classifier config, the task and the tensors' bytes.

    The held-out tensors are hashed too (they are small), so the cached accuracy always belongs to them.
    """
    h = hashlib.sha256()
    h.update(f"v{CACHE_VERSION}|{fingerprint}|{sorted(asdict(config).items())}".encode())
    for t in (dataset.train_x, dataset.train_y, dataset.test_x, dataset.test_y):
        if t is not None:
            h.update(str((t.dtype, tuple(t.shape))).encode())
            h.update(t.detach().cpu().contiguous().numpy().tobytes())
    h.update(b"labels" if uses_labels(dataset) else b"rotation")
    return h.hexdigest()


def load_or_train_classifier(
    dataset: Dataset, dataset_fingerprint: str, config: ClassifierConfig | None = None
) -> tuple[SmallCNN, float]:
    """The cached classifier for this dataset if one exists, else train one and cache it."""
    config = config or ClassifierConfig()
    path = cache_dir() / f"{cache_key(dataset, dataset_fingerprint, config)}.pt"
    if path.exists():
        try:
            saved = torch.load(path, map_location="cpu", weights_only=True)
            c, h, _ = dataset.sample_shape
            model = SmallCNN(c, h, int(saved["num_classes"]), config.width, config.feature_dim)
            model.load_state_dict(saved["state_dict"])
            log.info("metrics classifier for %s loaded from %s", dataset.name, path)
            return model.eval(), float(saved["accuracy"])
        except Exception as exc:  # a corrupt or stale file is retrained, not fatal
            log.warning("ignoring unreadable classifier cache %s (%s); retraining", path, exc)
    model, acc = train_classifier(dataset, config=config)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    save_checkpoint(path, {"state_dict": state, "accuracy": acc, "num_classes": model.num_classes})
    return model, acc
