"""Attention suites: paged decode, paged prefill (GQA) and MLA decode.

One concern per module: ``paging`` (ragged lengths, page tables), ``inputs`` (shared tensors),
``reference`` (fp32 math), ``work`` (FLOP/byte models), ``axes`` (options), ``planning``
(FlashInfer plan/workspace helpers), ``suite`` (parity, paged-suite base),
``torch_backends``, ``decode_backends`` and the suites ``decode``, ``prefill``, ``mla``.
"""

from fibench.suites.attention.decode import DecodeSuite
from fibench.suites.attention.mla import MlaSuite
from fibench.suites.attention.prefill import PrefillSuite

__all__ = ["DecodeSuite", "MlaSuite", "PrefillSuite"]
