"""Run folders written by hand, so report tests need no training."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image


def write_run(root: Path, name: str, method: str = "md-gan", workers: int = 2, seed: int = 0,
              final: dict | None = None, finished: bool = True, failures: list | None = None,
              dataset: str = "digits", curve: list[tuple[int, float]] | None = None,
              real_per_update: int | None = None) -> Path:
    """A run folder in the run format: config, evaluations (two, or one per (step, FID) of `curve`, the last
    being final), a sample picture and (if finished) a summary."""
    folder = Path(root) / name
    (folder / "samples").mkdir(parents=True)
    final = final if final is not None else {"fid": 100.0, "kid": 1.0, "score": 2.0, "classes_covered": 5,
                                             "num_classes": 10}
    config = {"method": method, "workers": workers, "seed": seed, "dataset": dataset, "partition": "iid",
              "steps": 20, "batch_size": 8, "backend": "sim", "eval_samples": 200}
    (folder / "config.json").write_text(json.dumps(config))
    lines = [{"type": "train", "step": 10, "g_updates": 10, "wall_s": 1.0, "bytes_sent": 50, "bytes_recv": 50},
             {"type": "eval", "step": 10, "g_updates": 10, "wall_s": 1.0, "bytes_sent": 50, "bytes_recv": 50,
              **{k: v * 2 for k, v in final.items()}},
             {"type": "eval", "step": 20, "g_updates": 20, "wall_s": 2.0, "bytes_sent": 100, "bytes_recv": 100,
              **final}]
    if curve is not None:
        final = {**final, "fid": curve[-1][1]}
        lines = [{"type": "eval", "step": step, "g_updates": step, "wall_s": step / 10, "bytes_sent": 5 * step,
                  "bytes_recv": 5 * step, **{**final, "fid": value}} for step, value in curve]
    if real_per_update is not None:
        for line in lines:
            line["real_images"] = real_per_update * line["g_updates"]
            line["fake_samples"] = 8 * line["g_updates"]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    Image.new("L", (16, 16), color=128).save(folder / "samples" / "step_000020.png")
    if finished:
        ranks = ["0", "1", "2"][: workers + 1]
        summary = {"method": method, "workers": workers, "seed": seed, "wall_s": 2.0, "g_updates_per_s": 10.0,
                   "steps": curve[-1][0] if curve else 20, "device": "cpu", "step_definition": f"one {method} step",
                   "final_eval": final,
                   "bytes": {"total_sent": 300, "total_recv": 300,
                             "per_rank": {r: {"sent": {"k": 100}, "recv": {"k": 100}} for r in ranks}},
                   "peak_rss_mb": {r: 100.0 for r in ranks}, "failures": failures or [],
                   "real_fid_floor": 1.5}
        (folder / "summary.json").write_text(json.dumps(summary))
    return folder
