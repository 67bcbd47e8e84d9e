"""Real probes on a CUDA GPU (skipped without one). Cheap kernels only: the activation
module compiles in seconds and RMSNorm either uses CuTe DSL or a ~20 s JIT module, so
--build is allowed here."""

from __future__ import annotations

import pytest
import torch

from fibench.audit.compat.catalog import get_probe
from fibench.audit.compat.model import Status
from fibench.audit.compat.runner import collect_flashinfer_facts, run_probe_process

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


@pytest.mark.parametrize("name", ["act.silu_and_mul", "norm.rmsnorm", "rope.apply_rope_pos_ids"])
def test_cheap_probe_works_for_real(name):
    probe = get_probe(name)
    result = run_probe_process(probe.name, probe.family, True, 0, 600.0)
    assert result.status is Status.WORKS, f"{result.reason}\n{result.log_tail}"
    assert "matches torch fp32 reference" in result.detail
    assert result.elapsed_s > 0


def test_probe_without_build_is_works_or_not_built_never_a_compile():
    probe = get_probe("act.gelu_tanh_and_mul")
    result = run_probe_process(probe.name, probe.family, False, 0, 300.0)
    assert result.status in (Status.WORKS, Status.NOT_BUILT), f"{result.reason}\n{result.log_tail}"
    assert all(m.state != "compiled" for m in result.modules)


def test_flashinfer_facts_on_the_gpu_host():
    facts = collect_flashinfer_facts()
    assert "error" not in facts, facts
    assert facts["flashinfer_version"]
    assert facts["jit_dir"] and facts["target_archs"]
