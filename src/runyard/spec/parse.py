"""Plain data (from YAML, an mlrunner file or Python) → a validated :class:`Spec`.

Every problem is collected with its place (``file:line: key.path``) and raised together as one
SpecError, so a user fixes a spec in one pass.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from runyard.errors import Problem, SpecError, suggest
from runyard.model import ParamValue
from runyard.spec import calls, template, text
from runyard.spec.metrics import parse_metrics
from runyard.spec.stages import parse_aggregates, parse_select
from runyard.spec.types import Grid, ResourceSpec, Spec, StepSpec
from runyard.spec.yamlfile import KeyPath, dotted, in_line_order

TOP_LEVEL = ("experiment", "description", "params", "groups", "steps", "metrics", "sweeps", "resources", "aggregate",
             "select")
STEP_KEYS = ("run", "call", "gpus", "timeout", "retries", "deps", "workdir", "needs")
RESOURCE_KEYS = ("gpus", "per_gpu")
GRID_STEPS_KEYS = ("_steps", "_cmd")
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*\Z")
PARAM_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*\Z")
STEP_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*\Z")
RESERVED = ("out", "run", "name", "time")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|d|h|m|s)?", re.IGNORECASE)
_UNITS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "": 1.0}


def did_you_mean(word: str, valid: Any) -> str:
    return suggest(word, valid)


def is_scalar(value: object) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def parse_duration(value: object) -> float:
    """``90``, ``"90s"``, ``"30m"``, ``"2h"``, ``"1h30m"``, ``"1d"`` → seconds."""
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, (int, float)):
        if value <= 0:
            raise ValueError(value)
        return float(value)
    text = str(value).strip().replace(" ", "")
    pos, total = 0, 0.0
    while pos < len(text):
        match = _DURATION.match(text, pos)
        if not match or match.end() == pos:
            raise ValueError(value)
        total += float(match.group(1)) * _UNITS[(match.group(2) or "").lower()]
        pos = match.end()
    if total <= 0:
        raise ValueError(value)
    return total


class _Checker:
    def __init__(self, source: str, lines: Mapping[KeyPath, int], spelling: Mapping[KeyPath, KeyPath]) -> None:
        self.source = source
        self.lines = lines
        self.spelling = spelling
        self.problems: list[Problem] = []

    def where(self, path: KeyPath) -> str:
        probe = path
        while probe and probe not in self.lines:
            probe = probe[:-1]
        line = self.lines.get(probe)
        loc = f"{self.source}:{line}" if line else self.source
        for size in range(len(path), 0, -1):  # the file's own spelling of the path (mlrunner: template.train ...)
            if path[:size] in self.spelling:
                path = (*self.spelling[path[:size]], *path[size:])
                break
        return f"{loc}: {dotted(path)}" if path else loc

    def add(self, path: KeyPath, message: str) -> None:
        self.problems.append(Problem(self.where(path), message))

    def mapping(self, value: object, path: KeyPath, what: str) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.add(path, f"must be a mapping of {what}, not {type(value).__name__}")
            return {}
        return {str(k): v for k, v in value.items()}

    def unknown_keys(self, data: Mapping[str, Any], path: KeyPath, valid: tuple[str, ...]) -> None:
        for key in data:
            if key not in valid:
                self.add(
                    (*path, key), f"unknown key{did_you_mean(key, valid)} (valid: {', '.join(valid)})"
                )


def parse_spec(data: object, *, source: str, folder: str, lines: Mapping[KeyPath, int] | None = None,
               default_experiment: str | None = None, spelling: Mapping[KeyPath, KeyPath] | None = None) -> Spec:
    """Validate ``data`` (the native format as plain data) and build a Spec, or raise SpecError.
    ``lines`` maps key paths to lines; ``spelling`` maps native key path prefixes to the file's own."""
    check = _Checker(source, lines or {}, spelling or {})
    data = text.plain(data, check.where)  # unsafe text and bombs refused before anything recurses into it
    if not isinstance(data, dict):
        raise SpecError([Problem(source, "a spec must be a mapping with at least `experiment:` and `steps:`")])
    check.unknown_keys(data, (), TOP_LEVEL)
    experiment = _experiment(check, data.get("experiment", default_experiment))
    params = _params(check, data.get("params"))
    groups = _groups(check, data.get("groups"), params)
    names = list(dict.fromkeys([*params, *groups, *(k for c in groups.values() for v in c.values() for k in v)]))
    steps, taken = _steps(check, data.get("steps"), names, folder)
    params, required = calls.merge_defaults(check.add, params, taken, names)
    names = list(dict.fromkeys([*names, *params, *required]))
    step_names = [s.name for s in steps]
    sweeps = _sweeps(check, data.get("sweeps"), names, groups, step_names)
    stage_names = _stage_step_names(data)
    metrics = parse_metrics(check, data.get("metrics"), step_names, folder, later_steps=stage_names)
    aggregates = parse_aggregates(check, data.get("aggregate"), step_names, metrics, folder)
    select = parse_select(check, data.get("select"), steps=step_names, params=names, metrics=metrics,
                          taken=[*step_names, *(a.name for a in aggregates)], folder=folder)
    resources = _resources(check, data.get("resources"))
    description = data.get("description") or ""
    if not isinstance(description, str):
        check.add(("description",), "must be text")
    if check.problems:
        raise SpecError(in_line_order(check.problems, source))
    return Spec(experiment=experiment, path=source, folder=folder, params=params, steps=tuple(steps),
                groups=groups, sweeps=sweeps, metrics=tuple(metrics), resources=resources,
                description=str(description), raw={"experiment": experiment, **data},
                required=required, aggregates=aggregates, select=select)


