"""Timer registry and selection errors, CUPTI window attribution (on synthetic records and
through the CUPTI timer with a stand-in session), CPU timing end to end."""

import random

import pytest
import torch

from fibench.errors import UsageError
from fibench.measure import timing
from fibench.measure.coldl2 import ColdL2Plan
from fibench.measure.rotation import RotationSet
from fibench.measure.stopping import STOP_ITERS, STOP_TARGET, StopRule
from fibench.measure.timers import TIMERS, get_timer, timer_class
from fibench.measure.timers import cupti as cupti_mod
from fibench.measure.timers import events as events_mod
from fibench.measure.timers.cupti import CuptiTimer, GraphCuptiTimer, cupti_unavailable_reason
from fibench.measure.timers.events import EventsTimer, GraphEventsTimer
from fibench.measure.timers.wall import WallTimer
from fibench.measure.timers.windows import Activity, WindowError, split_windows
from fibench.suites.base import Launch


def test_registry_names_are_stable_and_unique():
    assert TIMERS == {"cuda-graph+events": GraphEventsTimer, "cuda-events": EventsTimer,
                      "cuda-graph+cupti": GraphCuptiTimer, "cupti": CuptiTimer, "cpu-wall-clock": WallTimer}
    assert timing.TIMER_GRAPH == "cuda-graph+events"  # the names rows written before this change carry


@pytest.mark.parametrize("family, graph, cls", [("events", True, GraphEventsTimer), ("events", False, EventsTimer),
                                                ("cupti", True, GraphCuptiTimer), ("cupti", False, CuptiTimer),
                                                ("wall", False, WallTimer)])
def test_selection_by_family_and_mode(family, graph, cls):
    assert timer_class(family, graph=graph) is cls


def test_selection_errors_list_what_exists():
    with pytest.raises(UsageError, match="unknown timer 'nvtx'; known: events, cupti, wall, auto"):
        timer_class("nvtx", graph=True)
    with pytest.raises(UsageError, match=r"timer 'wall' has no graph mode; it has: cpu-wall-clock \(no graph\)"):
        timer_class("wall", graph=True)
    with pytest.raises(UsageError, match="unknown timer 'x'; known: cuda-graph\\+events, cuda-events"):
        get_timer("x")


def test_gpu_timers_say_why_they_cannot_run_on_the_cpu():
    cpu = torch.device("cpu")
    assert "needs a CUDA device" in GraphEventsTimer.unavailable(cpu)
    assert "on the CPU" in cupti_unavailable_reason(cpu)
    assert WallTimer.unavailable(cpu) is None
    assert "CPU calls only" in WallTimer.unavailable(torch.device("cuda"))


def _rec(name, start, end, kind="kernel"):
    return Activity(name, start, end, kind)


def M(t):  # a marker kernel record of 1 ns at t (mangled name, as CUPTI reports it)
    return _rec("_ZN2at4cuda11spin_kernelEl", t, t + 1)


def test_windows_span_and_kernel_sum_by_hand():
    records = [
        _rec("flush", 0, 90),                                        # restore/flush before the first marker
        M(100), _rec("k1", 110, 130), _rec("k2", 140, 150, "memset"), M(160),
        _rec("flush", 170, 260),                                     # between windows: nobody's
        M(300), _rec("k1", 310, 320), _rec("aux", 312, 330), M(340),  # two streams overlapping
    ]
    random.Random(0).shuffle(records)
    w = split_windows(records, expected=2)
    assert [(x.span_ns, x.kernel_sum_ns, x.activities) for x in w] == [(40, 30, 2), (20, 28, 2)]


def test_window_errors():
    with pytest.raises(WindowError, match="3 marker records"):
        split_windows([M(0), _rec("k", 1, 2), M(3), M(5)])
    with pytest.raises(WindowError, match="expected 2 timed windows, CUPTI delivered 1"):
        split_windows([M(0), _rec("k", 1, 2), M(3)], expected=2)
    with pytest.raises(WindowError, match="window 0 recorded no GPU activity"):
        split_windows([M(0), M(3)])


class FakeSession:
    """Stands in for CuptiSession: a GPU timeline where each marker takes 1 us and each
    call's kernel ``kernel_us``; drain() returns what was recorded since the last drain."""

    def __init__(self):
        self.t = 0
        self.records = []

    def add(self, name, dur_ns, kind="kernel"):
        self.records.append(Activity(name, self.t, self.t + dur_ns, kind))
        self.t += dur_ns + 500  # a launch gap that the span must not count

    def drain(self, device):
        out, self.records = self.records, []
        return out

    def __exit__(self, *exc):
        pass


@pytest.fixture
def fake_cupti(monkeypatch):
    session = FakeSession()
    monkeypatch.setattr(cupti_mod, "empty_kernel", lambda: session.add("spin_kernel", 1000))
    monkeypatch.setattr(cupti_mod._CuptiTimer, "_open", lambda self: setattr(self, "session", session))
    return session


def _launch(session, kernel_ns):
    def bind(t):
        def call():
            session.add("rmsnorm_kernel", kernel_ns)
            session.add("tail", 100, "memcpy")
            return {}
        return call
    return Launch({"x": torch.zeros(4)}, bind)


