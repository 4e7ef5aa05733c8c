"""A real store under tmp_path, filled the way runyard fills it: a spec expanded into a plan,
submitted, executions finished (with an injected clock) and metrics logged."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from runyard.model import Metric, Plan, Run, Status
from runyard.spec import expand, spec_from_dict
from runyard.store import Store, open_store
from runyard.testing.store_helpers import FakeClock

T0 = 1_700_000_000.0

SPEC: dict[str, Any] = {
    "experiment": "norm",
    "params": {"norm": "batch", "lr": 0.1, "seed": 1, "early-stop": False, "data": "iwslt"},
    "steps": {
        "train": "echo train {norm} {lr} {seed} [early-stop] {data} {out}",
        "test": "echo test {train.out}",
    },
    "metrics": {"bleu": {"step": "test", "regex": "BLEU = (.*)", "mode": "max"},
                "loss": {"step": "train", "regex": "loss (.*)", "mode": "min"}},
    "sweeps": {"main": {"norm": ["batch", "layer"], "seed": [1, 2, 3]}},
}


class Project:
    """One experiment in a SQLite store under ``folder``."""

    def __init__(self, folder: Path, spec: Mapping[str, Any] | None = None, *, url: str | None = None,
                 clock: FakeClock | None = None) -> None:
        self.folder = folder
        self.home = folder / "home"
        self.url = url or f"sqlite:///{self.home / 'runyard.db'}"
        self.clock = clock or FakeClock(T0)
        self.store: Store = open_store(self.url, clock=self.clock)
        self.plans: list[Plan] = []
        if spec is not None:
            self.submit(spec)

    def submit(self, spec: Mapping[str, Any]) -> Plan:
        plan = expand(spec_from_dict(copy.deepcopy(dict(spec)), folder=self.folder), home=str(self.home))
        self.store.submit(plan)
        self.plans.append(plan)
        return plan

    @property
    def plan(self) -> Plan:
        return self.plans[-1]

    def run(self, **params: Any) -> Run:
        found = [r for r in self.plan.runs if all(r.params.get(k) == v for k, v in params.items())]
        assert len(found) == 1, (params, [r.params for r in found])
        return found[0]

    def key(self, run: Run, step: str) -> str:
        return dict(run.steps)[step]

    def finish(self, key: str, *, seconds: float = 10.0, status: Status = Status.DONE) -> None:
        """Claim ``key`` (ready), run it for ``seconds`` of the fake clock, finish it with ``status``."""
        taken = self.store.claim("w1", lambda rec: rec.key == key, limit=1)
        assert [t.key for t in taken] == [key]
        self.clock.advance(seconds)
        self.store.finish(key, "w1", status=status, exit_code=0 if status == Status.DONE else 1)

    def finish_all(self, *, seconds: float = 10.0) -> None:
        for ex in self.plan.executions:  # topological order: each one is ready when reached
            if self.store.execution(ex.key).status == Status.READY:
                self.finish(ex.key, seconds=seconds)

    def log(self, run: Run, step: str, **values: float | list[float]) -> None:
        points = []
        for name, value in values.items():
            series = value if isinstance(value, list) else [value]
            points += [Metric(name, v, step=i, time=self.clock() + i) for i, v in enumerate(series)]
        self.store.log_metrics(self.key(run, step), points)

    def close(self) -> None:
        self.store.close()


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    """The SPEC sweep (norm × seed, 6 runs), every step done, bleu and loss logged."""
    proj = Project(tmp_path, SPEC)
    proj.finish_all()
    for run in proj.plan.runs:
        seed = run.params["seed"]
        base = 30.0 if run.params["norm"] == "batch" else 20.0
        proj.log(run, "train", loss=[4.0, 2.0 + seed / 10, 3.0])
        proj.log(run, "test", bleu=base + seed)
    try:
        yield proj
    finally:
        proj.close()
