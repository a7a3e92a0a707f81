"""The link model against hand-computed cases: pure Python, milliseconds."""

from __future__ import annotations

import math

import pytest

from distgan.errors import DistganError
from distgan.network.links import Network, ring_all_reduce
from distgan.network.profiles import Link, parse_profile
from distgan.network.replay import replay

MBIT = 1e6


def links(n: int, up: float = 100 * MBIT, down: float | None = None, latency: float = 0.0) -> list[Link]:
    return [Link(up, down or up, latency)] * n


def delivered_at(net: Network, src: int, dst: int, nbytes: int) -> list[float]:
    times: list[float] = []
    net.transfer(src, dst, nbytes, on_delivered=lambda: times.append(net.now))
    return times


def test_a_lone_transfer_takes_latency_plus_bytes_over_bandwidth():
    net = Network(links(2, 100 * MBIT, latency=0.030))
    times = delivered_at(net, 0, 1, 1_250_000)  # 10 Mbit
    net.run()
    assert times == [pytest.approx(0.030 + 10e6 / 100e6)]


def test_the_slower_of_up_and_down_sets_the_rate():
    net = Network([Link(10 * MBIT, 50 * MBIT, 0.0), Link(10 * MBIT, 50 * MBIT, 0.0)])
    up = delivered_at(net, 0, 1, 1_250_000)
    net.run()
    assert up == [pytest.approx(1.0)]  # 10 Mbit through a 10 Mbit/s up link; the 50 Mbit/s down link is idle


def test_n_flows_share_the_server_up_link():
    N, size = 4, 1_250_000
    net = Network(links(N + 1, 100 * MBIT, latency=0.002))
    times = [delivered_at(net, 0, r, size) for r in range(1, N + 1)]
    net.run()
    for t in times:  # each gets a quarter of the server's 100 Mbit/s
        assert t == [pytest.approx(0.002 + N * 10e6 / 100e6)]


def test_fair_share_gives_a_short_flow_its_share_and_the_long_one_the_rest():
    net = Network(links(3, 100 * MBIT))
    short = delivered_at(net, 0, 1, 125_000)  # 1 Mbit
    long = delivered_at(net, 0, 2, 1_250_000)  # 10 Mbit
    net.run()
    assert short == [pytest.approx(1e6 / 50e6)]  # half the link until it is done
    assert long == [pytest.approx(11e6 / 100e6)]  # then the whole link: 11 Mbit went through in all


def test_a_ring_all_reduce_takes_2_n_minus_1_phases_of_a_chunk_each():
    N, tensor = 4, 4_000_000
    sent = 2 * (N - 1) * tensor // N  # what each rank sends in all, as the transport counts it
    net = Network(links(N, 1000 * MBIT, latency=0.0005))
    done: list[float] = []
    ring_all_reduce(net, list(range(N)), sent, lambda: done.append(net.now))
    net.run()
    chunk_bits = 8 * tensor / N
    assert done == [pytest.approx(2 * (N - 1) * (0.0005 + chunk_bits / 1e9))]


def test_a_swap_moves_both_ways_at_once():
    net = Network(links(2, 100 * MBIT, latency=0.010))
    a = delivered_at(net, 0, 1, 1_250_000)
    b = delivered_at(net, 1, 0, 1_250_000)
    net.run()
    assert a == b == [pytest.approx(0.010 + 0.1)]  # separate up and down links: no sharing


def record(rank: int, step: int, ops: list) -> dict:
    return {"rank": rank, "step": step, "updates": 1, "ops": ops}


def test_replay_a_server_waits_for_all_feedback_then_steps():
    """A server sends X to two workers, each computes 0.5 s and sends back; the server then computes 0.1 s."""
    size = 1_250_000  # 10 Mbit
    server = record(0, 1, [["s", "x", 1, size, 0], ["s", "x", 2, size, 0], ["r", "f", 1, size, 0],
                           ["r", "f", 2, size, 0], ["c", "G step", 0.1]])
    workers = [record(r, 1, [["r", "x", 0, size, 0], ["c", "D", 0.5], ["s", "f", 0, size, 0]]) for r in (1, 2)]
    result = replay([server, *workers], links(3, 100 * MBIT), lambda rec, label, s: s)
    # a blocking send returns once its bytes are in the socket buffer (each worker has posted its receive), so
    # both sends share the server's up link and arrive at 0.2 s; both feedbacks leave at 0.7 s and share its
    # down link, arriving at 0.9 s
    assert result.wall_s == pytest.approx(0.9 + 0.1)
    assert result.step_end_s == {1: pytest.approx(1.0)}
    assert result.link_bytes[0, "up"] == 2 * size and result.link_bytes[0, "down"] == 2 * size