def _stage_step_names(data: Mapping[str, Any]) -> list[str]:
    """The names of the aggregate and ``select.then`` steps (metrics may target them)."""
    names = [str(k) for k in data["aggregate"]] if isinstance(data.get("aggregate"), dict) else []
    select = data.get("select")
    then = select.get("then") if isinstance(select, dict) else None
    return names + ([str(k) for k in then] if isinstance(then, dict) else [])


def _experiment(check: _Checker, value: object) -> str:
    if value is None:
        check.add(("experiment",), "missing: name the experiment (letters, digits, '.', '_', '-')")
        return ""
    if not isinstance(value, str) or not NAME_RE.match(value):
        check.add(("experiment",), f"{value!r} is not a valid name (letters, digits, '.', '_', '-'; "
                  "starting with a letter or digit)")
        return ""
    return value


def _check_value(check: _Checker, path: KeyPath, value: object) -> ParamValue:
    problem = text.scalar_problem(value)
    if problem:
        hint = "; to sweep values, list them under `sweeps:`" if isinstance(value, (list, tuple, dict)) else ""
        check.add(path, problem + hint)
        return None
    return value  # type: ignore[return-value]


def _check_param_name(check: _Checker, path: KeyPath, name: str) -> bool:
    if not PARAM_RE.match(name):
        check.add(path, "a param name must start with a letter or '_' and hold only letters, digits, '_', '.', '-'")
        return False
    if name in RESERVED:
        check.add(path, f"{name!r} is a builtin placeholder and cannot be a param (reserved: {', '.join(RESERVED)})")
        return False
    return True


def _params(check: _Checker, value: object) -> dict[str, ParamValue]:
    out: dict[str, ParamValue] = {}
    for name, default in check.mapping(value, ("params",), "param names to default values").items():
        if _check_param_name(check, ("params", name), name):
            out[name] = _check_value(check, ("params", name), default)
    return out


Groups = dict[str, dict[str, dict[str, ParamValue]]]


def _groups(check: _Checker, value: object, params: dict[str, ParamValue]) -> Groups:
    groups: Groups = {}
    for group, choices in check.mapping(value, ("groups",), "group names to choices").items():
        path: KeyPath = ("groups", group)
        if not _check_param_name(check, path, group):
            continue
        parsed: dict[str, dict[str, ParamValue]] = {}
        for choice, values in check.mapping(choices, path, "choices to param values").items():
            sets = check.mapping(values, (*path, choice), "param names to values")
            parsed[str(choice)] = {
                k: _check_value(check, (*path, choice, k), v)
                for k, v in sets.items() if _check_param_name(check, (*path, choice, k), k)
            }
        if not parsed:
            check.add(path, "a group needs at least one choice")
        groups[group] = parsed
        default = params.get(group)
        if group in params and default is not None and str(default) not in parsed:
            check.add(("params", group), f"{default!r} is not a choice of group {group!r} "
                      f"(choices: {', '.join(parsed)})")
    return groups


