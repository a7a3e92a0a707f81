"""Bytes that md-gan and fl-gan move, measured by the transport, against the MD-GAN paper's formulas.

    .venv/bin/python benchmarks/bytes_vs_paper.py
    .venv/bin/python benchmarks/bytes_vs_paper.py --batches 10,100,1000 --paper-workers 10

Paper (Hardy et al. 2019), per worker: MD-GAN sends X_g and X_d down (2 b d floats) and F_n up (b d floats) every
iteration, and |theta| per discriminator swap; FL-GAN moves |w| + |theta| each way per round. Runs use the
simulated transport (same byte counts as the process one), 2 workers, float32, on mnist5k (1, 28, 28) and on a
tiny random CIFAR-10-format folder (3, 32, 32) built in a temporary directory.
"""

from __future__ import annotations

import argparse
import json
import logging
import pickle
import tempfile
from pathlib import Path
from typing import Any

import common
import numpy as np
import torch

from distgan.config import RunConfig
from distgan.data.registry import load_dataset
from distgan.launch import run_simulated
from distgan.models import build_models, count_parameters

log = logging.getLogger("benchmarks.bytes_vs_paper")
FLOAT = 4  # bytes per float32
PAPER = {"mnist": {"train_size": 60000, "paper_crossover_b": 550},
         "cifar10": {"train_size": 50000, "paper_crossover_b": 400}}


def make_cifar_folder(folder: Path, n: int, seed: int) -> str:
    """A CIFAR-10 python batch of random images: what `cifar10:PATH` reads."""
    rng = np.random.default_rng(seed)
    batch = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
             b"labels": [int(v) for v in rng.integers(0, 10, n)]}
    with open(folder / "data_batch_1", "wb") as f:
        pickle.dump(batch, f, protocol=4)  # a Python 3 protocol-2 pickle stores bytes via _codecs.encode,
        # which the restricted unpickler refuses; real CIFAR files are Python 2 pickles, the tests use 4
    return f"cifar10:{folder}"


def run(config: RunConfig, dataset) -> dict[str, Any]:
    """One simulated run without evaluation; return its summary's bytes per rank."""
    config.validate()
    config = config.resolved(dataset.kind)
    run_simulated(config, dataset, None)
    return json.loads((Path(config.out) / "summary.json").read_text())["bytes"]["per_rank"]


def model_sizes(shape: tuple[int, ...]) -> dict[str, int]:
    G, D = build_models(shape)
    return {"w": count_parameters(G), "theta": count_parameters(D),
            "G_float_buffers": sum(b.numel() for b in G.buffers() if b.is_floating_point()),
            "D_float_buffers": sum(b.numel() for b in D.buffers() if b.is_floating_point())}


