"""Spec → Plan: runs with full params, readable names, step keys and rendered commands. Pure: no I/O."""

from __future__ import annotations

import os
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import yaml

from runyard.callables import is_scalar
from runyard.errors import Problem, SpecError, suggest
from runyard.layout import ExecutionPaths, ExperimentPaths, HomePaths
from runyard.model import Params, ParamValue, Plan, Run, StepExec
from runyard.spec import calls, hydra, sampling, template
from runyard.spec.hydra import override_habit
from runyard.spec.identity import Earlier, earlier_params
from runyard.spec.keys import canonical_json, run_id, sha256_hex, step_key
from runyard.spec.render import Context, referenced_params, render, rest_params, value_text
from runyard.spec.text import python_value, scalar_problem
from runyard.spec.types import Grid, Spec, StepSpec
from runyard.spec.yamlfile import shown

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._=,+@-]")
MAX_NAME = 100


@dataclass(frozen=True)
class Override:
    """``k=v`` pins a value in every run; ``k=a,b,c`` (or ``k=[a, b]``) makes k an axis of every grid."""

    key: str
    values: tuple[ParamValue, ...]
    text: str


def _scalar(text: str) -> ParamValue:
    try:
        value = yaml.safe_load(text) if text.strip() else text
    except yaml.YAMLError:
        return text
    return value if is_scalar(value) and not isinstance(value, str) else text


def parse_overrides(spec: Spec, items: Sequence[str]) -> tuple[Override, ...]:
    """``KEY=VALUE`` / ``KEY=V1,V2`` / ``KEY=[V1, V2]`` texts (the command line) → overrides, or SpecError."""
    problems: list[Problem] = []
    out: list[Override] = []
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        where = f"command line: {item}"
        if not sep or not key:
            problems.append(Problem(where, "an override is KEY=VALUE or KEY=V1,V2,... (an axis)"))
            continue
        habit = override_habit(key, raw)
        if habit:
            problems.append(Problem(where, habit))
            continue
        if not raw:
            problems.append(Problem(where, f"no value after '=': write {key}=VALUE (an empty text: {key}='[\"\"]')"))
            continue
        if raw.strip().startswith("["):
            try:
                parsed = yaml.safe_load(raw)
            except yaml.YAMLError as err:
                what = getattr(err, "problem", None) or str(err).splitlines()[0]
                problems.append(Problem(where, f"not a valid list: {what}"))
                continue
            values = tuple(parsed) if isinstance(parsed, list) else (parsed,)
        else:
            values = tuple(_scalar(part) for part in raw.split(","))
        _add_override(spec, out, problems, Override(key, values, item), where)
    if problems:
        raise SpecError(problems)
    return tuple(out)


def value_overrides(spec: Spec, values: Mapping[str, object]) -> tuple[Override, ...]:
    """Overrides given as Python values (``lr=0.1``, ``seed=[1, 2, 3]``: a list or tuple is an axis), or SpecError."""
    problems: list[Problem] = []
    out: list[Override] = []
    for key, value in values.items():
        seq = tuple(map(python_value, value if isinstance(value, (list, tuple)) else (value,)))
        given = f"{shown(str(key))}={shown(repr(value)[:60])}"
        _add_override(spec, out, problems, Override(key, seq, given), f"override {given}")
    if problems:
        raise SpecError(problems)
    return tuple(out)


def _add_override(spec: Spec, out: list[Override], problems: list[Problem], override: Override, where: str) -> None:
    key, values = override.key, override.values
    names = spec.param_names
    invalid = next((p for p in map(scalar_problem, values) if p), None)
    if key not in names:
        problems.append(Problem(where, f"{shown(key)!r} is not a param{suggest(key, names)} "
                                       f"(params: {', '.join(names) or 'none'})"))
    elif any(o.key == key for o in out):
        problems.append(Problem(where, f"{key!r} is given twice: list every value once (KEY=V1,V2,...)"))
    elif not values:
        problems.append(Problem(where, "empty list: a grid axis needs at least one value"))
    elif invalid:
        problems.append(Problem(where, invalid))
    elif key in spec.groups and any(str(v) not in spec.groups[key] for v in values):
        bad = next(v for v in values if str(v) not in spec.groups[key])
        problems.append(Problem(where, f"{bad!r} is not a choice of group {key!r} "
                                       f"(choices: {', '.join(spec.groups[key])})"))
    else:
        out.append(override)