def _steps(check: _Checker, value: object, params: list[str],
           folder: str) -> tuple[list[StepSpec], list[tuple[StepSpec, dict[str, Any]]]]:
    """The steps, and for each call step the params its function takes (with their signature defaults)."""
    raw = check.mapping(value, ("steps",), "step names to commands")
    if not raw and (value is None or isinstance(value, dict)):
        check.add(("steps",), "missing: a spec needs at least one step (name: shell command)")
    names = list(raw)
    steps: list[StepSpec] = []
    refs: dict[str, list[str]] = {}
    taken: list[tuple[StepSpec, dict[str, Any]]] = []
    drafts: list[tuple[int, KeyPath, object, StepSpec]] = []
    for index, (name, body) in enumerate(raw.items()):  # first the call steps' functions: their params
        path: KeyPath = ("steps", name)
        if not STEP_RE.match(name):
            check.add(path, "a step name must start with a letter or '_' and hold only letters, digits, '_', '-'")
            continue
        spec = _step(check, path, name, body)
        if spec is None:
            continue
        if spec.call:
            spec, takes = calls.resolve(check.add, path, spec, folder, names)
            taken.append((spec, takes))
        drafts.append((index, path, body, spec))
    known = list(dict.fromkeys([*params, *(p for _, takes in taken for p in takes)]))
    for index, path, body, spec in drafts:  # then the templates, which may use those params too
        name = spec.name
        if spec.call:
            refs[name] = list(spec.inputs)
        else:
            try:
                tokens = template.parse(spec.run, known, [n for n in names if n != name])
            except template.TemplateError as err:
                check.add((*path, "run") if isinstance(body, dict) else path, str(err))
                tokens = ()
            refs[name] = [t.name for t in tokens if isinstance(t, template.Ref) and t.kind == "step_out"]
        if spec.needs is None:
            needs = tuple(dict.fromkeys(refs[name])) or ((names[index - 1],) if index else ())
            spec = StepSpec(**{**spec.__dict__, "needs": needs})
        else:
            for need in spec.needs:
                if need not in names or need == name:
                    check.add((*path, "needs"), f"{need!r} is not another step{did_you_mean(need, names)}")
            missing = [r for r in refs[name] if r not in spec.needs]
            spec = StepSpec(**{**spec.__dict__, "needs": (*spec.needs, *missing)})
        steps.append(spec)
    _check_cycles(check, steps)
    return steps, taken


def _step(check: _Checker, path: KeyPath, name: str, body: object) -> StepSpec | None:
    if isinstance(body, str):
        body = {"run": body}
    if not isinstance(body, dict):
        check.add(path, "a step is a shell command or a mapping with `run:` or `call:` (and gpus, timeout, "
                  "retries, deps, workdir, needs)")
        return None
    check.unknown_keys(body, path, STEP_KEYS)
    run = body.get("run")
    call = None
    if "call" in body:
        if run is not None:
            check.add((*path, "call"), "a step has either `run:` (a shell command) or `call:` (a Python function), "
                                       "not both")
            return None
        call = calls.check_target(check.add, (*path, "call"), body["call"])
        if call is None:
            return None
        run = ""
    elif not isinstance(run, str) or not run.strip():
        check.add((*path, "run"), "missing: the shell command template of the step (or `call: module:function`)")
        return None
    gpus = _int(check, (*path, "gpus"), body.get("gpus"), minimum=0)
    retries = _int(check, (*path, "retries"), body.get("retries"), minimum=0) or 0
    timeout = None
    if body.get("timeout") is not None:
        try:
            timeout = parse_duration(body["timeout"])
        except ValueError:
            check.add((*path, "timeout"), f"{body['timeout']!r} is not a duration (e.g. 90, 90s, 30m, 2h, 1h30m)")
    deps = _str_list(check, (*path, "deps"), body.get("deps"))
    needs = None if body.get("needs") is None else _str_list(check, (*path, "needs"), body["needs"])
    workdir = body.get("workdir")
    if workdir is not None and not isinstance(workdir, str):
        check.add((*path, "workdir"), "must be a folder path")
        workdir = None
    # one command line: a backslash-newline continues the line (as in bash), other line breaks become spaces
    run = " ".join(run.replace("\\\n", "").split("\n")).strip()
    return StepSpec(name=name, run=run, call=call,
                    gpus=gpus, timeout=timeout, retries=retries, deps=deps, workdir=workdir, needs=needs)


