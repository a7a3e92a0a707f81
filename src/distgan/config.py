"""The run configuration: one validated dataclass, the only place bad input is caught."""

from __future__ import annotations

import dataclasses
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from distgan.errors import DistganError

LOSSES = ("bce", "hinge", "lsgan")
MAX_INT = 2**63 - 1  # torch and numpy hold step counts and intervals as int64
MAX_CLIP = 1e6  # --dp-clip: typical values are 0.1 to 10
MAX_SEED = 2**32  # seeds are offset per rank and handed to numpy and torch; this leaves room for both
BACKENDS = ("process", "sim")
DEVICES = ("auto", "cpu", "cuda")
BATCHED_SIM = ("auto", "on", "off")


@dataclass(kw_only=True)
class RunConfig:
    """Everything one training run needs; `distgan train` flags map one to one onto these fields."""

    method: str = "standalone"
    dataset: str = "mnist5k"
    partition: str = "iid"
    workers: int = 1
    backend: str = "process"
    steps: int | None = None  # None: 10,000 for 8x8 images (digits), 2,000 otherwise (distgan.recipe)
    batch_size: int | None = None  # None: 256 for 2-D points, 64 for images
    seed: int = 0
    out: str = "runs/run"
    device: str = "auto"
    loss: str = "bce"
    lr_g: float | None = None  # None: 1e-3 for 2-D points, 4e-4 for 8x8, 8e-4 for 28x28, 2e-4 for 32x32 images
    lr_d: float | None = None
    g_ema: float | None = None  # decay of an EMA of G's weights, kept where G lives and used to evaluate;
    # 0: off; None: 0.999 for 8x8 images, off otherwise
    g_ema_warmup: bool = True  # the EMA's decay is min(g_ema, (1 + t) / (10 + t)) at update t
    spectral_norm: bool = False  # spectral normalisation on every layer of D (Miyato et al. 2018)
    beta1: float = 0.5
    beta2: float = 0.999
    z_dim: int | None = None  # None: 8 for 2-D points, 64 for images
    width: int | None = None  # None: the model's own (128 hidden units for points, 32 channels 8x8, 64 larger)
    g_depth: int | None = None  # extra 3x3 conv blocks in a conv G; None: 2 for 8x8 and 28x28, 0 for 32x32
    log_every: int = 50
    sample_every: int = 500
    eval_every: int = 0  # 0: evaluate only at the end
    eval_samples: int | None = None  # None: 2,500 for 2-D points (VEEGAN/PacGAN), 1,000 for images
    checkpoint_every: int = 250
    progress: bool = True
    tensorboard: bool = True  # rank 0 writes a TensorBoard event file into the run folder
    trace: bool = True  # every rank records its messages and compute phases; rank 0 writes trace.jsonl
    is_resolved: bool = False  # set by `resolved()`: every default filled and checked against the data
    resume: bool = False  # continue from the checkpoints in `out`
    run_id: str = ""  # made when the run starts, kept in config.json through resumes; every checkpoint carries it
    options: dict[str, Any] = field(default_factory=dict)  # the method's own settings (its Options)
    # compressed messages (distgan/transport/codecs.py)
    compress: str = "none"  # none | fp16 | bf16 | int8 | topk:F
    compress_kinds: str = ""  # comma list of message kinds to compress; empty: every payload kind of the method
    # differential privacy (distgan/privacy.py): DP-SGD on every D step that reads a worker's records
    dp_epsilon: float = 0.0  # each worker's target epsilon over the run; 0: off
    dp_delta: float | None = None  # None: 1/m for a worker of m records
    dp_clip: float = 1.0  # C, each record's gradient norm bound
    # faults and the launcher
    fail: list[str] = field(default_factory=list)  # "RANK@STEP": that rank exits hard at that step
    hang: list[str] = field(default_factory=list)  # "RANK@STEP:SECONDS": that rank freezes (SIGSTOP) that long
    slow: list[str] = field(default_factory=list)  # "RANK:FACTOR": that rank computes FACTOR times slower
    heartbeat_timeout: float = 30.0  # a peer silent this long (no heartbeat) is hung; a late one is only slow
    worker_timeout: float = 60.0  # the rendezvous and collectives (sync-dp) time out after this
    rejoin: bool = False  # a server method's lost worker comes back: the group restarts from its checkpoint
    master_addr: str = "127.0.0.1"
    master_port: int = 0  # 0: a free port
    threads: int = 0  # torch threads per process; 0: share the cores
    ranks_per_gpu: int = 0  # processes that may share one GPU (over gloo, through host memory); 0: no cap
    batched_sim: str = "auto"  # the simulation steps workers' local steps as one vmap'd computation; auto: on a GPU

    @classmethod
    def of(cls, **settings: Any) -> RunConfig:
        """A config from flat settings, the method's own among them: RunConfig.of(method="md-gan", k="log")."""
        return config_from_mapping(settings, "RunConfig.of").refuse_idle(settings)

    @property
    def spec(self):
        """The method's traits, from the registry in distgan.methods."""
        from distgan.method_spec import spec_of

        return spec_of(self.method)

    @property
    def has_server(self) -> bool:
        return self.spec.has_server

    @property
    def world_size(self) -> int:
        """Processes in the run: N workers, plus rank 0 as server for server-based methods."""
        return self.workers + (1 if self.has_server else 0)

    def method_options(self) -> Any:
        """The method's Options dataclass, filled from `options`."""
        return self.spec.options(**self.options)

    def failures(self) -> dict[int, int]:
        """`--fail` as {rank: step}."""
        return {int(r): int(s) for r, s in (f.split("@") for f in self.fail)}

    def hangs(self) -> dict[tuple[int, int], float]:
        """`--hang` as {(rank, step): seconds}."""
        parsed = (re.fullmatch(r"([0-9]+)@([0-9]+):([0-9.]+)", h).groups() for h in self.hang)
        return {(int(r), int(s)): float(sec) for r, s, sec in parsed}

    def slowdowns(self) -> dict[int, float]:
        """`--slow` as {rank: factor}."""
        return {int(r): float(f) for r, f in (s.split(":") for s in self.slow)}

    def resolved(self, dataset: Any) -> RunConfig:
        """Check this config against its dataset and fill every setting left to the data or the method.

        The one place that does so, before any rank starts; `config.json` holds what it returns.
        The base recipe (distgan.recipe, docs/recipe.md) sets the budget, learning rates, G's depth and
        EMA by kind of data; 2-D points also get larger batches, a smaller z, and 2,500 evaluation samples
        (the VEEGAN/PacGAN protocol).
        """
        from distgan import recipe
        from distgan.data.partition import parse_partition
        from distgan.models import check_g_depth, default_z_dim

        if self.is_resolved:
            return self
        parse_partition(self.partition)
        if self.workers > len(dataset.train_x):
            raise DistganError(f"--workers {self.workers} exceeds the {len(dataset.train_x)} training samples of "
                               f"{self.dataset}; use fewer workers")
        points = dataset.kind == "points"
        shape = dataset.sample_shape
        g_depth = recipe.default_g_depth(shape) if self.g_depth is None else self.g_depth
        check_g_depth(shape, g_depth)  # before any rank starts
        return dataclasses.replace(
            self, options=dataclasses.asdict(self.method_options()),
            steps=self.steps or recipe.default_steps(shape), g_depth=g_depth,
            g_ema=recipe.default_g_ema(shape) if self.g_ema is None else self.g_ema,
            batch_size=self.batch_size or (256 if points else 64),
            lr_g=self.lr_g or recipe.default_lr(shape), lr_d=self.lr_d or recipe.default_lr(shape),
            z_dim=self.z_dim or default_z_dim(shape),
            eval_samples=self.eval_samples or (2500 if points else 1000), is_resolved=True)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def validate(self) -> RunConfig:
        """Raise DistganError naming the first bad value and how to fix it; return self."""
        spec = self.spec  # an unknown --method is refused here
        _check_choice("backend", self.backend, BACKENDS)
        _check_choice("device", self.device, DEVICES)
        _check_choice("batched_sim", self.batched_sim, BATCHED_SIM)
        _check_choice("loss", self.loss, LOSSES)
        for name in ("workers", "log_every", "sample_every", "checkpoint_every"):
            _check_positive(name, getattr(self, name))
        for name in ("eval_every", "seed", "master_port", "threads", "g_depth", "ranks_per_gpu"):
            if getattr(self, name) is not None and getattr(self, name) < 0:
                raise DistganError(f"--{_flag(name)} must be >= 0, got {getattr(self, name)}")
        for name in ("steps", "batch_size", "eval_samples", "z_dim", "width"):
            if getattr(self, name) is not None:
                _check_positive(name, getattr(self, name))
        for name in ("lr_g", "lr_d", "worker_timeout", "heartbeat_timeout"):
            if getattr(self, name) is not None and not 0 < getattr(self, name) < math.inf:
                raise DistganError(f"--{_flag(name)} must be a finite number > 0, got {getattr(self, name)}")
        if not self.seed < MAX_SEED:
            raise DistganError(f"--seed must be below 2**32 ({MAX_SEED}), got {self.seed}")
        if not self.master_port <= 65535:
            raise DistganError(f"--master-port must be a TCP port, 0..65535 (0: a free one), got {self.master_port}")
        for name in ("beta1", "beta2", "g_ema"):
            if getattr(self, name) is not None and not 0 <= getattr(self, name) < 1:
                raise DistganError(f"--{_flag(name)} must be in [0, 1), got {getattr(self, name)}")
        self._validate_privacy()
        self._validate_compression()
        if self.method == "standalone" and self.workers != 1:
            raise DistganError("--method standalone runs one process; drop --workers or pick a distributed "
                               "method (see `distgan methods`)")
        self._validate_options(spec)
        self._validate_fail()
        if self.rejoin and (self.backend != "process" or spec.on_worker_death != "drop"):
            raise DistganError("--rejoin applies to server methods (md-gan, fl-gan, fe-gan, async-ps) on "
                               "--backend process; sync-dp restarts without it, and the simulation has no "
                               "processes to restart")
        bind_all = os.environ.get("DISTGAN_BIND_ALL", "").strip().lower() in ("1", "true", "yes")
        if self.master_addr not in ("127.0.0.1", "localhost", "::1") and not bind_all:
            raise DistganError(f"--master-addr {self.master_addr} listens beyond loopback; torch.distributed has "
                               "no authentication, so set DISTGAN_BIND_ALL=1 to confirm the network is trusted")
        return self

    def refuse_idle(self, given: Any) -> RunConfig:
        """Refuse settings the user gave (`given`: their names) that this config would ignore; return self."""
        given = {str(k).replace("-", "_") for k in given}
        idle = [name for name in ("dp_delta", "dp_clip") if name in given]
        if idle and not self.dp_epsilon:
            raise DistganError(f"--{_flag(idle[0])} applies only to differentially private training; add "
                               "--dp-epsilon EPS, or drop it")
        return self

    def _validate_compression(self) -> None:
        from distgan.transport.codecs import compression_for

        if self.compress_kinds.strip():
            if not any(k.strip() for k in self.compress_kinds.split(",")):
                raise DistganError(f"--compress-kinds {self.compress_kinds!r} names no message kind; give kinds "
                                   "such as md-gan/feedback (`distgan methods` lists them), or drop it to "
                                   "compress every kind")
            if self.compress == "none":
                raise DistganError("--compress-kinds does nothing without --compress; add --compress CODEC "
                                   "(fp16, bf16, int8, topk:F), or drop --compress-kinds")
        compression_for(self)  # an unknown codec or kind is refused here

    def _validate_privacy(self) -> None:
        if not 0 <= self.dp_epsilon < math.inf:
            raise DistganError(f"--dp-epsilon must be a finite number >= 0 (0: no privacy), got {self.dp_epsilon}")
        if not 0 < self.dp_clip <= MAX_CLIP:
            raise DistganError(f"--dp-clip must be > 0 and at most {MAX_CLIP:g}, got {self.dp_clip:g}: the noise is "
                               "sigma x clip per coordinate, which beyond that swamps every gradient and near 3e38 "
                               "overflows float32; typical clips are 0.1 to 10")
        if self.dp_delta is not None and not 0 < self.dp_delta < 1:
            raise DistganError(f"--dp-delta must be in (0, 1), got {self.dp_delta}")
        if self.dp_epsilon and self.spectral_norm:
            raise DistganError("--dp-epsilon with --spectral-norm: spectral normalisation updates its power "
                               "iteration in every forward pass, which per-record gradients (torch.func) cannot "
                               "do; drop one of them")

    def _validate_options(self, spec) -> None:
        from distgan.method_spec import option_owners

        known = {f.name for f in spec.option_fields()}
        for name in self.options:
            if name not in known:
                owners = option_owners().get(name)
                where = f"it is a setting of {', '.join(owners)}" if owners else "no method has it"
                raise DistganError(f"--{_flag(name)} does not apply to --method {self.method} ({where}); drop it")
        try:
            options = self.method_options()
        except TypeError as e:
            raise DistganError(f"bad settings for {self.method}: {e}") from None
        options.validate(self.workers)

    def _validate_fail(self) -> None:
        for flag, specs, pattern, example in (("fail", self.fail, r"[0-9]+@[0-9]+", "RANK@STEP (e.g. 2@100)"),
                                              ("hang", self.hang, r"[0-9]+@[0-9]+:[0-9]+(\.[0-9]*)?",
                                               "RANK@STEP:SECONDS (e.g. 2@100:90)"),
                                              ("slow", self.slow, r"[0-9]+:[0-9]+(\.[0-9]*)?",
                                               "RANK:FACTOR (e.g. 2:20)")):
            for spec in specs:
                if not re.fullmatch(pattern, spec):
                    raise DistganError(f"--{flag} expects {example}, got {spec!r}")
        ranks = [("fail", r) for r in self.failures()] + [("hang", r) for r, _ in self.hangs()]
        for flag, rank in ranks + [("slow", r) for r in self.slowdowns()]:
            if rank == 0 or rank >= self.world_size:
                raise DistganError(f"--{flag} rank {rank} is not a worker rank; use 1..{self.world_size - 1}")
        for rank, factor in self.slowdowns().items():
            if factor < 1:
                raise DistganError(f"--slow {rank}:{factor}: the factor must be >= 1 (1 is full speed)")


