"""distgan's simulated FL-GAN against Flower's simulation engine (flwr) and Apple's pfl-research (pfl): one GAN.

    /work/runs/peers-venv/bin/python benchmarks/fl_peers.py --clients 10,100,1000
    /work/runs/peers-venv/bin/python benchmarks/fl_peers.py --clients 10,100,1000 --peer-threads 1
    prlimit --as=8000000000 /work/runs/peers-venv/bin/python benchmarks/fl_peers.py --clients 10,100 --rounds 3 \
        --local-steps 2 --reps 1 --peer-threads 1 --ray-object-store-mb 1024 --time-limit 300   # a smoke run
    /work/runs/peers-venv/bin/python benchmarks/fl_peers.py --rebuild   # rewrite fl_peers.md from fl_peers.json

The peers are not part of distgan's install. Install them, with torch pinned first (an unpinned torch pulls a
multi-GB CUDA build), into a virtual environment of their own:

    python3 -m venv /work/runs/peers-venv
    /work/runs/peers-venv/bin/pip install torch==2.13.0
    /work/runs/peers-venv/bin/pip install -e '.[peers]'    # flwr[simulation]==1.42.0, pfl==0.6.0

The same work in each framework:
- distgan's own G and D for the dataset (`distgan.models.build_models`, the resolved recipe of `fl-gan`: batch
  size, Adam's learning rates and betas, z_dim, G's depth), drawn from the same seed;
- the same iid partition over N clients (`distgan.runner.make_shards`: distgan's partition code, same seed), and
  each client's batches drawn as a distgan worker draws them (`distgan.methods.common.Batches`: shuffled epoch
  after epoch, with repeats when a shard is smaller than a batch);
- every client selected every round, s local steps (one D step, then one G step) per round, a fresh Adam per
  client per round (distgan with `--client-optimizer fresh`, as pfl's local optimizer and a stateless Flower
  ClientApp start), and FedAvg weighted by each client's shard size;
- no EMA of G (`g_ema=0`: the peers have none), and the final G scored by distgan's own evaluator
  (`distgan.training.make_evaluator_for`, sampled as distgan's recorder samples: seed 4321, batch statistics).

The three runs:
- distgan: `distgan.api.train(RunConfig(method="fl-gan", backend="sim", ...))`; the time of a round is read from
  metrics.jsonl (one `train` record at each round's end);
- Flower: a `ClientApp` (`@app.train()`) and a `ServerApp` running the Message API's
  `flwr.serverapp.strategy.FedAvg` (weighted by the `num-examples` each client replies), started with
  `flwr.simulation.run_simulation` on its Ray backend; each client is one SuperNode and reads its shard by
  `context.node_config["partition-id"]`. `--flower-cpus` picks the documented `client_resources` (`num_cpus`
  per ClientApp; Flower's default is 2, so one actor on a 2-core machine; 1 gives one actor per core): each
  value is timed as its own run, `flower[cpus=C]`. A round is timed by `strategy.start`'s `evaluate_fn`, which
  Flower calls before the first round and after each;
- pfl: `FederatedAveraging` on a `SimulatedBackend` with `WeightByDatapoints`, a `PyTorchModel` around a module
  holding G and D, and a `FederatedDataset` with the `minimize_reuse` sampler and a cohort of N (every client
  each round). pfl's local training steps one loss with one optimizer, and a GAN steps two, so the algorithm's
  `train_one_user` hands `PyTorchModel.do_multiple_epochs_of` its own `train_step_fn` (the hook that method
  documents): a D step, then a G step, with one Adam whose two parameter groups carry D's and G's learning
  rates (Adam's state is per parameter, so this is two Adams). A round is timed by a `TrainingProcessCallback`.
  pfl averages parameters only: G's BatchNorm running statistics stay as initialised, which the score does not
  read (it samples with batch statistics, as distgan's recorder does).

Threads: distgan's simulation runs its N + 1 ranks in one thread and sets torch to one thread (launch.py);
pfl and Flower leave torch at its default, one thread per core (in a Ray actor, torch keeps the host's count:
a smoke run measured 2 threads in `flower[cpus=2]`'s actors). On a loaded machine that default was many times
slower (pfl, N = 10, 2 threads: about 0.3 s a local step, against about 0.07 s with 1), so `--peer-threads 1`
sets one torch thread in pfl's process and in every ClientApp call; each run records its `torch_threads`.
Ray maps its object store when it starts (by default 30% of memory), which fails under an address-space cap
(`ulimit -v`, `prlimit --as`) with "mmap failed": give `--ray-object-store-mb` there.

Every run is one fresh Python process; the runs are interleaved (distgan, flower, pfl, distgan, ...), `--reps`
cycles per N. Seconds per round: rounds 2 .. R-1 (round 1 is the warm-up; distgan's last round also writes every
rank's checkpoint), median and min-max; the ratio to distgan is the median over cycles of each cycle's
peer median / distgan median. Peak memory: the resident memory of the run's whole process tree (the process,
Ray's raylet, GCS and actors), sampled from /proc every 0.2 s. A run that goes past `--mem-limit-gib` or
`--time-limit` is killed and records that as its result.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("benchmarks.fl_peers")

INSTALL = ("pip install torch==2.13.0 && pip install -e '.[peers]'   (flwr[simulation]==1.42.0, pfl==0.6.0; "
           "torch first, pinned, or pip pulls a multi-GB CUDA build)")
EVAL_SEED = 4321  # distgan's recorder scores with this noise seed


# --- what every run shares: distgan's resolved recipe, models, partition, batches and evaluator -------------
def resolved_config(args: argparse.Namespace, n: int, out: str) -> Any:
    from distgan.config import RunConfig
    from distgan.data.registry import load_dataset

    steps = args.rounds * args.local_steps
    config = RunConfig.of(method="fl-gan", workers=n, backend="sim", dataset=args.dataset, steps=steps,
                          batch_size=args.batch, seed=args.seed, local_steps=args.local_steps,
                          client_optimizer="fresh", g_ema=0.0, log_every=args.local_steps, sample_every=steps,
                          checkpoint_every=steps, eval_every=0, progress=False, tensorboard=False, trace=False,
                          out=out).validate()
    dataset = load_dataset(config.dataset)
    return config.resolved(dataset), dataset


def build_pair(config: Any, dataset: Any) -> Any:
    """G and D in one module (keys G.* and D.*), drawn from the run seed as distgan's ranks draw them."""
    import torch
    from torch import nn

    from distgan.models import build_models

    state = torch.random.get_rng_state()
    torch.manual_seed(config.seed)
    try:
        G, D = build_models(dataset.sample_shape, config.z_dim, True, config.spectral_norm, config.width,
                            config.g_depth)
    finally:
        torch.random.set_rng_state(state)
    pair = nn.Module()
    pair.G, pair.D = G, D
    return pair