def _int(check: _Checker, path: KeyPath, value: object, *, minimum: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        check.add(path, f"must be a whole number ≥ {minimum}, not {value!r}")
        return None
    return value


def _str_list(check: _Checker, path: KeyPath, value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    check.add(path, "must be a name or a list of names")
    return ()


def _check_cycles(check: _Checker, steps: list[StepSpec]) -> None:
    needs = {s.name: s.needs or () for s in steps}
    state: dict[str, int] = {}

    def visit(name: str, trail: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = [*trail[trail.index(name):], name]
            check.add(("steps", name), f"dependency cycle: {' → '.join(cycle)}")
            return
        state[name] = 1
        for need in needs.get(name, ()):
            if need in needs:
                visit(need, [*trail, name])
        state[name] = 2

    for step in steps:
        visit(step.name, [])


def _sweeps(check: _Checker, value: object, names: list[str], groups: Mapping[str, Mapping[str, object]],
            steps: list[str]) -> dict[str, tuple[Grid, ...]]:
    if value is None:
        return {}
    blocks: list[tuple[str, KeyPath, object]] = []
    if isinstance(value, list):
        blocks = [(f"sweep{i + 1}", ("sweeps", i), grid) for i, grid in enumerate(value)]
    elif isinstance(value, dict):
        for name, grids in value.items():
            if isinstance(grids, list):
                if not grids:
                    check.add(("sweeps", name), "empty list: a sweep needs at least one grid (param: [values])")
                blocks += [(name, ("sweeps", name, i), g) for i, g in enumerate(grids)]
            else:
                blocks.append((name, ("sweeps", name), grids))
    else:
        check.add(("sweeps",), "must map sweep names to grids (param: [values]) or be a list of grids")
    sweeps: dict[str, list[Grid]] = {}
    for name, path, grid in blocks:
        parsed = _grid(check, path, grid, names, groups, steps)
        if parsed is not None:
            sweeps.setdefault(str(name), []).append(parsed)
    return {k: tuple(v) for k, v in sweeps.items()}


def _grid(check: _Checker, path: KeyPath, grid: object, names: list[str],
          groups: Mapping[str, Mapping[str, object]], steps: list[str]) -> Grid | None:
    if not isinstance(grid, dict):
        check.add(path, "a grid must map params to a value or a list of values")
        return None
    axes: list[tuple[str, tuple[ParamValue, ...]]] = []
    only: tuple[str, ...] | None = None
    for key, values in grid.items():
        kpath = (*path, key)
        if key in GRID_STEPS_KEYS:
            only = _str_list(check, kpath, values)
            for step in only:
                if step not in steps:
                    check.add(kpath, f"{step!r} is not a step{did_you_mean(step, steps)} (steps: {', '.join(steps)})")
            continue
        if key.startswith("_"):
            continue  # mlrunner's _title and other annotations
        if key not in names:
            check.add(kpath, f"{key!r} is not a param{did_you_mean(key, names)} "
                      f"(params: {', '.join(names) or 'none'})")
            continue
        seq = values if isinstance(values, list) else [values]
        if not seq:
            check.add(kpath, "empty list: a grid axis needs at least one value")
            continue
        checked = tuple(_check_value(check, (*kpath, i), v) for i, v in enumerate(seq))
        if key in groups:
            for v in checked:
                if str(v) not in groups[key]:
                    check.add(kpath, f"{v!r} is not a choice of group {key!r} (choices: {', '.join(groups[key])})")
        axes.append((key, checked))
    return Grid(axes=tuple(axes), steps=only)


def _resources(check: _Checker, value: object) -> ResourceSpec:
    data = check.mapping(value, ("resources",), "gpus and per_gpu")
    check.unknown_keys(data, ("resources",), RESOURCE_KEYS)
    gpus: tuple[int, ...] | str = ()
    raw = data.get("gpus")
    bad = "must be a list of GPU indices, a count, 'auto' or 'none'"
    if raw in (None, "none", False):
        gpus = ()
    elif raw == "auto":
        gpus = "auto"
    elif isinstance(raw, int) and not isinstance(raw, bool) and raw >= 0:
        gpus = tuple(range(raw))
    elif isinstance(raw, list) and all(isinstance(g, int) and not isinstance(g, bool) and g >= 0 for g in raw):
        gpus = tuple(dict.fromkeys(raw))
    elif isinstance(raw, str) and all(p.strip().isdigit() for p in raw.split(",")):
        gpus = tuple(dict.fromkeys(int(p) for p in raw.split(",")))
    else:
        check.add(("resources", "gpus"), f"{raw!r}: {bad}")
    per_gpu = _int(check, ("resources", "per_gpu"), data.get("per_gpu"), minimum=1) or 1
    return ResourceSpec(gpus=gpus, per_gpu=per_gpu)


