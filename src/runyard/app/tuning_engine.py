"""Optuna as the engine: an in-memory study per grid cell, rebuilt from the store with ``add_trials``.

Nothing of Optuna's own storage is used: the trials the store recorded (and the past runs that lie in
the space) are added to an in-memory study as finished trials, the sampler is asked for the next
params with the trial's define-by-run suggestions (a conditional param is suggested only when its
condition holds), and the pruner is asked about a running step with its intermediate values.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from runyard.errors import MissingDependency
from runyard.model import ParamValue
from runyard.spec.tune import SearchParam, TuneSpec


def optuna_module() -> Any:
    try:
        import optuna
    except ImportError:
        raise MissingDependency("optuna", "tune", "tuning (runyard tune)") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def distribution(param: SearchParam) -> Any:
    dists = optuna_module().distributions
    if param.kind == "choice":
        return dists.CategoricalDistribution(list(param.choices))
    if param.kind == "int":
        return dists.IntDistribution(int(param.low), int(param.high), log=param.log,
                                     step=1 if param.log or param.step is None else int(param.step))
    return dists.FloatDistribution(param.low, param.high, log=param.log, step=param.step)


def make_sampler(tune: TuneSpec, seed: int | None) -> Any:
    samplers = optuna_module().samplers
    if tune.sampler == "random":
        return samplers.RandomSampler(seed=seed)
    if tune.sampler == "cmaes":
        return samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    if tune.sampler == "gp":
        return samplers.GPSampler(seed=seed)
    if tune.sampler == "nsga2":
        return samplers.NSGAIISampler(seed=seed)
    if tune.sampler == "grid":
        space: dict[str, list[Any]] = {}
        for p in tune.params:
            if p.kind == "choice":
                space[p.name] = list(p.choices)
            else:
                step = int(p.step or 1)
                space[p.name] = list(range(int(p.low), int(p.high) + 1, step))
        return samplers.GridSampler(space, seed=seed)
    return samplers.TPESampler(seed=seed)


def make_pruner(tune: TuneSpec) -> Any:
    pruners = optuna_module().pruners
    if tune.pruner == "none" or len(tune.objectives) > 1:
        return pruners.NopPruner()
    if tune.pruner == "hyperband":
        return pruners.HyperbandPruner()
    if tune.pruner == "successive_halving":
        return pruners.SuccessiveHalvingPruner()
    return pruners.MedianPruner()


class Engine:
    """One in-memory study: past runs and recorded trials added once each, asked trial by trial."""

    def __init__(self, tune: TuneSpec, fixed: Mapping[str, ParamValue], *, name: str = "runyard") -> None:
        self.tune = tune
        self.fixed = dict(fixed)  # the cell's and the spec's params: conditions may refer to them
        optuna = optuna_module()
        self.optuna = optuna
        # a stable name: hyperband puts a trial in the bracket its study name and number hash to
        self.study = optuna.create_study(study_name=name, directions=list(tune.directions),
                                         sampler=make_sampler(tune, tune.seed), pruner=make_pruner(tune))
        self.added: set[int] = set()  # trial numbers already in the study
        self._dists = {p.name: distribution(p) for p in tune.params}
        self._live: dict[str, tuple[Any, set[int]]] = {}  # execution key → (running trial, steps reported)

    def _frozen(self, params: Mapping[str, ParamValue], state: str, values: Sequence[float] | None,
                intermediate: Mapping[int, float] | None, number: int | None,
                attrs: Mapping[str, Any] | None = None) -> Any:
        states = self.optuna.trial.TrialState
        state_of = {"complete": states.COMPLETE, "pruned": states.PRUNED, "failed": states.FAIL,
                    "running": states.RUNNING}
        kept = {k: v for k, v in params.items() if k in self._dists}
        finite = values is not None and all(isinstance(v, (int, float)) and math.isfinite(v) for v in values)
        chosen = state_of[state] if state != "complete" or finite else states.FAIL
        user = {"runyard_trial": number} if number is not None else {"runyard_past_run": True}
        return self.optuna.trial.create_trial(
            params=kept, distributions={k: self._dists[k] for k in kept},
            values=list(values) if chosen == states.COMPLETE and values is not None else None,
            state=chosen, intermediate_values=dict(intermediate or {}), user_attrs=user,
            system_attrs=dict(attrs or {}))

    def add_past(self, runs: Sequence[tuple[Mapping[str, ParamValue], Sequence[float],
                                            Mapping[int, float] | None]]) -> int:
        """Warm start: completed runs whose params lie in the space, added as complete trials."""
        trials = [self._frozen(params, "complete", values, steps, None) for params, values, steps in runs]
        self.study.add_trials(trials)
        return len(trials)

    def add_recorded(self, number: int, params: Mapping[str, ParamValue], state: str,
                     values: Sequence[float] | None, intermediate: Mapping[int, float] | None,
                     attrs: Mapping[str, Any] | None = None) -> None:
        if number in self.added or state == "running":
            return
        self.study.add_trial(self._frozen(params, state, values, intermediate, number, attrs))
        self.added.add(number)

    def ask(self, number: int) -> dict[str, ParamValue]:
        """The params of trial ``number``: inactive conditional params are never suggested. With a seed,
        the sampler is seeded by seed + number, so two workers asking for two numbers never draw alike."""
        if self.tune.seed is not None:
            self.study.sampler = make_sampler(self.tune, self.tune.seed + number)
        trial = self.study.ask()
        chosen: dict[str, ParamValue] = {}
        for param in self.tune.params:
            if not param.active({**self.fixed, **chosen}):
                continue
            dist = self._dists[param.name]
            if param.kind == "choice":
                chosen[param.name] = trial.suggest_categorical(param.name, dist.choices)
            elif param.kind == "int":
                chosen[param.name] = trial.suggest_int(param.name, dist.low, dist.high, step=dist.step, log=dist.log)
            else:
                chosen[param.name] = trial.suggest_float(param.name, dist.low, dist.high, step=dist.step,
                                                         log=dist.log)
        # the asked trial is closed here: the store's record of it is added once it ends
        self.study.tell(trial, state=self.optuna.trial.TrialState.FAIL)
        return chosen

    def should_prune(self, key: str, params: Mapping[str, ParamValue], intermediate: Mapping[int, float]) -> bool:
        """Whether the pruner stops the running trial of execution ``key`` with these intermediate values.
        The trial lives in the study while it runs (the pruner keeps its own marks on it, say the rungs of
        successive halving: :meth:`close` hands them over for the store)."""
        if not intermediate or len(self.tune.objectives) > 1 or self.tune.pruner == "none":
            return False
        live = self._live.get(key)
        if live is None:
            kept = {k: v for k, v in params.items() if k in self._dists}
            self.study.add_trial(self.optuna.trial.create_trial(
                state=self.optuna.trial.TrialState.RUNNING, params=kept,
                distributions={k: self._dists[k] for k in kept}))
            trial_id = self.study.get_trials(deepcopy=False)[-1]._trial_id
            live = self._live[key] = (self.optuna.trial.Trial(self.study, trial_id), set())
        trial, reported = live
        for step in sorted(intermediate):
            if step not in reported:
                trial.report(intermediate[step], step)
                reported.add(step)
        try:
            return bool(trial.should_prune())
        except Exception:  # a pruner that cannot judge this trial lets it run
            return False

    def close(self, key: str) -> dict[str, Any]:
        """The pruner's marks on the running trial of ``key`` (none if it was never judged), which is
        closed here: the store's record of the trial is what the study keeps."""
        live = self._live.pop(key, None)
        if live is None:
            return {}
        trial = live[0]
        attrs = dict(self.study.get_trials(deepcopy=False)[trial.number].system_attrs)
        self.study.tell(trial, state=self.optuna.trial.TrialState.FAIL)
        return {k: v for k, v in attrs.items() if k.startswith(("completed_rung_", "hyperband"))}
