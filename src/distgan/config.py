"""The run configuration: one validated dataclass, the only place bad input is caught."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from distgan.errors import DistganError

METHODS = ("standalone", "sync-dp", "async-ps", "fl-gan", "md-gan")
SERVER_METHODS = ("async-ps", "fl-gan", "md-gan")
LOSSES = ("bce", "hinge", "lsgan")
BACKENDS = ("process", "sim")
DEVICES = ("auto", "cpu", "cuda")
LR_SCALINGS = ("none", "linear")
SWAP_ADAM = ("carry", "reset")


@dataclass(kw_only=True)
class RunConfig:
    """Everything one training run needs; `distgan train` flags map one to one onto these fields."""

    method: str = "standalone"
    dataset: str = "mnist5k"
    partition: str = "iid"
    workers: int = 1
    backend: str = "process"
    steps: int = 2000
    batch_size: int | None = None  # None: 256 for 2-D points, 64 for images
    seed: int = 0
    out: str = "runs/run"
    device: str = "auto"
    loss: str = "bce"
    lr_g: float | None = None  # None: 1e-3 for 2-D points, 2e-4 for images (DCGAN)
    lr_d: float | None = None
    beta1: float = 0.5
    beta2: float = 0.999
    z_dim: int = 0  # 0: chosen by data shape
    log_every: int = 50
    sample_every: int = 500
    eval_every: int = 0  # 0: evaluate only at the end
    eval_samples: int = 1000
    checkpoint_every: int = 250
    progress: bool = True
    resume: bool = False  # continue from the checkpoints in `out`
    # md-gan (Hardy et al. 2019)
    k: str = "1"  # integer, "log" for ceil(log2 N), or "n" for N
    disc_steps: int = 1
    swap_every: float = 1.0  # epochs E between discriminator swaps
    swap_adam: str = "carry"  # "carry": Adam's moments travel with D; "reset": the receiver starts them afresh
    # sync-dp (Goyal et al. 2017)
    lr_scaling: str = "none"  # "linear": learning rates x N after a 5-epoch linear warmup
    # async-ps (Dean et al. 2012)
    pull_every: int = 1
    push_every: int = 1
    # fl-gan (McMahan et al. 2017)
    local_steps: int = 20
    local_epochs: float = 0.0  # > 0 overrides local_steps with ceil(E * m / b)
    client_fraction: float = 1.0
    # faults and the launcher
    fail: list[str] = field(default_factory=list)  # "RANK@STEP": that rank exits hard at that step
    worker_timeout: float = 60.0
    master_addr: str = "127.0.0.1"
    master_port: int = 0  # 0: a free port
    threads: int = 0  # torch threads per process; 0: share the cores

    @property
    def has_server(self) -> bool:
        return self.method in SERVER_METHODS

    @property
    def world_size(self) -> int:
        """Processes in the run: N workers, plus rank 0 as server for server-based methods."""
        if self.method == "standalone":
            return 1
        return self.workers + (1 if self.has_server else 0)

    def resolved_k(self) -> int:
        """MD-GAN's number of generated batches per iteration."""
        if self.k == "log":  # the MD-GAN paper's ceil(log N), log to base 2 (its section II)
            return max(1, math.ceil(math.log2(self.workers)))
        if self.k == "n":
            return self.workers
        return int(self.k)

    def failures(self) -> dict[int, int]:
        """`--fail` as {rank: step}."""
        return {int(r): int(s) for r, s in (f.split("@") for f in self.fail)}

    def resolved(self, data_kind: str) -> RunConfig:
        """Fill the settings left to the data: batch size and learning rates (points need larger ones)."""
        points = data_kind == "points"
        return dataclasses.replace(
            self, batch_size=self.batch_size or (256 if points else 64),
            lr_g=self.lr_g or (1e-3 if points else 2e-4), lr_d=self.lr_d or (1e-3 if points else 2e-4))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def validate(self) -> RunConfig:
        """Raise DistganError naming the first bad value and how to fix it; return self."""
        _check_choice("method", self.method, METHODS)
        _check_choice("backend", self.backend, BACKENDS)
        _check_choice("device", self.device, DEVICES)
        _check_choice("loss", self.loss, LOSSES)
        _check_choice("lr_scaling", self.lr_scaling, LR_SCALINGS)
        _check_choice("swap_adam", self.swap_adam, SWAP_ADAM)
        for name in ("steps", "workers", "log_every", "sample_every", "checkpoint_every",
                     "eval_samples", "disc_steps", "pull_every", "push_every", "local_steps"):
            _check_positive(name, getattr(self, name))
        for name in ("eval_every", "z_dim", "seed", "master_port", "threads"):
            if getattr(self, name) < 0:
                raise DistganError(f"--{_flag(name)} must be >= 0, got {getattr(self, name)}")
        if self.batch_size is not None:
            _check_positive("batch_size", self.batch_size)
        for name in ("lr_g", "lr_d", "worker_timeout"):
            if getattr(self, name) is not None and not getattr(self, name) > 0:
                raise DistganError(f"--{_flag(name)} must be > 0, got {getattr(self, name)}")
        for name in ("beta1", "beta2"):
            if not 0 <= getattr(self, name) < 1:
                raise DistganError(f"--{_flag(name)} must be in [0, 1), got {getattr(self, name)}")
        if self.method == "standalone" and self.workers != 1:
            raise DistganError("--method standalone runs one process; drop --workers or pick a distributed "
                               "method (sync-dp, async-ps, fl-gan, md-gan)")
        if not self.swap_every > 0:
            raise DistganError(f"--swap-every must be > 0 epochs, got {self.swap_every}")
        if self.local_epochs < 0:
            raise DistganError(f"--local-epochs must be >= 0, got {self.local_epochs}")
        if not 0 < self.client_fraction <= 1:
            raise DistganError(f"--client-fraction must be in (0, 1], got {self.client_fraction}")
        self._validate_k()
        self._validate_fail()
        if self.master_addr not in ("127.0.0.1", "localhost", "::1") and not os.environ.get("DISTGAN_BIND_ALL"):
            raise DistganError(f"--master-addr {self.master_addr} listens beyond loopback; torch.distributed has "
                               "no authentication, so set DISTGAN_BIND_ALL=1 to confirm the network is trusted")
        return self

    def _validate_k(self) -> None:
        if self.k not in ("log", "n") and not re.fullmatch(r"[1-9][0-9]*", self.k):
            raise DistganError(f"--k must be a positive integer, 'log' or 'n', got {self.k!r}")
        if self.method == "md-gan" and self.resolved_k() > self.workers:
            raise DistganError(f"--k {self.k} exceeds the {self.workers} workers; use k <= N, 'log' or 'n'")

    def _validate_fail(self) -> None:
        for spec in self.fail:
            if not re.fullmatch(r"[0-9]+@[0-9]+", spec):
                raise DistganError(f"--fail expects RANK@STEP (e.g. 2@100), got {spec!r}")
        for rank in self.failures():
            if rank == 0 or rank >= self.world_size:
                raise DistganError(f"--fail rank {rank} is not a worker rank; use 1..{self.world_size - 1}")


