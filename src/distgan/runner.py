"""Run one rank of a training run, on whichever transport: shared by the launcher and torchrun."""

from __future__ import annotations

import json
import logging
import os
import platform
import resource
import sys
from pathlib import Path
from typing import Any

import torch

from distgan import privacy, privacy_ledger, run_folder
from distgan.checkpoint import atomic_write_json
from distgan.config import RunConfig
from distgan.context import RankContext
from distgan.data.dataset import Dataset
from distgan.data.partition import partition, partition_summary
from distgan.errors import DistganError
from distgan.gpus import peak_gpu_mb
from distgan.method_spec import MethodSpec
from distgan.models import build_models, count_parameters
from distgan.recorder import Recorder
from distgan.run_files import make_dirs, open_for_append
from distgan.safe_read import read_list
from distgan.transport.base import PeerGone, Transport
from distgan.transport.codecs import compression_for
from distgan.transport.trace import Trace, decode

log = logging.getLogger(__name__)
def make_shards(config: RunConfig, dataset: Dataset) -> list[torch.Tensor]:
    labels = dataset.train_y.numpy() if dataset.train_y is not None else None
    parts = partition(labels, len(dataset.train_x), config.workers, config.partition, config.seed)
    return [torch.as_tensor(p, dtype=torch.long) for p in parts]


def run_rank(config: RunConfig, dataset: Dataset, transport: Transport, device: torch.device,
             evaluator: Any = None, simulated: bool = False, shards: list[torch.Tensor] | None = None,
             shared: dict[str, Any] | None = None) -> None:
    """Train this rank's part of the run; rank 0 also records it and writes the summary.

    Simulated ranks share one `shards` list and one `shared` dict; a process has its own (the same shards,
    from the seed).
    """
    out = Path(config.out)
    shards = make_shards(config, dataset) if shards is None else shards
    if config.trace:
        transport.trace = Trace(transport.rank)
    transport.compression = compression_for(config)
    ctx = RankContext(config, dataset, transport, device, shards, out, simulated=simulated,
                      shared={} if shared is None else shared)
    if config.resume:
        _resume(ctx)
    if ctx.rank == 0:
        ctx.recorder = _open_recorder(ctx, evaluator)
        # the launcher's restarts (a sync-dp death, a --rejoin), listed among the run's failures
        ctx.failures.extend(read_list(out / run_folder.RESTARTS))
    method = config.spec
    method.train(ctx)
    private = ctx.__dict__.get("privacy")  # the cached property, if this rank ever asked for it
    if private is not None:
        private.ledger.close()
    report = _gather_report(ctx, method.kinds)
    if ctx.rank == 0:
        if config.trace:
            _write_trace(ctx, report)
        ctx.recorder.finish(_summary(ctx, method, report))


def _resume(ctx: RankContext) -> None:
    """Load this rank's checkpoint; every rank continues from rank 0's step, which it is sent."""
    if ctx.rank == 0 and not ctx.checkpoint_path().is_file():
        raise DistganError(f"{ctx.checkpoint_path()}: no checkpoint to resume from; start the run without --resume")
    ctx.resumed = ctx.load()
    if ctx.resumed is not None and "bytes" in ctx.resumed:  # checkpoints before 2026-12-02 have no counts
        ctx.transport.bytes.load(ctx.resumed["bytes"])
    if ctx.resumed is not None and ctx.transport.compression is not None:  # top-k's residuals
        ctx.transport.compression.load(ctx.resumed.get("residuals"))
    own_step = int(ctx.resumed["step"]) if ctx.resumed else 0
    step = torch.tensor([own_step], dtype=torch.float64, device=ctx.device)
    ctx.transport.broadcast_uncounted(step)
    ctx.start_step = int(step.item())
    if ctx.resumed is not None and own_step != ctx.start_step:
        log.warning("rank %d: its checkpoint is at step %d, rank 0's at %d; continuing from %d",
                    ctx.rank, own_step, ctx.start_step, ctx.start_step)
        ctx.resumed["stale"] = True


