"""``runyard rerun``: a past run again, with changes, as a new run of its experiment.

The spec is the one the experiment was last submitted with (:func:`~runyard.app.stored.load_stored_spec`);
the new run has the old run's params with the changes applied, so every step execution whose params
did not change has the same key and stays cached (a shared ``prep`` is not run again). The new run
records the run it came from (``origin``; ``runyard show`` says "rerun of"). ``step``: run that step
(and what follows it) again even when nothing it uses changed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from runyard.errors import UsageError
from runyard.layout import HomePaths
from runyard.model import Plan, Run
from runyard.spec.types import Spec
from runyard.store.base import RunRecord, Store


@dataclass(frozen=True)
class Rerun:
    """The plan of the new run, the run it comes from, its spec and home, and the keys to run again."""

    plan: Plan
    parent: RunRecord
    spec: Spec
    home: Path
    force: frozenset[str]

    @property
    def run(self) -> Run:
        return self.plan.runs[0]


def plan_rerun(store: Store, run: str, changes: Sequence[str], *, step: str | None = None, name: str | None = None,
               experiment: str | None = None) -> Rerun:
    """The plan of a rerun of ``run`` (id prefix or name) with ``changes`` (``KEY=VALUE`` texts, one value
    each). UsageError when a change is malformed or there is nothing to change; SpecError for an unknown
    param."""
    from runyard.app.planning import make_plan
    from runyard.app.session import forced_keys
    from runyard.app.stored import load_stored_spec
    from runyard.spec.expand import parse_overrides

    parent = store.run(run, experiment)
    if parent.stage != "sweep":
        raise UsageError(f"run {parent.name} is a {parent.stage} run: rerun a sweep run (the {parent.stage} "
                         "runs are planned from the sweep's)")
    for text in changes:
        if "=" not in text:
            raise UsageError(f"{text!r}: a change is KEY=VALUE (e.g. lr=0.1)")
    if not changes and step is None:
        raise UsageError(f"nothing to change: give KEY=VALUE changes, or --step STEP to run a step of "
                         f"{parent.name} again")
    stored = load_stored_spec(store, parent.experiment)
    spec = stored.spec
    given = parse_overrides(spec, list(changes))
    for override in given:
        if len(override.values) != 1:
            raise UsageError(f"{override.key}: a rerun is one run, give one value (to sweep, use `runyard run`)")
    params = {**{k: v for k, v in parent.params.items() if k in spec.param_names},
              **{o.key: o.values[0] for o in given}}
    plan = make_plan(spec, home=stored.home, overrides={k: [v] for k, v in params.items()}, names=store)
    runs = [r for r in plan.runs if r.stage == "sweep"]
    if len(runs) != 1:
        raise UsageError(f"the spec of {parent.experiment} no longer plans one run for these params "
                         f"({len(runs)} runs): run it with `runyard run` instead")
    new = runs[0]
    if name is not None:
        folder = HomePaths(stored.home).experiment(new.experiment).run(name)
        taken = {r.name: r.id for r in store.runs(parent.experiment)}
        if taken.get(name, new.id) != new.id:
            raise UsageError(f"--name {name}: another run of {parent.experiment} has that name")
        new = dataclasses.replace(new, name=name, folder=folder)
    if new.id != parent.id:
        new = dataclasses.replace(new, origin=parent.id)
    keys = {key for _, key in new.steps}
    executions = tuple(x for x in plan.executions if x.key in keys)
    plan = dataclasses.replace(plan, runs=(new,), executions=executions)
    force = forced_keys(plan, force=False, steps=[step] if step else [])
    return Rerun(plan, parent, spec, Path(stored.home), frozenset(force))
