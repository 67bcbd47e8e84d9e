"""CUDA version matrix and mismatch flags from hand-made version sets."""

from __future__ import annotations

from fibench.audit.compat.model import CudaVersions
from fibench.audit.compat.versions import cuda_versions, jit_cache_cuda, version_flags
from fibench.env import EnvSnapshot


def _v(**kw) -> CudaVersions:
    base = dict(driver_cuda="13.0", torch_cuda="13.0", nvcc="13.0", flashinfer_cuda="13.0", compute_capability="9.0")
    base.update(kw)
    return CudaVersions(**base)


def _codes(v: CudaVersions) -> dict[str, str]:
    return {f.code: f.severity for f in version_flags(v)}


def test_consistent_sm90_setup_has_no_flags():
    assert _codes(_v()) == {}


def test_torch_newer_than_driver_is_an_error():
    assert _codes(_v(driver_cuda="12.4", torch_cuda="12.8", nvcc="12.4", flashinfer_cuda="12.4")) == {
        "torch-newer-than-driver": "error", "torch-nvcc-minor-mismatch": "info", "flashinfer-gates-split": "info",
        "fp8-block-moe-disabled": "warning",
    }


def test_nvcc_major_newer_than_driver_is_an_error_minor_is_a_warning():
    assert _codes(_v(driver_cuda="12.8", torch_cuda="12.8", nvcc="13.0"))["nvcc-major-newer-than-driver"] == "error"
    codes = _codes(_v(driver_cuda="12.8", torch_cuda="12.8", nvcc="12.9", flashinfer_cuda="12.9"))
    assert codes["nvcc-newer-than-driver"] == "warning"
    assert "nvcc-major-newer-than-driver" not in codes


def test_torch_and_nvcc_major_mismatch():
    codes = _codes(_v(torch_cuda="12.8", nvcc="13.0", flashinfer_cuda="13.0"))
    assert codes["torch-nvcc-major-mismatch"] == "error"
    assert codes["flashinfer-gates-split"] == "info"


def test_missing_nvcc_and_cpu_torch():
    codes = _codes(_v(nvcc=None, flashinfer_cuda="13.0", torch_cuda=None, compute_capability=None))
    assert codes == {"nvcc-missing": "warning", "torch-no-cuda": "error"}


def test_arch_needs_newer_cuda():
    codes = _codes(_v(compute_capability="10.0", driver_cuda="12.6", torch_cuda="12.6", nvcc="12.6",
                      flashinfer_cuda="12.6"))
    assert codes == {"cuda-too-old-for-arch": "error"}
    too_old = [f for f in version_flags(_v(compute_capability="7.0")) if f.code == "gpu-too-old"]
    assert too_old and "SM 7.5" in too_old[0].message


def test_fp8_block_moe_needs_cuda_12_8_on_sm90():
    codes = _codes(_v(driver_cuda="12.6", torch_cuda="12.6", nvcc="12.6", flashinfer_cuda="12.6"))
    assert codes == {"fp8-block-moe-disabled": "warning"}
    assert "fp8-block-moe-disabled" not in _codes(_v(compute_capability="10.0"))


def test_jit_cache_package_cuda_suffix():
    assert jit_cache_cuda("0.6.13+cu129") == (12, 9)
    assert jit_cache_cuda("0.6.13+cu130") == (13, 0)
    assert jit_cache_cuda("0.6.13") is None
    assert _codes(_v(jit_cache_package="0.6.13+cu129"))["jit-cache-cuda-mismatch"] == "error"
    assert "jit-cache-cuda-mismatch" not in _codes(_v(jit_cache_package="0.6.13+cu130"))


def test_flags_are_sorted_most_severe_first():
    flags = version_flags(_v(driver_cuda="12.4", torch_cuda="12.8", nvcc="12.4", flashinfer_cuda="12.4"))
    severities = [f.severity for f in flags]
    assert severities == sorted(severities, key=["error", "warning", "info"].index)


def test_matrix_from_env_and_facts():
    env = EnvSnapshot(driver_version="575.57", driver_cuda_version="12.9", torch_cuda_runtime="13.0",
                      nvcc_version="13.0", nvcc_path="/usr/local/cuda/bin/nvcc", compute_capability="9.0",
                      flashinfer_version="0.6.13")
    v = cuda_versions(env, {"flashinfer_version": "0.6.13", "cuda_reported": "13.0"}, {"flashinfer-jit-cache": None})
    assert (v.driver_cuda, v.torch_cuda, v.nvcc, v.flashinfer_cuda) == ("12.9", "13.0", "13.0", "13.0")
    assert "not reported" in v.sources["flashinfer_wheel_cuda"]
    missing = cuda_versions(env, {"error": "flashinfer facts: no answer within 120 s"}, {})
    assert missing.flashinfer_cuda is None
    assert missing.notes["flashinfer_cuda"] == "flashinfer facts: no answer within 120 s"
