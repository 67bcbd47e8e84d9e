"""The probe subprocess runner (fake probes that succeed, raise, hang, crash), the JIT
guard that refuses to compile without --build, and the real probe child on this machine."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest
import torch

from fibench.audit.compat import catalog
from fibench.audit.compat.guard import ModuleNotBuilt, install_guard, module_state
from fibench.audit.compat.model import Category, ModuleUse, Status
from fibench.audit.compat.probe import merge_modules, not_built_reason
from fibench.audit.compat.runner import outcome_to_result, run_probe_process, run_process

FAKE = str(Path(__file__).parent / "compat_fixtures" / "fake_probe.py")


def _run(mode: str, timeout_s: float = 30.0, *extra: str):
    outcome = run_process([sys.executable, FAKE, mode, *extra], timeout_s)
    return outcome, outcome_to_result("act.silu_and_mul", "activations", outcome, timeout_s)


def test_successful_probe_result_is_parsed_despite_stdout_noise():
    outcome, result = _run("ok")
    assert outcome.returncode == 0 and not outcome.timed_out
    assert result.status is Status.WORKS
    assert result.detail == "matches torch fp32 reference"
    assert result.modules == [ModuleUse("silu_and_mul", "jit-cache")]
    assert result.elapsed_s == pytest.approx(outcome.elapsed_s)


def test_result_printed_before_a_teardown_hang_is_kept():
    outcome, result = _run("ok-then-hang", 2.0)
    assert outcome.timed_out
    assert result.status is Status.WORKS


def test_probe_that_raises_is_categorised_from_its_traceback():
    _, result = _run("raise")
    assert result.status is Status.FAILS
    assert result.category is Category.MISSING_PACKAGE
    assert result.reason == "ImportError: cannot import name 'silu_and_mul' from 'flashinfer.activation'"
    assert "Traceback" in result.log_tail


def test_hanging_probe_times_out():
    t0 = time.monotonic()
    outcome, result = _run("hang", 1.0)
    assert time.monotonic() - t0 < 20
    assert outcome.timed_out
    assert result.category is Category.TIMEOUT
    assert result.reason == "no result within 1 s"


def test_timeout_kills_the_compile_grandchildren_and_names_the_module(tmp_path):
    pidfile = tmp_path / "pid"
    _, result = _run("compile-hang", 3.0, str(pidfile))
    assert result.reason == "no result within 3 s while compiling JIT module fused_moe_90"
    pid = int(pidfile.read_text())
    for _ in range(50):
        if not _alive(pid):
            break
        time.sleep(0.1)
    assert not _alive(pid), "grandchild of a timed-out probe is still running"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie counts as dead
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False


def test_crashing_probe_reports_the_signal():
    _, result = _run("segv")
    assert result.category is Category.RUNTIME_ERROR
    assert result.reason == "probe process killed by SIGSEGV"


def test_unreadable_result_line_is_not_trusted():
    _, result = _run("garbage")
    assert result.status is Status.FAILS
    assert result.category is Category.RUNTIME_ERROR
    assert result.reason == "unreadable probe result: {not json"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA failure path of the real probe child")
def test_real_probe_child_without_cuda_returns_a_failure_row():
    result = run_probe_process("act.silu_and_mul", "activations", False, 0, 120.0)
    assert result.status is Status.FAILS
    assert result.name == "act.silu_and_mul"
    assert result.reason == ("RuntimeError: no CUDA device visible to the probe process "
                             "(torch.cuda.is_available() is False)")
    assert result.category is Category.RUNTIME_ERROR


# ---- guard ---------------------------------------------------------------------------


def _spec_class(root: Path):
    class FakeSpec:
        calls: list[str] = []

        def __init__(self, name: str):
            self.name = name

        @property
        def aot_path(self) -> Path:
            return root / "aot" / self.name / f"{self.name}.so"

        @property
        def jit_library_path(self) -> Path:
            return root / "jit" / self.name / f"{self.name}.so"

        def load(self, path):
            return ("loaded", Path(path))

        def build_and_load(self):
            FakeSpec.calls.append(self.name)
            return ("original", self.name)

    return FakeSpec


def _touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")


def test_guard_refuses_to_compile_without_build(tmp_path):
    spec_cls, uses = _spec_class(tmp_path), []
    install_guard(False, uses, spec_cls)
    with pytest.raises(ModuleNotBuilt) as err:
        spec_cls("norm").build_and_load()
    assert err.value.names == ["norm"]
    assert spec_cls.calls == []
    assert uses == [ModuleUse("norm", "missing")]


def test_guard_loads_cached_module_without_running_ninja(tmp_path):
    spec_cls, uses = _spec_class(tmp_path), []
    _touch(tmp_path / "jit" / "rope" / "rope.so")
    install_guard(False, uses, spec_cls)
    assert spec_cls("rope").build_and_load() == ("loaded", tmp_path / "jit" / "rope" / "rope.so")
    assert spec_cls.calls == []
    assert uses == [ModuleUse("rope", "jit-cache")]


def test_guard_uses_aot_modules_as_flashinfer_does(tmp_path):
    spec_cls, uses = _spec_class(tmp_path), []
    _touch(tmp_path / "aot" / "sampling" / "sampling.so")
    install_guard(False, uses, spec_cls)
    assert spec_cls("sampling").build_and_load() == ("original", "sampling")
    assert uses == [ModuleUse("sampling", "aot")]


def test_guard_with_build_compiles_and_announces_it(tmp_path, capsys):
    spec_cls, uses = _spec_class(tmp_path), []
    install_guard(True, uses, spec_cls)
    assert spec_cls("fused_moe_90").build_and_load() == ("original", "fused_moe_90")
    assert uses == [ModuleUse("fused_moe_90", "compiled")]
    assert "fibench-compat: compiling JIT module fused_moe_90" in capsys.readouterr().err


def test_guard_refuses_an_unknown_jitspec_shape():
    class Bare:
        def build_and_load(self):
            return None

    with pytest.raises(RuntimeError, match="aot_path"):
        install_guard(False, [], Bare)


def test_module_state_by_name(tmp_path):
    dirs = (tmp_path / "aot", tmp_path / "jit")
    _touch(tmp_path / "aot" / "a" / "a.so")
    _touch(tmp_path / "jit" / "b" / "b.so")
    assert [module_state(n, dirs) for n in ("a", "b", "c")] == ["aot", "jit-cache", "missing"]


def test_not_built_reason_respects_build_and_compile_estimate():
    moe = catalog.get_probe("moe.bf16")
    assert not_built_reason(moe, [], False, 300) is None
    assert "rerun with --build" in not_built_reason(moe, ["fused_moe_90"], False, 300)
    heavy = not_built_reason(moe, ["fused_moe_90"], True, 300)
    assert "--timeout-for moe.bf16=3000" in heavy and "~25 min" in heavy
    assert not_built_reason(moe, ["fused_moe_90"], True, 3600) is None


def test_merge_modules_prefers_what_was_loaded():
    declared = [ModuleUse("a", "missing"), ModuleUse("b", "jit-cache")]
    uses = [ModuleUse("a", "compiled"), ModuleUse("c", "aot")]
    assert merge_modules(declared, uses) == [ModuleUse("a", "compiled"), ModuleUse("b", "jit-cache"),
                                             ModuleUse("c", "aot")]