def resolve_params(spec: Spec, explicit: Params) -> dict[str, ParamValue]:
    """Defaults, then the chosen group's values, then the explicitly assigned values."""
    params: dict[str, ParamValue] = dict(spec.params)
    for group, choices in spec.groups.items():
        choice = explicit.get(group, params.get(group))
        if group in explicit or group in params:
            params[group] = choice
        if choice is not None and str(choice) in choices:
            for key, value in choices[str(choice)].items():
                if key not in explicit:
                    params[key] = value
    params.update(explicit)
    order = {name: i for i, name in enumerate(spec.param_names)}
    return dict(sorted(params.items(), key=lambda kv: order.get(kv[0], len(order))))


def _selected_grids(spec: Spec, sweep: str | None,
                    overrides: Sequence[Override]) -> list[tuple[list[tuple[str, tuple[ParamValue, ...]]], Grid]]:
    """The axes of every selected grid (overrides pinned or added as axes), not expanded."""
    if sweep is not None:
        wanted = [s.strip() for s in sweep.split(",") if s.strip()]
        if not wanted:
            raise SpecError([Problem("--sweep", f"name a sweep (sweeps: {', '.join(spec.sweeps) or 'none'})")])
        for name in wanted:
            if name not in spec.sweeps:
                valid = ", ".join(spec.sweeps) or "none: this spec has no sweeps"
                raise SpecError([Problem(f"--sweep {name}", f"no such sweep{suggest(name, spec.sweeps)} "
                                                            f"(sweeps: {valid})")])
        grids = [g for name in wanted for g in spec.sweeps[name]]
    else:
        grids = [g for gs in spec.sweeps.values() for g in gs] or [Grid(axes=())]
    pinned = {o.key for o in overrides}
    return [([(k, vs) for k, vs in grid.axes if k not in pinned] + [(o.key, o.values) for o in overrides], grid)
            for grid in grids]


_RESOLVER = yaml.resolver.Resolver()
_TAGS: dict[type, str] = {str: "str", bool: "bool", int: "int", float: "float"}


def _plain(value: ParamValue) -> bool:
    """Whether ``key=TEXT`` names ``value`` unambiguously: YAML reads the text back as the same type (so
    ``"1"`` and ``1``, ``"true"`` and ``true`` get different names) and it holds no comma."""
    text = value_text(value)
    if value is None or "," in text:
        return False
    tag = str(_RESOLVER.resolve(yaml.ScalarNode, text, (True, False)))  # type: ignore[no-untyped-call]
    return tag == f"tag:yaml.org,2002:{_TAGS[type(value)]}"


def _same(a: ParamValue, b: ParamValue) -> bool:
    return type(a) is type(b) and (a == b or (a != a and b != b))  # nan is the same as nan


def run_name(spec: Spec, params: Params, baseline: Params, rid: str) -> str:
    """``key=value`` for every param that differs from what the run's group choices and the defaults give
    (``default`` when none). Depends on this run alone, never on the other runs of a plan; gets the run id's
    first 8 characters appended when sanitised, ambiguous (``"1"`` vs ``1``, commas) or too long."""
    selectors = {g: params[g] for g in spec.groups if g in params}
    expected = resolve_params(spec, selectors)
    parts = []
    plain = True
    for key, value in params.items():
        reference = baseline if key in spec.groups else expected
        if key in reference and _same(reference[key], value):
            continue
        plain = plain and _plain(value)
        parts.append(f"{key}={value_text(value)}")
    raw = ",".join(parts) or "default"
    name = _SAFE_NAME.sub("_", raw)
    if name.startswith("."):
        name = "_" + name[1:]
    if name != raw or not plain or len(name) > MAX_NAME:
        name = f"{name[:MAX_NAME]}-{rid[:8]}"
    return name


