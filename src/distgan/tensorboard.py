"""Rank 0's TensorBoard event file: the run's curves, bytes by kind and sample grids, live.

The x-axis is generator updates (`g_updates`); real images seen and fake samples learned from are
scalars of their own under `progress/`, so TensorBoard can chart either against the other.
The event file lies in the run folder, so `tensorboard --logdir STUDY` shows one run per cell.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import stat
from pathlib import Path
from typing import Any

import numpy as np

from distgan.run_files import FILE_MODE, mode

log = logging.getLogger(__name__)
MEASURES = ("fid", "kid", "score", "classes_covered", "class_kl", "modes_captured", "hq_pct")


class TensorBoardLog:
    def __init__(self, folder: Path, title: str):
        from torch.utils.tensorboard import SummaryWriter

        # An unguessable name: tensorboard reopens its file by name for every write, following any link there.
        self.writer = SummaryWriter(log_dir=str(folder), filename_suffix=f".{secrets.token_hex(8)}")
        self.writer.add_text("run", title, 0)
        self.writer.flush()
        self._set_mode()

    def _set_mode(self) -> None:
        """The event file's mode, whatever the umask (run_files.py)."""
        path = self.writer.file_writer.event_writer._file_name  # noqa: SLF001 - tensorboard names it nowhere else
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        try:
            if stat.S_ISREG(os.fstat(fd).st_mode):
                os.fchmod(fd, mode(FILE_MODE))
        finally:
            os.close(fd)

    def train(self, step: int, record: dict[str, Any]) -> None:
        for key, value in record.items():
            if key in ("real_images", "fake_samples", "wall_s"):
                self.writer.add_scalar(f"progress/{key}", value, step)
            elif key.startswith(("loss", "staleness")) and isinstance(value, float):
                self.writer.add_scalar(f"train/{key}", value, step)
            elif key == "epsilon":
                self.writer.add_scalar("privacy/epsilon", value, step)

    def bytes_by_kind(self, step: int, counts: dict[str, dict[str, int]]) -> None:
        for direction in ("sent", "recv"):
            for kind, value in counts[direction].items():
                self.writer.add_scalar(f"bytes_{direction}/{kind}", value, step)

    def evaluation(self, step: int, measures: dict[str, Any]) -> None:
        for key in MEASURES:
            value = measures.get(key)
            if isinstance(value, (int, float)) and np.isfinite(value):
                self.writer.add_scalar(f"eval/{key}", value, step)

    def image(self, step: int, png: Path) -> None:
        from PIL import Image

        with Image.open(png) as picture:
            self.writer.add_image("samples", np.asarray(picture.convert("RGB")), step, dataformats="HWC")

    def events(self, step: int, name: str, events: list[dict[str, Any]]) -> None:
        """Failures or late updates, as text (one JSON line each)."""
        if events:
            self.writer.add_text(name, "\n\n".join(f"`{json.dumps(e)}`" for e in events), step)

    def close(self) -> None:
        self.writer.flush()
        self.writer.close()