def two_group_adam(pair: Any, config: Any) -> Any:
    """One Adam over G and D with each one's learning rate: Adam's state is per parameter, so two Adams."""
    import torch

    return torch.optim.Adam([{"params": list(pair.G.parameters()), "lr": config.lr_g},
                             {"params": list(pair.D.parameters()), "lr": config.lr_d}],
                            betas=(config.beta1, config.beta2))


def gan_step(pair: Any, opt: Any, x: Any, z: Any, config: Any) -> tuple[float, float]:
    """distgan's gan_step with one two-group Adam: D on x against G(z), then G against the stepped D."""
    from distgan.models.losses import get_losses

    d_loss, g_loss = get_losses(config.loss)
    fake = pair.G(z)
    loss_D = d_loss(pair.D(x), pair.D(fake.detach()))
    opt.zero_grad(set_to_none=True)
    loss_D.backward()  # G's grads stay None: Adam skips G
    opt.step()
    loss_G = g_loss(pair.D(fake))
    opt.zero_grad(set_to_none=True)
    loss_G.backward()
    for p in pair.D.parameters():
        p.grad = None  # D's grads from the G step: Adam skips D
    opt.step()
    return loss_D.item(), loss_G.item()


def client_batches(dataset: Any, shard: Any, config: Any, client: int, round_: int) -> Any:
    import torch

    from distgan.methods.common import Batches

    rng = torch.Generator().manual_seed(config.seed * 1_000_003 + client * 10_007 + round_)
    return Batches(dataset.train_x, shard, config.batch_size, rng, torch.device("cpu"))


