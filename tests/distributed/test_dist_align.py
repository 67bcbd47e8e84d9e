"""The per-kernel pass of a collective suite aligns the ranks before every traced call."""

import pytest
import torch

from fibench.suites import get_suite
from fibench.trace import profiling


class _Rotation:
    def __init__(self, log):
        self.log = log
        self.calls = [lambda: log.append("call")]

    def prepare_call(self, restore):
        self.log.append("prepare")


def test_align_runs_after_the_restore_and_before_every_traced_call(monkeypatch):
    log: list[str] = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda *a, **k: None)
    monkeypatch.setattr(profiling, "segment", lambda events, n: log.append(f"segment {n}"))
    plan = type("Plan", (), {"restore": False})()
    profiling._trace(_Rotation(log), plan, torch.device("cpu"), 3, align=lambda: log.append("align"))
    assert log == ["prepare", "align", "call"] * 3 + ["segment 3"]
    log.clear()
    profiling._trace(_Rotation(log), plan, torch.device("cpu"), 2)  # no align: nothing in between
    assert log == ["prepare", "call"] * 2 + ["segment 2"]


def test_only_collective_suites_align_and_without_a_group_it_is_a_no_op():
    suite = get_suite("allreduce")
    assert callable(suite.align_ranks)
    suite.align_ranks()  # no process group in this process: returns at once
    assert not hasattr(get_suite("norm"), "align_ranks")
