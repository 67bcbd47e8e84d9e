"""The communication environment of every rank fibench starts: NVLink multicast (NVLS) off.

The workplace's GPU hosts forbid NVLink multicast (a program that creates multicast objects
can put shared GPUs out of service), so fibench sets, for each rank it launches and for a
rank it finds itself in under torchrun, before any communicator or symmetric-memory buffer
exists:

* ``NCCL_NVLS_ENABLE=0``: NCCL's NVLink SHARP (multicast) algorithms off (NCCL environment
  variables, docs.nvidia.com/deeplearning/nccl, "NCCL_NVLS_ENABLE").
* ``TORCH_SYMM_MEM_DISABLE_MULTICAST=1``: torch's CUDA symmetric memory reports no multicast
  support, so its rendezvous never calls cuMulticastCreate (pytorch
  torch/csrc/distributed/c10d/symm_mem/CUDASymmetricMemoryUtils.cpp
  ``device_has_multicast_support``). FlashInfer 0.6.13 allocates the TensorRT-LLM all-reduce
  workspace through it (flashinfer/comm/torch_symmetric_memory.py ``_alloc_symm_buffer_bytes``).
* ``TORCH_SYMMMEM=CUDA``: keep that CUDA backend (the one whose switch is checked above)
  rather than NVSHMEM or NCCL symmetric memory.
* ``NVSHMEM_DISABLE_NVLS=1``: the same for NVSHMEM, should anything load it.
"""

from __future__ import annotations

import os
from typing import MutableMapping

COMM_ENV: dict[str, str] = {
    "NCCL_NVLS_ENABLE": "0",
    "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1",
    "TORCH_SYMMMEM": "CUDA",
    "NVSHMEM_DISABLE_NVLS": "1",
}


def comm_env() -> dict[str, str | None]:
    """This process's values of the :data:`COMM_ENV` variables (for run.json)."""
    return {k: os.environ.get(k) for k in COMM_ENV}


def apply_comm_env(environ: MutableMapping[str, str] | None = None) -> list[str]:
    """Set :data:`COMM_ENV` in ``environ`` (default ``os.environ``), overriding other values.

    Returns:
        one note per variable that had another value (``NCCL_NVLS_ENABLE was 1, set to 0``).
    """
    env = os.environ if environ is None else environ
    notes = [f"{k} was {env[k]}, set to {v}" for k, v in COMM_ENV.items() if k in env and env[k] != v]
    env.update(COMM_ENV)
    return notes
