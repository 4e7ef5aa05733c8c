"""The ``tune:`` block: a search space, its objective and how the search is run (validated here, pure).

```yaml
tune:
  params:
    lr: {loguniform: [1.0e-5, 1.0e-1]}
    layers: {int: [1, 8], step: 1}
    optimizer: {choice: [adam, sgd]}
    momentum: {uniform: [0.0, 0.99], when: {optimizer: sgd}}
  grid: {dataset: [a, b]}           # one study per cell: tune lr for each dataset
  objective: {metric: acc, direction: maximize}   # or a list of them: a Pareto front
  trials: 60
  sampler: tpe                      # tpe random cmaes gp nsga2 grid
  seed: 1
  pruner: median                    # median hyperband successive_halving none
```
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from runyard.model import ParamValue
from runyard.spec.checker import Checker, whole_number
from runyard.spec.text import scalar_problem
from runyard.spec.yamlfile import KeyPath

KINDS = ("uniform", "loguniform", "int", "choice")
SAMPLERS = ("tpe", "random", "cmaes", "gp", "nsga2", "grid")
PRUNERS = ("median", "hyperband", "successive_halving", "none")
DIRECTIONS = ("maximize", "minimize")
TUNE_KEYS = ("params", "grid", "objective", "trials", "sampler", "seed", "pruner")
PARAM_KEYS = (*KINDS, "step", "log", "when")
OBJECTIVE_KEYS = ("metric", "direction")


@dataclass(frozen=True)
class SearchParam:
    """One searched param: ``kind`` (uniform, loguniform, int, choice), its bounds or choices, and the
    condition (``when``: param → value) under which it exists at all."""

    name: str
    kind: str
    low: float = 0.0
    high: float = 0.0
    step: float | None = None
    log: bool = False
    choices: tuple[ParamValue, ...] = ()
    when: Mapping[str, ParamValue] = field(default_factory=dict)

    def active(self, params: Mapping[str, ParamValue]) -> bool:
        """Whether the condition holds for ``params`` (a param whose own condition fails has no value)."""
        return all(name in params and params[name] == value for name, value in self.when.items())

    def contains(self, value: ParamValue) -> bool:
        """Whether ``value`` lies in this param's space (a past run's value warm-starts the study)."""
        if self.kind == "choice":
            return any(value == c and type(value) is type(c) for c in self.choices)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.kind == "int" and (not float(value).is_integer()
                                   or (self.step and (value - self.low) % self.step)):
            return False
        return self.low <= value <= self.high


@dataclass(frozen=True)
class Objective:
    metric: str
    direction: str = "maximize"


@dataclass(frozen=True)
class TuneSpec:
    params: tuple[SearchParam, ...]
    objectives: tuple[Objective, ...]
    grid: tuple[tuple[str, tuple[ParamValue, ...]], ...] = ()
    trials: int = 20
    sampler: str = "tpe"
    seed: int | None = None
    pruner: str = "median"
    data: Mapping[str, object] = field(default_factory=dict)  # the block as written (stored with the spec)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    @property
    def directions(self) -> tuple[str, ...]:
        return tuple(o.direction for o in self.objectives)

    def cells(self) -> list[dict[str, ParamValue]]:
        """The grid's cells (one study each); one empty cell without a grid."""
        cells: list[dict[str, ParamValue]] = [{}]
        for name, values in self.grid:
            cells = [{**cell, name: value} for cell in cells for value in values]
        return cells

    def in_space(self, params: Mapping[str, ParamValue]) -> dict[str, ParamValue] | None:
        """The searched values of a run's ``params`` when they lie in the space (every active param has
        a value inside its bounds, no inactive one has a value), else None."""
        found: dict[str, ParamValue] = {}
        for param in self.params:  # conditions refer to params listed before them
            if param.active({**params, **found}):
                if param.name not in params or not param.contains(params[param.name]):
                    return None
                found[param.name] = params[param.name]
            elif params.get(param.name) is not None:
                return None
        return found


