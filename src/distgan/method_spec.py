"""What distgan knows of a method, declared once by the method itself.

Config, CLI, launcher, runner, compare and report read these traits; none of them names a method. This module
imports no method: `distgan.methods` builds the registry from the method files and installs it here, so the
config can read the specs without importing the methods' code (layers: config <- context <- methods).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

DROP, RESTART = "drop", "restart"  # what a worker's death does: the server drops it, or the group restarts


@dataclass(kw_only=True)
class NoOptions:
    """A method without settings of its own."""

    def validate(self, workers: int) -> None:
        """Raise DistganError naming a bad value and how to fix it."""


@dataclass(frozen=True, kw_only=True)
class MethodSpec:
    name: str  # the --method value
    summary: str  # one line for `distgan methods`: what it is, after which paper
    train: Callable[[Any], None]  # train(ctx): run this rank's part
    has_server: bool  # rank 0 is a server that holds no data, and N workers follow it
    on_worker_death: str  # DROP: carry on without it; RESTART: restart the group from its checkpoint
    kinds: tuple[str, ...]  # the message kinds it counts bytes under
    step_definition: str  # what one step of the budget is
    options: type = NoOptions  # a kw_only dataclass of its flags; field metadata["help"] explains each
    exposes: str = "not declared"  # what leaves a worker: gradients, weights, samples and feedback, ...
    data_stays_local: bool = True  # False: the records themselves are pooled (standalone)
    # the kinds --compress may encode, and what each carries: "gradient" (a vector over the model's parameters,
    # the same coordinates every message: a gradient, or an optimizer's update such as sync-dp/update_D; top-k
    # with error feedback applies, and a method whose optimizer is Adam sends its updates under top-k),
    # "sample-gradient" (a gradient on a fresh batch each message: top-k without error feedback),
    # "weights" or "samples" (only casts and quantisers: top-k would zero most of them), "optimizer" (casts only)
    payloads: dict[str, str] = field(default_factory=dict)
    # how far past rank 0's step a requested stop lands (distgan/stopping.py): 1 where every rank waits on rank 0
    # each step; more where peers run ahead of it, so that every rank can still checkpoint that same step
    stop_lead: Callable[[Any], int] = lambda options: 1

    def option_fields(self) -> list[dataclasses.Field]:
        return list(dataclasses.fields(self.options))

    def traits(self) -> dict[str, Any]:
        return {"server": self.has_server, "when a worker dies": self.on_worker_death, "what leaves a worker":
                self.exposes,
                "a step": self.step_definition, "kinds": ", ".join(self.kinds) or "-",
                "--compress applies to": ", ".join(f"{k} ({v})" for k, v in self.payloads.items()) or "-",
                "flags": ", ".join("--" + f.name.replace("_", "-") for f in self.option_fields()) or "-"}


def option(default: Any, help: str, before: Any = dataclasses.MISSING) -> Any:
    """A method's flag: its default and the line `--help` shows; `before` is the behaviour runs had before the
    flag existed, which a saved config.json without it means (so an old run resumes as it started)."""
    metadata = {"help": help} if before is dataclasses.MISSING else {"help": help, "before": before}
    return field(default=default, metadata=metadata)


def saved_meaning(spec: MethodSpec, saved_options: dict[str, Any]) -> dict[str, Any]:
    """What a saved config's options meant: those it lacks take the behaviour from before they existed."""
    meant = dict(saved_options)
    for f in spec.option_fields():
        if f.name not in meant and "before" in f.metadata:
            meant[f.name] = f.metadata["before"]
    return meant


def check(ok: bool, message: str) -> None:
    """Options' validation: raise the project's error with `message` unless `ok`."""
    if not ok:
        from distgan.errors import DistganError

        raise DistganError(message)


def positive_int(name: str, value: Any) -> None:
    check(isinstance(value, int) and not isinstance(value, bool) and value > 0,
          f"--{name.replace('_', '-')} must be a positive integer, got {value}")


def one_of(name: str, value: Any, choices: tuple[str, ...]) -> None:
    check(value in choices, f"unknown --{name.replace('_', '-')} {value!r}; choose one of: {', '.join(choices)}")


_INSTALLED: dict[str, MethodSpec] = {}


def install(registry: dict[str, MethodSpec]) -> None:
    """Called once by `distgan.methods` with the registry of every method."""
    _INSTALLED.update(registry)


def installed() -> dict[str, MethodSpec]:
    """Every method's spec, by name (distgan's package import installs them before any config is read)."""
    if not _INSTALLED:
        raise RuntimeError("no method specs installed: import distgan (or distgan.methods) first")
    return _INSTALLED


def spec_of(name: str) -> MethodSpec:
    """The named method's spec, or the one-line error that lists the methods."""
    specs = installed()
    if name not in specs:
        from distgan.errors import DistganError

        raise DistganError(f"unknown --method {name!r}; choose one of: {', '.join(specs)}")
    return specs[name]


def option_owners() -> dict[str, list[str]]:
    """Every method flag, with the methods that take it."""
    owners: dict[str, list[str]] = {}
    for spec in installed().values():
        for f in spec.option_fields():
            owners.setdefault(f.name, []).append(spec.name)
    return owners