def _step_order(spec: Spec) -> list[StepSpec]:
    by_name = {s.name: s for s in spec.steps}
    order: dict[str, StepSpec] = {}

    def visit(step: StepSpec) -> None:
        if step.name in order:
            return
        for need in step.needs or ():
            visit(by_name[need])
        order[step.name] = step

    for step in spec.steps:
        visit(step)
    return list(order.values())


def _closure(spec: Spec, only: Sequence[str] | None) -> set[str]:
    if only is None:
        return {s.name for s in spec.steps}
    by_name = {s.name: s for s in spec.steps}
    seen: set[str] = set()
    todo = list(only)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(by_name[name].needs or ())
    return seen


def expand(spec: Spec, *, home: str, overrides: Sequence[Override] = (), sweep: str | None = None,
           sample: int | None = None, seed: int = 0, taken: Mapping[str, str] | None = None,
           earlier: Earlier | None = None) -> Plan:
    """Every run of the selected sweeps with its step executions (shared ones once), or SpecError.
    ``taken``: run name → run id of the experiment's runs in the store; a run whose readable name another
    run holds there gets its id's first 8 characters appended, so two runs never share a name or folder.
    ``earlier``: those runs with their params (and ``taken`` from them when not given): a run that ran before
    params were added at their defaults keeps its identity (:mod:`runyard.spec.identity`)."""
    if taken is None and earlier is not None:
        taken = earlier.names
    if sample is not None and sample < 1:
        raise SpecError([Problem("--sample", f"must be at least 1, not {sample}")])
    grids = _selected_grids(spec, sweep, overrides)
    total = sum(sampling.grid_size(axes) for axes, _ in grids)  # counted before anything is expanded
    if total > sampling.MAX_RUNS:
        if sample is None:
            raise sampling.too_many(total, spec.path)
        assignments = sampling.sample_lazily(grids, total, sample, seed,
                                             lambda explicit: canonical_json(resolve_params(spec, explicit)))
        sample = None  # drawn already
    else:
        assignments = sampling.every_run(grids)
    unique: dict[str, tuple[dict[str, ParamValue], set[str]]] = {}
    assigned: dict[str, set[str]] = {}  # the params a sweep or the command line sets, per run
    for explicit, grid in assignments:
        params = resolve_params(spec, explicit)
        ident = canonical_json(params)
        steps = _closure(spec, grid.steps)
        if ident in unique:
            unique[ident][1].update(steps)
        else:
            unique[ident] = (params, steps)
        assigned.setdefault(ident, set()).update(explicit)
    chosen = list(unique.values())
    sets = list(assigned.values())
    if sample is not None and sample < len(chosen):
        picked = sorted(random.Random(seed).sample(range(len(chosen)), sample))
        chosen, sets = [chosen[i] for i in picked], [sets[i] for i in picked]
    from runyard.spec.aggregate import add_aggregates

    return add_aggregates(spec, _build(spec, home, chosen, taken=taken, explicit=sets, earlier=earlier))


