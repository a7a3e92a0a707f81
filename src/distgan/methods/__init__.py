"""One file per distributed training method, each written once against the Transport interface.

Adding a method is its file, its tests and one line in REGISTRY below.
"""

from __future__ import annotations

from distgan.errors import DistganError
from distgan.methods import fe_gan, fl_gan, md_gan, param_server, standalone, sync_dp
from distgan.methods.registry import MethodSpec

REGISTRY: dict[str, MethodSpec] = {spec.name: spec for spec in (
    standalone.SPEC,
    sync_dp.SPEC,
    param_server.SPEC,
    fl_gan.SPEC,
    md_gan.SPEC,
    fe_gan.SPEC,
)}


def method_spec(name: str) -> MethodSpec:
    if name not in REGISTRY:
        raise DistganError(f"unknown --method {name!r}; choose one of: {', '.join(REGISTRY)}")
    return REGISTRY[name]


def option_owners() -> dict[str, list[str]]:
    """Every method flag, with the methods that take it."""
    owners: dict[str, list[str]] = {}
    for spec in REGISTRY.values():
        for f in spec.option_fields():
            owners.setdefault(f.name, []).append(spec.name)
    return owners
