"""`fibench audit compat`: which FlashInfer features work on this GPU, and why not.

Modules, in data-flow order:
  catalog  probe definitions (data; no torch import)       arch      arch gates
  audit    options -> report (library entry point)          runner    probe subprocess + timeout
  probe    the subprocess entry point                       guard     JIT module availability
  calls_*  the tiny FlashInfer calls probes make            checks    output checks / references
  facts    FlashInfer's self-description                    versions  CUDA matrix + mismatch flags
  categorize  error text -> failure category                model     result dataclasses
  report   compat.md / compat.json writers and reader       summary   rich console output
  command  the Typer command
"""
