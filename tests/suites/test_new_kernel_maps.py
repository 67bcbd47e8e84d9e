"""The new suites' kernel maps on kernel names from the FlashInfer 0.6.13 sources (and
PyTorch/cuBLAS names for the torch paths): every kernel of a call maps to one op."""

import pytest

from fibench.trace.kernel_map import load_map


@pytest.mark.parametrize("suite, backend, names, ops", [
    ("activation", "flashinfer", ["void flashinfer::activation::act_and_mul_kernel<__nv_bfloat16, &silu>(...)"],
     ["act_and_mul"]),
    ("rope", "flashinfer", ["void flashinfer::BatchQKApplyRotaryPosIdsCosSinCacheHeadParallelismKernel<false, 128u>"],
     ["rope_cos_sin_cache"]),
    ("rope", "flashinfer", ["void flashinfer::BatchQKApplyRotaryPosIdsKernel<false, 128u, 8u, 16u>(...)"],
     ["rope_on_the_fly"]),
    ("gemm", "flashinfer-tinygemm", ["tinygemm_kernel(__nv_bfloat16*, ...)"], ["gemm"]),
    ("gemm", "flashinfer-blockscale",
     ["void tensorrt_llm::kernels::fp8_blockscale_gemm::scale_1x128_kernel<__nv_bfloat16, __nv_fp8_e4m3, float>",
      "deep_gemm::fp8_gemm_kernel_swapAB<4096u, 4096u, 128u>"], ["input_quant", "gemm"]),
    ("gemm", "cublas", ["nvjet_tst_128x64_64x8_1x2_h_bz_TNT", "sm90_xmma_gemm_e4m3bf16_e4m3f32_f32_tn_n"],
     ["gemm", "gemm"]),
    ("sampling", "flashinfer",
     ["void flashinfer::sampling::RadixTopKMaskLogitsKernel_MultiCTA<512u, float, int>",
      "void at::native::(anonymous namespace)::cunn_SoftMaxForward<4, float, float>",
      "void flashinfer::sampling::TopPSamplingFromProbKernel<1024u, (cub::BlockScanAlgorithm)0>",
      "void flashinfer::sampling::OnlineSoftmaxFusedKernel<1024u, 4u, float>"],
     ["top_k_mask", "softmax", "sample", "softmax"]),
    ("moe", "flashinfer-cutlass",
     ["fusedBuildExpertMapsSortFirstTokenKernel", "expandInputRowsKernel",
      "void tensorrt_llm::kernels::fp8_blockscale_gemm::scale_1x128_kernel<true, __nv_bfloat16, __nv_fp8_e4m3>",
      "deep_gemm::fp8_gemm_kernel<2048u, 7168u>", "doActivationKernel",
      "void tensorrt_llm::kernels::fp8_blockscale_gemm::scale_1x128_kernel<true, __nv_bfloat16, __nv_fp8_e4m3>",
      "deep_gemm::fp8_gemm_kernel<7168u, 2048u>", "finalizeMoeRoutingKernel"],
     ["expert_maps", "expand_rows", "gemm1_input_quant", "gemm1", "activation", "gemm2_input_quant", "gemm2",
      "finalize"]),
])
def test_maps_attribute_every_kernel(suite, backend, names, ops):
    assert [r.op if r else None for r in load_map(suite).classify(backend, names)] == ops


def test_fibench_steps_map_by_range():
    kmap = load_map("moe")
    rules = kmap.classify("flashinfer-cutlass", ["void at::native::elementwise_kernel<128, 2>"], ["pad"])
    assert rules[0].op == "pad" and rules[0].phase == "permute"
    for suite in ("activation", "rope", "gemm", "sampling"):
        assert load_map(suite).rules("torch"), suite
