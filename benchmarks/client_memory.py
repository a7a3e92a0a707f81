"""What a federated client's kept Adam state costs on this machine: one local step (mnist5k's DCGAN pair,
b = 16, one thread) taken in turns by simulated-rank threads, with Adam's state reused or rebuilt and kept.

    .venv/bin/python benchmarks/client_memory.py

Rows (median ms per step over the timed steps):
- reuse: 20 threads take turns on one pair, whose Adam state persists (a warm client);
- new threads: 200 threads each take one step (a client's first step on its thread);
- fresh, kept: 20 threads, and each step starts a new Adam state and keeps the old one alive, as clients
  that keep their moments do when each is selected for the first time;
- zeros kept / reused: a 5.6 MB `torch.zeros` (Adam's state for this pair) kept alive, or freed each time.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time

import common
import torch

STEPS = 200
WARM_UP = 20


def local_step_fn():
    """A client's local step as the methods take it (`gan_step`: D then G), and the pair's two optimizers."""
    from distgan.data.registry import load_dataset
    from distgan.methods.common import Gan, gan_step
    from distgan.models import build_models
    from distgan.models.losses import get_losses

    data = load_dataset("mnist5k").train_x
    G, D = build_models((1, 28, 28), 64)
    adam = {"lr": 2e-4, "betas": (0.5, 0.999)}
    gan = Gan(G, D, torch.optim.Adam(G.parameters(), **adam), torch.optim.Adam(D.parameters(), **adam), 64,
              *get_losses("bce"))
    rng = torch.Generator().manual_seed(0)

    def step() -> None:
        gan_step(gan, data[torch.randint(len(data), (16,), generator=rng)], torch.randn(16, 64))

    return step, (gan.opt_G, gan.opt_D)


def in_turns(threads: int, keep_fresh_state: bool, steps: int = STEPS, warm_up: int = WARM_UP) -> float:
    """Median ms of a step taken by `threads` threads in turn (one at a time, as simulated ranks compute)."""
    step, optimizers = local_step_fn()
    for _ in range(5):
        step()
    kept, times = [], []
    wake = [threading.Event() for _ in range(threads)]
    back = threading.Event()

    def client(i: int) -> None:
        while True:
            wake[i].wait()
            wake[i].clear()
            start = time.perf_counter()
            if keep_fresh_state:
                kept.append([dict(opt.state) for opt in optimizers])
                for opt in optimizers:
                    opt.state.clear()
            step()
            times.append(time.perf_counter() - start)
            back.set()

    for i in range(threads):
        threading.Thread(target=client, args=(i,), daemon=True).start()
    for k in range(steps):
        back.clear()
        wake[k % threads].set()
        back.wait()
    return statistics.median(times[warm_up:]) * 1000


def zeros_ms(keep: bool) -> float:
    kept, times = [], []
    for _ in range(100):
        start = time.perf_counter()
        x = torch.zeros(1_400_000)
        times.append(time.perf_counter() - start)
        if keep:
            kept.append(x)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=STEPS, help="steps taken in turns per case")
    parser.add_argument("--warm-up", type=int, default=WARM_UP, help="first steps left out of each median")
    args = parser.parse_args()
    if not 0 <= args.warm_up < args.steps:
        parser.error("--warm-up must be at least 0 and below --steps")
    common.setup_logging()
    torch.set_num_threads(1)
    info = common.machine()
    n = (args.steps, args.warm_up)
    rows = [["reuse (20 threads)", in_turns(20, False, *n)],
            ["new threads (200, one step each)", in_turns(200, False, *n)],
            ["fresh Adam state, kept (20 threads)", in_turns(20, True, *n)],
            ["5.6 MB zeros, kept", zeros_ms(True)], ["5.6 MB zeros, reused", zeros_ms(False)]]
    text = common.markdown_table(["case", "median ms"], rows)
    common.write_results("client_memory", {"machine": info, "rows": rows}, text)
    print(text)


if __name__ == "__main__":
    main()