def _build(spec: Spec, home: str, chosen: list[tuple[dict[str, ParamValue], set[str]]],
           labels: Sequence[tuple[str, str]] | None = None, taken: Mapping[str, str] | None = None,
           explicit: Sequence[set[str]] | None = None, earlier: Earlier | None = None) -> Plan:
    """The plan of the ``chosen`` (params, steps) pairs. ``labels``: (run id, name) of each pair, for
    runs that are not the sweep's (final runs); default: the params' run id and readable name. ``explicit``:
    the params a sweep or the command line assigned in each run (what ``{*hydra}`` passes; default: those
    that differ from the spec's defaults)."""
    base = HomePaths(home).experiment(spec.experiment)
    baseline = resolve_params(spec, {})
    step_names = [s.name for s in spec.steps]
    order = _step_order(spec)
    selectors = tuple(spec.groups)
    problems: dict[str, Problem] = {}
    executions: dict[str, StepExec] = {}
    runs: list[Run] = []
    names_seen: dict[str, int] = {}
    parsed = {step.name: template.parse(step.run, spec.param_names, [n for n in step_names if n != step.name])
              for step in spec.steps if not step.call}
    by_name = {step.name: step for step in spec.steps}
    drafts = []
    for index, (params, steps) in enumerate(chosen):
        rid = run_id(spec.experiment, params)
        name = run_name(spec, params, baseline, rid)
        ident = params  # what the run id and its all-params step keys hash
        reduced = None if labels is not None else earlier_params(spec.experiment, params, rid, baseline, name, earlier)
        if labels is not None:
            rid, name = labels[index]
        elif reduced is not None:
            ident, rid = reduced, run_id(spec.experiment, reduced)  # the run from before params were added
        elif taken and taken.get(name, rid) != rid:
            name = f"{name}-{rid[:8]}"  # the name is another run's in the store (say, after a defaults change)
        names_seen[name] = names_seen.get(name, 0) + 1
        sets = explicit[index] if explicit is not None else {k for k, v in params.items()
                                                             if k not in spec.params or not _same(spec.params[k], v)}
        drafts.append((params, steps, rid, name, sets | hydra.group_set(spec.groups, params), ident))
    for params, steps, rid, name, assigned, ident in drafts:
        if names_seen[name] > 1:
            name = f"{name}-{rid[:8]}"
        run_folder = base.run(name)
        keys: dict[str, str] = {}
        outs: dict[str, str] = {}
        for step in order:
            if step.name not in steps:
                continue
            if step.call:
                key = _call_step(spec, base, step, params, name, keys, outs, by_name, executions, problems)
                if key:
                    keys[step.name] = key
                    outs[step.name] = ExecutionPaths(executions[key].folder).out
                continue
            tokens = parsed[step.name]
            # {p} needs a value; [p] of a param this run does not have (a group member) renders nothing
            missing = [t.text for t in tokens
                       if isinstance(t, template.Ref) and t.kind == "param" and t.name not in params]
            if missing:
                where = f"{spec.path}: steps.{step.name}"
                problems.setdefault(where + missing[0], Problem(
                    where, f"placeholder {missing[0]} has no value in run {name!r}: give it a default under "
                           f"params (or set it in every group choice)"))
                continue
            rest = rest_params(tokens, list(params), selectors)
            passed = hydra.passed(params, assigned, rest, spec.params) if hydra.used(tokens) else []
            used = referenced_params(tokens, list(params), passed)
            key_params = dict(ident) if used is None else {k: params[k] for k in used if k in params}
            needs = [keys[n] for n in step.needs or () if n in keys]
            key = step_key(experiment=spec.experiment, step=step.name, template=step.run, workdir=step.workdir,
                           params=key_params, needs=needs, code=step.code)
            folder = base.execution(step.name, key)
            keys[step.name] = key
            outs[step.name] = ExecutionPaths(folder).out
            if key not in executions:
                ctx = Context(out=outs[step.name], run=run_folder, name=name, step_outs=outs, rest=rest,
                              hydra=passed, hydra_keys=step.hydra_keys)
                executions[key] = StepExec(
                    key=key, experiment=spec.experiment, step=step.name, command=render(tokens, params, ctx),
                    needs=tuple(needs), folder=folder,
                    workdir=os.path.normpath(os.path.join(spec.folder, step.workdir or ".")),
                    params=key_params, gpus=step.gpus if step.gpus is not None else int(spec.resources.has_gpus),
                    timeout=step.timeout, retries=step.retries, code=_code_hash(step.code), gpu_mem=step.gpu_mem)
        runs.append(Run(id=rid, experiment=spec.experiment, name=name, params=ident,
                        steps=tuple(keys.items()), folder=run_folder))
    if problems:
        raise SpecError(list(problems.values()))
    spec_path = spec.path if spec.path.startswith("<") else os.path.join(spec.folder, os.path.basename(spec.path))
    return Plan(experiment=spec.experiment, home=home, spec_path=spec_path, runs=tuple(runs),
                executions=tuple(executions.values()), defaults=baseline, spec=spec.raw,
                warnings=_unused_axes(spec, runs))


