"""Rank 0's record of a run: progress bar, metrics.jsonl, sample pictures, evaluations, summary."""

from __future__ import annotations

import copy
import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from distgan import run_folder
from distgan.checkpoint import atomic_write_bytes, atomic_write_json
from distgan.config import RunConfig
from distgan.data.dataset import Dataset
from distgan.divergence import check_losses
from distgan.run_files import make_subdir, open_for_append
from distgan.samples import save_samples
from distgan.transport.base import Transport
from distgan.transport.trace import RECORD_PHASE

log = logging.getLogger(__name__)
GRID_SAMPLES = 64


def drop_records_after(path: Path, step: int) -> None:
    """Keep the records up to `step`: a run killed after its last checkpoint logged steps it will redo."""
    if not path.is_file() or path.is_symlink():  # a planted link: nothing of ours to keep
        return
    kept = [line for line in path.read_text().splitlines(keepends=True)
            if line.strip() and _step_of(line) <= step]
    atomic_write_bytes(path, "".join(kept).encode())


def _step_of(line: str) -> float:
    try:
        return float(json.loads(line).get("step", 0))
    except (ValueError, AttributeError):  # a line cut off by the kill
        return float("inf")


class Recorder:
    def __init__(self, config: RunConfig, dataset: Dataset, transport: Transport, out: Path,
                 z_dim: int, evaluator: Any, start_step: int = 0, wall_before: float = 0.0,
                 seen_before: dict[str, int] | None = None):
        self.config, self.dataset, self.transport, self.out = config, dataset, transport, out
        self.z_dim, self.evaluator = z_dim, evaluator
        self.wall_before = wall_before
        # the x-axes every record carries, all ranks together (see docs/run-format.md)
        self.seen = {"real_images": 0, "fake_samples": 0, **(seen_before or {})}
        self.t0 = time.perf_counter()
        self.fixed_z = torch.randn(self._num_pictured(), z_dim, generator=torch.Generator().manual_seed(1234))
        make_subdir(out / run_folder.SAMPLES)
        if start_step:
            drop_records_after(out / run_folder.METRICS, start_step)
        self.metrics = open_for_append(out / run_folder.METRICS, fresh=not start_step)
        self.last_eval: dict[str, Any] = {}
        self.extra: dict[str, Any] = {}  # method-specific results for the summary (e.g. staleness)
        self.progress = tqdm(total=config.steps, initial=start_step, disable=not config.progress,
                             desc=f"{config.method} x{config.workers}", unit="step", dynamic_ncols=True)
        self.ema: nn.Module | None = None  # the EMA of G's weights (--g-ema), built at the first step
        self.ema_state: dict[str, Any] | None = None  # its saved state, when resuming
        self.privacy: list | None = None  # every worker's DP budget (distgan.privacy.Budget) in a private run
        self.board = open_board(out, f"{config.method}, {config.workers} workers, {config.dataset}, "
                                     f"seed {config.seed}") if config.tensorboard else None

    def _num_pictured(self) -> int:
        return self.config.eval_samples if self.dataset.kind == "points" else GRID_SAMPLES

    def wall_s(self) -> float:
        return self.wall_before + time.perf_counter() - self.t0

    def after_step(self, step: int, G: nn.Module, real: int = 0, fake: int = 0, **scalars: float) -> None:
        """Call once per generator update on rank 0, with the real images and generated samples that
        update consumed (all ranks together); logs, samples and evaluates on their intervals."""
        self.advance(step - 1, step, G, real, fake, **scalars)

    def advance(self, step_from: int, step_to: int, G: nn.Module, real: int = 0, fake: int = 0,
                **scalars: float) -> None:
        """Record the generator updates step_from+1..step_to at once (a federated round of local steps).

        Only the G of `step_to` exists, so a log, sample or evaluation interval that falls inside the
        round is recorded at its end, labelled `step_to`: no record shows a G from a later step.
        The time spent here is the trace's "record" phase, which `distgan project` leaves out.
        """
        trace = self.transport.trace
        resumed = trace.label
        trace.phase(RECORD_PHASE)
        try:
            self._advance(step_from, step_to, G, real, fake, **scalars)
        finally:
            trace.phase(resumed)

    def _advance(self, step_from: int, step_to: int, G: nn.Module, real: int, fake: int, **scalars: float) -> None:
        cfg = self.config
        check_losses(step_to, scalars, cfg)
        self.seen["real_images"] += real
        self.seen["fake_samples"] += fake
        self.progress.update(step_to - step_from)
        if cfg.g_ema:
            G = self._update_ema(G, step_from, step_to)
        last = step_to == cfg.steps

        def crossed(every: int) -> bool:
            return bool(every) and step_to // every > step_from // every

        if crossed(cfg.log_every) or last:
            self.progress.set_postfix({k: f"{v:.3f}" for k, v in scalars.items() if isinstance(v, float)})
            record = {"type": "train", "step": step_to, **self._axes(step_to), **scalars}
            if self.privacy:
                from distgan.privacy import epsilon_at

                record["epsilon"] = round(epsilon_at(self.privacy, cfg, step_to), 4)
            self.write(record)
            if self.board:
                self.board.train(step_to, record)
                self.board.bytes_by_kind(step_to, self.transport.bytes.as_dict())
        if crossed(cfg.sample_every) or last:
            self.save_samples(step_to, G)
        if crossed(cfg.eval_every) or last:
            self.evaluate(step_to, G)

    @torch.no_grad()
    def _update_ema(self, G: nn.Module, step_from: int, step_to: int) -> nn.Module:
        """ema <- beta_t ema + (1 - beta_t) G for each generator update t in step_from+1..step_to; return the
        EMA, which is what samples and evaluations then show. It lives on rank 0, beside the G it follows."""
        if self.ema is None:
            self.ema = copy.deepcopy(G)
            if self.ema_state is None:
                return self.ema  # it starts as G
            self.ema.load_state_dict(self.ema_state)  # resuming: the EMA as saved, then this update
        kept = math.prod(ema_decay(self.config.g_ema, self.config.g_ema_warmup, t)
                         for t in range(step_from + 1, step_to + 1))
        weight = 1 - kept
        for mine, theirs in zip(self.ema.parameters(), G.parameters()):
            mine.lerp_(theirs, weight)
        for mine, theirs in zip(self.ema.buffers(), G.buffers()):
            mine.copy_(theirs)
        return self.ema

    def _axes(self, step: int) -> dict[str, Any]:
        return {"g_updates": step, **self.seen, **self._clock()}

    def _clock(self) -> dict[str, Any]:
        return {"wall_s": round(self.wall_s(), 3), "bytes_sent": self.transport.bytes.total_sent(),
                "bytes_recv": self.transport.bytes.total_recv()}

    def write(self, record: dict[str, Any]) -> None:
        self.metrics.write(json.dumps(record) + "\n")
        self.metrics.flush()

    @torch.no_grad()
    def generate(self, G: nn.Module, z: torch.Tensor) -> torch.Tensor:
        """Samples with batch statistics in BatchNorm, from a copy so G's running statistics stay as they are.

        A parameter server's G never runs forward, so its running statistics mean nothing; batch
        statistics treat every method alike.
        """
        sampler = copy.deepcopy(G).train()
        device = next(G.parameters()).device
        return torch.cat([sampler(chunk.to(device)).cpu() for chunk in z.split(500)])

    def save_samples(self, step: int, G: nn.Module) -> None:
        samples = self.generate(G, self.fixed_z)
        title = f"{self.config.method}, {self.config.dataset}, step {step}"
        png = self.out / run_folder.SAMPLES / f"step_{step:06d}.png"
        save_samples(png, samples, self.dataset.test_x, title)
        if self.board:
            self.board.image(step, png)

    def evaluate(self, step: int, G: nn.Module) -> None:
        if self.evaluator is None:
            return
        rng = torch.Generator().manual_seed(4321)
        measures = self.evaluator(lambda n: self.generate(G, torch.randn(n, self.z_dim, generator=rng)))
        self.last_eval = measures
        self.write({"type": "eval", "step": step, **self._axes(step), **measures})
        if self.board:
            self.board.evaluation(step, measures)
        shown = {k: v for k, v in measures.items() if k in ("fid", "score", "modes_captured", "hq_pct")}
        log.info("step %d: %s", step, ", ".join(f"{k} {v:.3g}" for k, v in shown.items()))

    def finish(self, summary: dict[str, Any]) -> None:
        self.progress.close()
        self.metrics.close()
        if self.board:
            self.board.events(self.config.steps, "failures", summary.get("failures") or [])
            self.board.close()
        atomic_write_json(self.out / run_folder.SUMMARY, {**summary, **self.extra})


def open_board(out: Path, title: str) -> Any:
    """The run's TensorBoard log, or None (with a warning) when tensorboard is not installed."""
    try:
        from distgan.tensorboard import TensorBoardLog

        return TensorBoardLog(out, title)
    except ImportError as e:
        log.warning("no TensorBoard event file (%s); install tensorboard, or pass --no-tensorboard", e)
        return None


def ema_decay(decay: float, warmup: bool, update: int) -> float:
    """The EMA's decay at generator update `update` (1, 2, ...). With the warm-up it is
    min(decay, (1 + t) / (10 + t)) for t = update - 1 (TensorFlow's ExponentialMovingAverage with
    num_updates), so early in a run the EMA follows G instead of averaging over its random start."""
    return min(decay, update / (9 + update)) if warmup else decay
