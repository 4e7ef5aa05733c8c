"""The stages after a sweep, validated at load: ``aggregate:`` steps and the ``select:`` block.

::

    aggregate:                      # each runs once after every run of the plan, given the run table
      summary:
        run: python summarize.py --runs {runs} --out {out}
        uses: [val_acc]             # the metrics it reads (each defined under metrics:)
    select:
      metric: val_acc               # a metric reported by a sweep step (defined under metrics:, returned
                                    # by a call step or logged with runyard.log)
      mode: max                     # default: the metric's mode; required for a metric not under metrics:
      by: [model]                   # the best run per value of these params (default: one overall)
      over: [seed]                  # rank configs by the mean over these params; all their runs go final
      then:                         # steps of each final run (names distinct from the sweep's steps)
        retrain: python train.py --data {prep.out} --model {model} --lr {lr} --full --out {out}
        test: python test.py --ckpt {retrain.out} --data {prep.out}

An aggregate template may use ``{out}`` and ``{runs}`` (the CSV path of the run table) only. A ``then``
step may use the params, ``{STEP.out}`` of the sweep's steps (the selected run's executions) and of the
``then`` steps declared before it, ``{run}`` and ``{name}`` (the final run's folder and name).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from runyard.errors import suggest
from runyard.spec import template
from runyard.spec.types import AggregateSpec, MetricSpec, SelectSpec, StepSpec

if TYPE_CHECKING:
    from runyard.spec.checker import Checker
    from runyard.spec.yamlfile import KeyPath

AGGREGATE_EXTRA = ("uses",)
SELECT_KEYS = ("metric", "mode", "by", "over", "then")
RUNS_PLACEHOLDER = "runs"  # {runs} in an aggregate template: the run table's CSV path
AGGREGATE_REFS = ("out", "param")  # {out} and {runs} (parsed as the only param of an aggregate template)


def parse_aggregates(check: Checker, value: object, taken: list[str], metrics: list[MetricSpec],
                     folder: str) -> tuple[AggregateSpec, ...]:
    """Validate the ``aggregate:`` block. ``taken``: the sweep's step names (an aggregate needs its own)."""
    from runyard.spec.checker import STEP_RE, names_list
    from runyard.spec.steps import STEP_KEYS, parse_step

    out: list[AggregateSpec] = []
    metric_names = [m.name for m in metrics]
    for name, body in check.mapping(value, ("aggregate",), "aggregate step names to steps").items():
        path: KeyPath = ("aggregate", name)
        if not STEP_RE.match(name):
            check.add(path, "a step name must start with a letter or '_' and hold only letters, digits, '_', '-'")
            continue
        if name in taken:
            check.add(path, f"{name!r} is already a step: give the aggregate a name of its own")
            continue
        uses: tuple[str, ...] = ()
        if isinstance(body, dict):
            body = dict(body)
            uses = names_list(check, (*path, "uses"), body.pop("uses", None))
            if "needs" in body:
                check.add((*path, "needs"), "an aggregate needs every execution of the sweep's runs; "
                          "it cannot name its needs")
                body.pop("needs")
            for key in body:
                if key not in STEP_KEYS and key not in AGGREGATE_EXTRA:
                    valid = [k for k in (*STEP_KEYS, *AGGREGATE_EXTRA) if k != "needs"]
                    check.add((*path, key), f"unknown key{suggest(key, valid)} (valid: {', '.join(valid)})")
            body = {k: v for k, v in body.items() if k in STEP_KEYS}
        step = parse_step(check, path, name, body)
        if step is not None and step.call:
            step = _aggregate_call(check, path, step, folder)
        for metric in uses:
            if metric not in metric_names:
                check.add((*path, "uses"), f"{metric!r} is not a metric{suggest(metric, metric_names)} "
                          f"(metrics defined under metrics: {', '.join(metric_names) or 'none'})")
        if step is None:
            continue
        if step.call:
            taken = [*taken, name]
            out.append(AggregateSpec(step=replace(step, needs=()), uses=uses))
            continue
        run_path = (*path, "run") if isinstance(body, dict) else path
        try:
            tokens = template.parse(step.run, [RUNS_PLACEHOLDER], [])
        except template.TemplateError as err:
            check.add(run_path, f"{err} (an aggregate template may use {{out}} and {{runs}}, the run table's CSV)")
            continue
        for token in tokens:
            if isinstance(token, template.Ref) and token.kind not in AGGREGATE_REFS:
                check.add(run_path, f"placeholder {token.text} has no value in an aggregate, which belongs to no "
                          "single run (it may use {out} and {runs}, the run table's CSV)")
        taken = [*taken, name]
        out.append(AggregateSpec(step=replace(step, needs=()), uses=uses))
    return tuple(out)