def test_cupti_timer_attributes_records_per_call(fake_cupti):
    plan = ColdL2Plan("flush", "flush", True, 1, 1, False, 0)
    timer = CuptiTimer(RotationSet(_launch(fake_cupti, 2300), plan, torch.device("cpu")), plan, torch.device("cpu"))
    timer.start(warmup=2)
    samples = timer.sample(5)
    # span = kernel 2300 ns + gap 500 ns + memcpy 100 ns = 2.9 us; kernel-sum 2.4 us; the 1 us
    # markers and the gaps around them are outside every window
    assert samples == pytest.approx([2.9] * 5)
    details = timer.details()
    assert details["kernel_sum_us"] == pytest.approx(2.4)
    assert details["prime_us"] == pytest.approx(2.9)  # priming window measured, then discarded
    assert len(timer.samples) == 5


def test_cupti_graph_replay_plan_divides_by_k(fake_cupti, monkeypatch):
    plan = ColdL2Plan("rotate", "rotate", True, 2, 4, False, 0)
    rs = RotationSet(_launch(fake_cupti, 1000), plan, torch.device("cpu"))

    class Replay:
        def replay(self):
            for i in range(plan.calls_per_graph):
                rs.calls[i % 2]()

    monkeypatch.setattr(events_mod, "capture_graph", lambda *a, **k: Replay())
    drains = []
    drain = fake_cupti.drain
    monkeypatch.setattr(fake_cupti, "drain", lambda device: drains.append(1) or drain(device))
    monkeypatch.setattr(cupti_mod, "MAX_RECORDS", 8)  # two replays of 4 calls per drain
    timer = GraphCuptiTimer(rs, plan, torch.device("cpu"), prime_samples=0)
    timer.start(warmup=1)
    # one replay: 4 x (1000 + 500 + 100 + 500) ns, last gap excluded -> 7.9 us / 4 calls
    assert timer.sample(5) == pytest.approx([7.9 / 4] * 5)
    assert len(drains) == 1 + 3  # one to drop the warm-up, then chunks of 2, 2, 1 windows
    assert timer.details()["prime_us"] is None


def _cpu_launch():
    x = torch.randn(64, 64)
    return Launch({"x": x}, lambda t: (lambda: {"out": t["x"] @ t["x"]}))


def _cpu_plan(graph):
    return ColdL2Plan("rotate", "n/a", False, 1, 1, False, 0)


def test_cpu_run_timing_fixed_and_adaptive():
    cpu = torch.device("cpu")
    t = timing.run_timing(_cpu_launch(), _cpu_plan, device=cpu, graph=True, warmup=1, iters=12)
    assert t.timer == "cpu-wall-clock" and t.requested == "wall" and t.stop_reason == STOP_ITERS
    assert t.stats.samples == 12 and len(t.samples_us) == 12 and t.throttle.throttled is None
    t = timing.run_timing(_cpu_launch(), _cpu_plan, device=cpu, graph=False, warmup=1,
                          rule=StopRule(min_samples=10, target_pct=50.0, max_time_s=5.0))
    assert t.stop_reason == STOP_TARGET and t.stats.ci_halfwidth_pct <= 50.0


@pytest.mark.parametrize("requested", ["events", "cupti"])
def test_gpu_timer_on_the_cpu_is_refused(requested):
    with pytest.raises(UsageError):
        timing.run_timing(_cpu_launch(), _cpu_plan, device=torch.device("cpu"), graph=False, warmup=1,
                          iters=3, timer=requested)


def test_session_keeps_kernel_copy_and_set_records_only():
    pytest.importorskip("cupti")
    from types import SimpleNamespace

    from fibench.measure.timers.cupti import CuptiSession

    session = CuptiSession()
    kind = session._api.ActivityKind
    session._completed([
        SimpleNamespace(kind=kind.CONCURRENT_KERNEL, name="_Z6rmsnormv", start=10, end=20, stream_id=7),
        SimpleNamespace(kind=kind.MEMSET, start=21, end=22, stream_id=7),
        SimpleNamespace(kind=kind.RUNTIME, start=0, end=5),  # API records are not GPU work
    ])
    assert session._records == [Activity("_Z6rmsnormv", 10, 20, "kernel", 7), Activity("memset", 21, 22, "memset", 7)]


class _FakeCuptiApi:
    """Records the calls reset_after_profiler makes."""

    class ActivityKind:
        KERNEL, RUNTIME, CONCURRENT_KERNEL = 1, 2, 3

    class ActivityFlag:
        FLUSH_FORCED = 1

    def __init__(self):
        self.calls = []

    def activity_flush_all(self, flag):
        self.calls.append("flush")

    def finalize(self):
        self.calls.append("finalize")

    def activity_disable(self, kind):
        self.calls.append(("disable", kind))


def test_cupti_is_detached_only_after_a_profiler_session(monkeypatch):
    from fibench.measure.timers import cupti_state

    monkeypatch.setattr(cupti_state, "_STATE", {"profiler_sessions": 0, "reset_after": 0})
    monkeypatch.setattr(cupti_mod.torch.cuda, "synchronize", lambda *a: None)
    api = _FakeCuptiApi()
    assert cupti_mod.reset_after_profiler(api) == ""
    assert "finalize" not in api.calls and ("disable", 1) in api.calls and ("disable", 3) not in api.calls
    cupti_state.note_profiler_session()  # what the per-kernel pass does before torch.profiler
    api.calls.clear()
    assert "cuptiFinalize" in cupti_mod.reset_after_profiler(api)
    assert api.calls[:2] == ["flush", "finalize"]
    api.calls.clear()
    assert cupti_mod.reset_after_profiler(api) == "" and "finalize" not in api.calls  # once per profiler session