def parse_tune(check: Checker, value: object, *, names: Sequence[str]) -> TuneSpec | None:
    """The ``tune:`` block, problems added to ``check`` with their key paths; None without a block.
    ``names``: the spec's params (grid axes must be params or searched ones)."""
    if value is None:
        return None
    data = check.mapping(value, ("tune",), "params, objective, trials, sampler, seed, pruner, grid")
    check.unknown_keys(data, ("tune",), TUNE_KEYS)
    params: list[SearchParam] = []
    for name, body in check.mapping(data.get("params"), ("tune", "params"), "param names to spaces").items():
        parsed = _param(check, ("tune", "params", name), name, body, [p.name for p in params], names)
        if parsed is not None:
            params.append(parsed)
    if not params and "params" not in data:
        check.add(("tune", "params"), "missing: name the params to search, e.g. lr: {loguniform: [1e-5, 1e-1]}")
    grid = _grid(check, data.get("grid"), [*names, *(p.name for p in params)])
    objectives = _objectives(check, data.get("objective"))
    trials = whole_number(check, ("tune", "trials"), data.get("trials"), minimum=1) or 20
    sampler = _one_of(check, ("tune", "sampler"), data.get("sampler", "tpe"), SAMPLERS, "sampler")
    pruner = _one_of(check, ("tune", "pruner"), data.get("pruner", "median"), PRUNERS, "pruner")
    seed = data.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        check.add(("tune", "seed"), f"{seed!r}: must be a whole number")
        seed = None
    if sampler == "grid" and any(p.kind in ("uniform", "loguniform") or (p.kind == "int" and p.log) for p in params):
        check.add(("tune", "sampler"), "the grid sampler needs finite spaces: int with a step, or choice")
    return TuneSpec(params=tuple(params), objectives=objectives, grid=grid, trials=trials, sampler=sampler,
                    seed=seed, pruner=pruner, data=data)


def _param(check: Checker, path: KeyPath, name: str, body: object, earlier: list[str],
           names: Sequence[str]) -> SearchParam | None:
    if not isinstance(body, dict):
        check.add(path, f"must be a mapping with one of {', '.join(KINDS)}, e.g. {{uniform: [0, 1]}}")
        return None
    check.unknown_keys(body, path, PARAM_KEYS)
    kinds = [k for k in KINDS if k in body]
    if len(kinds) != 1:
        check.add(path, f"give exactly one of {', '.join(KINDS)}" + (f" (found {', '.join(kinds)})" if kinds else ""))
        return None
    kind = kinds[0]
    when = _when(check, (*path, "when"), body.get("when"), earlier, names)
    if kind == "choice":
        choices = body["choice"]
        if not isinstance(choices, list) or not choices:
            check.add((*path, "choice"), "must be a non-empty list of values")
            return None
        for i, c in enumerate(choices):
            problem = scalar_problem(c)
            if problem:
                check.add((*path, "choice", i), problem)
        return SearchParam(name, kind, choices=tuple(choices), when=when)
    bounds = body[kind]
    if (not isinstance(bounds, list) or len(bounds) != 2
            or not all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in bounds)):
        check.add((*path, kind), "must be [low, high], two numbers")
        return None
    low, high = float(bounds[0]), float(bounds[1])
    if not (math.isfinite(low) and math.isfinite(high)):
        check.add((*path, kind), "bounds must be finite")
        return None
    log = kind == "loguniform" or body.get("log") is True
    if "log" in body and not isinstance(body["log"], bool):
        check.add((*path, "log"), "must be true or false")
    if low >= high:
        check.add((*path, kind), f"low ({bounds[0]}) must be below high ({bounds[1]})")
    if log and low <= 0:
        check.add((*path, kind), f"a log scale needs low > 0, not {bounds[0]}")
    step = body.get("step")
    if step is not None:
        if isinstance(step, bool) or not isinstance(step, (int, float)) or step <= 0:
            check.add((*path, "step"), f"{step!r}: must be a number above 0")
            step = None
        elif log:
            check.add((*path, "step"), "a step and a log scale cannot be combined")
        elif kind == "int" and not float(step).is_integer():
            check.add((*path, "step"), f"{step!r}: an int param's step must be a whole number")
    if kind == "int" and not (low.is_integer() and high.is_integer()):
        check.add((*path, kind), "an int param's bounds must be whole numbers")
    if kind == "int" and step is None:
        step = None if log else 1
    return SearchParam(name, kind, low=low, high=high, step=None if step is None else float(step), log=log,
                       when=when)


