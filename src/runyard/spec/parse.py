"""Plain data (from YAML, an mlrunner file or Python) → a validated :class:`Spec`.

Every problem is collected with its place (``file:line: key.path``) and raised together as one
SpecError, so a user fixes a spec in one pass.
"""

from __future__ import annotations

from collections.abc import Mapping

from runyard.errors import Problem, SpecError, suggest
from runyard.model import ParamValue
from runyard.spec import calls, text
from runyard.spec.checker import NAME_RE, PARAM_RE, RESERVED, Checker, names_list, whole_number
from runyard.spec.metrics import parse_metrics
from runyard.spec.slurm import parse_slurm
from runyard.spec.stages import parse_aggregates, parse_select, stage_step_names
from runyard.spec.steps import parse_steps
from runyard.spec.tune import check_names, check_objectives, parse_tune
from runyard.spec.types import Grid, ResourceSpec, Spec
from runyard.spec.yamlfile import KeyPath, in_line_order

TOP_LEVEL = ("experiment", "description", "params", "groups", "steps", "metrics", "sweeps", "resources", "aggregate",
             "select", "slurm", "tune")
RESOURCE_KEYS = ("gpus", "per_gpu")
GRID_STEPS_KEYS = ("_steps", "_cmd")


def parse_spec(data: object, *, source: str, folder: str, lines: Mapping[KeyPath, int] | None = None,
               default_experiment: str | None = None, spelling: Mapping[KeyPath, KeyPath] | None = None) -> Spec:
    """Validate ``data`` (the native format as plain data) and build a Spec, or raise SpecError.
    ``lines`` maps key paths to lines; ``spelling`` maps native key path prefixes to the file's own."""
    check = Checker(source, lines or {}, spelling or {})
    data = text.plain(data, check.where)  # unsafe text and bombs refused before anything recurses into it
    if not isinstance(data, dict):
        raise SpecError([Problem(source, "a spec must be a mapping with at least `experiment:` and `steps:`")])
    check.unknown_keys(data, (), TOP_LEVEL)
    experiment = _experiment(check, data.get("experiment", default_experiment))
    params = _params(check, data.get("params"))
    groups = _groups(check, data.get("groups"), params)
    names = list(dict.fromkeys([*params, *groups, *(k for c in groups.values() for v in c.values() for k in v)]))
    tune = parse_tune(check, data.get("tune"), names=names)
    searched = list(tune.names) if tune else []
    names = list(dict.fromkeys([*names, *searched]))
    steps, taken = parse_steps(check, data.get("steps"), names, folder)
    params, required = calls.merge_defaults(check.add, params, taken, names)
    if tune:  # a conditional param has no value unless its condition holds: no default is passed or recorded
        conditional = {p.name for p in tune.params if p.when}
        params = {k: v for k, v in params.items() if k not in conditional}
        required = tuple(r for r in required if r not in searched)
        check_names(check, tune, list(dict.fromkeys([*names, *params, *required])))
    names = list(dict.fromkeys([*names, *params, *required]))
    step_names = [s.name for s in steps]
    sweeps = _sweeps(check, data.get("sweeps"), names, groups, step_names)
    stage_names = stage_step_names(data)
    metrics = parse_metrics(check, data.get("metrics"), step_names, folder, later_steps=stage_names)
    aggregates = parse_aggregates(check, data.get("aggregate"), step_names, metrics, folder)
    select = parse_select(check, data.get("select"), steps=step_names, params=names, metrics=metrics,
                          taken=[*step_names, *(a.name for a in aggregates)], folder=folder)
    resources = _resources(check, data.get("resources"))
    slurm = parse_slurm(check, data.get("slurm"), step_names)
    if tune:
        check_objectives(check, tune, metrics=[m.name for m in metrics], has_calls=any(s.call for s in steps))
    description = data.get("description") or ""
    if not isinstance(description, str):
        check.add(("description",), "must be text")
    if check.problems:
        raise SpecError(in_line_order(check.problems, source))
    return Spec(experiment=experiment, path=source, folder=folder, params=params, steps=tuple(steps),
                groups=groups, sweeps=sweeps, metrics=tuple(metrics), resources=resources,
                description=str(description), raw={"experiment": experiment, **data},
                required=required, aggregates=aggregates, select=select, slurm=slurm, tune=tune)


def _experiment(check: Checker, value: object) -> str:
    if value is None:
        check.add(("experiment",), "missing: name the experiment (letters, digits, '.', '_', '-')")
        return ""
    if not isinstance(value, str) or not NAME_RE.match(value):
        check.add(("experiment",), f"{value!r} is not a valid name (letters, digits, '.', '_', '-'; "
                  "starting with a letter or digit)")
        return ""
    return value


def _check_value(check: Checker, path: KeyPath, value: object) -> ParamValue:
    problem = text.scalar_problem(value)
    if problem:
        hint = "; to sweep values, list them under `sweeps:`" if isinstance(value, (list, tuple, dict)) else ""
        check.add(path, problem + hint)
        return None
    return value  # type: ignore[return-value]


def _check_param_name(check: Checker, path: KeyPath, name: str) -> bool:
    if not PARAM_RE.match(name):
        check.add(path, "a param name must start with a letter or '_' and hold only letters, digits, '_', '.', '-'")
        return False
    if name in RESERVED:
        check.add(path, f"{name!r} is a builtin placeholder and cannot be a param (reserved: {', '.join(RESERVED)})")
        return False
    return True


def _params(check: Checker, value: object) -> dict[str, ParamValue]:
    out: dict[str, ParamValue] = {}
    for name, default in check.mapping(value, ("params",), "param names to default values").items():
        if _check_param_name(check, ("params", name), name):
            out[name] = _check_value(check, ("params", name), default)
    return out


Groups = dict[str, dict[str, dict[str, ParamValue]]]


def _groups(check: Checker, value: object, params: dict[str, ParamValue]) -> Groups:
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


def _sweeps(check: Checker, value: object, names: list[str], groups: Mapping[str, Mapping[str, object]],
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


def _grid(check: Checker, path: KeyPath, grid: object, names: list[str],
          groups: Mapping[str, Mapping[str, object]], steps: list[str]) -> Grid | None:
    if not isinstance(grid, dict):
        check.add(path, "a grid must map params to a value or a list of values")
        return None
    axes: list[tuple[str, tuple[ParamValue, ...]]] = []
    only: tuple[str, ...] | None = None
    for key, values in grid.items():
        kpath = (*path, key)
        if key in GRID_STEPS_KEYS:
            only = names_list(check, kpath, values)
            for step in only:
                if step not in steps:
                    check.add(kpath, f"{step!r} is not a step{suggest(step, steps)} (steps: {', '.join(steps)})")
            continue
        if key.startswith("_"):
            continue  # mlrunner's _title and other annotations
        if key not in names:
            check.add(kpath, f"{key!r} is not a param{suggest(key, names)} "
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


def _resources(check: Checker, value: object) -> ResourceSpec:
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
    per_gpu = whole_number(check, ("resources", "per_gpu"), data.get("per_gpu"), minimum=1) or 1
    return ResourceSpec(gpus=gpus, per_gpu=per_gpu)


