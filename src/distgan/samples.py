"""Pictures of what a generator makes: an image grid, or a scatter of points over the real mixture."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from distgan.checkpoint import atomic_write_bytes


def image_grid(images: torch.Tensor, columns: int = 0, scale: int = 0) -> Image.Image:
    """Tile (N, C, H, W) images in [-1, 1] into one PIL image, upscaled so small images are visible."""
    n, c, h, w = images.shape
    columns = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    scale = scale or max(1, 96 // h)
    pixels = ((images.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()
    grid = np.full((c, rows * (h + 2) + 2, columns * (w + 2) + 2), 255, dtype=np.uint8)
    for i in range(n):
        r, col = divmod(i, columns)
        grid[:, 2 + r * (h + 2): 2 + r * (h + 2) + h, 2 + col * (w + 2): 2 + col * (w + 2) + w] = pixels[i]
    array = grid[0] if c == 1 else grid.transpose(1, 2, 0)
    img = Image.fromarray(array, mode="L" if c == 1 else "RGB")
    return img.resize((img.width * scale, img.height * scale), Image.NEAREST)


def scatter_plot(points: torch.Tensor, real: torch.Tensor, title: str) -> bytes:
    """PNG bytes of generated points (red) over real points (grey)."""
    import matplotlib

    matplotlib.use("Agg")
    import io

    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 4), dpi=100)
    r = real.detach().cpu().numpy()
    p = points.detach().cpu().numpy()
    ax.scatter(r[:, 0], r[:, 1], s=2, c="0.7", label="real")
    ax.scatter(p[:, 0], p[:, 1], s=2, c="tab:red", alpha=0.6, label="generated")
    lim = float(np.abs(r).max()) * 1.3
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=9)
    ax.legend(loc="upper right", fontsize=7, markerscale=4)
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def save_samples(path: str | Path, samples: torch.Tensor, real: torch.Tensor, title: str) -> None:
    """Write a sample picture atomically: a grid for images, a scatter for 2-D points."""
    if samples.dim() == 2:
        atomic_write_bytes(path, scatter_plot(samples, real, title))
        return
    import io

    buffer = io.BytesIO()
    image_grid(samples).save(buffer, format="PNG")
    atomic_write_bytes(path, buffer.getvalue())
