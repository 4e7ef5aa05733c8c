"""The final stage: rank the sweep's runs, pick the best per group (``analyze.best``) and run the
``select.then`` steps for each pick as a final run (``spec.final``), through the same submit / worker
path as the sweep. Re-running it with everything done submits the same keys: all cached."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runyard.errors import UsageError
from runyard.model import Plan
from runyard.spec.final import Origin
from runyard.spec.types import Spec
from runyard.store.base import Store

if TYPE_CHECKING:
    from runyard.analyze.best import Selection


@dataclass(frozen=True)
class Criteria:
    """What ranks the runs: ``select:`` of the spec, with any of its fields replaced."""

    metric: str
    mode: str | None
    by: tuple[str, ...]
    over: tuple[str, ...]
    from_spec: bool = False  # the spec's select.metric: validated at load, even when not under metrics:

    @classmethod
    def of(cls, spec: Spec, *, metric: str | None = None, mode: str | None = None,
           by: Sequence[str] | None = None, over: Sequence[str] | None = None) -> Criteria:
        chosen = spec.select
        if chosen is None and metric is None:
            raise UsageError(f"experiment {spec.experiment!r} has no `select:` block in its spec: "
                             "give --metric (and --by / --over) to rank its runs")
        return cls(
            metric=metric if metric is not None else chosen.metric if chosen else "",
            mode=mode if mode is not None else (chosen.mode if chosen and metric is None else None),
            by=tuple(by) if by is not None else chosen.by if chosen else (),
            over=tuple(over) if over is not None else chosen.over if chosen else (),
            from_spec=metric is None)


def rank(store: Store, experiment: str, criteria: Criteria, *, run_ids: Collection[str] | None = None,
         where: str | None = None, declared: Collection[str] = ()) -> Selection:
    """The selection among the sweep runs of ``experiment`` (of ``run_ids`` / matching ``where`` only)."""
    from runyard.analyze.best import best
    from runyard.analyze.table import load

    results = load(store, experiment)
    frame = results.frame
    mask = (frame["stage"] == "sweep").to_numpy().copy()
    if run_ids is not None:
        mask &= frame.index.isin(list(run_ids))
    if where:
        from runyard.analyze.where import Where

        parsed = Where.parse(where)
        parsed.check(results.problem)
        mask &= parsed.evaluate(results.column, len(results))
    if criteria.from_spec:  # a metric no run reported yet leaves every run out, rather than being a name error
        declared = [*declared, criteria.metric]
    return best(results.select(mask), criteria.metric, mode=criteria.mode, by=criteria.by, over=criteria.over,
                declared=declared)


def origins(store: Store, selection: Selection) -> list[Origin]:
    """The picked runs with their stored params, in pick order."""
    found = []
    for pick in selection.picks:
        for run_id in pick.run_ids:
            record = store.run(run_id)
            found.append(Origin(id=record.id, name=record.name, params=dict(record.params)))
    return found


def plan_finals(store: Store, spec: Spec, home: str, selection: Selection) -> Plan | None:
    """The plan of the final runs of ``selection`` (None when nothing was picked)."""
    from runyard.app.planning import make_plan

    picked = origins(store, selection)
    return make_plan(spec, home=home, picks=picked) if picked else None


def final_forced(final: Plan, sweep_keys: Collection[str], *, force: bool, steps: Collection[str],
                 forced_keys: Callable[..., set[str]]) -> set[str]:
    """What ``--force`` / ``--force-step`` re-run among the final plan's executions: the forced steps and
    what follows them, except the sweep's executions (forced with the sweep already, never twice)."""
    names = {ex.step for ex in final.executions}
    chosen = forced_keys(final, force=force, steps=[s for s in steps if s in names])
    return {key for key in chosen if key not in set(sweep_keys)}


@dataclass(frozen=True)
class Picked:
    """What ``runyard select`` decided: the stored spec, the selection, and the final runs' plan (None
    when nothing was picked or the spec has no ``select.then`` steps)."""

    spec: Spec
    home: str
    selection: Selection
    finals: Plan | None


def pick(store: Store, experiment: str | None, *, metric: str | None = None, mode: str | None = None,
         by: Sequence[str] | None = None, over: Sequence[str] | None = None, where: str | None = None) -> Picked:
    """Rank the sweep runs of ``experiment`` (default: the store's only one) by its stored spec's
    ``select:`` block, any field replaced by the arguments, and plan the final runs of the picks."""
    from runyard.analyze.table import choose_experiment
    from runyard.app.stored import load_stored_spec

    name = choose_experiment(store, experiment)
    stored = load_stored_spec(store, name)
    spec = stored.spec
    criteria = Criteria.of(spec, metric=metric, mode=mode, by=by, over=over)
    selection = rank(store, name, criteria, where=where, declared=[m.name for m in spec.metrics])
    finals = plan_finals(store, spec, stored.home, selection) if spec.select is not None else None
    return Picked(spec, stored.home, selection, finals)


def picked_data(store: Store, picked: Picked) -> dict[str, Any]:
    """The picks and the final runs they get: what ``runyard select --dry-run --json`` prints."""
    selection = picked.selection
    return {
        "metric": selection.metric, "mode": selection.mode, "by": list(selection.by), "over": list(selection.over),
        "picks": [{"group": p.group, "runs": list(p.run_names), "ids": list(p.run_ids), "score": p.score,
                   "tied_with": list(p.tied_with)} for p in selection.picks],
        "left_out": [{"run": n, "why": w} for n, w in selection.left_out],
        "final_runs": final_runs(store, picked),
    }


def final_runs(store: Store, picked: Picked) -> list[dict[str, Any]]:
    """The final runs of the picks, with each step execution's status (``new`` when the store has none)."""
    finals = picked.finals
    if finals is None:
        return []
    known = {r.key: str(r.status) for r in store.executions(finals.experiment,
                                                             keys=[e.key for e in finals.executions])}
    return [{"id": r.id, "name": r.name, "origin": r.origin,
             "steps": [{"name": s, "key": k, "status": known.get(k, "new")} for s, k in r.steps]}
            for r in finals.runs]
