"""Cold-L2 rotation sizing and plan selection, hand-computed."""

import math

import pytest

from fibench.measure.coldl2 import FACTOR, plan_cold_l2, rotation_copies

MiB = 1 << 20
GiB = 1 << 30
L2 = 50 * MiB  # H100


def test_rotation_copies_formula():
    # 1 MiB per call: ceil(5 * 50 MiB / 1 MiB) + 1 = 251
    assert rotation_copies(1 * MiB, L2) == 251
    # 100 MiB per call: ceil(250 / 100) + 1 = 4
    assert rotation_copies(100 * MiB, L2) == 4
    # exactly 5x L2 is already self-evicting
    assert rotation_copies(FACTOR * L2, L2) == 1
    assert rotation_copies(FACTOR * L2 - 1, L2) == 3  # ceil(1.0000001) + 1


def test_copies_times_traffic_reaches_factor_between_uses():
    for traffic in (4096, 3 * MiB, 77 * MiB, 240 * MiB):
        n = rotation_copies(traffic, L2)
        assert (n - 1) * traffic >= FACTOR * L2


def plan(requested="rotate", graph=True, traffic=1 * MiB, set_bytes=1 * MiB, free=60 * GiB, mutates=False):
    return plan_cold_l2(requested, graph=graph, l2_bytes=L2, traffic_bytes=traffic,
                        set_bytes=set_bytes, free_bytes=free, mutates=mutates)


def test_graph_walks_every_copy():
    p = plan(traffic=100 * MiB, set_bytes=100 * MiB)  # 4 copies
    assert p.method == "rotate" and p.cold and p.copies == 4
    assert p.calls_per_graph >= p.copies and p.calls_per_graph % p.copies == 0
    assert p.calls_per_graph == 12  # smallest multiple of 4 that is >= 10
    assert p.flush_bytes == 0 and not p.restore


def test_many_copies_make_k_equal_copies():
    p = plan(traffic=1 * MiB, set_bytes=1 * MiB)
    assert p.copies == 251 and p.calls_per_graph == 251


def test_self_evicting_needs_no_copies():
    p = plan(traffic=6 * L2, set_bytes=20 * GiB)
    assert p.method == "self-evicting" and p.cold and p.copies == 1 and p.calls_per_graph == 10


def test_too_many_copies_falls_back_to_flush_and_says_why():
    p = plan(traffic=4096, set_bytes=4096)  # needs 64001 copies > 32768 calls per graph
    assert p.method == "flush" and p.cold and p.calls_per_graph == 10 and p.per_call
    assert p.flush_bytes == FACTOR * L2
    assert "64001 copies" in p.note


def test_one_row_rmsnorm_still_rotates():
    p = plan(traffic=16 * 1024, set_bytes=16 * 1024)  # 16001 copies fit in one graph
    assert p.method == "rotate" and p.copies == p.calls_per_graph == 16001 and not p.per_call


def test_copies_that_do_not_fit_memory_flush():
    # 200 MiB traffic -> 3 copies of a 30 GiB weight set = 90 GiB > half of 60 GiB free
    p = plan(traffic=200 * MiB, set_bytes=30 * GiB, free=60 * GiB)
    assert p.method == "flush" and "GiB" in p.note


def test_off_is_never_cold():
    p = plan("off")
    assert p.method == "off" and not p.cold and p.flush_bytes == 0 and p.calls_per_graph == 10


def test_in_place_kernel_rotates_restores_and_flushes_between_replays():
    p = plan(traffic=100 * MiB, set_bytes=100 * MiB, mutates=True)  # 4 copies needed, at least 10 used
    assert p.method == "rotate" and p.cold and p.restore and not p.per_call
    assert p.copies == p.calls_per_graph == 10  # one call per copy per replay
    assert p.flush_bytes == FACTOR * L2  # the restore writes into L2; the flush makes it cold again
    big = plan(traffic=1 * MiB, set_bytes=1 * MiB, mutates=True)
    assert big.copies == big.calls_per_graph == 251


def test_in_place_kernel_without_room_flushes_per_call():
    p = plan(traffic=100 * MiB, set_bytes=5 * GiB, free=60 * GiB, mutates=True)  # 10 x 5 GiB > 30 GiB
    assert p.method == "flush" and p.per_call and p.restore and p.copies == 1
    assert "GiB" in p.note


def test_warm_in_place_kernel_restores_without_flush():
    off = plan("off", mutates=True)
    assert off.restore and off.flush_bytes == 0 and not off.cold
    assert off.copies == off.calls_per_graph == 10 and not off.per_call


def test_flush_request_is_per_call():
    p = plan("flush")
    assert p.per_call and p.flush_bytes == FACTOR * L2 and p.calls_per_graph == 10


def test_plain_rotation_times_whole_replays():
    assert not plan(traffic=100 * MiB, set_bytes=100 * MiB).per_call
    assert not plan("off").per_call


def test_no_graph_mode_flushes_each_call():
    p = plan(graph=False)
    assert p.method == "flush" and p.calls_per_graph == 1 and "no-graph" in p.note


def test_unknown_mode_raises():
    with pytest.raises(ValueError):
        plan("lukewarm")


def test_memory_math_is_per_copy():
    p = plan(traffic=10 * MiB, set_bytes=1 * GiB, free=100 * GiB)
    assert p.copies == math.ceil(250 / 10) + 1 == 26
    assert p.method == "rotate"  # 26 GiB <= 50 GiB budget