def test_replay_all_reduce_waits_for_the_slowest_rank():
    ops = [[["c", "step", 0.2], ["a", "g", -1, 1_000_000, 0]], [["c", "step", 0.5], ["a", "g", -1, 1_000_000, 0]]]
    result = replay([record(r, 1, o) for r, o in enumerate(ops)], links(2, 80 * MBIT), lambda rec, label, s: s)
    assert result.wall_s == pytest.approx(0.5 + 2 * (8 * 500_000 / 80e6))  # 2 phases of half the bytes each


def test_replay_swap_is_peer_to_peer():
    size = 1_250_000
    ops = {1: [["x", "swap", 2, size, 0, 2]], 2: [["x", "swap", 1, size, 0, 1]]}
    result = replay([record(0, 1, [["c", "idle", 0.0]])] + [record(r, 1, o) for r, o in ops.items()],
                    links(3, 100 * MBIT), lambda rec, label, s: s)
    assert result.link_bytes.get((0, "down"), 0) == 0
    assert result.compute_s[0] == 0


def test_a_swap_with_a_peer_that_swaps_back_goes_one_way_at_a_time():
    """gloo's exchange of two ranks took two one-way times (benchmarks/gloo_duplex.py); a longer cycle overlaps."""
    size = 1_250_000  # 10 Mbit: 0.1 s at 100 Mbit/s
    pair = [record(r, 1, [["x", "swap", 1 - r, size, 0, 1 - r]]) for r in (0, 1)]
    assert replay(pair, links(2, 100 * MBIT), lambda rec, label, s: s).wall_s == pytest.approx(0.2)
    one_way = [record(0, 1, [["r", "swap", 1, size, 0]]), record(1, 1, [["s", "swap", 0, size, 0]])]
    assert replay(one_way, links(2, 100 * MBIT), lambda rec, label, s: s).wall_s == pytest.approx(0.1)
    ring = [record(r, 1, [["x", "swap", (r + 1) % 3, size, 0, (r - 1) % 3]]) for r in range(3)]  # 0->1->2->0
    assert replay(ring, links(3, 100 * MBIT), lambda rec, label, s: s).wall_s == pytest.approx(0.1)



def same_seconds(rec: dict, label: str, seconds: float) -> float:
    return seconds


def test_pushes_exchanged_both_ways_by_a_pair_go_one_at_a_time():
    """gossip-gan at N = 2: each rank isends G and D to the other, then receives the other's. gloo moved the two
    directions one after the other (at 10 Mbit/s an exchange took 0.93-0.98 s against 0.5 s one way), so the replay
    gives the sum of the one-way times; the trace used to be replayed as the max (0.125 s here)."""
    G, D = 1_250_000, 312_500  # 0.1 s and 0.025 s at 100 Mbit/s
    done = ["a", "barrier", -1, 0, 0]  # zero bytes: ends when both ranks have their models
    pair = [record(r, 1, [["i", "G", 1 - r, G, 0], ["i", "D", 1 - r, D, 0], ["r", "G", 1 - r, G, 0],
                          ["r", "D", 1 - r, D, 0], done]) for r in (0, 1)]
    assert replay(pair, links(2, 100 * MBIT), same_seconds).wall_s == pytest.approx(2 * (0.1 + 0.025))
    one_way = [record(0, 1, [["i", "G", 1, G, 0], ["i", "D", 1, D, 0], done]),
               record(1, 1, [["r", "G", 0, G, 0], ["r", "D", 0, D, 0], done])]
    assert replay(one_way, links(2, 100 * MBIT), same_seconds).wall_s == pytest.approx(0.1 + 0.025)
    # two pairs exchanging at once share no pair and no link: each takes its own sum
    two_pairs = [record(r, 1, [["i", "G", r ^ 1, G, 0], ["r", "G", r ^ 1, G, 0], done]) for r in range(4)]
    assert replay(two_pairs, links(4, 100 * MBIT), same_seconds).wall_s == pytest.approx(0.2)


