"""Preset studies: the default study, and comparisons scaled down from papers, each with its stated differences
from the paper it follows."""

from __future__ import annotations

from typing import Any

from distgan.errors import DistganError
from distgan.methods import REGISTRY
from distgan.study import DEFAULT_EVAL_EVERY, DEFAULT_FIRST_SEED, DEFAULT_TARGET, Study
from distgan.transport.codecs import SPARSIFIABLE

# The MD-GAN paper's comparison (Hardy et al. 2019) scaled to a 2-core machine: workers use b=10 as in the paper,
# and every cell gets PAPER_STEPS generator updates. The preset's notes (mdgan_paper) list every difference from
# the paper: an unconditional GAN, not its ACGAN; 8x8 digits, not MNIST; N up to 10, not its 1, 10, 25 and 50;
# a far smaller budget. On mnist5k the DCGAN pair is still at 26 to 39x its FID floor after 1,000 updates at
# b=10, and a budget where it flattens would take days here. On digits standalone b=10 has flattened by 12,000
# updates (mean FID of 3 seeds 3.9 at 10,000, 3.6 at 12,000, 3.5 at 15,000, 3.3 at 20,000; docs/results.md).
# Its cells run on the simulated transport: 11 processes would oversubscribe 2 cores, and simulated ranks compute
# in turns, with the same numbers as processes for fl-gan and md-gan. Three paired seeds, as every published
# comparison has; the study resumes and runs in parts (--cells).
PAPER_STEPS = 12000
PAPER_WORKERS = (1, 2, 4, 8, 10)
PAPER_SEEDS = 3


def with_changes(study: Study, changes: dict[str, Any]) -> Study:
    """`study` with each named field set to its given value (a preset's flags on top of its defaults)."""
    for name, value in changes.items():
        setattr(study, name, value)
    return study


def default_study(**changes: Any) -> Study:
    """`distgan compare` with no flags: the study the README's main job runs."""
    study = Study(target=DEFAULT_TARGET, eval_every=DEFAULT_EVAL_EVERY, first_seed=DEFAULT_FIRST_SEED, notes=[
        f"The default study starts at seed {DEFAULT_FIRST_SEED} (--first-seed): seeds 0-4 (studies/demo-default) "
        "chose the pick rule's endpoint and margins, so the main job decides on seeds that played no part in "
        "choosing them.",
        "Default study: fe-gan is left out, since with iid shards and every worker selected each round it trains "
        "as fl-gan does (balanced sampling selects every device, and its KL weights are near uniform); compare "
        "them on non-iid data (--partition dirichlet:0.3 --methods fl-gan,fe-gan).",
        f"Target FID <= {DEFAULT_TARGET:g} on digits (about 10x the real-vs-real floor): the budget reaches it on "
        "every seed of every method here, so time to target can be compared on every network profile."])
    return with_changes(study, changes)


def mdgan_paper(**changes: Any) -> Study:
    """The MD-GAN paper's comparison on digits (the paper: MNIST): standalone b=10 and b=100, FL-GAN E=1,
    MD-GAN k=1 and k=log."""
    md_gan_options = REGISTRY["md-gan"].options(k="log")
    log_k_workers = [n for n in PAPER_WORKERS if md_gan_options.resolved_k(n) > 1]
    study = Study(
        methods=["standalone b=10", "standalone b=100", "fl-gan E=1", "md-gan k=1", "md-gan k=log"],
        workers=list(PAPER_WORKERS), dataset="digits", partition="iid", steps=PAPER_STEPS, batch_size=10,
        seeds=PAPER_SEEDS, backend="sim", out="runs/mdgan-paper", eval_every=PAPER_STEPS // 12,
        overrides={"standalone b=100": {"batch_size": 100}, "fl-gan E=1": {"local_epochs": 1.0},
                   "md-gan k=1": {"k": "1"}, "md-gan k=log": {"k": "log", "workers": log_k_workers}},
        notes=[
            "MD-GAN paper preset: every worker uses b=10, as in the paper. Where it differs from the paper:",
            "model: the paper trains an ACGAN (a class-conditional G, and a D that also classifies); distgan trains "
            "an unconditional GAN (the same DCGAN-style pair for every method).",
            "data: scikit-learn's 8x8 digits stand in for the paper's MNIST, whose DCGAN pair does not converge "
            "within a CPU budget.",
            f"workers: N in {', '.join(map(str, PAPER_WORKERS))}; the paper's N are 1, 10, 25 and 50.",
            f"budget: {PAPER_STEPS} generator updates per cell, far fewer than the paper ran; by then standalone "
            "b=10 has flattened on digits.",
            "transport: simulated (ranks compute in turns, so wall time is the sum of every rank's compute); "
            "FID and bytes are what processes give.",
            "md-gan k=log runs only where ceil(log2 N) > 1, since below that it is the k=1 cell."],
    )
    return with_changes(study, changes)


STRAGGLER_FACTORS = (1, 4, 16)


def stragglers(**changes: Any) -> Study:
    """Each server method's tolerance of one straggler: worker rank 2 made 1, 4 and 16 times slower."""
    labels = {f"{m} x{f}": f for m in ("fl-gan", "md-gan", "async-ps") for f in STRAGGLER_FACTORS}
    study = Study(methods=list(labels), workers=[3], dataset="digits", steps=300, out="runs/stragglers",
                  backend="process", seeds=3, jobs=1,  # its figure is measured wall time: one cell at a time
                  overrides={label: {"slow": [f"2:{f}"]} if f > 1 else {} for label, f in labels.items()},
                  notes=["Stragglers preset: rank 2 computes FACTOR times slower (--slow 2:FACTOR); the report "
                         "plots the wall time to the target against the factor."])
    return with_changes(study, changes)