def _flag(name: str) -> str:
    return name.replace("_", "-")


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise DistganError(f"unknown --{_flag(name)} {value!r}; choose one of: {', '.join(choices)}")


def _check_positive(name: str, value: int) -> None:
    if not isinstance(value, int) or value <= 0:
        raise DistganError(f"--{_flag(name)} must be a positive integer, got {value}")


FIELDS = {f.name: f for f in dataclasses.fields(RunConfig)}
OPTIONAL_TYPES = {"batch_size": int, "lr_g": float, "lr_d": float}  # fields whose default None means "auto"


def field_type(name: str) -> type:
    default = FIELDS[name].default
    if default is dataclasses.MISSING:
        return list
    return OPTIONAL_TYPES.get(name) or type(default)


def config_from_mapping(values: dict[str, Any], source: str) -> RunConfig:
    """Build a config from a TOML/JSON mapping, refusing unknown keys and wrong types."""
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        name = key.replace("-", "_")
        if name not in FIELDS:
            raise DistganError(f"{source}: unknown setting {key!r}; see `distgan train --help`")
        kwargs[name] = _coerce(name, value, source)
    return RunConfig(**kwargs)


def _coerce(name: str, value: Any, source: str) -> Any:
    kind = field_type(name)
    if value is None and name in OPTIONAL_TYPES:
        return None
    try:
        if kind is bool:
            if not isinstance(value, bool):
                raise ValueError
            return value
        if kind is list:
            return [str(v) for v in (value if isinstance(value, list) else [value])]
        if kind is int:
            if isinstance(value, bool) or float(value) != int(value):
                raise ValueError
            return int(value)
        return kind(value)
    except (TypeError, ValueError):
        raise DistganError(f"{source}: setting {name!r} must be a {kind.__name__}, got {value!r}") from None


def load_toml(path: str) -> dict[str, Any]:
    """Read a `--config` TOML file; a missing or malformed file is a DistganError."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    p = Path(path)
    if not p.is_file():
        raise DistganError(f"--config {path}: no such file; give the path of a TOML file")
    try:
        return tomllib.loads(p.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise DistganError(f"--config {path}: not valid TOML ({e})") from None


def load_config_json(path: str | Path) -> RunConfig:
    """Read a run folder's `config.json` back into a config."""
    p = Path(path)
    try:
        values = json.loads(p.read_text())
    except FileNotFoundError:
        raise DistganError(f"{p}: no such file; is this a distgan run folder?") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DistganError(f"{p}: not valid JSON ({e})") from None
    return config_from_mapping(values, str(p))
