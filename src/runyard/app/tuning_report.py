"""What ``runyard tune --report`` and ``runyard compare`` read of a tuned experiment: its trials, the
best one (or the Pareto front), the parameter importances (Optuna's evaluator) and the history."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import cast

from runyard.app.tuning_engine import Engine
from runyard.spec.types import Spec
from runyard.store.base import Store
from runyard.store.trials import TrialRow, TrialStore


@dataclass
class StudyReport:
    study: str
    trials: list[TrialRow]
    best: list[TrialRow]  # the best trial, or the Pareto front with several objectives
    importances: dict[str, float] = field(default_factory=dict)
    # (number, state, value, best so far)
    history: list[tuple[int, str, float | None, float | None]] = field(default_factory=list)

    def lines(self, metrics: list[str]) -> list[str]:
        counts: dict[str, int] = {}
        for trial in self.trials:
            counts[trial.state] = counts.get(trial.state, 0) + 1
        head = f"study {self.study}: " if self.study != "{}" else ""
        out = [f"{head}{len(self.trials)} trials (" + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) + ")"]
        for trial in self.best:
            values = ", ".join(f"{m}={v:.6g}" for m, v in zip(metrics, trial.values or (), strict=False))
            out.append(f"best: trial {trial.number}: {values}  params: " +
                       " ".join(f"{k}={v}" for k, v in sorted(trial.params.items())))
        if self.importances:
            out.append("importances: " + ", ".join(f"{k} {v:.2f}" for k, v in self.importances.items()))
        if self.history:
            out.append("history (trial, state, value, best so far):")
            out += [f"  {n:>4}  {s:<8}  {'' if v is None else f'{v:.6g}':>12}  {'' if b is None else f'{b:.6g}':>12}"
                    for n, s, v, b in self.history]
        return out


def trial_rows(store: Store, experiment: str) -> list[TrialRow]:
    """Every trial of ``experiment`` (none for an experiment never tuned)."""
    reader = cast(TrialStore, store)
    return reader.tune_trials(experiment) if hasattr(reader, "tune_trials") else []


def trials_by_run(store: Store, experiment: str) -> Mapping[str, TrialRow]:
    """Run id → its trial (the last one asked, when params were asked twice)."""
    return {row.run_id: row for row in trial_rows(store, experiment)}


def best_trials(rows: list[TrialRow], directions: tuple[str, ...]) -> list[TrialRow]:
    done = [r for r in rows if r.state == "complete" and r.values and all(math.isfinite(v) for v in r.values)]
    if not done:
        return []
    signs = [1.0 if d == "minimize" else -1.0 for d in directions]
    if len(directions) == 1:
        return [min(done, key=lambda r: signs[0] * (r.values or (0.0,))[0])]

    def dominates(a: TrialRow, b: TrialRow) -> bool:
        av = [s * v for s, v in zip(signs, a.values or (), strict=True)]
        bv = [s * v for s, v in zip(signs, b.values or (), strict=True)]
        return all(x <= y for x, y in zip(av, bv, strict=True)) and av != bv

    return [r for r in done if not any(dominates(o, r) for o in done)]


def report(store: Store, spec: Spec, *, importances: bool = True) -> list[StudyReport]:
    assert spec.tune is not None
    tune = spec.tune
    rows = trial_rows(store, spec.experiment)
    studies: dict[str, list[TrialRow]] = {}
    for row in rows:
        studies.setdefault(row.study, []).append(row)
    reports = []
    for name, trials in studies.items():
        found = StudyReport(name, trials, best_trials(trials, tune.directions))
        if len(tune.directions) == 1:
            sign = 1.0 if tune.directions[0] == "minimize" else -1.0
            best: float | None = None
            for row in trials:
                value = row.values[0] if row.state == "complete" and row.values else None
                if value is not None and (best is None or sign * value < sign * best):
                    best = value
                found.history.append((row.number, row.state, value, best))
        if importances:
            found.importances = _importances(spec, trials)
        reports.append(found)
    return reports


def _importances(spec: Spec, trials: list[TrialRow]) -> dict[str, float]:
    assert spec.tune is not None
    engine = Engine(spec.tune, spec.params)
    for row in trials:
        engine.add_recorded(row.number, row.params, row.state, row.values, row.intermediate, row.attrs)
    complete = [t for t in engine.study.trials if t.state.name == "COMPLETE"]
    if len(complete) < 2:
        return {}
    optuna = engine.optuna
    try:
        found = optuna.importance.get_param_importances(
            engine.study, target=(lambda t: t.values[0]) if len(spec.tune.objectives) > 1 else None)
    except (ValueError, RuntimeError):  # a space every trial shares, or too few distinct values
        return {}
    return {k: float(v) for k, v in found.items()}