def _open_recorder(ctx: RankContext, evaluator: Any) -> Recorder:
    cfg, out = ctx.config, make_dirs(ctx.out)
    if not ctx.start_step:
        (out / run_folder.SUMMARY).unlink(missing_ok=True)
    atomic_write_json(out / run_folder.CONFIG, {**cfg.to_dict(), "resume": False})
    labels = ctx.dataset.train_y.numpy() if ctx.dataset.train_y is not None else None
    atomic_write_json(out / run_folder.PARTITION, partition_summary(
        [s.numpy() for s in ctx.shards], labels, ctx.dataset.num_classes, cfg.partition))
    z_dim = cfg.z_dim
    wall_before = float(ctx.resumed.get("wall_s", 0.0)) if ctx.resumed else 0.0
    seen_before = ctx.resumed.get("seen") if ctx.resumed else None
    recorder = Recorder(cfg, ctx.dataset, ctx.transport, out, z_dim, evaluator, ctx.start_step, wall_before,
                        seen_before)
    recorder.ema_state = ctx.resumed.get("g_ema") if ctx.resumed else None
    if cfg.dp_epsilon:
        recorder.privacy = privacy.plan(cfg, [len(s) for s in ctx.shards])
    return recorder


def peak_rss_mb() -> float:
    """This process's peak resident memory. VmHWM, since ru_maxrss survives exec and would report the launcher's."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine(device: torch.device) -> dict[str, Any]:
    """What rank 0 ran on: float kernels differ by CPU (and GPU), so a run repeats bit for bit only on the same
    kind (docs/compare.md, "Two machines, two classifiers")."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    return {"cpu": cpu, "cores": os.cpu_count(), "gpu": gpu, "torch": torch.__version__,
            "python": platform.python_version()}


def _gather_report(ctx: RankContext, kinds: tuple[str, ...]) -> dict[int, dict[str, Any]]:
    """Rank 0 collects every live rank's byte counts and peak memory (host, and GPU where it computes on one), as
    one tensor each, then its trace (JSON bytes; the vector says how many). This bookkeeping is sent uncounted:
    it is not the method's traffic.
    """
    t = ctx.transport
    trace = t.trace.encode() if ctx.config.trace else b""

    def encode() -> torch.Tensor:
        values = [t.bytes.sent.get(k, 0) for k in kinds] + [t.bytes.recv.get(k, 0) for k in kinds]
        gpu_mb = peak_gpu_mb(ctx.device)
        return torch.tensor(values + [int(peak_rss_mb() * 1024), -1 if gpu_mb is None else round(gpu_mb * 1024),
                                      len(trace)], dtype=torch.float64)

    def unpack(vector: torch.Tensor) -> dict[str, Any]:
        v = [int(x) for x in vector.tolist()]
        n = len(kinds)
        return {"sent": {k: v[i] for i, k in enumerate(kinds) if v[i]},
                "recv": {k: v[n + i] for i, k in enumerate(kinds) if v[n + i]}, "peak_rss_mb": v[-3] / 1024,
                "peak_gpu_mb": None if v[-2] < 0 else v[-2] / 1024, "trace_bytes": v[-1]}

    if ctx.rank != 0:
        if ctx.rank not in ctx.dead:
            t.send_uncounted(encode().to(ctx.device), 0)
            if trace:
                t.send_uncounted(torch.frombuffer(bytearray(trace), dtype=torch.uint8).to(ctx.device), 0)
        return {}
    report = {0: {**unpack(encode()), "trace": trace}}
    for rank in range(1, t.world_size):
        if rank in ctx.dead:
            continue
        buffer = torch.zeros(2 * len(kinds) + 3, dtype=torch.float64, device=ctx.device)
        try:
            t.recv_uncounted(buffer, rank)
            report[rank] = unpack(buffer.cpu())
            payload = torch.empty(report[rank]["trace_bytes"], dtype=torch.uint8, device=ctx.device)
            if len(payload):
                t.recv_uncounted(payload, rank)
            report[rank]["trace"] = payload.cpu().numpy().tobytes()
        except PeerGone as e:
            log.warning("no final report from rank %d (%s)", rank, e.reason)
    return report


