"""Final runs: the ``select.then`` steps for the params of selected runs. Pure: no I/O.

A final run has the params of the run it was selected from (its ``origin``), stage ``final``, the name
``final-<origin name>`` and its own id. Its steps are the ``then`` steps plus the sweep steps they
need (``{prep.out}`` / ``{train.out}``): those render exactly as in the sweep, so their keys are the
selected run's executions (done already: cached), and the ``then`` steps get keys of their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from runyard.errors import Problem, SpecError
from runyard.model import Params, ParamValue, Plan
from runyard.spec.keys import canonical_json, sha256_hex
from runyard.spec.types import Spec

STAGE = "final"
PREFIX = "final-"


@dataclass(frozen=True)
class Origin:
    """A selected run: its id, name and params (as stored)."""

    id: str
    name: str
    params: Params


def final_run_id(experiment: str, origin: str) -> str:
    return sha256_hex(canonical_json({"experiment": experiment, "stage": STAGE, "origin": origin}))


def final_plan(spec: Spec, home: str, origins: Sequence[Origin]) -> Plan:
    """The plan of the final runs of ``origins`` (SpecError when the spec has no ``select:``)."""
    from runyard.spec.expand import _build, _closure

    if spec.select is None:
        raise SpecError([Problem(spec.path, "the spec has no `select:` block: nothing to run for selected runs")])
    then = spec.select.then
    staged = replace(spec, steps=(*spec.steps, *then))
    wanted = {s.name for s in then}
    chosen = [(_params(spec, o.params), _closure(staged, sorted(wanted))) for o in origins]
    labels = [(final_run_id(spec.experiment, o.id), PREFIX + o.name) for o in origins]
    plan = _build(staged, home, chosen, labels)
    runs = tuple(replace(run, stage=STAGE, origin=o.id) for run, o in zip(plan.runs, origins, strict=True))
    return replace(plan, runs=runs, warnings=())


def _params(spec: Spec, stored: Params) -> dict[str, ParamValue]:
    """The stored params in the spec's param order (as a sweep run has them)."""
    order = {name: i for i, name in enumerate(spec.param_names)}
    return dict(sorted(dict(stored).items(), key=lambda kv: order.get(kv[0], len(order))))