def measure_shape(name: str, spec: str, batches: list[int], tmp: Path) -> dict[str, Any]:
    dataset = load_dataset(spec)
    shape = dataset.sample_shape
    d = int(np.prod(shape))
    sizes = model_sizes(shape)
    common_cfg = {"dataset": spec, "workers": 2, "backend": "sim", "progress": False, "checkpoint_every": 1000,
                  "sample_every": 1000, "log_every": 1000, "eval_samples": 10}
    rows, fl, fl_b = [], None, None
    for b in batches:
        steps = 1  # one iteration: its bytes depend only on b and d, the compute grows with b
        md = run(RunConfig.of(method="md-gan", batch_size=b, steps=steps, swap_every=1e9,
                              out=str(tmp / f"{name}-md{b}"), **common_cfg), dataset)
        if fl is None or b == batches[-1]:  # fl-gan's bytes do not depend on b: measured at the smallest and largest
            fl = run(RunConfig.of(method="fl-gan", batch_size=b, steps=1, local_steps=1, out=str(tmp / f"{name}-fl{b}"),
                               **common_cfg), dataset)
            fl_b = b
        w1 = md["1"]
        row = {"b": b, "d": d,
               "md_down_measured": (w1["recv"]["md-gan/X_g"] + w1["recv"]["md-gan/X_d"]) // steps,
               "md_down_formula": 2 * b * d * FLOAT,
               "md_up_measured": w1["sent"]["md-gan/feedback"] // steps, "md_up_formula": b * d * FLOAT,
               "md_other_kinds": {k: v for k, v in {**w1["sent"], **w1["recv"]}.items()
                                  if k not in ("md-gan/X_g", "md-gan/X_d", "md-gan/feedback")},
               "fl_down_measured": fl["1"]["recv"]["fl-gan/params"], "fl_up_measured": fl["1"]["sent"]["fl-gan/params"],
               "fl_formula": (sizes["w"] + sizes["theta"]) * FLOAT, "fl_measured_at_b": fl_b,
               "fl_other_kinds": {k: v for k, v in {**fl["1"]["sent"], **fl["1"]["recv"]}.items()
                                  if k != "fl-gan/params"}}
        rows.append(row)
        log.info("%s b=%d: md-gan down %d (formula %d), up %d (formula %d); fl-gan %d each way (formula %d)", name, b,
                 row["md_down_measured"], row["md_down_formula"], row["md_up_measured"], row["md_up_formula"],
                 row["fl_down_measured"], row["fl_formula"])
    swap = run(RunConfig.of(method="md-gan", batch_size=batches[0], steps=1, swap_every=1e-9,
                         out=str(tmp / f"{name}-swap"), **common_cfg), dataset)["1"]
    return {"shape": list(shape), "d": d, "sizes": sizes, "rows": rows,
            "swap": {"sent": swap["sent"].get("md-gan/swap", 0), "recv": swap["recv"].get("md-gan/swap", 0),
                     "formula": sizes["theta"] * FLOAT}}


def per_epoch(result: dict[str, Any], train_size: int, workers: int) -> dict[str, Any]:
    """Per worker and per epoch (E = 1 for both: one FL-GAN round, one MD-GAN swap), from the measured bytes."""
    m = train_size / workers
    d, rows = result["d"], []
    fl_epoch = result["rows"][0]["fl_down_measured"] + result["rows"][0]["fl_up_measured"]
    swap = result["swap"]["sent"] + result["swap"]["recv"]
    for r in result["rows"]:
        iterations = m / r["b"]
        md_epoch = iterations * (r["md_down_measured"] + r["md_up_measured"]) + swap
        rows.append({"b": r["b"], "iterations_per_epoch": iterations, "md_epoch_bytes": md_epoch,
                     "fl_epoch_bytes": fl_epoch, "md_over_fl": md_epoch / fl_epoch,
                     "md_ingress_per_message": r["md_down_measured"], "fl_ingress_per_message": r["fl_down_measured"]})
    fl_floats = result["rows"][0]["fl_down_measured"] / FLOAT  # |w| + G's BatchNorm statistics + |theta|
    return {"m": m, "rows": rows,
            # per epoch, b cancels: m/b iterations x 3 b d = 3 m d. MD-GAN moves less while 3 m d + 2|theta| < 2 |w_all|
            "shard_size_crossover": (2 * fl_floats - 2 * result["sizes"]["theta"]) / (3 * d),
            # per communication: worker ingress 2 b d vs |w|+|theta|; worker both ways 3 b d vs 2(|w|+|theta|);
            # server ingress per worker b d vs |w|+|theta|
            "b_crossover": {"worker_ingress_per_message": fl_floats / (2 * d),
                            "worker_both_ways_per_message": 2 * fl_floats / (3 * d),
                            "server_ingress_per_message": fl_floats / d}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", default="10,50,100,200,400,550,800,1000")
    parser.add_argument("--paper-workers", type=int, default=10,
                        help="N used to turn the paper's training-set sizes into m samples per worker")
    parser.add_argument("--cifar-images", type=int, default=2000, help="random images in the temporary CIFAR folder")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    common.setup_logging()
    torch.manual_seed(args.seed)
    batches = [int(b) for b in args.batches.split(",")]
    info = common.machine()
    results = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "cifar").mkdir()
        specs = {"mnist": "mnist5k", "cifar10": make_cifar_folder(tmp / "cifar", args.cifar_images, args.seed)}
        for name, spec in specs.items():
            results[name] = measure_shape(name, spec, batches, tmp)
            results[name]["per_epoch"] = per_epoch(results[name], PAPER[name]["train_size"], args.paper_workers)
            results[name]["paper"] = PAPER[name]
    mismatches = [f"{name} b={r['b']}: {what}" for name, res in results.items() for r in res["rows"]
                  for what in ("md_down", "md_up") if r[f"{what}_measured"] != r[f"{what}_formula"]]
    for name, res in results.items():
        extra = sorted({(r["fl_down_measured"] - r["fl_formula"], r["fl_up_measured"] - r["fl_formula"])
                        for r in res["rows"]})
        if extra != [(0, 0)]:
            mismatches.append(f"{name}: fl-gan moves (down, up) {extra} bytes more than (|w|+|theta|) x 4 per round, "
                              f"at every b; G's BatchNorm running statistics are "
                              f"{res['sizes']['G_float_buffers'] * FLOAT:,} bytes")
    mismatches += [f"{name}: swap" for name, res in results.items()
                   if not res["swap"]["sent"] == res["swap"]["recv"] == res["swap"]["formula"]]
    for line in mismatches:
        log.warning("measured != formula: %s", line)
    common.write_results("bytes_vs_paper", {"machine": info, "args": vars(args), "results": results,
                                            "mismatches": mismatches}, to_markdown(results, mismatches))