def _code_hash(code: Mapping[str, str]) -> str:
    """One hash for a step's code files (its ``deps:``); "" when it declares none."""
    return sha256_hex(canonical_json(dict(code))) if code else ""


def _call_step(spec: Spec, base: ExperimentPaths, step: StepSpec, params: Params, name: str, keys: dict[str, str],
               outs: dict[str, str], by_name: Mapping[str, StepSpec], executions: dict[str, StepExec],
               problems: dict[str, Problem]) -> str | None:
    """The execution of a call step for one run (added to ``executions``); its key, or None (a problem)."""
    searched = spec.tune.names if spec.tune else ()
    missing = [p for p in step.takes if p not in params and p not in searched]  # a searched one: its condition failed
    if missing:
        where = f"{spec.path}: steps.{step.name}.call"
        problems.setdefault(where + missing[0], Problem(
            where, f"parameter {missing[0]!r} of {step.call} has no default and run {name!r} gives it no value: "
                   f"set it under params:, in a sweep, or on the command line ({missing[0]}=VALUE)"))
        return None
    key_params = {k: params[k] for k in step.takes if k in params}
    needs = [keys[n] for n in step.needs or () if n in keys]
    code = {**step.code, "<call>": step.call_code}
    key = step_key(experiment=spec.experiment, step=step.name, template=f"call:{step.call}", workdir=step.workdir,
                   params=key_params, needs=needs, code=code)
    if key not in executions:
        results = {n: os.path.dirname(outs[n]) for n in step.inputs if n in outs and by_name[n].call}
        folders = {n: outs[n] for n in step.inputs if n in outs and not by_name[n].call}
        executions[key] = StepExec(
            key=key, experiment=spec.experiment, step=step.name,
            command=calls.command(str(step.call), key_params, results, folders), needs=tuple(needs),
            folder=base.execution(step.name, key),
            workdir=os.path.normpath(os.path.join(spec.folder, step.workdir or ".")), params=key_params,
            gpus=step.gpus if step.gpus is not None else int(spec.resources.has_gpus), timeout=step.timeout,
            retries=step.retries, kind="call", code=step.call_code, gpu_mem=step.gpu_mem)
    return key


def _unused_axes(spec: Spec, runs: list[Run]) -> tuple[str, ...]:
    """Warn about params that vary across runs but that no step references by name (mlrunner's orphans).
    ``{*}`` / ``{*hydra}`` use every param; ``{run}`` / ``{name}`` only tell the runs apart."""
    varying = [k for k in spec.param_names
               if len({canonical_json(r.params.get(k)) for r in runs}) > 1]
    used: set[str] = set()
    apart = False
    for step in spec.steps:
        if step.call:
            used.update(step.takes)
            continue
        tokens = template.parse(step.run, spec.param_names, [s.name for s in spec.steps if s.name != step.name])
        kinds = {t.kind for t in tokens if isinstance(t, template.Ref)}
        if kinds & {"all", "hydra"}:
            return ()
        apart = apart or bool(kinds & {"run", "name"})
        used.update(t.name for t in tokens if isinstance(t, template.Ref) and t.kind in ("param", "flag"))
    selectors = {g: {k for c in spec.groups[g].values() for k in c} for g in spec.groups}
    effect = ("only the run folder or name changes" if apart
              else "those runs share their step executions")
    return tuple(f"param {k!r} varies across runs but no step uses it: {effect}"
                 for k in varying if k not in used and not (selectors.get(k, set()) & used))