def _flag(name: str) -> str:
    return name.replace("_", "-")


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise DistganError(f"unknown --{_flag(name)} {value!r}; choose one of: {', '.join(choices)}")


def _check_positive(name: str, value: int) -> None:
    if not isinstance(value, int) or value <= 0:
        raise DistganError(f"--{_flag(name)} must be a positive integer, got {value}")


FIELDS = {f.name: f for f in dataclasses.fields(RunConfig)}
# fields whose default None means "by data"
OPTIONAL_TYPES = {"steps": int, "batch_size": int, "lr_g": float, "lr_d": float, "eval_samples": int, "z_dim": int,
                  "width": int, "g_depth": int, "g_ema": float, "dp_delta": float}


def field_type(name: str) -> type:
    default = FIELDS[name].default
    if default is dataclasses.MISSING:
        return list
    return OPTIONAL_TYPES.get(name) or type(default)


def config_from_mapping(values: dict[str, Any], source: str) -> RunConfig:
    """Build a config from a flat TOML/JSON mapping (method settings beside the others, or under
    `options`), refusing unknown keys and wrong types."""
    from distgan.method_spec import installed

    option_fields = {f.name: f for spec in installed().values() for f in spec.option_fields()}
    kwargs: dict[str, Any] = {}
    options: dict[str, Any] = {}
    flat = {**values}
    flat.update(flat.pop("options", None) or {})
    for key, value in flat.items():
        name = key.replace("-", "_")
        if name in FIELDS and name != "options":
            kwargs[name] = _coerce(name, FIELDS[name].default, value, source)
        elif name in option_fields:
            options[name] = _coerce(name, option_fields[name].default, value, source)
        else:
            raise DistganError(f"{source}: unknown setting {key!r}; see `distgan train --help`")
    return RunConfig(**kwargs, options=options)


def _coerce(name: str, default: Any, value: Any, source: str) -> Any:
    kind = OPTIONAL_TYPES.get(name) or (list if default is dataclasses.MISSING else type(default))
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
            number = value if isinstance(value, int) and not isinstance(value, bool) else float(value)
            if isinstance(value, bool) or isinstance(number, float) and not number.is_integer():
                raise ValueError
            if abs(int(number)) > MAX_INT:
                raise DistganError(f"{source}: --{_flag(name)} {value} is out of range; give a whole number "
                                   f"below 2**63 ({MAX_INT})")
            return int(number)
        return kind(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: int(inf)
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
    from distgan.safe_read import read_object

    p = Path(path)
    try:
        values = read_object(p)
    except FileNotFoundError:
        raise DistganError(f"{p}: no such file; is this a distgan run folder?") from None
    return config_from_mapping(_as_saved(values), str(p))


def _as_saved(values: dict[str, Any]) -> dict[str, Any]:
    """A run's saved settings, with the options it predates set to the behaviour it ran with."""
    from distgan.method_spec import installed, saved_meaning

    specs = installed()
    if not isinstance(values, dict) or values.get("method") not in specs:
        return values
    return {**values, "options": saved_meaning(specs[values["method"]], values.get("options") or {})}