# The privacy study (distgan/privacy.py): quality at each epsilon, per method, on the same seeds.
PRIVACY_EPSILONS = (0.0, 10.0, 3.0, 1.0)  # 0: no privacy (epsilon = infinity)
PRIVACY_METHODS = ("standalone", "fl-gan", "md-gan", "fe-gan")
PRIVACY_STEPS = 1000
PRIVACY_WORKERS = 4


def privacy_label(method: str, epsilon: float) -> str:
    return f"{method} eps={'inf' if not epsilon else f'{epsilon:g}'}"


def privacy(**changes: Any) -> Study:
    """Standalone, fl-gan, md-gan and fe-gan at epsilon = infinity, 10, 3 and 1 per worker, N = 4, on digits."""
    labels = {privacy_label(m, e): e for m in PRIVACY_METHODS for e in PRIVACY_EPSILONS}
    study = Study(methods=list(labels), workers=[PRIVACY_WORKERS], dataset="digits", steps=PRIVACY_STEPS, seeds=3,
                  backend="sim", out="runs/privacy", eval_every=PRIVACY_STEPS // 20, target=DEFAULT_TARGET,
                  reference=privacy_label("standalone", 0.0),
                  overrides={label: ({"dp_epsilon": e} if e else {}) for label, e in labels.items()},
                  notes=["Privacy preset: every worker's records get (epsilon, 1/(10 m))-DP by DP-SGD on its D, "
                         "batches Poisson-sampled, add/remove adjacency (clip C = 1; distgan/privacy.py); eps=inf "
                         "trains without privacy. Standalone is one worker "
                         "holding all the data, so its epsilon covers 4 times as many records at the same b.",
                         f"budget: {PRIVACY_STEPS} generator updates; the non-private runs are still improving "
                         "there (docs/results.md says how far), so this is quality at a fixed budget, not at "
                         "convergence."])
    return with_changes(study, changes)


# The compression study (distgan/transport/codecs.py): quality against bytes and projected time, per codec.
COMPRESSION_METHODS = ("sync-dp", "fl-gan", "md-gan", "fe-gan")
COMPRESSION_CODECS = ("none", "fp16", "int8", "topk:0.01")
COMPRESSION_STEPS = 1000
COMPRESSION_WORKERS = 4


def compression(**changes: Any) -> Study:
    """sync-dp, fl-gan, md-gan and fe-gan with each codec (top-k only where a method sends gradients), N = 4."""
    labels = {f"{m} {c}": c for m in COMPRESSION_METHODS for c in COMPRESSION_CODECS
              if c != "topk:0.01" or set(SPARSIFIABLE) & set(REGISTRY[m].payloads.values())}
    study = Study(methods=list(labels), workers=[COMPRESSION_WORKERS], dataset="digits", steps=COMPRESSION_STEPS,
                  seeds=3, backend="sim", out="runs/compression", eval_every=COMPRESSION_STEPS // 20,
                  target=DEFAULT_TARGET, reference="sync-dp none", network="wan,edge",
                  overrides={label: ({"compress": c} if c != "none" else {}) for label, c in labels.items()},
                  notes=["Compression preset: every counted message of each method encoded by the codec "
                         "(fp16: a cast; int8: per chunk of 1,024 values; topk:0.01 only on gradient messages: "
                         "sync-dp's gradients, with error feedback, and md-gan's feedback, without: each of its "
                         "messages is about a fresh batch); bytes are the encoded "
                         "ones. fl-gan and fe-gan send weights, which top-k would mostly zero: they have no "
                         "top-k cell.",
                         f"budget: {COMPRESSION_STEPS} generator updates, quality at a fixed budget."])
    return with_changes(study, changes)


# The gossip study (distgan/methods/gossip_gan.py): the position paper's claims, on digits, at N = 4 and 8.
GOSSIP_METHODS = ("gossip-gan joint", "gossip-gan independent", "fl-gan", "md-gan")
GOSSIP_STEPS = 1000
GOSSIP_WORKERS = (4, 8)


def gossip(**changes: Any) -> Study:
    """Gossiping GANs, both variants, against fl-gan and md-gan at N = 4 and 8; run it once per partition
    (--partition iid, then dirichlet:0.1 with its own --out)."""
    study = Study(methods=list(GOSSIP_METHODS), workers=list(GOSSIP_WORKERS), dataset="digits",
                  steps=GOSSIP_STEPS, seeds=3, backend="sim", out="runs/gossip", eval_every=GOSSIP_STEPS // 20,
                  target=DEFAULT_TARGET, reference="fl-gan", network="wan,edge",
                  overrides={"gossip-gan joint": {"gossip_variant": "joint"},
                             "gossip-gan independent": {"gossip_variant": "independent"}},
                  notes=["Gossip preset: the position paper (Hardy, Le Merrer, Sericola 2018) compares gossip with "
                         "federated learning on MNIST with up to 100 emulated machines; here digits, N = 4 and 8, "
                         "gossip every 10 local steps (the paper's p = 0.1), each worker's batch b = 64.",
                         f"budget: {GOSSIP_STEPS} generator updates, where fl-gan has flattened on iid digits at "
                         "N = 4 (the compression study's fl-gan none: FID 11 to 16 from 660 updates on)."])
    return with_changes(study, changes)


PRESETS = {"mdgan-paper": mdgan_paper, "stragglers": stragglers, "privacy": privacy, "compression": compression,
           "gossip": gossip}


def preset(name: str, **changes: Any) -> Study:
    """The named preset study, with `changes` applied on top."""
    if name not in PRESETS:
        raise DistganError(f"unknown --preset {name!r}; choose one of: {', '.join(PRESETS)}")
    return PRESETS[name](**changes)
