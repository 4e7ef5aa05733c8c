"""The PostgreSQL server goes away while steps run (``pg_ctl stop``) for longer, or shorter, than the
worker's ``--store-timeout``.

Longer: the worker says once that the store is unreachable, launches nothing more, lets its running steps
finish, keeps their results in their ``meta.json`` and exits 75 with a message saying what to do. Once the
server is back, the next ``runyard run`` / ``runyard worker`` records those results (exit 0 → done, with
their metrics and real end times) without running the steps again, then runs the rest.

Shorter: one "unreachable" line, one "reachable again" line, everything recorded done, nothing run twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from runyard.model import Status
from runyard.store import open_store
from runyard.testing.outage import Sweep, sweep_on
from runyard.testing.pgserver import PgServer, own_server_for_pytest
from runyard.testing.processes import wait_for

pytestmark = pytest.mark.postgres

RUNS, JOBS, WINDOW = 6, 3, 5


@pytest.fixture
def own_server() -> Iterator[PgServer]:
    """A server of this test alone: it is stopped and started again."""
    with own_server_for_pytest() as server:
        yield server


def stored(sweep: Sweep) -> dict[int, tuple[Status, int | None, float | None, list[float]]]:
    """By run ``i``: status, exit code, end time and the ``score`` points the store holds."""
    with open_store(sweep.url) as store:
        out = {}
        for ex in store.executions("outage"):
            points = [p.value for p in store.metric_points(ex.key) if p.name == "score"]
            out[int(ex.params["i"])] = (ex.status, ex.exit_code, ex.ended, points)
        return out


def check_all_done_once(sweep: Sweep) -> None:
    records = stored(sweep)
    assert sorted(records) == list(range(RUNS))
    for i, (status, code, _, points) in records.items():
        assert (status, code, points) == (Status.DONE, 0, [float(i)]), f"run i={i}: {records[i]}"
    assert sorted(sweep.started()) == list(range(RUNS)), "a step ran twice (or never)"


@pytest.mark.parametrize(("first", "then"), [("run", "worker"), ("worker", "run")])
def test_an_outage_longer_than_the_window_exits_75_and_keeps_the_results(
        own_server: PgServer, tmp_path: Path, first: str, then: str) -> None:
    with sweep_on(tmp_path / "proj", own_server.create_database()) as sweep:
        sweep.write(RUNS)
        if first == "run":
            proc = sweep.start("run", "--jobs", str(JOBS), "--store-timeout", str(WINDOW))
        else:
            assert sweep.runyard("submit").returncode == 0
            proc = sweep.start("worker", "--burst", "--jobs", str(JOBS), "--store-timeout", str(WINDOW))
        wait_for(lambda: len(sweep.started()) == JOBS, 60, f"{JOBS} steps to start")
        own_server.halt("fast")
        try:
            sweep.release()  # the running steps end (exit 0) while the store is down
            code = sweep.wait(proc, 90)
            output = sweep.output(proc)
            assert code == 75, output
            assert "Traceback" not in output, output
            assert output.count("store unreachable:") == 1, output
            assert "running steps keep running" in output
            assert f"--store-timeout {WINDOW}" in output and "launching nothing more" in output
            assert "the results of 3 steps that ended meanwhile are kept in their meta.json" in output
            assert "run the same command again" in output
            # nothing launched after the store went away; the running steps were waited for
            assert sorted(sweep.started()) == sorted(sweep.ended()) and len(sweep.started()) == JOBS
            kept = {i: m for i, m in sweep.metas().items() if m.get("unrecorded")}
            assert sorted(kept) == sorted(sweep.started())
            for meta in kept.values():
                assert (meta["unrecorded"], meta["status"], meta["exit_code"]) == ("done", "done", 0)
                assert meta["ended"] >= meta["started"]
        finally:
            own_server.start_again()

        ended_at = {i: m["ended"] for i, m in kept.items()}
        if then == "run":
            done = sweep.runyard("run", "--jobs", str(JOBS))
        else:
            done = sweep.runyard("worker", "--burst", "--jobs", str(JOBS))
        assert done.returncode == 0, done.stdout + done.stderr
        assert "kept in meta.json while the store was unreachable, is recorded" in done.stdout + done.stderr
        check_all_done_once(sweep)
        records = stored(sweep)
        for i, ended in ended_at.items():  # the time the step really ended, not when it was written
            assert records[i][2] == pytest.approx(ended)
        assert not any(m.get("unrecorded") for m in sweep.metas().values())


def test_an_outage_shorter_than_the_window_loses_nothing(own_server: PgServer, tmp_path: Path) -> None:
    with sweep_on(tmp_path / "proj", own_server.create_database()) as sweep:
        sweep.write(RUNS)
        assert sweep.runyard("submit").returncode == 0
        proc = sweep.start("worker", "--burst", "--jobs", str(JOBS), "--store-timeout", "120")
        wait_for(lambda: len(sweep.started()) == JOBS, 60, f"{JOBS} steps to start")
        own_server.halt("fast")
        try:
            sweep.release()
            # the steps ended, and the worker kept their results while the store is down
            wait_for(lambda: sum(bool(m.get("unrecorded")) for m in sweep.metas().values()) == JOBS, 60,
                       "the results of the running steps to be kept in meta.json")
            assert proc.poll() is None, sweep.output(proc)
        finally:
            own_server.start_again()
        code = sweep.wait(proc, 120)
        output = sweep.output(proc)
        assert code == 0, output
        assert "Traceback" not in output, output
        assert output.count("store unreachable:") == 1, output
        assert output.count("store reachable again after") == 1, output
        check_all_done_once(sweep)
        assert not any(m.get("unrecorded") for m in sweep.metas().values())
