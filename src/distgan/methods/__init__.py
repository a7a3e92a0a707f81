"""One file per distributed training method, each written once against the Transport interface.

Adding a method is its file, its tests and one line in REGISTRY below. The registry is installed into
`distgan.method_spec`, where the config reads it without importing any method's code.
"""

from __future__ import annotations

from distgan.method_spec import MethodSpec, install, option_owners, spec_of
from distgan.methods import fe_gan, fl_gan, gossip_gan, md_gan, param_server, standalone, sync_dp

REGISTRY: dict[str, MethodSpec] = {spec.name: spec for spec in (
    standalone.SPEC,
    sync_dp.SPEC,
    param_server.SPEC,
    fl_gan.SPEC,
    md_gan.SPEC,
    fe_gan.SPEC,
    gossip_gan.SPEC,
)}
install(REGISTRY)


def method_spec(name: str) -> MethodSpec:
    """The named method's spec, or a one-line error listing the methods."""
    return spec_of(name)


__all__ = ["REGISTRY", "method_spec", "option_owners"]