def to_markdown(results: dict[str, Any], mismatches: list[str]) -> str:
    text = ""
    for name, res in results.items():
        s = res["sizes"]
        text += (f"### {name} shape {tuple(res['shape'])}, d = {res['d']}: |w| = {s['w']:,} (G), |theta| = "
                 f"{s['theta']:,} (D), G's BatchNorm running statistics = {s['G_float_buffers']:,} floats\n\n")
        rows = [[r["b"], r["md_down_measured"], r["md_down_formula"], r["md_up_measured"], r["md_up_formula"],
                 r["fl_down_measured"], r["fl_up_measured"], r["fl_formula"], r["fl_measured_at_b"]]
                for r in res["rows"]]
        text += common.markdown_table(["b", "md-gan down / iter (measured)", "2bd x 4", "md-gan up / iter (measured)",
                                       "bd x 4", "fl-gan down / round", "fl-gan up / round", "(|w|+|theta|) x 4",
                                       "fl-gan run at b"],
                                      rows)
        sw = res["swap"]
        text += f"\nmd-gan swap, per worker: sent {sw['sent']:,} B, received {sw['recv']:,} B; |theta| x 4 = " \
                f"{sw['formula']:,} B.\n\n"
        pe = res["per_epoch"]
        text += f"Per worker per epoch (E = 1), m = {pe['m']:,.0f} samples per worker:\n\n"
        rows = [[r["b"], r["iterations_per_epoch"], r["md_epoch_bytes"] / 1e6, r["fl_epoch_bytes"] / 1e6,
                 r["md_over_fl"], r["md_ingress_per_message"] / 1e6, r["fl_ingress_per_message"] / 1e6]
                for r in pe["rows"]]
        text += common.markdown_table(["b", "md-gan iterations / epoch", "md-gan MB / epoch", "fl-gan MB / epoch",
                                       "md / fl", "md-gan MB received / iteration", "fl-gan MB received / round"],
                                      rows)
        bc = pe["b_crossover"]
        text += (f"\nCrossover batch size (paper: {res['paper']['paper_crossover_b']}): worker ingress per message "
                 f"b = {bc['worker_ingress_per_message']:.0f}; worker traffic both ways per message "
                 f"b = {bc['worker_both_ways_per_message']:.0f}; server ingress per message "
                 f"b = {bc['server_ingress_per_message']:.0f}. Per epoch b cancels; md-gan moves less per epoch "
                 f"only for shards below m = {pe['shard_size_crossover']:.0f} samples.\n\n")
    text += "Mismatches between measured bytes and the paper's formulas:\n\n"
    text += "".join(f"- {m}\n" for m in mismatches) if mismatches else "- none\n"
    return text


if __name__ == "__main__":
    main()
