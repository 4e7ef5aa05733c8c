"""Tuning inside a worker: each freed slot asks the store for the next trial at once, the step's live
metrics feed the pruner, and each ended run tells the store how its trial went.

A trial is a run of the experiment: the grid cell's params, the spec's params and the sampled ones,
planned like any run (so params already run are cached by their keys, not run again). The store
hands out trial numbers (``tune_ask``: one transaction holding the study), so any number of workers on
any machines take trials of one study without duplicates; the in-memory Optuna study of each worker
is brought up to date from the store's trial rows before each ask.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, cast

from runyard.app.tuning_engine import Engine
from runyard.execute import files
from runyard.execute.events import EventSink
from runyard.execute.tuning import PRUNED
from runyard.layout import ExecutionPaths
from runyard.model import ParamValue, Plan, Status
from runyard.spec.tune import TuneSpec
from runyard.spec.types import Spec
from runyard.store.base import ExecRecord, Store
from runyard.store.trials import TrialRow, TrialStore

REFRESH_SECONDS = 1.0  # how often a worker looks for studies opened (or extended) elsewhere


def study_name(cell: Mapping[str, ParamValue]) -> str:
    """The study of a grid cell: its params as canonical JSON ("{}" without a grid)."""
    return json.dumps(dict(cell), sort_keys=True)


@dataclass
class Study:
    experiment: str
    name: str
    spec: Spec
    home: str
    cell: dict[str, ParamValue]
    engine: Engine | None = None
    exhausted: bool = False
    past: int = 0  # past runs that warm-started the study

    @property
    def tune(self) -> TuneSpec:
        assert self.spec.tune is not None
        return self.spec.tune


@dataclass
class Trial:
    study: Study
    number: int
    params: dict[str, ParamValue]
    plan: Plan
    keys: tuple[str, ...] = field(default=())


TrialSink = Callable[[TrialRow], None]


class Tuner:
    """What a worker's tuning hook does (see :class:`runyard.execute.worker.Hooks`)."""

    def __init__(self, store: Store, worker_id: str, *, experiments: Sequence[str] | None = None,
                 specs: Mapping[str, tuple[Spec, str]] | None = None, on_trial: TrialSink | None = None) -> None:
        self.store = store
        self.trials = cast(TrialStore, store)
        self.worker_id = worker_id
        self.experiments = list(experiments) if experiments else None
        self._specs = dict(specs or {})
        self._studies: dict[tuple[str, str], Study] = {}
        self._mine: dict[str, list[Trial]] = {}  # execution key → the running trials of this worker using it
        self._pruned: set[str] = set()
        self._refreshed = -1e9
        self._adopted = False
        self.on_trial = on_trial or (lambda row: None)

    # --- the studies ------------------------------------------------------------------------------
    def _refresh(self) -> None:
        now = time.monotonic()
        if now - self._refreshed < REFRESH_SECONDS:
            return
        self._refreshed = now
        scope: list[str | None] = list(self.experiments) if self.experiments else [None]
        for experiment in scope:
            for name, study, target in self.trials.tune_studies(experiment):
                known = self._studies.get((name, study))
                if known is None:
                    known = self._open(name, study)
                    if known is None:
                        continue
                if known.exhausted and len(self.trials.tune_trials(name, study)) < target:
                    known.exhausted = False
        self._settle()

    def _settle(self) -> None:
        """Tell the trials whose run ended on another worker (a queue: any worker may claim a trial's step)."""
        seen: set[int] = set()
        for trials in list(self._mine.values()):
            for trial in list(trials):
                if id(trial) not in seen:
                    seen.add(id(trial))
                    self._check(trial)

    def _open(self, experiment: str, study: str) -> Study | None:
        if experiment in self._specs:
            spec, home = self._specs[experiment]
        else:
            from runyard.app.stored import load_stored_spec

            stored = load_stored_spec(self.store, experiment)
            spec, home = stored.spec, stored.home
            self._specs[experiment] = (spec, home)
        if spec.tune is None:
            return None
        found = self._studies[(experiment, study)] = Study(experiment, study, spec, home, json.loads(study))
        return found

    def engine(self, study: Study) -> Engine:
        """The study's in-memory Optuna study, warm-started from every past run in the space once."""
        if study.engine is None:
            from runyard.app.tuning_past import past_runs

            fixed = {**study.spec.params, **study.cell}
            study.engine = Engine(study.tune, fixed, name=f"{study.experiment} {study.name}")
            trial_runs = {row.run_id for row in self.trials.tune_trials(study.experiment)}
            study.past = study.engine.add_past(past_runs(self.store, study.experiment, study.tune, study.cell,
                                                         skip=trial_runs))
        return study.engine

    # --- asking -----------------------------------------------------------------------------------
    @property
    def pending(self) -> bool:
        """More trials may come from this worker: a study not exhausted, or a trial of it running."""
        self._refresh()
        return bool(self._mine) or any(not s.exhausted for s in self._studies.values())

    def busy(self, experiment: str) -> bool:
        """Whether a study of ``experiment`` has trials left to ask or running."""
        for name, study, target in self.trials.tune_studies(experiment):
            rows = self.trials.tune_trials(name, study)
            if len(rows) < target or any(row.state == "running" for row in rows):
                return True
        return False

    def feed(self, free: int) -> int:
        """Ask for and submit up to ``free`` trials that need running (cached ones are told at once)."""
        self._refresh()
        if not self._adopted:
            self._adopted = True
            self._adopt()
        submitted = 0
        for study in list(self._studies.values()):
            while submitted < free and not study.exhausted:
                trial = self._ask(study)
                if trial is None:
                    study.exhausted = True
                elif self._submit(trial):
                    submitted += 1
        return submitted

    def _ask(self, study: Study) -> Trial | None:
        engine = self.engine(study)
        made: dict[str, Trial] = {}

        def propose(rows: list[TrialRow], number: int) -> tuple[str, Mapping[str, ParamValue]]:
            for row in rows:
                engine.add_recorded(row.number, row.params, row.state, row.values, row.intermediate, row.attrs)
            params = engine.ask(number)
            plan = self._plan(study, params)
            made["trial"] = Trial(study, number, params, plan)
            return plan.runs[0].id, params

        row = self.trials.tune_ask(study.experiment, study.name, self.worker_id, propose)
        return made["trial"] if row is not None else None

    def _plan(self, study: Study, params: Mapping[str, ParamValue]) -> Plan:
        from runyard.app.planning import make_plan

        spec = replace(study.spec, sweeps={}, aggregates=(), select=None)
        return make_plan(spec, home=study.home, overrides={**study.cell, **params})

    def _submit(self, trial: Trial) -> bool:
        """Submit the trial's run; False when every execution of it is done already (told at once)."""
        plan = trial.plan
        result = self.store.submit(plan)
        files.write_run_folders(plan)
        trial.keys = tuple(key for _, key in plan.runs[0].steps)
        if set(trial.keys) <= set(result.cached):  # params run already: their recorded result, at once
            self._tell(trial, self.store.executions(trial.study.experiment, keys=trial.keys))
            return False
        for key in trial.keys:
            self._mine.setdefault(key, []).append(trial)
        return True

    def _adopt(self) -> None:
        """Trials left running by a worker that is gone (a killed ``runyard tune``): submitted again,
        which requeues what did not finish, and followed by this worker."""
        alive = {w.id for w in self.store.workers()}
        for study in list(self._studies.values()):
            for row in self.trials.tune_trials(study.experiment, study.name):
                if row.state != "running" or row.worker in alive:
                    continue
                trial = Trial(study, row.number, dict(row.params), self._plan(study, row.params))
                self._submit(trial)

    # --- telling ----------------------------------------------------------------------------------
    def recorded(self, record: ExecRecord) -> None:
        """An execution ended: tell the trials that used it whose run is now over."""
        for trial in list(self._mine.get(record.key, [])):
            self._check(trial)

    def _check(self, trial: Trial) -> None:
        records = self.store.executions(trial.study.experiment, keys=trial.keys)
        if any(r.status in (Status.READY, Status.RUNNING) for r in records):
            return
        if any(r.status == Status.INTERRUPTED for r in records):  # stopped with its worker: resumed later
            self._forget(trial)
        elif all(r.status == Status.DONE for r in records) or any(r.status.finished for r in records):
            self._tell(trial, records)

    def _forget(self, trial: Trial) -> None:
        for key in trial.keys:
            if trial.study.engine is not None and len(self._mine.get(key, [])) <= 1:
                trial.study.engine.close(key)
            users = self._mine.get(key, [])
            if trial in users:
                users.remove(trial)
            if not users:
                self._mine.pop(key, None)

    def _tell(self, trial: Trial, records: list[ExecRecord]) -> None:
        attrs: dict[str, Any] = {}  # the pruner's marks, kept with the trial (before _forget closes it)
        if trial.study.engine is not None:
            for key in trial.keys:
                attrs.update(trial.study.engine.close(key))
        self._forget(trial)
        objectives = trial.study.tune.objectives
        summaries = self.store.metric_summaries(trial.keys)
        values: list[float] = []
        for objective in objectives:
            found = [s[objective.metric].last for s in summaries.values() if objective.metric in s]
            if found and found[-1] is not None:
                values.append(float(found[-1]))
        tune = trial.study.tune
        pruning = tune.pruner != "none" and len(objectives) == 1  # the pruner reads the trials' steps
        intermediate = self._intermediate(trial.keys, objectives[0].metric) if pruning else None
        pruned = any(r.key in self._pruned or (r.status == Status.FAILED and r.error == PRUNED) for r in records)
        if pruned:
            state = "pruned"
        elif all(r.status == Status.DONE for r in records) and len(values) == len(objectives):
            state = "complete"
        else:
            state = "failed"
        self._pruned.difference_update(trial.keys)
        told = values if len(values) == len(objectives) else None
        self.trials.tune_tell(trial.study.experiment, trial.study.name, trial.number, state, told, intermediate,
                              attrs)
        self.on_trial(TrialRow(trial.study.experiment, trial.study.name, trial.number, trial.plan.runs[0].id,
                               trial.params, state, tuple(told) if told else None, self.worker_id, intermediate))

    def _intermediate(self, keys: Sequence[str], metric: str) -> dict[int, float]:
        for key in keys:
            points = self.store.metric_points(key, metric)
            if points:
                return {p.step if p.step is not None else i: p.value for i, p in enumerate(points)}
        return {}

    # --- pruning ----------------------------------------------------------------------------------
    def prune(self, running: Sequence[str]) -> dict[str, str]:
        """The running executions whose trial the pruner stops, with the reason (``pruned``)."""
        stops: dict[str, str] = {}
        if any(key not in self._mine for key in running):
            self._follow_running()
        for key in running:
            for trial in self._mine.get(key, []):
                tune = trial.study.tune
                if key in self._pruned or tune.pruner == "none" or len(tune.objectives) > 1:
                    continue
                intermediate = self._intermediate([key], tune.objectives[0].metric)
                if not intermediate:
                    continue
                engine = self.engine(trial.study)
                for row in self.trials.tune_trials(trial.study.experiment, trial.study.name):
                    engine.add_recorded(row.number, row.params, row.state, row.values, row.intermediate, row.attrs)
                if engine.should_prune(key, trial.params, intermediate):
                    self._pruned.add(key)
                    self._flag(key, trial)
                    stops[key] = PRUNED
        return stops

    def _follow_running(self) -> None:
        """Follow the running trials other workers asked for: this worker may be running their steps."""
        followed = {(t.study.experiment, t.study.name, t.number) for ts in self._mine.values() for t in ts}
        for study in list(self._studies.values()):
            for row in self.trials.tune_trials(study.experiment, study.name):
                if row.state == "running" and (study.experiment, study.name, row.number) not in followed:
                    trial = Trial(study, row.number, dict(row.params), self._plan(study, row.params))
                    trial.keys = tuple(key for _, key in trial.plan.runs[0].steps)
                    for key in trial.keys:
                        self._mine.setdefault(key, []).append(trial)

    def _flag(self, key: str, trial: Trial) -> None:
        """Tell the step itself too: ``runyard.should_prune()`` is true from now on."""
        for ex in trial.plan.executions:
            if ex.key == key:
                with contextlib.suppress(OSError), open(ExecutionPaths(ex.folder).prune_flag, "w") as flag:
                    flag.write(f"trial {trial.number}\n")


def tuning_hook(*, experiments: Sequence[str] | None = None, specs: Mapping[str, tuple[Spec, str]] | None = None,
                on_trial: TrialSink | None = None) -> Callable[[Store, str, EventSink], Any]:
    """The worker hook that makes a :class:`Tuner` for a worker."""
    def make(store: Store, worker_id: str, emit: EventSink) -> Tuner:
        return Tuner(store, worker_id, experiments=experiments, specs=specs, on_trial=on_trial)
    return make