def _when(check: Checker, path: KeyPath, value: object, earlier: list[str],
          names: Sequence[str]) -> dict[str, ParamValue]:
    when = check.mapping(value, path, "param names to the value they must have")
    for key, wanted in when.items():
        problem = scalar_problem(wanted)
        if problem:
            check.add((*path, key), problem)
    return when


def _grid(check: Checker, value: object, names: Sequence[str]) -> tuple[tuple[str, tuple[ParamValue, ...]], ...]:
    axes = []
    for key, values in check.mapping(value, ("tune", "grid"), "params to lists of values").items():
        seq = values if isinstance(values, list) else [values]
        if not seq:
            check.add(("tune", "grid", key), "empty list: a grid axis needs at least one value")
            continue
        for i, v in enumerate(seq):
            problem = scalar_problem(v)
            if problem:
                check.add(("tune", "grid", key, i), problem)
        axes.append((key, tuple(seq)))
    return tuple(axes)


def _objectives(check: Checker, value: object) -> tuple[Objective, ...]:
    path: KeyPath = ("tune", "objective")
    if value is None:
        check.add(path, "missing: the metric to optimise, e.g. {metric: acc, direction: maximize}")
        return ()
    if isinstance(value, str):
        return (Objective(value),)
    items = value if isinstance(value, list) else [value]
    out: list[Objective] = []
    for i, item in enumerate(items):
        where = (*path, i) if isinstance(value, list) else path
        if isinstance(item, str):
            out.append(Objective(item))
            continue
        body = check.mapping(item, where, "metric and direction")
        check.unknown_keys(body, where, OBJECTIVE_KEYS)
        metric = body.get("metric")
        if not isinstance(metric, str) or not metric:
            check.add((*where, "metric"), "missing: name the metric to optimise")
            continue
        direction = _one_of(check, (*where, "direction"), body.get("direction", "maximize"), DIRECTIONS, "direction")
        out.append(Objective(metric, direction))
    return tuple(out)


def _one_of(check: Checker, path: KeyPath, value: object, valid: tuple[str, ...], what: str) -> str:
    if value not in valid:
        from runyard.errors import suggest

        check.add(path, f"unknown {what} {value!r}{suggest(str(value), valid)} (valid: {', '.join(valid)})")
        return valid[0]
    return str(value)


def check_names(check: Checker, tune: TuneSpec, names: Sequence[str]) -> None:
    """Grid axes and conditions name params (``names``: the spec's, with its functions' parameters) or
    searched params (a condition: one listed before its own)."""
    for key, _ in tune.grid:
        if key not in names:
            check.add(("tune", "grid", key), f"{key!r} is not a param (params: {', '.join(names) or 'none'})")
    searched = list(tune.names)
    for index, param in enumerate(tune.params):
        for key in param.when:
            if key not in searched[:index] and (key not in names or key in searched):
                check.add(("tune", "params", param.name, "when", key),
                          f"{key!r} is neither a param nor a searched param listed before this one")


def check_objectives(check: Checker, tune: TuneSpec, *, metrics: Sequence[str], has_calls: bool) -> None:
    """An objective must be a metric some step produces: declared under ``metrics:`` (a regex, a file, a
    parser, or logged by the program), or returned by a call step."""
    for i, objective in enumerate(tune.objectives):
        if objective.metric not in metrics and not has_calls:
            where: KeyPath = ("tune", "objective", i) if len(tune.objectives) > 1 else ("tune", "objective")
            check.add((*where, "metric"), f"{objective.metric!r} is never produced: no step makes it (metrics: "
                      f"{', '.join(metrics) or 'none'}); declare it under metrics: (a regex on a step's log, a file, "
                      "or `{step: NAME}` for a program that calls runyard.log)")
