"""The retry policy itself, on a clock the test moves: the backoff is exponential and bounded, an outage
is announced once when it starts and once when it ends, and between two tries no call reaches the store."""

from __future__ import annotations

import pytest

from runyard.errors import StoreOutage, StoreUnavailable
from runyard.execute.retrying import StoreRetry, Window


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FlakyStore:
    """Answers when ``up``, else raises StoreUnavailable; counts the calls that reached it."""

    def __init__(self) -> None:
        self.up = True
        self.calls = 0

    def write(self) -> str:
        self.calls += 1
        if not self.up:
            raise StoreUnavailable("connection refused")
        return "ok"


def test_backoff_doubles_up_to_its_bound_and_each_change_is_said_once() -> None:
    clock, said, store = Clock(), [], FlakyStore()
    retry = StoreRetry(300, say=said.append, first=0.5, most=10, clock=clock)
    assert retry.through(store.write) == "ok" and said == []
    store.up = False
    delays = []
    for _ in range(8):
        with pytest.raises(StoreUnavailable):
            retry.through(store.write)
        delays.append(retry.next_try - clock.now)
        calls = store.calls
        with pytest.raises(StoreUnavailable, match="next try in"):  # not due: the store is not asked
            retry.through(store.write)
        assert store.calls == calls
        clock.now = retry.next_try
    assert delays == [0.5, 1, 2, 4, 8, 10, 10, 10]
    assert said == ["store unreachable: connection refused; retrying, running steps keep running"]
    assert retry.down and not retry.expired
    store.up = True
    assert retry.through(store.write) == "ok"
    assert len(said) == 2 and said[1].startswith("store reachable again after 46 s")
    assert not retry.down and retry.through(store.write) == "ok" and len(said) == 2


def test_a_read_does_not_end_an_outage() -> None:
    clock, said, store = Clock(), [], FlakyStore()
    retry = StoreRetry(300, say=said.append, clock=clock)
    store.up = False
    with pytest.raises(StoreUnavailable):
        retry.through(store.write)
    store.up = True
    clock.now = retry.next_try
    assert retry.through(store.write, writes=False) == "ok"
    assert retry.down and len(said) == 1


def test_the_window_gives_up_and_takes_heart() -> None:
    clock, store = Clock(), FlakyStore()
    retry = StoreRetry(5, say=lambda line: None, clock=clock)
    window = Window(retry)
    back: list[bool] = []
    store.up = False
    with pytest.raises(StoreUnavailable):
        retry.through(store.write)
    assert window.check(running=2, back=lambda: back.append(True)) is None
    clock.now += 5
    announced = window.check(running=2, back=lambda: back.append(True))
    assert announced is not None and "launching nothing more; waiting for 2 running steps" in announced
    assert window.gave_up and window.check(running=2, back=lambda: back.append(True)) is None
    error = window.give_up(3)
    assert isinstance(error, StoreOutage) and error.exit_code == 75
    assert "the results of 3 steps that ended meanwhile are kept in their meta.json" in str(error)
    store.up = True
    clock.now = retry.next_try
    retry.through(store.write)
    assert window.check(running=0, back=lambda: back.append(True)) is None
    assert back == [True] and not window.gave_up
