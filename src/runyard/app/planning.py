"""Planning: a spec and what selects its runs → a :class:`~runyard.model.Plan`. Pure but for reading
the run names the store holds.

:func:`make_plan` is the one way a plan is made: ``runyard plan``, ``run``, ``submit``, ``select``,
the worker's final stage, ``runyard.Experiment`` and ``Yard.submit`` all call it, so the same spec and
the same choices give the same runs (ids, names, params) and step executions (keys, commands) whoever
asks. :func:`plan_spec_file` adds what the command line gives: a spec file, ``KEY=VALUE`` texts, the
home and the GPUs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from runyard.errors import UsageError
from runyard.model import Plan
from runyard.spec.final import Origin
from runyard.spec.identity import Earlier
from runyard.spec.types import Spec
from runyard.store.base import Store

Overrides = Sequence[str] | Mapping[str, Any]  # ``KEY=VALUE`` texts (command line) or values (Python)


def make_plan(spec: Spec, *, home: str | os.PathLike[str], overrides: Overrides = (), sweep: str | None = None,
              sample: int | None = None, seed: int = 0, names: Store | str | None = None,
              picks: Sequence[Origin] | None = None) -> Plan:
    """The plan of ``spec``: the runs of its sweeps (``sweep``: only those blocks) with ``overrides``
    (a value pins a param, several make it an axis), ``sample`` of them drawn with ``seed``; or, given
    ``picks`` (runs chosen by ``select:``), their final runs. ``names``: an open store or a store URL
    whose runs of the experiment keep their names (a new run whose readable name another run holds gets
    its id appended); None reads nothing. SpecError on any problem."""
    if picks is not None:
        from runyard.spec.final import final_plan

        return final_plan(spec, str(home), picks)
    from runyard.spec.expand import expand, parse_overrides, value_overrides

    chosen = value_overrides(spec, overrides) if isinstance(overrides, Mapping) else parse_overrides(spec, overrides)
    return expand(spec, home=str(home), overrides=chosen, sweep=sweep, sample=sample, seed=seed,
                  earlier=earlier_runs(names, spec.experiment))


def taken_names(names: Store | str | None, experiment: str) -> dict[str, str]:
    """Run name → run id of the runs of ``experiment`` in the store (none when there is no store yet)."""
    if names is None:
        return {}
    if isinstance(names, str):
        from runyard.store.readonly import run_names

        return run_names(names, experiment)
    return {run.name: run.id for run in names.runs(experiment)} if experiment in names.experiments() else {}


def earlier_runs(names: Store | str | None, experiment: str) -> Earlier:
    """The runs of ``experiment`` in the store with their params, and the defaults of the spec last submitted
    for it: what keeps the names of its runs, and the identity of those that ran before params were added."""
    if names is None:
        return Earlier()
    if isinstance(names, str):
        from runyard.store.readonly import earlier_runs as read

        runs, defaults = read(names, experiment)
        return Earlier(runs, defaults)
    if experiment not in names.experiments():
        return Earlier()
    from runyard.store.readonly import spec_params

    return Earlier({run.name: (run.id, dict(run.params)) for run in names.runs(experiment)},
                   spec_params(dict(names.experiment(experiment).spec)))


def with_resources(spec: Spec, gpus: Sequence[int] | str | None, per_gpu: int | None = None, *,
                   detect: bool = True) -> Spec:
    """The spec with the GPUs actually used (``gpus``: indices, ``"auto"``, ``"none"`` or ``"0,1"``; None:
    the spec's) and ``per_gpu``: a step's default GPU need follows them. ``auto`` is detected here unless
    ``detect`` is False (a submit from a machine without the workers' GPUs: steps still need one each)."""
    from runyard.spec.types import ResourceSpec

    chosen: tuple[int, ...] | str = spec.resources.gpus
    if isinstance(gpus, str):
        from runyard.execute.slots import parse_gpus

        parsed = parse_gpus(gpus)
        chosen = "auto" if parsed is None else tuple(parsed)
    elif gpus is not None:
        chosen = tuple(gpus)
    if chosen == "auto" and detect:
        from runyard.execute.slots import detect_gpus

        chosen = tuple(detect_gpus())
    if chosen == spec.resources.gpus and per_gpu is None:
        return spec
    return replace(spec, resources=ResourceSpec(gpus=chosen, per_gpu=per_gpu or spec.resources.per_gpu))


@dataclass(frozen=True)
class Planned:
    """A spec file planned for the command line: the spec (with the GPUs chosen), its plan, the home,
    and warnings to show (GPU indices that could not be verified)."""

    spec: Spec
    plan: Plan
    home: Path
    warnings: tuple[str, ...] = ()


def split_args(args: Sequence[str]) -> tuple[str, list[str]]:
    """``[SPEC] [KEY=VALUE ...]``: the first argument without '=' is the spec; the rest are overrides."""
    from runyard.spec.load import DEFAULT_SPEC

    spec = DEFAULT_SPEC
    overrides: list[str] = []
    for index, arg in enumerate(args):
        if index == 0 and "=" not in arg:
            spec = arg
        else:
            overrides.append(arg)
    return spec, overrides


def plan_spec_file(args: Sequence[str], *, sweep: str | None = None, sample: int | None = None, seed: int = 0,
                   home: str | None = None, store_url: str | None = None, gpus: Sequence[int] | None = None,
                   per_gpu: int | None = None, detect: bool = True, fake_gpus: bool | None = None) -> Planned:
    """Load the spec of ``args`` (``[SPEC] [KEY=VALUE ...]``) and plan it (:func:`make_plan`), keeping the
    run names the store at ``store_url`` (default: the home's) holds. ``gpus`` / ``per_gpu`` replace the
    spec's resources (see :func:`with_resources`). ``fake_gpus``: None, GPU indices given by hand are not
    checked (plan, submit); else they are checked against this machine's GPUs (see
    :func:`runyard.execute.slots.verify_gpus`)."""
    from runyard.home import resolve_home, resolve_store_url
    from runyard.spec.load import load_spec

    spec_path, override_texts = split_args(args)
    for text in override_texts:
        if "=" not in text:
            raise UsageError(f"{text!r}: expected KEY=VALUE after the spec (only one spec per command)")
    spec = load_spec(spec_path)
    warnings: list[str] = []
    if fake_gpus is not None:
        warning = check_gpus(gpus if gpus is not None else spec.resources.gpus, fake=fake_gpus,
                             source="--gpus" if gpus is not None else f"{spec.path}: resources.gpus")
        warnings += [warning] if warning else []
    spec = with_resources(spec, gpus, per_gpu, detect=detect)
    home_path = resolve_home(home, spec_folder=spec.folder, cwd=os.getcwd())
    plan = make_plan(spec, home=home_path, overrides=override_texts, sweep=sweep, sample=sample, seed=seed,
                     names=resolve_store_url(store_url, home_path))
    return Planned(spec, plan, home_path, tuple(warnings))


def check_gpus(gpus: Sequence[int] | str, *, source: str, fake: bool) -> str | None:
    """Verify GPU indices given by hand (``auto``/``none`` are not checked): a warning, or None."""
    if isinstance(gpus, str):
        return None
    from runyard.execute.slots import verify_gpus

    return verify_gpus(list(gpus), source=source, fake=fake)


def differing_params(plan: Plan) -> list[str]:
    """Params whose values are not the same in every run of the plan."""
    from runyard.spec.keys import canonical_json

    names: dict[str, None] = {}
    for run in plan.runs:
        names.update(dict.fromkeys(run.params))
    return [n for n in names if len({canonical_json(r.params.get(n)) for r in plan.runs}) > 1]
