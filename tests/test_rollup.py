"""Kernel maps, trace segmentation and rollup arithmetic on synthetic traces."""

import pytest

from fibench.errors import KernelMapError
from fibench.trace.kernel_map import load_map, parse_map
from fibench.trace.profiling import MARKER, KernelRecord, KernelTrace, RawEvent, TraceError, segment
from fibench.trace.rollup import UNMAPPED, rollup

MAP = {
    "phases": ["permute", "gemm1", "activation", "gemm2", "memset"],
    "backend": {"b": [
        {"op": "permute", "phase": "permute", "match": ["expandInputRows"]},
        {"op": "gemm1", "phase": "gemm1", "match": "GemmKernel", "nth": 1},
        {"op": "act", "phase": "activation", "match": ["doGatedActivation"]},
        {"op": "gemm2", "phase": "gemm2", "match": "GemmKernel", "nth": 2},
        {"op": "memset", "phase": "memset", "match": ["^Memset"]},
    ]},
}


def k(name, start, dur, stream=7):
    return KernelRecord(name, start, dur, stream)


def call(extra_gap=0.0):
    return [k("Memset (Device)", 0.0, 1.0), k("expandInputRowsKernel", 2.0, 3.0),
            k("GemmKernel<A>", 5.0 + extra_gap, 10.0), k("doGatedActivationKernel", 15.0 + extra_gap, 2.0),
            k("GemmKernel<A>", 17.0 + extra_gap, 8.0), k("mystery", 25.0 + extra_gap, 1.0)]


def test_nth_rule_separates_same_kernel_template():
    kmap = parse_map("t", MAP)
    ops = [r.op if r else None for r in kmap.classify("b", [x.name for x in call()])]
    assert ops == ["memset", "permute", "gemm1", "act", "gemm2", None]


def test_rollup_arithmetic_adds_up():
    trace = KernelTrace([call(), call(extra_gap=4.0)])  # second call has a 4 us gap
    r = rollup(trace, parse_map("t", MAP), "b")
    by = {o.op: o for o in r.ops if o.op != UNMAPPED}
    assert by["gemm1"].mean_us == 10.0 and by["gemm2"].mean_us == 8.0
    assert r.kernel_sum_us == 25.0  # 1 + 3 + 10 + 2 + 8 + 1
    assert sum(o.mean_us for o in r.ops) == pytest.approx(r.kernel_sum_us)
    assert r.phases == {"permute": 3.0, "gemm1": 10.0, "activation": 2.0, "gemm2": 8.0, "memset": 1.0,
                        UNMAPPED: 1.0}
    assert r.span_us == pytest.approx((26.0 + 30.0) / 2)  # span includes the gap
    assert r.unmapped_us == 1.0 and r.calls == 2 and r.streams == 1
    assert by["gemm1"].share == pytest.approx(10 / 25)


def test_ambiguous_kernel_is_an_error_naming_both_ops():
    data = {"phases": ["x"], "backend": {"b": [
        {"op": "one", "phase": "x", "match": "Gemm"}, {"op": "two", "phase": "x", "match": "Kernel"}]}}
    with pytest.raises(KernelMapError, match="one, two"):
        parse_map("t", data).classify("b", ["GemmKernel"])


@pytest.mark.parametrize("data, msg", [
    ({"backend": {}}, "phases"),
    ({"phases": ["x"], "backend": {"b": [{"op": "o", "phase": "y", "match": "a"}]}}, "not in phases"),
    ({"phases": ["x"], "backend": {"b": [{"op": "o", "phase": "x", "match": "("}]}}, "bad regex"),
    ({"phases": ["x"], "backend": {"b": [{"op": "o", "phase": "x"}]}}, "exactly one of"),
    ({"phases": ["x"], "backend": {"b": [{"op": "o", "phase": "x", "match": "a", "range": "r"}]}}, "exactly one of"),
    ({"phases": ["x"], "backend": {"b": [{"phase": "x", "match": "a"}]}}, "missing key"),
    ({"phases": ["x"], "backend": {"b": [{"op": "o", "phase": "x", "match": "a", "nth": 0}]}}, "nth"),
])
def test_map_errors(data, msg):
    with pytest.raises(KernelMapError, match=msg):
        parse_map("t", data)