def _aggregate_call(check: Checker, path: KeyPath, step: StepSpec, folder: str) -> StepSpec:
    """An aggregate's function takes ``runs`` (the run table as a DataFrame), ``out`` and parameters with
    defaults only: an aggregate belongs to no run, so no param has a value for it."""
    from runyard.callables import REQUIRED
    from runyard.spec import calls

    resolved, takes = calls.resolve(check.add, path, step, folder, [])
    missing = [name for name, default in takes.items() if default is REQUIRED]
    if missing:
        check.add((*path, "call"), f"parameter {missing[0]!r} of {step.call} has no default: an aggregate function "
                  "takes `runs` (the run table, a pandas DataFrame), `out` and parameters with defaults only")
    return resolved


def parse_select(check: Checker, value: object, *, steps: list[str], taken: list[str], params: list[str],
                 metrics: list[MetricSpec], folder: str) -> SelectSpec | None:
    """Validate the ``select:`` block. ``steps``: the sweep's steps; ``taken``: every step name in use."""
    from runyard.spec.checker import names_list

    if value is None:
        return None
    data = check.mapping(value, ("select",), "metric, mode, by, over and then")
    if not data:
        if isinstance(value, dict):
            check.add(("select",), "give at least `metric:` and `then:`")
        return None
    check.unknown_keys(data, ("select",), SELECT_KEYS)
    metric = data.get("metric")
    defined = {m.name: m for m in metrics}
    chosen: MetricSpec | None = None
    if not isinstance(metric, str) or not metric:
        check.add(("select", "metric"), f"missing: the metric that ranks the runs (metrics: "
                  f"{', '.join(defined) or 'none defined under metrics:'})")
    elif metric in defined:
        chosen = defined[metric]
        if chosen.step not in steps:
            check.add(("select", "metric"), f"{metric!r} is reported by {chosen.step!r}, which is not a sweep step: "
                      f"select ranks the sweep's runs (steps: {', '.join(steps)})")
    mode = data.get("mode")
    if mode is not None and mode not in ("max", "min"):
        check.add(("select", "mode"), f"{mode!r} is not a mode (max or min)")
    elif isinstance(metric, str) and metric and chosen is None and mode is None:
        # not declared: returned by a call step or logged with runyard.log; which way is better is unknown
        check.add(("select", "metric"), f"{metric!r} is not a metric{suggest(metric, defined)} (metrics "
                  f"defined under metrics: {', '.join(defined) or 'none'}); a metric returned by a call step or "
                  "logged with runyard.log ranks too, given `mode: max` or `mode: min` in select:")
    by = names_list(check, ("select", "by"), data.get("by"))
    over = names_list(check, ("select", "over"), data.get("over"))
    for key, names in (("by", by), ("over", over)):
        for name in names:
            if name not in params:
                check.add(("select", key), f"{name!r} is not a param{suggest(name, params)} "
                          f"(params: {', '.join(params) or 'none'})")
    for name in set(by) & set(over):
        check.add(("select", "over"), f"{name!r} is both in `by` and in `over`: a param groups runs or is "
                  "averaged over, not both")
    then = _then_steps(check, data.get("then"), steps=steps, taken=taken, params=params, folder=folder)
    if not isinstance(metric, str) or not metric or (chosen is None and mode not in ("max", "min")) or not then:
        return None
    return SelectSpec(metric=metric, mode=str(mode or (chosen.mode if chosen else "max")), then=then, by=by, over=over,
                      mode_given=mode is not None)