def test_a_blocking_send_returns_once_its_bytes_are_in_the_socket_buffer():
    """async-ps's server sends the params to one worker (a blocking send, traced at 1 ms for 622 KB on a 10 Mbit/s
    link), then receives the other's gradients: the two move at once, on two pairs. The replay used to hold the
    server until the params had left, which projected async-ps 47% long on that link."""
    for size, seconds in ((1_250_000, 0.1), (6_250_000, 2 * 0.5)):  # 6.25 MB is more than the buffer: in turn
        ranks = [record(0, 1, [["s", "params", 1, size, 0], ["r", "grads", 2, size, 0]]),
                 record(1, 1, [["r", "params", 0, size, 0]]), record(2, 1, [["i", "grads", 0, size, 0]])]
        assert replay(ranks, links(3, 100 * MBIT), same_seconds).wall_s == pytest.approx(seconds)


def test_an_md_gan_step_with_its_swap_replays_as_before_pairs_went_one_at_a_time():
    """md-gan at N = 2 (server 0, workers 1 and 2 swapping Ds): the same seconds as before the pair rule, worked by
    hand: X to both workers at once (0-0.2, sharing the server's up link); they compute 0.5 (to 0.7); the swap goes
    1->2 (0.7-0.8) then 2->1 (0.8-0.9); feedback 1->0 (0.9-1.0), then 2->0 (1.0-1.1); the server computes 0.1."""
    size = 1_250_000
    server = record(0, 1, [["s", "x", 1, size, 0], ["s", "x", 2, size, 0], ["r", "f", 1, size, 0],
                           ["r", "f", 2, size, 0], ["c", "G step", 0.1]])
    workers = [record(r, 1, [["r", "x", 0, size, 0], ["c", "D", 0.5], ["x", "swap", 3 - r, size, 0, 3 - r],
                             ["s", "f", 0, size, 0]]) for r in (1, 2)]
    assert replay([server, *workers], links(3, 100 * MBIT), same_seconds).wall_s == pytest.approx(1.2)


def test_a_sync_dp_all_reduce_still_moves_both_ways_at_once():
    """At N = 2 a ring all-reduce sends both ways at once, and gloo's took one line time (gloo_duplex.py: 0.217 s
    against a line time of 0.202 s), so the pair rule leaves it alone: two steps of compute then 1 MB all-reduced
    at 80 Mbit/s, 2 phases of 0.05 s each, not 4."""
    ops = [[["c", "step", 0.2], ["a", "g", -1, 1_000_000, 0], ["c", "step", 0.3], ["a", "g", -1, 1_000_000, 0]],
           [["c", "step", 0.25], ["a", "g", -1, 1_000_000, 0], ["c", "step", 0.3], ["a", "g", -1, 1_000_000, 0]]]
    result = replay([record(r, 1, o) for r, o in enumerate(ops)], links(2, 80 * MBIT), same_seconds)
    assert result.wall_s == pytest.approx(0.25 + 0.1 + 0.3 + 0.1)


@pytest.mark.parametrize("text, up, down, latency", [
    ("wan", 100e6, 100e6, 0.030), ("edge", 10e6, 50e6, 0.060), ("datacenter", 25e9, 25e9, 50e-6),
    ("100mbit,0ms", 100e6, 100e6, 0.0), ("10mbit/50mbit,60ms", 10e6, 50e6, 0.060), ("1gbit,500us", 1e9, 1e9, 5e-4),
])
def test_profiles_parse(text, up, down, latency):
    link = parse_profile(text).link
    assert (link.up_bps, link.down_bps) == (up, down) and math.isclose(link.latency_s, latency)


@pytest.mark.parametrize("text", ["fast", "100mbit", "0mbit,1ms", "100 apples,1ms", "100mbit,soon", ""])
def test_bad_profiles_are_refused_in_one_line(text):
    with pytest.raises(DistganError, match="--network expects"):
        parse_profile(text)