def test_packaged_maps_load():
    for suite in ("moe", "norm"):
        assert load_map(suite).phases


def test_flashinfer_norm_map_tells_fused_from_plain():
    kmap = load_map("norm")
    plain, fused = kmap.classify("flashinfer", [
        "void flashinfer::norm::RMSNormKernel<8u, __nv_bfloat16>(...)",
        "void flashinfer::norm::FusedAddRMSNormKernel<8u, __nv_bfloat16>(...)"])
    assert plain.op == "rmsnorm" and fused.op == "fused_add_rmsnorm"


def ev(name, start, dur, device=True, stream=7):
    return RawEvent(name, device, start, dur, stream)


def test_segment_assigns_activities_to_call_windows_and_drops_flushes():
    events = [
        ev("flush", 0, 50),                      # before call 0: outside every window
        ev(f"{MARKER}0", 100, 400, device=False),
        ev("A", 150, 100), ev("B", 260, 100),
        ev(f"{MARKER}0", 120, 10),               # GPU-side copy of the annotation: ignored
        RawEvent("fibench.op:permute", True, 150, 200, 7, kind="gpu_user_annotation"),  # ditto
        ev("flush", 600, 50),
        ev(f"{MARKER}1", 700, 400, device=False),
        ev("A", 750, 110),
        ev("cpu op", 760, 5, device=False),
    ]
    trace = segment(events, 2)
    assert [x.name for x in trace.calls[0]] == ["A", "B"]
    assert [x.name for x in trace.calls[1]] == ["A"]
    assert trace.calls[0][1].start_us == pytest.approx(0.11)  # relative to the call's first activity
    assert trace.kernel_sum_us(0) == pytest.approx(0.2) and trace.span_us(0) == pytest.approx(0.21)


def test_range_rules_attribute_generic_kernels_by_launching_step():
    data = {"phases": ["act", "fin"], "backend": {"b": [
        {"op": "activation", "phase": "act", "range": "activation"},
        {"op": "finalize", "phase": "fin", "range": "finalize"}]}}
    kmap = parse_map("t", data)
    rules = kmap.classify("b", ["MulFunctor", "MulFunctor", "MulFunctor"], ["activation", "finalize", ""])
    assert [r.op if r else None for r in rules] == ["activation", "finalize", None]


def test_segment_links_kernels_to_the_innermost_op_range_via_correlation():
    events = [
        ev(f"{MARKER}0", 0, 1000, device=False),
        ev("fibench.op:moe", 10, 900, device=False),          # outer range
        ev("fibench.op:activation", 100, 50, device=False),   # inner range
        RawEvent("cudaLaunchKernel", False, 120, 5, 0, corr=42),   # launched inside activation
        RawEvent("cudaLaunchKernel", False, 300, 5, 0, corr=43),   # inside moe only
        RawEvent("cudaMemsetAsync", False, 950, 5, 0, corr=44),    # outside any op range
        RawEvent("aten::mul", False, 120, 5, 0, corr=45),          # an op, not a launch API: ignored
        RawEvent("MulFunctor", True, 400, 10, 7, corr=42),
        RawEvent("CopyKernel", True, 420, 10, 7, corr=43),
        RawEvent("Memset (Device)", True, 960, 1, 7, corr=44),
        RawEvent("Orphan", True, 970, 1, 7, corr=45),
    ]
    (call,) = segment(events, 1).calls
    assert [(k.name, k.op_range) for k in call] == [
        ("MulFunctor", "activation"), ("CopyKernel", "moe"), ("Memset (Device)", ""), ("Orphan", "")]


def test_segment_errors():
    with pytest.raises(TraceError, match="missing"):
        segment([ev(f"{MARKER}0", 0, 10, device=False)], 2)
    with pytest.raises(TraceError, match="no GPU activity"):
        segment([ev(f"{MARKER}0", 0, 10, device=False)], 1)


