"""Failure categorisation from canned error texts (messages as FlashInfer, nvcc and the
CUDA runtime print them)."""

from __future__ import annotations

import pytest

from fibench.audit.compat.categorize import categorize, first_error_line, last_exception_line, match_rule
from fibench.audit.compat.model import Category

NINJA_LOG = """RuntimeError: Ninja build failed. Ninja output:
[1/3] /usr/local/cuda/bin/nvcc --generate-dependencies-with-compile -c trtllm_allreduce_fusion.cu -o x.cuda.o
FAILED: trtllm_allreduce_fusion.cuda.o
/site-packages/flashinfer/data/include/flashinfer/comm/trtllm_allreduce_fusion.cuh(487): error: namespace "std" has no member "optional"
/site-packages/flashinfer/data/include/flashinfer/comm/trtllm_allreduce_fusion.cuh(487): error: identifier "batchIdx" is undefined
2 errors detected in the compilation of "trtllm_allreduce_fusion.cu".
ninja: build stopped: subcommand failed.
"""


@pytest.mark.parametrize(
    "text, category",
    [
        (NINJA_LOG, Category.COMPILE_FAILURE),
        ("RuntimeError: CUDA error: no kernel image is available for execution on the device", Category.UNSUPPORTED_CC),
        ("RuntimeError: XQA is only supported on SM90, SM100, SM120/SM121 GPUs", Category.UNSUPPORTED_CC),
        ("RuntimeError: FlashInfer requires GPUs with sm75 or higher", Category.UNSUPPORTED_CC),
        ("ValueError: Invalid backend: 80", Category.UNSUPPORTED_CC),
        ("NotImplementedError: FP8 block scaling not yet implemented for Blackwell.", Category.UNSUPPORTED_CC),
        ("ValueError: CUTLASS FMHA requires SM100a (B200/GB200) or SM110a.", Category.UNSUPPORTED_CC),
        ("NotImplementedError: FP8 block scaling not implemented for CUDA 12.6 or lower.", Category.UNSUPPORTED_CUDA),
        ("RuntimeError: SM 12.x requires CUDA >= 12.9", Category.UNSUPPORTED_CUDA),
        ("RuntimeError: Ninja build failed. Ninja output:\nnvcc fatal   : Unsupported gpu architecture 'compute_100a'",
         Category.UNSUPPORTED_CUDA),
        ("RuntimeError: CUDA driver version is insufficient for CUDA runtime version", Category.UNSUPPORTED_CUDA),
        ("ModuleNotFoundError: No module named 'cudnn'", Category.MISSING_PACKAGE),
        ("ImportError: cannot import name 'xqa_batch_decode_with_kv_cache' from 'flashinfer.decode'",
         Category.MISSING_PACKAGE),
        ("RuntimeError: Could not find nvcc and default cuda_home='/usr/local/cuda' doesn't exist",
         Category.MISSING_PACKAGE),
        ("FileNotFoundError: [Errno 2] No such file or directory: 'ninja'", Category.MISSING_PACKAGE),
        ("AssertionError: Failed to get checksums.txt from 1a2b/fmha/trtllm-gen/checksums.txt",
         Category.MISSING_ARTIFACT),
        ("RuntimeError: Failed to download https://edge.urm.nvidia.com/artifactory/sw-kernelinferencelibrary/x.cubin",
         Category.MISSING_ARTIFACT),
        ("RuntimeError: CUDA error: an illegal memory access was encountered", Category.RUNTIME_ERROR),
        ("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB", Category.RUNTIME_ERROR),
        ("CheckFailed: decode: 3 of 2048 values outside atol=0.02", Category.WRONG_RESULT),
    ],
)
def test_categorize(text, category):
    assert categorize(text) is category


def test_unmatched_text_falls_back_to_runtime_error():
    assert match_rule("ValueError: something odd") == (Category.RUNTIME_ERROR, "fallback")


def test_compile_failure_reason_is_the_first_compiler_error():
    line = first_error_line(NINJA_LOG, Category.COMPILE_FAILURE)
    assert line.endswith('trtllm_allreduce_fusion.cuh(487): error: namespace "std" has no member "optional"')


def test_other_reasons_are_the_first_line_and_clipped():
    assert first_error_line("ValueError: bad shape\nmore context", Category.RUNTIME_ERROR) == "ValueError: bad shape"
    assert len(first_error_line("x" * 1000, Category.RUNTIME_ERROR)) == 300
    assert first_error_line("\n\n", None) == ""


def test_last_exception_line_of_a_traceback():
    stderr = (
        "Traceback (most recent call last):\n"
        '  File "/x/probe.py", line 10, in <module>\n'
        "    import flashinfer\n"
        "ModuleNotFoundError: No module named 'flashinfer'\n"
    )
    assert last_exception_line(stderr) == "ModuleNotFoundError: No module named 'flashinfer'"
    assert last_exception_line("Segmentation fault (core dumped)\n") == "Segmentation fault (core dumped)"
    assert last_exception_line("") == ""
