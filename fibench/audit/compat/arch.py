"""Arch-specific FlashInfer code paths: which compute capabilities (and CUDA versions)
each one needs, decided the way FlashInfer 0.6.13 decides it. Each gate names the
FlashInfer file whose check it mirrors.

Probes in the catalog point at these gates, so "does fa3 apply here?" and the report's
"arch-specific paths" section come from one table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from fibench.audit.compat.model import ArchPath

CC = tuple[int, int]


def parse_version(text: str | None) -> tuple[int, int] | None:
    """"12.8" / "12.8.1" / "cu128"-less strings -> (12, 8); None when unparsable."""
    if not text:
        return None
    match = re.search(r"(\d+)\.(\d+)", str(text))
    return (int(match.group(1)), int(match.group(2))) if match else None


@dataclass(frozen=True)
class ArchGate:
    """An arch-specific path.

    Attributes:
        name: what the path is, for people.
        requirement: the condition in words, e.g. "SM 9.x and torch CUDA >= 12.3".
        source: the FlashInfer file/function whose check this mirrors.
        test: (compute capability, torch CUDA version or None) -> applies.
    """

    name: str
    requirement: str
    source: str
    test: Callable[[CC, tuple[int, int] | None], bool]

    def applies(self, cc: CC, torch_cuda: tuple[int, int] | None) -> bool:
        """Whether the path exists on a GPU of compute capability ``cc``."""
        return self.test(cc, torch_cuda)

    def not_applicable_reason(self, cc: CC) -> str:
        """One line for a probe row whose gate does not apply."""
        return f"not applicable on SM {cc[0]}.{cc[1]}: {self.name} needs {self.requirement} ({self.source})"


def _cuda_at_least(cuda: tuple[int, int] | None, need: tuple[int, int]) -> bool:
    return cuda is not None and cuda >= need


ANY_FLASHINFER = ArchGate(
    "FlashInfer JIT kernels", "SM >= 7.5", "flashinfer/jit/core.py check_cuda_arch",
    lambda cc, cu: cc >= (7, 5))
FA3 = ArchGate(
    "FA3 attention (Hopper wgmma/TMA, sm_90a)", "SM 9.x and torch CUDA >= 12.3",
    "flashinfer/utils.py is_sm90a_supported, determine_attention_backend",
    lambda cc, cu: cc[0] == 9 and _cuda_at_least(cu, (12, 3)))
TRTLLM_GEN = ArchGate(
    "trtllm-gen kernels (prebuilt cubins downloaded at first use)", "SM 10.x",
    "flashinfer/decode.py trtllm_batch_decode_with_kv_cache (auto -> trtllm-gen iff major == 10), "
    "flashinfer/utils.py is_sm100a_supported",
    lambda cc, cu: cc[0] == 10)
XQA = ArchGate(
    "XQA decode kernels", "SM 9.x, 10.x or 12.x", "flashinfer/xqa.py xqa",
    lambda cc, cu: cc[0] in (9, 10, 12))
CUTE_DSL_ATTN = ArchGate(
    "CuTe DSL attention kernels", "SM >= 10.0 (Blackwell)",
    "flashinfer/decode.py BatchDecodeWithPagedKVCacheWrapper (cute-dsl backend)",
    lambda cc, cu: cc[0] >= 10)
CUDNN = ArchGate(
    "cuDNN SDPA attention", "SM >= 8.0 (cuDNN SDPA)",
    "flashinfer/cudnn/decode.py, flashinfer/cudnn/prefill.py (no FlashInfer-side gate)",
    lambda cc, cu: cc >= (8, 0))
MLA_FA3 = ArchGate(
    "MLA on FA3 (sm_90a)", "SM 9.x and torch CUDA >= 12.3",
    "flashinfer/utils.py determine_mla_backend", lambda cc, cu: cc[0] == 9 and _cuda_at_least(cu, (12, 3)))
CUTLASS_MOE = ArchGate(
    "CUTLASS fused MoE module (fused_moe_<sm>)", "SM 8.9, 9.0, 10.x, 11.0 or 12.x",
    "flashinfer/fused_moe/core.py get_cutlass_fused_moe_module",
    lambda cc, cu: cc == (8, 9) or cc[0] in (9, 10, 11, 12))
FP8_BLOCK_MOE = ArchGate(
    "DeepSeek FP8 block-scale CUTLASS MoE (wgmma)", "SM 9.0 (and nvcc >= 12.8 at run time)",
    "flashinfer/fused_moe/core.py cutlass_fused_moe (use_deepseek_fp8_block_scale)",
    lambda cc, cu: cc == (9, 0))
W4A16_MOE_SM90 = ArchGate(
    "SM90 mixed-input MoE GEMM (BF16 x MXFP4 weights, W4A16)", "SM 9.x",
    "flashinfer/fused_moe/core.py interleave_moe_weights_for_sm90_mixed_gemm, "
    "tests/moe test_moe_bf16_mxfp4 (SM90 only)",
    lambda cc, cu: cc[0] == 9)
FP4_QUANT = ArchGate(
    "FP4 quantization module (fp4_quantization_<sm>)", "SM 9.0, 10.x, 11.0 or 12.x",
    "flashinfer/quantization/fp4_quantization.py get_fp4_quantization_module",
    lambda cc, cu: cc == (9, 0) or cc[0] in (10, 11, 12))
ALLREDUCE_FUSION = ArchGate(
    "TRT-LLM allreduce fusion module (trtllm_comm)", "SM 9.x or 10.x",
    "flashinfer/jit/comm.py gen_trtllm_comm_module (supported_major_versions=[9, 10])",
    lambda cc, cu: cc[0] in (9, 10))

ALL_GATES: tuple[ArchGate, ...] = (
    ANY_FLASHINFER, FA3, MLA_FA3, XQA, TRTLLM_GEN, CUTE_DSL_ATTN, CUDNN, CUTLASS_MOE,
    FP8_BLOCK_MOE, W4A16_MOE_SM90, FP4_QUANT, ALLREDUCE_FUSION,
)


def arch_paths(cc: CC | None, torch_cuda: str | None) -> list[ArchPath]:
    """Every gate as an :class:`ArchPath` row for this GPU (``applies`` None without one)."""
    cuda = parse_version(torch_cuda)
    return [
        ArchPath(g.name, None if cc is None else g.applies(cc, cuda), g.requirement, g.source)
        for g in ALL_GATES
    ]


def parse_cc(text: str | None) -> CC | None:
    """"9.0" -> (9, 0); None for None or garbage."""
    return parse_version(text)
