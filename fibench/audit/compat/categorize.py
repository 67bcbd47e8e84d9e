"""Turn an error text (exception type + message, or a probe's stderr) into a failure
:class:`~fibench.audit.compat.model.Category` and a one-line reason.

Rules are ordered regexes, first match wins; the order puts the most specific causes
first (a download failure or an nvcc too old for the GPU can also mention "error").
Messages the rules key on were read from FlashInfer 0.6.13 (jit/cpp_ext.py run_ninja,
jit/core.py check_cuda_arch, xqa.py, fused_moe/core.py, artifacts.py) and from CUDA
runtime/driver error strings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fibench.audit.compat.model import Category


@dataclass(frozen=True)
class Rule:
    """One categorisation rule: ``pattern`` (case-insensitive regex) -> ``category``."""

    rule_id: str
    pattern: str
    category: Category


RULES: tuple[Rule, ...] = (
    Rule("cubin-download", r"failed to (download|get|fetch)|artifactory|urm\.nvidia\.com|"
         r"checksums?\.txt|flashinferMetaInfo|cubin.*(not found|missing|download)",
         Category.MISSING_ARTIFACT),
    Rule("cuda-too-old", r"(not implemented|not supported|requires?) for CUDA \d+(\.\d+)? or lower|"
         r"requires CUDA\s*(>=|≥|version|\d)|CUDA (>=|≥) ?\d+\.\d+|"
         r"unsupported gpu architecture|driver version is insufficient|"
         r"unsupported toolchain|UNSUPPORTED_PTX_VERSION", Category.UNSUPPORTED_CUDA),
    Rule("module-not-found", r"\bModuleNotFoundError\b|\bNo module named\b", Category.MISSING_PACKAGE),
    Rule("import-error", r"\bImportError\b|cannot import name", Category.MISSING_PACKAGE),
    Rule("toolchain-missing", r"could not find nvcc|nvcc not found|"
         r"No such file or directory: '[^']*(ninja|nvcc)'|ninja: (command )?not found|"
         r"is not installed|not installed", Category.MISSING_PACKAGE),
    Rule("ninja-failed", r"Ninja build failed|ninja: build stopped|nvcc fatal|"
         r"compilation terminated|Failed to generate Cutlass kernels|\berror: .*\(\d+\)|"
         r"\.cuh?\(\d+\): error", Category.COMPILE_FAILURE),
    Rule("no-kernel-image", r"no kernel image is available", Category.UNSUPPORTED_CC),
    Rule("arch-gate", r"requires (GPUs? with )?sm ?\d+|only supported on (SM|sm|Hopper|Blackwell)|"
         r"(requires|needs) SM ?\d+|No supported CUDA architectures|"
         r"not (yet )?(implemented|supported) (for|on) (Blackwell|Hopper|this (GPU|device|architecture))|"
         r"compute capability|Invalid backend: \d+|unsupported (gpu )?arch", Category.UNSUPPORTED_CC),
    Rule("check-failed", r"\bCheckFailed\b", Category.WRONG_RESULT),
)

# nvcc "file(487): error: ...", gcc "file:12:3: fatal error: ...", "nvcc fatal : ...", bare "error: ..."
_COMPILER_ERROR = re.compile(r"(\(\d+\)|:\d+(:\d+)?):\s*(catastrophic |fatal )?error\b|^nvcc fatal|^error\b")
_EXC_LINE = re.compile(r"^([A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt))\b:?\s*(.*)$")


def categorize(text: str) -> Category:
    """Category of an error text; RUNTIME_ERROR when no rule matches.

    Args:
        text: exception type and message, or a whole stderr/log.
    """
    return match_rule(text)[0]


def match_rule(text: str) -> tuple[Category, str]:
    """(category, rule_id) for ``text``; rule_id is ``fallback`` when nothing matched."""
    for rule in RULES:
        if re.search(rule.pattern, text, re.IGNORECASE):
            return rule.category, rule.rule_id
    return Category.RUNTIME_ERROR, "fallback"


def first_error_line(text: str, category: Category | None = None, limit: int = 300) -> str:
    """The one line of ``text`` a reader needs.

    For compile failures that is the first compiler error line (FlashInfer's ninja
    error message starts with "Ninja build failed. Ninja output:", which says nothing);
    otherwise the first non-empty line. Truncated to ``limit`` characters.
    """
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not lines:
        return ""
    if category is Category.COMPILE_FAILURE:
        for ln in lines:
            if _COMPILER_ERROR.search(ln):
                return _clip(ln, limit)
    return _clip(lines[0], limit)


def last_exception_line(stderr: str) -> str:
    """The final ``SomeError: message`` line of a Python traceback in ``stderr``, or the
    last non-empty line when there is no such line; empty for empty input."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    for ln in reversed(lines):
        if _EXC_LINE.match(ln):
            return ln
    return lines[-1] if lines else ""


def tail(text: str, lines: int = 15, width: int = 400) -> str:
    """Last ``lines`` non-empty lines of ``text``, each clipped to ``width`` characters."""
    kept = [ln for ln in text.splitlines() if ln.strip()][-lines:]
    return "\n".join(_clip(ln, width) for ln in kept)


def _clip(line: str, limit: int) -> str:
    return line if len(line) <= limit else line[: limit - 3] + "..."