def _write_trace(ctx: RankContext, report: dict[int, dict[str, Any]]) -> None:
    """trace.jsonl: one line per rank and step, ranks in order; a resumed run appends its part."""
    lines = []
    for rank in sorted(report):
        payload = report[rank].get("trace") or b""
        lines += [json.dumps(r, separators=(",", ":")) for r in (decode(payload) if payload else [])]
    with open_for_append(ctx.out / run_folder.TRACE, fresh=not ctx.start_step) as f:
        f.write("\n".join(lines) + ("\n" if lines else ""))


def liveness(ctx: RankContext) -> dict[str, Any]:
    """Each worker as the server saw it: alive, slow (waited on past the heartbeat timeout, or past a round
    deadline, yet beating), hung (no heartbeat for the timeout) or dead (connection closed)."""
    lost = {f["rank"]: f.get("kind", "dead") for f in ctx.failures}
    slow = ctx.transport.slow
    late = {e["rank"] for e in ctx.recorder.extra.get("late", [])}
    states = {str(r): lost.get(r) or ("slow" if r in slow or r in late else "alive")
              for r in ctx.worker_ranks if r != ctx.rank}
    return {"heartbeat_timeout_s": ctx.config.heartbeat_timeout, "workers": states,
            "slow_waits": {str(r): w for r, w in sorted(slow.items())}}


def _summary(ctx: RankContext, method: MethodSpec, report: dict[int, dict[str, Any]]) -> dict[str, Any]:
    cfg, rec = ctx.config, ctx.recorder
    wall = rec.wall_s()
    G, D = build_models(ctx.dataset.sample_shape, cfg.z_dim, spectral_norm=cfg.spectral_norm, width=cfg.width,
                        g_depth=cfg.g_depth)
    per_rank = {str(r): {"sent": v["sent"], "recv": v["recv"]} for r, v in sorted(report.items())}
    total_sent = sum(sum(v["sent"].values()) for v in report.values())
    total_recv = sum(sum(v["recv"].values()) for v in report.values())
    return {
        "method": cfg.method, "dataset": cfg.dataset, "partition": cfg.partition, "workers": cfg.workers,
        "backend": cfg.backend, "device": str(ctx.device), "machine": machine(ctx.device), "seed": cfg.seed,
        "batch_size": cfg.batch_size,
        "steps": cfg.steps, "g_updates": cfg.steps, "wall_s": round(wall, 3),
        "g_updates_per_s": round(cfg.steps / wall, 4) if wall else None,
        "step_definition": method.step_definition,
        "params": {"G": count_parameters(G), "D": count_parameters(D)},
        "final_eval": rec.last_eval,
        "real_fid_floor": getattr(rec.evaluator, "real_fid_floor", None),
        "metrics_classifier": getattr(rec.evaluator, "classifier_fingerprint", None),
        "bytes": {"total_sent": total_sent, "total_recv": total_recv, "per_rank": per_rank},
        "peak_rss_mb": {str(r): round(v["peak_rss_mb"], 1) for r, v in sorted(report.items())},
        # torch.cuda.max_memory_allocated per process; simulated ranks share one process, so they show its peak
        "peak_gpu_mb": ({str(r): round(v["peak_gpu_mb"], 1) for r, v in sorted(report.items())}
                        if ctx.device.type == "cuda" else None),
        "threads": torch.get_num_threads(),
        "failures": ctx.failures,
        "liveness": liveness(ctx),
        "command": os.environ.get("DISTGAN_COMMAND") or " ".join(sys.argv),  # our launcher's user command
        "privacy": privacy.summary(rec.privacy, cfg, privacy_ledger.read(ctx.out)) if rec.privacy else None,
    }
