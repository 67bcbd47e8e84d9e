"""Rotation copies laid out in one slab per input (investigated layout) against the
allocator's blocks (the default)."""

import pytest
import torch

from fibench.measure.coldl2 import ColdL2Plan
from fibench.measure.rotation import SLAB_ALIGN, RotationSet
from fibench.suites.base import Launch


def _plan(copies: int) -> ColdL2Plan:
    return ColdL2Plan(requested="rotate", method="rotate", cold=True, copies=copies, calls_per_graph=copies,
                      restore=False, flush_bytes=0)


def _launch() -> Launch:
    reads = {"x": torch.arange(6, dtype=torch.bfloat16).reshape(2, 3),   # 12 bytes: padded to 256
             "w": torch.arange(200, dtype=torch.float32),                  # 800 bytes: padded to 1024
             "t": torch.arange(12, dtype=torch.float32).reshape(3, 4).t()}  # non-contiguous: cloned
    return Launch(reads, lambda s: (lambda: {"out": s["x"].float().sum() + s["w"].sum()}))


def test_slab_copies_hold_the_same_values_at_aligned_ordered_offsets():
    launch = _launch()
    rs = RotationSet(launch, _plan(4), torch.device("cpu"), layout="slab")
    assert len(rs.sets) == 4 and rs.sets[0]["x"] is launch.reads["x"]  # copy 0 is the original
    for name in ("x", "w", "t"):
        for s in rs.sets[1:]:
            assert torch.equal(s[name], launch.reads[name]) and s[name].shape == launch.reads[name].shape
            assert s[name].dtype == launch.reads[name].dtype
    x_ptrs = [s["x"].data_ptr() for s in rs.sets[1:]]
    w_ptrs = [s["w"].data_ptr() for s in rs.sets[1:]]
    assert [b - a for a, b in zip(x_ptrs, x_ptrs[1:])] == [SLAB_ALIGN, SLAB_ALIGN]      # 12 bytes -> 256
    assert [b - a for a, b in zip(w_ptrs, w_ptrs[1:])] == [4 * SLAB_ALIGN, 4 * SLAB_ALIGN]  # 800 -> 1024
    assert all(p % SLAB_ALIGN == x_ptrs[0] % SLAB_ALIGN for p in x_ptrs)
    # one storage per input name; the non-contiguous input keeps its own clones
    assert len({s["x"].untyped_storage().data_ptr() for s in rs.sets[1:]}) == 1
    assert len({s["t"].untyped_storage().data_ptr() for s in rs.sets[1:]}) == 3
    # writing one copy leaves the others alone
    rs.sets[1]["w"].zero_()
    assert torch.equal(rs.sets[2]["w"], launch.reads["w"])


def test_the_default_layout_clones_each_tensor_and_bad_layouts_are_refused():
    launch = _launch()
    rs = RotationSet(launch, _plan(3), torch.device("cpu"))
    assert len({s["x"].untyped_storage().data_ptr() for s in rs.sets}) == 3
    assert float(rs.calls[2]()["out"]) == float(launch.bind(launch.reads)()["out"])
    with pytest.raises(ValueError, match="layout must be one of alloc, slab"):
        RotationSet(launch, _plan(2), torch.device("cpu"), layout="nope")
