"""Helpers for the fault tests of the queue: several worker processes on one store, killed, stopped and
cut off from their store on purpose.

A :class:`Cluster` is a spec folder and a home under ``tmp_path``, a store URL (a SQLite file or a
fresh database on a PostgreSQL server started by the tests) and the worker processes started on it
(``runyard`` as real subprocesses, each with its output in ``<tmp>/worker-N.txt``).

The sweep (:func:`Cluster.sweep`) has ``runs`` runs of two steps each, ``prep`` and ``work``
(``work`` reads what ``prep`` wrote, so it must run after it; a step whose worker died is retried up
to 5 times). Both run ``step.py``, which appends ``start KEY WORKER ATTEMPT`` when it starts and
``end KEY WORKER ATTEMPT`` just before it exits to the evidence file, with one ``write`` each
(O_APPEND), so every attempt of every execution is on record whatever happens to the worker.
``work`` reports three points of one metric through one of three channels, by ``i % 3``:
``runyard.log`` (``api``), JSON lines written straight to ``$RUNYARD_METRICS`` (``file``), or lines
of its log read by a regex of the spec (``regex``); the values are known in advance
(:func:`expected_points`), so the store must hold exactly those, once each.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from runyard.model import Status
from runyard.store import Store, open_store
from runyard.testing.pgserver import PgServer
from runyard.testing.processes import complete_lines

RUNYARD = str(Path(sys.executable).with_name("runyard"))
EXPERIMENT = "faults"
METRIC_OF = ("api_score", "file_score", "regex_score")  # by i % 3

STEP_PY = r'''
import json, os, sys, time

EVIDENCE = {evidence!r}
STEP, I = sys.argv[1], int(sys.argv[2])
KEY, WORKER, ATTEMPT = os.environ["RUNYARD_KEY"], os.environ["RUNYARD_WORKER"], os.environ["RUNYARD_ATTEMPT"]


def note(event):
    fd = os.open(EVIDENCE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{{event}} {{KEY}} {{WORKER}} {{ATTEMPT}} {{STEP}} {{I}}\n".encode())
    finally:
        os.close(fd)


def seconds():
    """How long this step sleeps: a file SLOW_<step>_<i> or SLOW (seconds) in the spec folder, else short."""
    for path in (f"SLOW_{{STEP}}_{{I}}", "SLOW"):
        if os.path.exists(path):
            with open(path) as handle:
                return float(handle.read())
    return 0.01 + (I * 7919 % 7) / 100


def point(s):
    value = I + s / 10
    if I % 3 == 0:
        import runyard
        runyard.log(api_score=value, step=s)
    elif I % 3 == 1:
        with open(os.environ["RUNYARD_METRICS"], "a") as handle:
            handle.write(json.dumps({{"file_score": value, "step": s}}) + "\n")
    else:
        print(f"regex score={{value}}", flush=True)


note("start")
pause = seconds()
if STEP == "prep":
    time.sleep(pause)
    with open(os.path.join(sys.argv[3], "value"), "w") as handle:
        handle.write(str(I))
else:
    with open(os.path.join(sys.argv[3], "value")) as handle:
        assert int(handle.read()) == I, "prep wrote another value"
    point(0)
    time.sleep(pause / 2)
    while os.path.exists(f"HOLD_{{STEP}}_{{I}}_{{ATTEMPT}}"):  # held by the test
        time.sleep(0.02)
    point(1)
    point(2)
    time.sleep(pause / 2)
note("end")
'''

SPEC = """
experiment: {experiment}
params: {{i: 0}}
steps:
  prep:
    run: python step.py prep {{i}} {{out}}
    retries: 5
  work:
    run: python step.py work {{i}} {{prep.out}}
    retries: 5
metrics:
  regex_score: {{step: work, regex: 'regex score=([0-9.]+)'}}
sweeps:
  all: {{i: [{values}]}}
