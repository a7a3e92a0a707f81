"""Compressed messages (`--compress CODEC`): what a counted payload looks like on the wire, and back.

The transport encodes a message just before it leaves and decodes it just after it lands, so every method
gets compression without knowing of it, and the bytes counted, traced and projected are the encoded ones.

| codec | on the wire, for n float32 values | as DDP or the papers do |
|---|---|---|
| fp16, bf16 | 2n bytes: a cast | DDP's fp16_compress_hook / bf16_compress_hook |
| int8 | n bytes + 4 per chunk of 1,024 values (a float32 scale, max abs / 127) | per-chunk quantisation |
| topk:F | 8k bytes, k = ceil(F n): the k largest magnitudes, float32 values and int32 indices | Stich et al. 2018 |

top-k keeps **error feedback**: each sender keeps, per message kind and receiver, what it did not send and adds
it to its next message of that kind (the residuals are saved in the checkpoints). Error feedback needs the same
coordinates in every message, as a model's gradient has; md-gan's feedback is a gradient with respect to a
fresh batch of generated samples each time (payload "sample-gradient"), so what one batch did not send would
be added to another batch's unrelated samples: top-k sends it without error feedback. (With it, seed 0 of
md-gan N = 4 at top-k 0.01 stood at FID 155 after 600 iterations; without it, at 46 and falling.)

top-k applies only to kinds that carry gradients (a method's `payloads`); on weights or samples it would zero
most entries, so it is skipped there, and the run says so once. Payloads under MIN_VALUES values (control
messages, losses) and non-float tensors travel as they are; so do the uncounted bookkeeping messages, and
kinds a method does not list in `payloads` (gossip-gan's push-sum weights, md-gan's swap plans).

Optimizer state (payload "optimizer": md-gan's Adam moments in a swap) travels in float32 under every codec
unless the user asks for bf16 by naming its kind in `--compress-kinds` under `--compress bf16`; naming it under
any other codec is refused. fp16 flushes the small second moments that Adam divides by to 0 (60 md-gan
iterations at N = 4, digits, b = 64: D's largest weight reached 3.1 to 15.9, against 0.35 uncompressed and
0.35 in bf16); int8's linear scale and top-k zero them too (8-bit optimizers use a non-linear map for this
reason, Dettmers et al. 2022). bf16 keeps float32's exponent, so it is the one codec that may carry them. The
opt-in is --compress-kinds rather than a flag of its own because the kinds a run compresses are chosen there
already; the moments are 2|theta| floats a swap, a saving worth having, but only where someone asked for it.

An all-reduce (sync-dp) is compressed as DDP's hooks do for casts: divide by N, all-reduce in fp16 or bf16,
cast back (each rank moves 2(N-1)/N of the half-size tensor). int8 and top-k cannot be summed as they are, so
each rank's encoded tensor is all-gathered, and every rank decodes all N and sums them in rank order (each rank
sends and receives (N-1) encoded tensors). Both are counted as they travel.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import torch
from torch import Tensor

from distgan.errors import DistganError

log = logging.getLogger(__name__)
CHUNK = 1024  # int8: values per scale
SPARSIFIABLE = ("gradient", "sample-gradient")  # the payloads top-k applies to
MIN_VALUES = 256  # smaller payloads (control, losses) are not worth a codec
CODECS = ("none", "fp16", "bf16", "int8", "topk:F")


@dataclass(frozen=True)
class Codec:
    name: str  # fp16 | bf16 | int8 | topk
    fraction: float = 0.0  # topk's F

    @property
    def sparse(self) -> bool:
        return self.name == "topk"

    @property
    def is_cast(self) -> bool:
        return self.name in ("fp16", "bf16")

    def describe(self) -> str:
        return f"topk:{self.fraction:g}" if self.sparse else self.name

    def wire_bytes(self, n: int) -> int:
        """Bytes on the wire for n float32 values."""
        if self.is_cast:
            return 2 * n
        if self.name == "int8":
            return n + 4 * math.ceil(n / CHUNK)
        return 8 * self.kept(n)

    def kept(self, n: int) -> int:
        return max(1, math.ceil(self.fraction * n))

    def encode(self, values: Tensor) -> Tensor:
        """A flat float tensor as uint8 bytes."""
        flat = values.detach().reshape(-1).float()
        if self.is_cast:
            return flat.to(self._dtype()).view(torch.uint8)
        if self.name == "int8":
            padded = torch.nn.functional.pad(flat, (0, (-len(flat)) % CHUNK)).view(-1, CHUNK)
            scale = padded.abs().amax(dim=1) / 127
            scale = torch.where(scale > 0, scale, torch.ones_like(scale))
            q = torch.round(padded / scale[:, None]).clamp(-127, 127).to(torch.int8).reshape(-1)[: len(flat)]
            return torch.cat([scale.view(torch.uint8), q.view(torch.uint8)])
        index = flat.abs().topk(self.kept(len(flat)), sorted=False).indices.sort().values
        return torch.cat([flat[index].view(torch.uint8), index.to(torch.int32).view(torch.uint8)])

    def decode(self, wire: Tensor, n: int) -> Tensor:
        """n float32 values back from `wire`."""
        if self.is_cast:
            return wire.view(self._dtype()).float()
        if self.name == "int8":
            chunks = math.ceil(n / CHUNK)
            scale = wire[: 4 * chunks].view(torch.float32)
            q = torch.nn.functional.pad(wire[4 * chunks:].view(torch.int8).float(), (0, (-n) % CHUNK))
            return (q.view(-1, CHUNK) * scale[:, None]).reshape(-1)[:n]
        k = self.kept(n)
        values, index = wire[: 4 * k].view(torch.float32), wire[4 * k:].view(torch.int32).long()
        return torch.zeros(n, dtype=torch.float32, device=wire.device).index_put_((index,), values)

    def _dtype(self) -> torch.dtype:
        return torch.float16 if self.name == "fp16" else torch.bfloat16


def parse_codec(text: str) -> Codec | None:
    """`none` (None), `fp16`, `bf16`, `int8` or `topk:F` with 0 < F < 1."""
    text = str(text).strip().lower()
    if text in ("", "none"):
        return None
    if text in ("fp16", "bf16", "int8"):
        return Codec(text)
    if text.startswith("topk:"):
        try:
            fraction = float(text.split(":", 1)[1])
        except ValueError:
            fraction = -1.0
        if 0 < fraction < 1:
            return Codec("topk", fraction)
    raise DistganError(f"--compress expects one of {', '.join(CODECS)} (0 < F < 1, e.g. topk:0.01), got {text!r}")


@dataclass
class Compression:
    """One rank's codec, the kinds it applies to, and top-k's error-feedback residuals."""

    codec: Codec
    payloads: dict[str, str]  # kind -> gradient | weights | samples: the kinds that may be encoded
    residuals: dict[str, Tensor] = field(default_factory=dict)  # "kind|peer" -> what was not sent yet
    bf16_state: frozenset[str] = frozenset()  # optimizer-state kinds the user asked to send in bf16
    skipped: set[str] = field(default_factory=set)

    def applies(self, kind: str, tensor: Tensor) -> bool:
        if kind not in self.payloads or not tensor.is_floating_point() or tensor.numel() < MIN_VALUES:
            return False
        payload = self.payloads[kind]
        if payload == "optimizer" and kind not in self.bf16_state:
            return self._skip(kind, "it carries optimizer state, whose small second moments fp16, int8 and top-k "
                                    "zero (and Adam divides by them); --compress bf16 with --compress-kinds "
                                    f"naming {kind} sends it in bf16")
        if self.codec.sparse and payload not in SPARSIFIABLE:
            return self._skip(kind, f"it carries {payload}, which top-k would mostly zero")
        return True

    def _skip(self, kind: str, why: str) -> bool:
        if kind not in self.skipped:
            self.skipped.add(kind)
            log.info("--compress %s is skipped on %s: %s; it travels as float32", self.codec.describe(), kind, why)
        return False

    def encode(self, kind: str, peer: int | str, tensor: Tensor) -> Tensor:
        """The wire bytes of `tensor` to `peer`; with top-k, what is left out is kept for the next message."""
        if not self.codec.sparse:
            return self.codec.encode(tensor)
        flat = tensor.detach().reshape(-1).float()
        if self.payloads[kind] == "sample-gradient":  # a fresh batch each message: nothing to carry over
            return self.codec.encode(flat)
        key = f"{kind}|{peer}"
        carried = self.residuals.get(key)
        if carried is not None and carried.shape == flat.shape:
            flat = flat + carried
        wire = self.codec.encode(flat)
        self.residuals[key] = flat - self.codec.decode(wire, len(flat))
        return wire

    def buffer(self, tensor: Tensor) -> Tensor:
        """An empty wire buffer for a message that decodes into `tensor`."""
        return torch.empty(self.codec.wire_bytes(tensor.numel()), dtype=torch.uint8, device=tensor.device)

    def decode_into(self, wire: Tensor, tensor: Tensor) -> None:
        tensor.copy_(self.codec.decode(wire, tensor.numel()).view_as(tensor).to(tensor.dtype))

    def state(self) -> dict[str, Tensor]:
        return {k: v.clone() for k, v in self.residuals.items()}

    def load(self, state: dict[str, Tensor] | None) -> None:
        self.residuals = {k: v.clone() for k, v in (state or {}).items()}


def compression_for(config) -> Compression | None:
    """The run's compression, or None (`--compress none`)."""
    codec = parse_codec(config.compress)
    if codec is None:
        return None
    payloads = dict(config.spec.payloads)
    if not config.compress_kinds:
        return Compression(codec, payloads)
    wanted = [k.strip() for k in config.compress_kinds.split(",") if k.strip()]
    unknown = [k for k in wanted if k not in payloads]
    if unknown:
        raise DistganError(f"--compress-kinds {','.join(unknown)}: {config.method} compresses only "
                           f"{', '.join(payloads) or 'nothing'}")
    state = [k for k in wanted if payloads[k] == "optimizer"]
    if state and codec.name != "bf16":
        raise DistganError(f"--compress-kinds {','.join(state)}: optimizer state travels in float32, or in bf16 "
                           f"when asked for with --compress bf16; {codec.describe()} would zero Adam's small "
                           "second moments. Leave it out of --compress-kinds, or use --compress bf16")
    return Compression(codec, {k: payloads[k] for k in wanted}, bf16_state=frozenset(state))