def score(config: Any, dataset: Any, G: Any) -> dict[str, Any]:
    """distgan's evaluator on G, sampled as distgan's recorder samples (seed 4321, batch statistics, chunks of 500)."""
    import torch

    from distgan.training import make_evaluator_for

    evaluator = make_evaluator_for(config, dataset)
    if evaluator is None:
        return {}
    rng = torch.Generator().manual_seed(EVAL_SEED)
    sampler = copy.deepcopy(G).train()
    measures = evaluator(lambda n: torch.cat([sampler(c) for c in torch.randn(n, config.z_dim, generator=rng)
                                              .split(500)]))
    return {k: v for k, v in measures.items() if isinstance(v, (int, float))}


def timed_rounds(stamps: list[float], rounds: int) -> list[float]:
    """Seconds of rounds 2 .. R-1 from R+1 stamps (before round 1, after each round)."""
    return [stamps[r] - stamps[r - 1] for r in range(2, rounds)]


# --- distgan ------------------------------------------------------------------------------------------------
def run_distgan(args: argparse.Namespace, n: int) -> dict[str, Any]:
    import common

    from distgan.api import train

    out = Path(args.runs) / f"distgan-n{n}"
    shutil.rmtree(out, ignore_errors=True)
    config, _ = resolved_config(args, n, str(out))
    start = time.perf_counter()
    summary = train(config)
    elapsed = time.perf_counter() - start
    walls = common.read_train_walls(out)
    ends = [walls[r * args.local_steps] for r in range(1, args.rounds + 1)]
    final = summary.get("final_eval") or summary.get("final") or {}
    evals = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()
             if json.loads(line).get("type") == "eval"]
    if evals:
        final = evals[-1]
    return {"round_s": [ends[r - 1] - ends[r - 2] for r in range(2, args.rounds)], "fid": final.get("fid"),
            "run_s": elapsed, "torch_threads": 1,  # distgan's simulation of N > 1 ranks sets 1 (launch.py)
            "resolved": {k: getattr(config, k) for k in ("batch_size", "lr_g", "lr_d", "beta1", "beta2", "z_dim",
                                                         "g_depth", "loss")}}


# --- Flower -------------------------------------------------------------------------------------------------
def run_flower(args: argparse.Namespace, n: int, cpus: float) -> dict[str, Any]:
    import torch
    from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
    from flwr.clientapp import ClientApp
    from flwr.serverapp import Grid, ServerApp
    from flwr.serverapp.strategy import FedAvg
    from flwr.simulation import run_simulation

    config, dataset = resolved_config(args, n, str(Path(args.runs) / f"flower-n{n}"))
    settings = {"dataset": args.dataset, "batch": config.batch_size, "seed": args.seed, "rounds": args.rounds,
                "local_steps": args.local_steps, "clients": n, "runs": args.runs, "threads": args.peer_threads}

    client_app = ClientApp()

    @client_app.train()
    def client_train(msg: Message, context: Context) -> Message:
        """One client's round: load w, s local steps on its shard, reply w_n and its shard size."""
        import types

        import torch

        cache = sys.modules.setdefault("fl_peers_actor_cache", types.ModuleType("fl_peers_actor_cache"))
        cfg = msg.content["config"]
        if not hasattr(cache, "pair"):  # once per Ray actor: the data, the shards and one pair of models
            from distgan.runner import make_shards

            ns = argparse.Namespace(**{k: cfg[k] for k in settings})
            cache.config, cache.dataset = resolved_config(ns, int(cfg["clients"]), "unused")
            cache.shards = make_shards(cache.config, cache.dataset)
            cache.pair = build_pair(cache.config, cache.dataset)
        if int(cfg["threads"]):
            torch.set_num_threads(int(cfg["threads"]))
        c = int(context.node_config["partition-id"])
        round_ = int(cfg.get("server-round", 0))
        pair = cache.pair
        pair.load_state_dict(msg.content["arrays"].to_torch_state_dict())
        opt = two_group_adam(pair, cache.config)  # a fresh Adam every round
        batches = client_batches(cache.dataset, cache.shards[c], cache.config, c, round_)
        z_rng = torch.Generator().manual_seed(cache.config.seed * 7919 + c * 101 + round_)
        for _ in range(int(cfg["local_steps"])):
            gan_step(pair, opt, batches.next(), torch.randn(cache.config.batch_size, cache.config.z_dim,
                                                            generator=z_rng), cache.config)
        content = RecordDict({"arrays": ArrayRecord(pair.state_dict()),
                              "metrics": MetricRecord({"num-examples": len(cache.shards[c]),
                                                       "torch-threads": torch.get_num_threads()})})
        return Message(content=content, reply_to=msg)

    stamps: list[float] = []
    final: dict[str, Any] = {}
    server_app = ServerApp()

    @server_app.main()
    def server_main(grid: Grid, context: Context) -> None:
        strategy = FedAvg(fraction_train=1.0, fraction_evaluate=0.0, min_train_nodes=n, min_available_nodes=n)

        def clock(server_round: int, arrays: ArrayRecord) -> MetricRecord | None:
            stamps.append(time.perf_counter())
            return None

        result = strategy.start(grid=grid, initial_arrays=ArrayRecord(build_pair(config, dataset).state_dict()),
                                num_rounds=args.rounds, train_config=ConfigRecord(settings), evaluate_fn=clock)
        final["state"] = result.arrays.to_torch_state_dict()
        final["threads"] = [dict(m).get("torch-threads") for m in result.train_metrics_clientapp.values()]

    start = time.perf_counter()
    run_simulation(server_app=server_app, client_app=client_app, num_supernodes=n,
                   backend_config={"client_resources": {"num_cpus": cpus, "num_gpus": 0.0},
                                   **({"init_args": {"object_store_memory": args.ray_object_store_mb * 2**20}}
                                      if args.ray_object_store_mb else {})})
    elapsed = time.perf_counter() - start
    if "state" not in final:
        raise RuntimeError("Flower's ServerApp ended without a result (its log above says why)")
    pair = build_pair(config, dataset)
    pair.load_state_dict({k: v.to(pair.state_dict()[k].dtype) for k, v in final["state"].items()})
    with torch.no_grad():
        fid = score(config, dataset, pair.G).get("fid")
    return {"round_s": timed_rounds(stamps, args.rounds), "fid": fid, "run_s": elapsed,
            "torch_threads": final["threads"][-1] if final["threads"] else None}


