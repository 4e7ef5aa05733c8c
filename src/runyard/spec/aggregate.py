"""Aggregate steps in a plan: one execution per ``aggregate:`` step that needs every execution of the
plan's runs, held by one run of stage ``aggregate``. Pure: no I/O."""

from __future__ import annotations

import os
from dataclasses import replace

from runyard.layout import ExecutionPaths, HomePaths
from runyard.model import Plan, Run, StepExec
from runyard.spec import calls, template
from runyard.spec.keys import canonical_json, code_hash, sha256_hex, step_key
from runyard.spec.render import Context, render
from runyard.spec.stages import RUNS_PLACEHOLDER
from runyard.spec.types import Spec

STAGE = "aggregate"


def aggregate_run_id(experiment: str, run_ids: list[str]) -> str:
    return sha256_hex(canonical_json({"experiment": experiment, "stage": STAGE, "runs": sorted(run_ids)}))


def add_aggregates(spec: Spec, plan: Plan) -> Plan:
    """``plan`` with the spec's aggregate steps: their executions need every execution of the plan (so
    they run once all its runs finished); their key covers those keys, their template and code."""
    if not spec.aggregates or not plan.runs:
        return plan
    sweep_runs = [r for r in plan.runs if r.stage == "sweep"]
    needs = tuple(ex.key for ex in plan.executions)
    rid = aggregate_run_id(spec.experiment, [r.id for r in sweep_runs])
    name = f"{STAGE}-{rid[:8]}"
    base = HomePaths(plan.home).experiment(spec.experiment)
    run_folder = base.run(name)
    executions: list[StepExec] = []
    steps: list[tuple[str, str]] = []
    for aggregate in spec.aggregates:
        step = aggregate.step
        code = {**step.code, "<call>": step.call_code} if step.call else step.code
        key = step_key(experiment=spec.experiment, step=step.name,
                       template=f"call:{step.call}" if step.call else step.run, workdir=step.workdir,
                       params={}, needs=needs, code=code)
        folder = base.execution(step.name, key)
        if step.call:  # the function gets the run table as `runs` (read from $RUNYARD_RUNS) and `out`
            command = calls.command(step.call, {}, {}, {})
        else:
            tokens = template.parse(step.run, [RUNS_PLACEHOLDER], [])
            paths = ExecutionPaths(folder)
            ctx = Context(out=paths.out, run=run_folder, name=name, step_outs={}, rest=[])
            command = render(tokens, {RUNS_PLACEHOLDER: paths.runs_table}, ctx)
        executions.append(StepExec(
            key=key, experiment=spec.experiment, step=step.name, command=command, needs=needs, folder=folder,
            workdir=os.path.normpath(os.path.join(spec.folder, step.workdir or ".")), params={},
            gpus=step.gpus if step.gpus is not None else int(spec.resources.has_gpus), timeout=step.timeout,
            retries=step.retries, kind="aggregate", code=step.call_code or code_hash(step.code)))
        steps.append((step.name, key))
    # the defaults as params: an aggregate run has no assignment of its own, and a run without params would
    # turn every integer param into a float column (missing values) in tables of the experiment
    run = Run(id=rid, experiment=spec.experiment, name=name, params=dict(plan.defaults), steps=tuple(steps),
              folder=run_folder, stage=STAGE)
    return replace(plan, runs=(*plan.runs, run), executions=(*plan.executions, *executions))