class _OldKinetoEvent:
    """A torch < 2.12 kineto event: no activity_type()."""

    def __init__(self, name):
        self._name = name

    def name(self):
        return self._name


def test_activity_kind_fallback_for_older_torch():
    from fibench.trace.profiling import _kind

    assert _kind(_OldKinetoEvent("fibench.op:gemm1"), device=True) == "gpu_user_annotation"
    assert _kind(_OldKinetoEvent("GemmKernel"), device=True) == ""
    assert _kind(_OldKinetoEvent("fibench.op:gemm1"), device=False) == ""
    # torch.distributed's per-collective range on the GPU timeline (H200, torch 2.11: it
    # doubled the kernel-sum of every NCCL row), never the NCCL kernel itself
    assert _kind(_OldKinetoEvent("nccl:all_reduce"), device=True) == "gpu_user_annotation"
    assert _kind(_OldKinetoEvent("ncclDevKernel_AllReduce_Sum_bf16_RING_LL(ncclDevKernelArgsStorage<4096ul>)"),
                 device=True) == ""


class _FlaggedKinetoEvent(_OldKinetoEvent):
    """A torch 2.x kineto event with is_user_annotation() but no activity_type()."""

    def __init__(self, name, flagged):
        super().__init__(name)
        self._flagged = flagged

    def is_user_annotation(self):
        return self._flagged


def test_activity_kind_uses_is_user_annotation_where_torch_has_it():
    from fibench.trace.profiling import _kind

    assert _kind(_FlaggedKinetoEvent("my_model.layer3", True), device=True) == "gpu_user_annotation"
    assert _kind(_FlaggedKinetoEvent("GemmKernel", False), device=True) == ""


def test_reroll_drops_collective_ranges_an_older_trace_recorded_as_kernels(tmp_path):
    from fibench.trace.reroll import traces_from_csv

    csv = tmp_path / "kernels.csv"
    csv.write_text("case_id,backend,call,index,name,op,phase,op_range,stream,start_us,dur_us\n"
                   "allreduce/16,nccl,0,0,ncclDevKernel_AllReduce_Sum_bf16_RING_LL,allreduce,allreduce,,7,0.0,6.976\n"
                   "allreduce/16,nccl,0,1,nccl:all_reduce,unmapped,unmapped,,7,0.0,6.976\n")
    trace = traces_from_csv(csv)[("allreduce/16", "nccl")]
    assert [k.name for k in trace.calls[0]] == ["ncclDevKernel_AllReduce_Sum_bf16_RING_LL"]


def test_cutlass_moe_map_on_real_h200_traces():
    """Kernel names traced on H200 (fibench run moe, flashinfer 0.6.13): every kernel is
    mapped, none ambiguous, and each call has exactly one gemm1 and one gemm2 whatever
    tactic the autotuner chose."""
    import json
    from pathlib import Path

    data = json.loads((Path(__file__).parent / "data" / "cutlass_moe_kernels_h200.json").read_text())
    kmap = load_map("moe")
    for case, names in data["calls"].items():
        ops = [r.op if r else None for r in kmap.classify("flashinfer-cutlass", names)]
        assert None not in ops, (case, [n[:60] for n, o in zip(names, ops) if o is None])
        assert ops.count("gemm1") == 1 and ops.count("gemm2") == 1, (case, ops)
        assert ops.index("gemm1") < ops.index("gemm2")
    small = [r.op for r in kmap.classify("flashinfer-cutlass", data["calls"]["moe/1"])]
    assert small == ["expert_maps", "expand_rows", "gemm_setup", "gemm1", "memset", "gemm2"]
    large = [r.op for r in kmap.classify("flashinfer-cutlass", data["calls"]["moe/1024"])]
    assert large == ["expert_maps", "expert_maps", "expert_maps", "expand_rows", "gemm_setup", "gemm1",
                     "activation", "gemm2", "finalize"]