# --- pfl ----------------------------------------------------------------------------------------------------
def run_pfl(args: argparse.Namespace, n: int) -> dict[str, Any]:
    import torch
    from pfl.aggregate.simulate import SimulatedBackend
    from pfl.aggregate.weighting import WeightByDatapoints
    from pfl.algorithm import FederatedAveraging, NNAlgorithmParams
    from pfl.callback.base import TrainingProcessCallback
    from pfl.data.dataset import Dataset
    from pfl.data.federated_dataset import FederatedDataset
    from pfl.data.sampling import get_user_sampler
    from pfl.hyperparam import NNEvalHyperParams, NNTrainHyperParams
    from pfl.metrics import Metrics
    from pfl.model.pytorch import PyTorchModel

    from distgan.models.losses import get_losses
    from distgan.runner import make_shards

    config, dataset = resolved_config(args, n, str(Path(args.runs) / f"pfl-n{n}"))
    if args.peer_threads:
        torch.set_num_threads(args.peer_threads)
    shards = make_shards(config, dataset)
    pair = build_pair(config, dataset)
    d_loss, _ = get_losses(config.loss)
    z_rng = torch.Generator().manual_seed(config.seed * 7919)

    def loss(x: Any) -> Any:  # PyTorchModel asks for `loss` and `metrics`; local training uses gan_train_step
        return d_loss(pair.D(x), pair.D(pair.G(torch.randn(len(x), config.z_dim)).detach()))

    def metrics(x: Any) -> dict[str, Any]:
        from pfl.metrics import Weighted

        return {"D loss": Weighted.from_unweighted(loss(x).item())}

    pair.loss, pair.metrics = loss, metrics

    class Stream(Dataset):
        """A client's batches for local training, drawn as a distgan worker draws them; its length (the shard's)
        weighs FedAvg. pfl's own evaluation of a user (central iteration 0) reads the plain Dataset."""

        def __init__(self, client: int, round_: int) -> None:
            super().__init__((dataset.train_x[shards[client]],), user_id=str(client))
            self.batches = client_batches(dataset, shards[client], config, client, round_)

        def iter(self, batch_size: int | None) -> Any:  # noqa: A003 (pfl's name)
            while True:  # do_multiple_epochs_of stops after local_num_steps batches
                yield (self.batches.next(),)

    class ShardDataset(Dataset):
        def __init__(self, client: int, round_: int) -> None:
            super().__init__((dataset.train_x[shards[client]],), user_id=str(client))
            self.stream = Stream(client, round_)

    made: dict[int, int] = {}

    def make_dataset(client: int) -> ShardDataset:
        made[client] = made.get(client, 0) + 1
        return ShardDataset(client, made[client])

    def gan_train_step(pytorch_model: Any, local_optimizer: Any, raw_data: Any, train_kwargs: Any,
                       train_step_args: Any, **kwargs: Any) -> None:
        z = torch.randn(config.batch_size, config.z_dim, generator=z_rng)
        gan_step(pytorch_model, local_optimizer, raw_data[0], z, config)

    class GanFederatedAveraging(FederatedAveraging):
        def train_one_user(self, initial_model_state, model, user_dataset, central_context):
            model.do_multiple_epochs_of(user_dataset.stream, central_context.model_train_params, gan_train_step)
            return model.get_model_difference(initial_model_state), Metrics()

    stamps: list[float] = []

    class Clock(TrainingProcessCallback):
        def on_train_begin(self, *, model: Any) -> Any:
            stamps.append(time.perf_counter())
            return Metrics()

        def after_central_iteration(self, aggregate_metrics: Any, model: Any, *, central_iteration: int) -> Any:
            stamps.append(time.perf_counter())
            return False, Metrics()

    federated = FederatedDataset(make_dataset, get_user_sampler("minimize_reuse", list(range(n))))
    model = PyTorchModel(pair, local_optimizer_create=lambda params, lr: two_group_adam(pair, config),
                         central_optimizer=torch.optim.SGD(pair.parameters(), lr=1.0))  # w += mean of w_n - w
    backend = SimulatedBackend(training_data=federated, val_data=federated, postprocessors=[WeightByDatapoints()])
    start = time.perf_counter()
    GanFederatedAveraging().run(
        algorithm_params=NNAlgorithmParams(central_num_iterations=args.rounds, evaluation_frequency=args.rounds + 1,
                                           train_cohort_size=n, val_cohort_size=None),
        backend=backend, model=model,
        model_train_params=NNTrainHyperParams(local_num_epochs=None, local_learning_rate=config.lr_d,
                                              local_batch_size=config.batch_size, local_num_steps=args.local_steps),
        model_eval_params=NNEvalHyperParams(local_batch_size=None), callbacks=[Clock()])
    elapsed = time.perf_counter() - start
    with torch.no_grad():
        fid = score(config, dataset, pair.G).get("fid")
    return {"round_s": timed_rounds(stamps, args.rounds), "fid": fid, "run_s": elapsed,
            "torch_threads": torch.get_num_threads()}