"""


def expected_points(i: int) -> list[tuple[str, int, float]]:
    """(name, step, value) of the points the ``work`` step of run ``i`` reports."""
    return [(METRIC_OF[i % 3], s, i + s / 10) for s in range(3)]


@dataclass(frozen=True)
class Attempt:
    """One line of the evidence file."""

    event: str  # start | end
    key: str
    worker: str
    attempt: int
    step: str
    i: int


@dataclass
class Cluster:
    tmp: Path
    root: Path  # the spec folder
    home: Path
    url: str
    evidence: Path
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    # --- the sweep ----------------------------------------------------------------------------------
    def sweep(self, runs: int) -> Path:
        """Write ``step.py`` and a spec of ``runs`` runs × 2 steps; return the spec."""
        (self.root / "step.py").write_text(STEP_PY.format(evidence=str(self.evidence)), encoding="utf-8")
        spec = self.root / "runyard.yaml"
        values = ", ".join(str(i) for i in range(runs))
        spec.write_text(SPEC.format(experiment=EXPERIMENT, values=values), encoding="utf-8")
        return spec

    def hold(self, step: str, i: int, attempt: int) -> Path:
        """Make that attempt of that step wait after its first metric point until the returned file is removed."""
        path = self.root / f"HOLD_{step}_{i}_{attempt}"
        path.touch()
        return path

    def slow(self, seconds: float, step: str | None = None, i: int | None = None) -> None:
        """Make every step (or the step ``step`` of run ``i``) sleep ``seconds``."""
        name = "SLOW" if step is None else f"SLOW_{step}_{i}"
        (self.root / name).write_text(str(seconds), encoding="utf-8")

    # --- processes ----------------------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RUNYARD_")}
        env.update(RUNYARD_HOME=str(self.home), PYTHONDONTWRITEBYTECODE="1")
        return env

    def runyard(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """``runyard ARGS --store URL`` waited for."""
        return subprocess.run([RUNYARD, *args, "--store", self.url], cwd=self.root, env=self.env(), text=True,
                              capture_output=True, timeout=timeout, check=False)

    def submit(self) -> None:
        done = self.runyard("submit")
        assert done.returncode == 0, done.stdout + done.stderr

    def start_worker(self, *args: str, command: str = "worker", burst: bool = True,
                     host: str | None = None) -> subprocess.Popen[bytes]:
        """A worker process: ``runyard worker --store URL --burst ARGS`` (works until nothing is left; without
        ``burst``, until stopped), or with ``command="run"``, ``runyard run --store URL ARGS`` (submits the
        spec, idempotent, then drains it); in its own session, its output in ``<tmp>/worker-N.txt``.
        With ``host``, the worker runs under that host name (its own UTS namespace), as if on another
        machine: the others can only learn of its death by its lease."""
        argv = [RUNYARD, command, "--store", self.url, *(["--burst"] if command == "worker" and burst else []), *args]
        if host is not None:
            argv = [*OTHER_HOST, f'hostname {host} && exec "$@"', "sh", *argv]
        out = open(self.tmp / f"worker-{len(self.workers)}.txt", "wb")  # noqa: SIM115 - closed below
        proc = subprocess.Popen(argv, cwd=self.root, env=self.env(), stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        out.close()
        self.workers.append(proc)
        return proc

    def output(self, proc: subprocess.Popen[bytes]) -> str:
        return (self.tmp / f"worker-{self.workers.index(proc)}.txt").read_text(encoding="utf-8", errors="replace")

    def outputs(self) -> str:
        return "\n".join(f"--- worker {n} (pid {p.pid}, exit {p.returncode}):\n{self.output(p)}"
                         for n, p in enumerate(self.workers))

    def wait_all(self, timeout: float) -> None:
        """Wait for every worker to exit; on timeout kill them all and fail with their outputs."""
        deadline = time.monotonic() + timeout
        for proc in self.workers:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.kill_all()
                raise AssertionError(f"workers still running after {timeout}s\n{self.outputs()}") from None

    def kill_all(self) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGCONT)
                    os.kill(proc.pid, signal.SIGKILL)
                proc.wait(10)

    # --- what happened ------------------------------------------------------------------------------
    def attempts(self) -> list[Attempt]:
        out = []
        for line in complete_lines(self.evidence):
            event, key, worker, attempt, step, i = line.split()
            out.append(Attempt(event, key, worker, int(attempt), step, int(i)))
        return out

    @contextlib.contextmanager
    def store(self) -> Iterator[Store]:
        store = open_store(self.url)
        try:
            yield store
        finally:
            store.close()

    def check_sweep(self, runs: int) -> dict[str, Any]:
        """Everything of a finished sweep of ``runs`` runs is in the store, exactly once:

        - every run is there, each with both its steps, and every execution is ``done`` (none stuck
          ``running``, none lost);
        - the store's record of each execution is one attempt that completed (its worker and attempt
          number are those of an ``end`` line of the evidence);
        - the metric points of each ``work`` execution are exactly the three it reports, once each, and
          the summary counts three;
        - no attempt number of an execution started twice (one claim per attempt: never two workers
          holding the same attempt).

        Returns facts for further checks: ``records`` (key → ExecRecord), ``attempts``."""
        attempts = self.attempts()
        with self.store() as store:
            records = {ex.key: ex for ex in store.executions(EXPERIMENT)}
            run_list = store.runs(EXPERIMENT)
            points = {key: store.metric_points(key) for key, ex in records.items() if ex.step == "work"}
            summaries = store.metric_summaries([k for k, ex in records.items() if ex.step == "work"])
        assert len(run_list) == runs, f"{len(run_list)} runs in the store, expected {runs}"
        assert len(records) == 2 * runs
        assert all(len(run.steps) == 2 for run in run_list)
        assert {key for run in run_list for _, key in run.steps} == set(records)
        not_done = {key[:12]: (str(ex.status), ex.error) for key, ex in records.items() if ex.status != Status.DONE}
        assert not not_done, f"executions not done: {not_done}"

        completed: dict[str, set[tuple[str, int]]] = {}
        started: dict[str, list[int]] = {}
        for a in attempts:
            if a.event == "end":
                completed.setdefault(a.key, set()).add((a.worker, a.attempt))
            else:
                started.setdefault(a.key, []).append(a.attempt)
        for key, ex in records.items():
            assert (ex.worker_id, ex.attempts) in completed.get(key, set()), (
                f"{ex.step} {key[:12]}: the store records attempt {ex.attempts} by {ex.worker_id}, "
                f"which never completed (completed: {sorted(completed.get(key, set()))})")
            numbers = started[key]
            assert len(numbers) == len(set(numbers)), f"{key[:12]}: one attempt number started twice: {numbers}"
        for key, got in points.items():
            i = int(records[key].params["i"])
            stored = sorted((p.name, p.step, round(p.value, 6)) for p in got)
            assert stored == expected_points(i), f"work {key[:12]} (i={i}): metric points {stored}"
            (summary,) = summaries[key].values()
            assert summary.count == 3 and summary.last == i + 0.2
        return {"records": records, "attempts": attempts}


#: Runs a command under its own host name (an unprivileged user namespace with its own UTS namespace).
OTHER_HOST = ("unshare", "--user", "--map-root-user", "--uts", "sh", "-c")


def require_other_host() -> None:
    """Skip (fail when ``CI`` is set) unless a worker can be given a host name of its own."""
    try:
        ok = subprocess.run([*OTHER_HOST, "hostname elsewhere"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    if not ok:
        message = "cannot run a process under another host name (unshare --user --uts is not permitted here)"
        if os.environ.get("CI"):
            pytest.fail(f"{message} (CI is set, so this test may not be skipped)")
        pytest.skip(message)


def no_errors(output: str) -> None:
    """A worker's output shows no crash and no SQLite lock error."""
    assert "Traceback" not in output, output
    assert "database is locked" not in output, output


def _make_cluster(tmp_path: Path, url: str) -> Cluster:
    root = tmp_path / "proj"
    root.mkdir()
    return Cluster(tmp=tmp_path, root=root, home=tmp_path / "home", url=url, evidence=tmp_path / "evidence.txt")


@contextlib.contextmanager
def cluster_on(tmp_path: Path, url: str) -> Iterator[Cluster]:
    cluster = _make_cluster(tmp_path, url)
    try:
        yield cluster
    finally:
        cluster.kill_all()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    """A cluster on a SQLite file, then on a fresh database of the session's PostgreSQL server."""
    if request.param == "sqlite":
        with cluster_on(tmp_path, f"sqlite:///{tmp_path}/home/runyard.db") as made:
            yield made
        return
    server: PgServer = request.getfixturevalue("pg_server")
    url = server.create_database()
    try:
        with cluster_on(tmp_path, url) as made:
            yield made
    finally:
        server.drop_database(url)


@pytest.fixture
def sqlite_cluster(tmp_path: Path) -> Iterator[Cluster]:
    with cluster_on(tmp_path, f"sqlite:///{tmp_path}/home/runyard.db") as made:
        yield made


