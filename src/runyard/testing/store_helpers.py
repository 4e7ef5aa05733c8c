"""Helpers of the store contract suite: a controllable clock, small plans, and the child
processes of the concurrency tests (module-level so ``spawn`` can import them)."""

from __future__ import annotations

import hashlib
import importlib
import multiprocessing
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from runyard.layout import HomePaths
from runyard.model import Plan, Run, Status, StepExec
from runyard.store.base import ExecRecord, Store


class FakeClock:
    """An injectable clock: ``clock()`` returns ``clock.now``; ``advance`` moves it."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


def key(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()


def ex(
    home: Path,
    name: str,
    needs: Iterable[StepExec] = (),
    *,
    experiment: str = "exp",
    step: str | None = None,
    variant: str = "",
    **fields: Any,
) -> StepExec:
    """A step execution named ``name`` (key derived from experiment, name and variant)."""
    k = key(experiment, name, variant)
    step = step or name
    return StepExec(
        key=k,
        experiment=experiment,
        step=step,
        command=f"echo {name}",
        needs=tuple(n.key for n in needs),
        folder=HomePaths(str(home)).experiment(experiment).execution(step, k),
        workdir=str(home),
        **fields,
    )


def plan(
    home: Path, *execs: StepExec, experiment: str = "exp", runs: Sequence[Run] | None = None, **params: Any
) -> Plan:
    """A plan of ``execs`` (topological order); by default one run holding all of them."""
    if runs is None:
        seen = Counter(e.step for e in execs)
        names = [e.step if seen[e.step] == 1 else f"{e.step}-{e.key[:6]}" for e in execs]
        steps = tuple(zip(names, (e.key for e in execs), strict=True))
        run_params = params or {"n": 1}
        run_id = key(experiment, "run", *sorted(f"{k}={v}" for k, v in run_params.items()))
        runs_folder = HomePaths(str(home)).experiment(experiment).runs
        runs = [Run(run_id, experiment, "run-" + run_id[:6], run_params, steps, runs_folder)]
    return Plan(
        experiment=experiment,
        home=str(home),
        spec_path=str(home / "spec.yaml"),
        runs=tuple(runs),
        executions=tuple(execs),
        spec={"experiment": experiment, "steps": {e.step: e.command for e in execs}},
    )


def accept_all(_record: ExecRecord) -> bool:
    return True


def only(key_: str) -> Callable[[ExecRecord], bool]:
    """An ``accept`` taking just the execution ``key_``."""
    return lambda record: record.key == key_


def run_to_done(store: Store, worker: str, key_: str, *, experiment: str | None = None) -> ExecRecord:
    """Claim ``key_`` (it must be ready) and finish it as done; returns the finished record."""
    got = store.claim(worker, lambda r: r.key == key_, limit=1, experiment=experiment)
    assert [r.key for r in got] == [key_], f"could not claim {key_[:12]}: got {[r.key[:12] for r in got]}"
    done = store.finish(key_, worker, status=Status.DONE, exit_code=0)
    assert done is not None and done.status == Status.DONE
    return done


def open_by(opener: str, url: str, **options: Any) -> Store:
    """Open ``url`` with the ``module:function`` named ``opener`` (``options``: e.g. ``readonly=True``)."""
    module, _, name = opener.partition(":")
    factory = getattr(importlib.import_module(module), name)
    store: Store = factory(url, **options)
    return store


def drain_worker(
    opener: str,
    url: str,
    worker: str,
    experiment: str,
    total: int,
    start: Any,
    results: Any,
    seconds: float,
) -> None:
    """Child process: claim/finish until ``total`` executions of ``experiment`` are done; put
    ``(worker, [claimed keys], error or None)`` on ``results``."""
    claimed: list[str] = []
    try:
        store = open_by(opener, url)
        start.wait(timeout=seconds)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            records = store.claim(worker, accept_all, limit=2, experiment=experiment, lease_seconds=120)
            for record in records:
                claimed.append(record.key)
                assert store.started(record.key, worker, pid=1, pgid=1, host="test")
                assert store.finish(record.key, worker, status=Status.DONE, exit_code=0) is not None
            if not records:
                if store.counts(experiment)[Status.DONE] >= total:
                    break
                time.sleep(0.002)
        else:
            raise TimeoutError(f"{worker}: not everything done after {seconds}s")
        store.close()
        results.put((worker, claimed, None))
    except BaseException:
        results.put((worker, claimed, traceback.format_exc()))


def run_drainers(
    opener: str, url: str, experiment: str, total: int, workers: int, seconds: float = 40.0
) -> dict[str, list[str]]:
    """Run ``workers`` real processes draining ``experiment``; returns worker → claimed keys."""
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    results = ctx.Queue()
    procs = [
        ctx.Process(target=drain_worker, args=(opener, url, f"w{i}", experiment, total, start, results, seconds))
        for i in range(workers)
    ]
    for proc in procs:
        proc.start()
    start.set()
    found: dict[str, list[str]] = {}
    errors: list[str] = []
    for _ in procs:
        worker, claimed, error = results.get(timeout=seconds + 60)
        found[worker] = claimed
        if error:
            errors.append(error)
    for proc in procs:
        proc.join(timeout=10)
    assert not errors, "\n".join(errors)
    return found
