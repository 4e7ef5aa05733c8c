"""The final stage: rank the sweep's runs, pick the best per group (``analyze.best``) and run the
``select.then`` steps for each pick as a final run (``spec.final``), through the same submit / worker
path as the sweep. Re-running it with everything done submits the same keys: all cached."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from runyard.errors import UsageError
from runyard.model import Plan
from runyard.spec.final import Origin, final_plan
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
    picked = origins(store, selection)
    return final_plan(spec, home, picked) if picked else None


def final_forced(final: Plan, sweep_keys: Collection[str], *, force: bool, steps: Collection[str],
                 forced_keys: Callable[..., set[str]]) -> set[str]:
    """What ``--force`` / ``--force-step`` re-run among the final plan's executions: the forced steps and
    what follows them, except the sweep's executions (forced with the sweep already, never twice)."""
    names = {ex.step for ex in final.executions}
    chosen = forced_keys(final, force=force, steps=[s for s in steps if s in names])
    return {key for key in chosen if key not in set(sweep_keys)}
