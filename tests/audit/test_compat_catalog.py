"""The probe catalog: every entry resolvable, selection by name/family, and which
probes apply on which compute capability (mirroring FlashInfer's own gates)."""

from __future__ import annotations

import inspect

import pytest

from fibench.audit.compat import arch
from fibench.audit.compat.audit import decide_locally
from fibench.audit.compat.catalog import FAMILY_ORDER, PROBES, get_probe, select
from fibench.audit.compat.model import Status
from fibench.audit.compat.probe import resolve
from fibench.env import EnvSnapshot
from fibench.errors import UsageError


def test_names_unique_and_families_known():
    names = [p.name for p in PROBES]
    assert len(names) == len(set(names))
    assert {p.family for p in PROBES} == set(FAMILY_ORDER)


@pytest.mark.parametrize("probe", PROBES, ids=lambda p: p.name)
def test_call_and_module_functions_accept_the_probe_kwargs(probe):
    call = resolve(probe.call)
    inspect.signature(call).bind(object(), **probe.kwargs)
    if probe.modules:
        inspect.signature(resolve(probe.modules)).bind(**probe.kwargs)


def test_select_by_name_and_family_keeps_catalog_order():
    assert [p.name for p in select("norm.rmsnorm,decode.fa3")] == ["decode.fa3", "norm.rmsnorm"]
    assert [p.name for p in select("act")] == ["act.silu_and_mul", "act.gelu_and_mul", "act.gelu_tanh_and_mul"]
    assert len(select(None)) == len(PROBES)
    with pytest.raises(UsageError, match="unknown probe 'mla.fa9'"):
        select("mla.fa9")
    with pytest.raises(UsageError):
        get_probe("nope")


def _applicable(cc: str, torch_cuda: str = "13.0") -> set[str]:
    env = EnvSnapshot(cuda_available=True, compute_capability=cc, torch_cuda_runtime=torch_cuda,
                      flashinfer_version="0.6.13")
    return {p.name for p in PROBES if decide_locally(p, env, False) is None}


def test_hopper_gets_fa3_xqa_sm90_moe_but_not_trtllm_gen():
    on = _applicable("9.0")
    assert {"decode.fa3", "prefill.fa3", "sink.fa3", "mla.fa3", "decode.xqa", "moe.bf16", "moe.fp8-block",
            "moe.mxfp4-w4a16", "quant.fp4", "comm.allreduce_fusion"} <= on
    assert not {"decode.trtllm-gen", "prefill.trtllm-gen", "sink.trtllm-gen", "mla.trtllm-gen",
                "decode.cute-dsl"} & on


def test_blackwell_gets_trtllm_gen_and_not_fa3():
    on = _applicable("10.0")
    assert {"decode.trtllm-gen", "mla.trtllm-gen", "decode.cute-dsl", "decode.xqa", "moe.bf16"} <= on
    assert not {"decode.fa3", "prefill.fa3", "moe.fp8-block", "moe.mxfp4-w4a16"} & on


def test_ampere_gets_only_portable_paths():
    on = _applicable("8.0")
    assert {"decode.fa2", "prefill.fa2", "sink.fa2", "mla.fa2", "norm.rmsnorm", "sampling.top_k_top_p",
            "decode.cudnn"} <= on
    assert not {"moe.bf16", "quant.fp4", "decode.xqa", "comm.allreduce_fusion"} & on


def test_fa3_needs_torch_cuda_12_3():
    assert "decode.fa3" not in _applicable("9.0", torch_cuda="12.2")


def test_not_applicable_row_names_the_gate_and_its_source():
    env = EnvSnapshot(cuda_available=True, compute_capability="9.0", torch_cuda_runtime="13.0",
                      flashinfer_version="0.6.13")
    row = decide_locally(get_probe("decode.trtllm-gen"), env, False)
    assert row.status is Status.NOT_APPLICABLE
    assert row.reason.startswith("not applicable on SM 9.0: trtllm-gen kernels")
    assert "flashinfer/decode.py" in row.reason


def test_no_gpu_and_missing_flashinfer_rows():
    no_gpu = decide_locally(get_probe("norm.rmsnorm"), EnvSnapshot(), False)
    assert no_gpu.status is Status.SKIPPED and no_gpu.reason.startswith("no CUDA device")
    env = EnvSnapshot(cuda_available=True, compute_capability="9.0", torch_cuda_runtime="13.0")
    missing = decide_locally(get_probe("norm.rmsnorm"), env, True)
    assert missing.status is Status.FAILS and missing.category.value == "missing package"


def test_arch_paths_without_gpu_are_unknown_not_false():
    assert {a.applies for a in arch.arch_paths(None, None)} == {None}
    sm90 = {a.name: a.applies for a in arch.arch_paths((9, 0), "13.0")}
    assert sm90[arch.FA3.name] is True and sm90[arch.TRTLLM_GEN.name] is False