def _then_steps(check: Checker, value: object, *, steps: list[str], taken: list[str],
                params: list[str], folder: str) -> tuple[StepSpec, ...]:
    from runyard.spec.checker import STEP_RE
    from runyard.spec.steps import parse_step

    raw = check.mapping(value, ("select", "then"), "step names to commands")
    if not raw:
        check.add(("select", "then"), "missing: the steps each selected run gets (name: shell command)")
        return ()
    out: list[StepSpec] = []
    before: list[str] = []
    for name, body in raw.items():
        path: KeyPath = ("select", "then", name)
        if not STEP_RE.match(name):
            check.add(path, "a step name must start with a letter or '_' and hold only letters, digits, '_', '-'")
            continue
        if name in taken:
            check.add(path, f"{name!r} is already a step: a final step needs a name of its own "
                      "(its executions must never be mistaken for the sweep's)")
            continue
        spec = parse_step(check, path, name, body)
        if spec is None:
            continue
        visible = [*steps, *before]
        if spec.call:
            spec, refs = _then_call(check, path, spec, folder, visible, params)
        else:
            refs = _then_refs(check, path, spec, body, visible, params, [n for n in raw if n not in before])
        if spec.needs is None:
            needs = tuple(refs) or ((before[-1],) if before else ())
        else:
            for need in spec.needs:
                if need not in visible:
                    check.add((*path, "needs"), f"{need!r} is not a sweep step or an earlier then step"
                              f"{suggest(need, visible)}")
            needs = (*spec.needs, *(r for r in refs if r not in spec.needs))
        out.append(replace(spec, needs=needs))
        before.append(name)
    return tuple(out)


def _then_refs(check: Checker, path: KeyPath, spec: StepSpec, body: object, visible: list[str], params: list[str],
               later: list[str]) -> list[str]:
    """The steps a ``then`` command template references (``{STEP.out}``)."""
    run_path = (*path, "run") if isinstance(body, dict) else path
    try:
        tokens = template.parse(spec.run, params, visible)
    except template.TemplateError as err:
        ahead = [n for n in later if n != spec.name and f"{{{n}.out}}" in spec.run]
        note = f" (a then step may use the outputs of the steps before it, not of {ahead[0]!r})" if ahead else ""
        check.add(run_path, f"{err}{note}")
        tokens = ()
    return list(dict.fromkeys(t.name for t in tokens if isinstance(t, template.Ref) and t.kind == "step_out"))


def _then_call(check: Checker, path: KeyPath, spec: StepSpec, folder: str, visible: list[str],
               params: list[str]) -> tuple[StepSpec, list[str]]:
    """A ``then`` call step: its function's parameters are the selected run's params or the results of
    the steps it may see (the sweep's, the ``then`` steps before it)."""
    from runyard.spec import calls

    resolved, takes = calls.resolve(check.add, path, spec, folder, visible)
    for name in takes:
        if name not in params:
            check.add((*path, "call"), f"parameter {name!r} of {spec.call} is not a param of the spec"
                      f"{suggest(name, params)}: a final step takes the selected run's params and the results "
                      f"of steps ({', '.join(visible)})")
    return resolved, list(resolved.inputs)


def stage_step_names(data: Mapping[str, Any]) -> list[str]:
    """The names of the aggregate and ``select.then`` steps (metrics may target them)."""
    names = [str(k) for k in data["aggregate"]] if isinstance(data.get("aggregate"), dict) else []
    select = data.get("select")
    then = select.get("then") if isinstance(select, dict) else None
    return names + ([str(k) for k in then] if isinstance(then, dict) else [])
