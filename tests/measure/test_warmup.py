"""The rounds dropped at the start of a process (fibench/measure/warmup.py)."""

import pytest

from fibench.measure import warmup


@pytest.fixture(autouse=True)
def _cold():
    warmup.forget()
    yield
    warmup.forget()


def test_the_first_row_on_a_device_pays_the_rounds_and_later_rows_do_not():
    calls = []
    note = warmup.warm_process(("cuda", 0), lambda: calls.append("round"))
    assert calls == ["round"] * warmup.PROCESS_WARMUP_ROUNDS
    assert note and f"{warmup.PROCESS_WARMUP_ROUNDS} timing rounds run and dropped" in note
    assert warmup.warm_process(("cuda", 0), lambda: calls.append("again")) is None
    assert calls == ["round"] * warmup.PROCESS_WARMUP_ROUNDS
    # another device in the same process is cold
    assert warmup.warm_process(("cuda", 1), lambda: calls.append("dev1")) is not None
    assert calls.count("dev1") == warmup.PROCESS_WARMUP_ROUNDS


def test_a_failing_round_leaves_the_device_cold_so_the_next_row_retries():
    def boom():
        raise RuntimeError("capture failed")

    with pytest.raises(RuntimeError):
        warmup.warm_process(("cuda", 0), boom)
    calls = []
    assert warmup.warm_process(("cuda", 0), lambda: calls.append(1)) is not None
    assert len(calls) == warmup.PROCESS_WARMUP_ROUNDS