def one(framework: str, n: int, args: argparse.Namespace) -> None:
    """In the child process: one run; print its numbers as one JSON line."""
    if framework == "distgan":
        result = run_distgan(args, n)
    elif framework.startswith("flower"):
        result = run_flower(args, n, float(framework.partition("=")[2].rstrip("]") or 2))
    elif framework == "pfl":
        result = run_pfl(args, n)
    else:
        raise SystemExit(f"unknown framework {framework!r}")
    print(json.dumps({"framework": framework, "clients": n, **result}))


# --- the parent: interleaved runs, each in a watched process tree -------------------------------------------
def tree_rss_bytes(root: int) -> int:
    """Resident memory of `root` and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            with open(f"/proc/{pid}/status") as f:
                total += next((int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:")), 0)
        except OSError:
            continue
    return total


def watched(cmd: list[str], limit_bytes: int, limit_s: float | None) -> tuple[int, str, str, int, str | None]:
    """Run `cmd` in its own process group; return (code, stdout, stderr, peak tree RSS, why it was stopped)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    peak, stopped, done = 0, [], threading.Event()

    def sample() -> None:
        nonlocal peak
        start = time.monotonic()
        while not done.wait(0.2):
            rss = tree_rss_bytes(proc.pid)
            peak = max(peak, rss)
            why = (f"over {limit_bytes / 2**30:.0f} GiB" if rss > limit_bytes else
                   f"over {limit_s / 60:.0f} min" if limit_s and time.monotonic() - start > limit_s else None)
            if why and not stopped:
                stopped.append(why)
                os.killpg(proc.pid, 9)  # the group this run started (Ray's processes included)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    out, err = proc.communicate()
    done.set()
    thread.join()
    return proc.returncode, out, err, peak, (stopped[0] if stopped else None)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], epilog="Flower and pfl are not installed with distgan; install them "
        f"with: {INSTALL}. Without them only --frameworks distgan runs.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", default="10,100,1000", help="N values, comma-separated (default %(default)s)")
    parser.add_argument("--frameworks", default="distgan,flower,pfl",
                        help="which runs, interleaved in this order each cycle (default %(default)s)")
    parser.add_argument("--flower-cpus", default="2,1",
                        help="Flower's client_resources num_cpus per ClientApp, each timed as its own run "
                             "flower[cpus=C] (default %(default)s: Flower's default, then one actor per core)")
    parser.add_argument("--rounds", type=int, default=4,
                        help="R rounds per run; rounds 2..R-1 are timed and the FID is taken after R "
                             "(default %(default)s, at least 3)")
    parser.add_argument("--local-steps", type=int, default=2, help="s local steps per client per round "
                        "(default %(default)s: at N = 1000 a round is 2,000 GAN steps, about 2 min on 2 cores)")
    parser.add_argument("--reps", type=int, default=3, help="interleaved cycles per N (default %(default)s)")
    parser.add_argument("--batch", type=int, default=None, help="batch size (default: distgan's recipe, 64)")
    parser.add_argument("--dataset", default="digits", help="a distgan dataset (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--peer-threads", type=int, default=0,
                        help="torch threads in pfl's process and in each Flower ClientApp call (default 0: leave "
                             "them as the framework does; distgan's simulation always sets 1). On a loaded machine "
                             "torch's default of one thread per core can be many times slower: try 1")
    parser.add_argument("--ray-object-store-mb", type=int, default=0,
                        help="Flower: Ray's object store size, through backend_config's init_args (default 0: "
                             "Ray's own, 30%% of memory; Ray maps it at start, so under `ulimit -v` or "
                             "`prlimit --as` give a smaller one, e.g. 1024)")
    parser.add_argument("--mem-limit-gib", type=float, default=24.0,
                        help="a run whose process tree holds more is stopped and records that (default %(default)s)")
    parser.add_argument("--time-limit", type=float, default=600.0,
                        help="seconds a peer's run may take before it is stopped and records that; distgan's "
                             "runs, the reference, have none (default %(default)s)")
    parser.add_argument("--runs", default="runs/bench/fl_peers", help="where distgan's run folders go")
    parser.add_argument("--note", default="", help="a line for the top of fl_peers.md (e.g. what the machine was "
                        "doing)")
    parser.add_argument("--rebuild", action="store_true", help="rewrite results/fl_peers.md from fl_peers.json")
    parser.add_argument("--one", nargs=2, metavar=("FRAMEWORK", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rebuild:
        import common

        data = json.loads((common.RESULTS / "fl_peers.json").read_text())
        common.write_results("fl_peers", data, to_markdown(data["summary"], data))
        return
    if args.rounds < 3:
        parser.error("--rounds must be >= 3: round 1 (warm-up) and round R are left out of the time per round")
    if args.one:
        one(args.one[0], int(args.one[1]), args)
        return

    import common

    common.setup_logging()
    frameworks = []
    for name in args.frameworks.split(","):
        frameworks += ([f"flower[cpus={c}]" for c in args.flower_cpus.split(",")] if name == "flower" else [name])
    missing = [m for m, f in (("flwr", "flower"), ("pfl", "pfl")) if f in args.frameworks and not _importable(m)]
    if missing:
        parser.error(f"{', '.join(missing)} not installed in {sys.executable}; install with: {INSTALL}")
    info = common.machine()
    runs = []
    for n in (int(v) for v in args.clients.split(",")):
        for rep in range(args.reps):
            for framework in frameworks:
                cmd = [sys.executable, __file__, "--one", framework, str(n), "--rounds", str(args.rounds),
                       "--local-steps", str(args.local_steps), "--dataset", args.dataset, "--seed", str(args.seed),
                       "--runs", args.runs, "--peer-threads", str(args.peer_threads),
                       "--ray-object-store-mb", str(args.ray_object_store_mb)]
                cmd += ["--batch", str(args.batch)] if args.batch else []
                start = time.perf_counter()
                limit_s = None if framework == "distgan" else args.time_limit  # the reference always finishes
                code, out, err, peak, stopped = watched(cmd, int(args.mem_limit_gib * 2**30), limit_s)
                row: dict[str, Any] = {"framework": framework, "clients": n, "rep": rep,
                                       "peak_rss_mb": peak / 2**20, "process_s": time.perf_counter() - start}
                if stopped or code:
                    row["result"] = stopped or f"failed (exit {code}): {err.strip().splitlines()[-1:]}"
                    row["stderr_tail"] = err[-3000:]
                else:
                    row.update(json.loads(out.strip().splitlines()[-1]))
                    row["result"] = "ok"
                runs.append(row)
                log.info("%s N=%d rep %d: %s", framework, n, rep, _line(row))
    summary = summarise(runs, frameworks)
    data = {"machine": info, "args": vars(args), "runs": runs, "summary": summary,
            "load_avg_at_end": [round(x, 2) for x in os.getloadavg()]}
    common.write_results("fl_peers", data, to_markdown(summary, data))


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _line(row: dict[str, Any]) -> str:
    if row["result"] != "ok":
        return row["result"]
    return (f"{statistics.median(row['round_s']):.3f} s/round, FID {row.get('fid') or float('nan'):.2f}, "
            f"peak {row['peak_rss_mb']:.0f} MB")


def summarise(runs: list[dict[str, Any]], frameworks: list[str]) -> list[dict[str, Any]]:
    rows = []
    for n in dict.fromkeys(r["clients"] for r in runs):
        base = {r["rep"]: statistics.median(r["round_s"]) for r in runs
                if r["clients"] == n and r["framework"] == "distgan" and r["result"] == "ok"}
        for framework in frameworks:
            mine = [r for r in runs if r["clients"] == n and r["framework"] == framework]
            ok = [r for r in mine if r["result"] == "ok"]
            row: dict[str, Any] = {"framework": framework, "clients": n, "runs": len(mine), "ok": len(ok),
                                   "peak_rss_mb": max((r["peak_rss_mb"] for r in mine), default=None)}
            if ok:
                per_run = [statistics.median(r["round_s"]) for r in ok]
                every = [t for r in ok for t in r["round_s"]]
                ratios = [statistics.median(r["round_s"]) / base[r["rep"]] for r in ok if r["rep"] in base]
                fids = [r["fid"] for r in ok if r.get("fid") is not None]
                row.update(s_per_round_median=statistics.median(per_run), s_per_round_min=min(every),
                           s_per_round_max=max(every), ratio_to_distgan=statistics.median(ratios) if ratios else None,
                           fid_median=statistics.median(fids) if fids else None)
            row["result"] = "ok" if len(ok) == len(mine) else "; ".join(sorted({r["result"] for r in mine}))
            rows.append(row)
    return rows


def to_markdown(summary: list[dict[str, Any]], data: dict[str, Any]) -> str:
    a = data["args"]
    m = data["machine"]
    text = (f"# FL-GAN: distgan's simulation against Flower and pfl\n\n{a['dataset']}, N clients all selected "
            f"every round, {a['local_steps']} local steps per round, {a['rounds']} rounds "
            f"(rounds 2..{a['rounds'] - 1} timed), {a['reps']} interleaved cycles; torch threads in the peers: "
            f"{a.get('peer_threads') or 'their default'} (distgan's simulation: 1); machine: {m['nproc']} cores, "
            f"torch {m['torch']}, {m['date']}, load average at start {m['load_avg_at_start']}, at end "
            f"{data['load_avg_at_end']}.\n\nx distgan: the median over cycles of the run's median seconds per round "
            "over distgan's in the same cycle. Peak RSS: the whole process tree (Ray's processes included).\n\n")
    if a.get("note"):
        text += f"**{a['note']}**\n\n"

    def num(v: Any) -> Any:
        return "-" if v is None else v

    rows = [[r["framework"], r["clients"], f"{r['ok']}/{r['runs']}", num(r.get("s_per_round_median")),
             "-" if r.get("s_per_round_min") is None else f"{r['s_per_round_min']:.3g}-{r['s_per_round_max']:.3g}",
             num(r.get("ratio_to_distgan")), num(r["peak_rss_mb"]), num(r.get("fid_median")), r["result"]]
            for r in summary]
    return text + common_table(["framework", "N", "runs ok", "s / round (median)", "s / round (min-max)",
                                "x distgan (median)", "peak RSS of the tree (MB)", "FID after R rounds",
                                "result"], rows)


def common_table(headers: list[str], rows: list[list[Any]]) -> str:
    import common

    return common.markdown_table(headers, rows)


if __name__ == "__main__":
    main()
