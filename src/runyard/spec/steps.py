"""``steps:``: each step's command or function, resources, retries, dependencies; cycles refused."""

from __future__ import annotations

from typing import Any

from runyard.errors import suggest
from runyard.spec import calls, template
from runyard.spec.checker import STEP_RE, Checker, memory_size, names_list, parse_duration, whole_number
from runyard.spec.types import StepSpec
from runyard.spec.yamlfile import KeyPath

STEP_KEYS = ("run", "call", "gpus", "gpu_mem", "timeout", "retries", "deps", "workdir", "needs", "hydra")


def parse_steps(check: Checker, value: object, params: list[str],
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
        spec = parse_step(check, path, name, body)
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
                    check.add((*path, "needs"), f"{need!r} is not another step{suggest(need, names)}")
            missing = [r for r in refs[name] if r not in spec.needs]
            spec = StepSpec(**{**spec.__dict__, "needs": (*spec.needs, *missing)})
        steps.append(spec)
    _check_cycles(check, steps)
    return steps, taken


def parse_step(check: Checker, path: KeyPath, name: str, body: object) -> StepSpec | None:
    if isinstance(body, str):
        body = {"run": body}
    if not isinstance(body, dict):
        check.add(path, "a step is a shell command or a mapping with `run:` or `call:` (and gpus, gpu_mem, "
                  "timeout, retries, deps, workdir, needs)")
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
    gpus = whole_number(check, (*path, "gpus"), body.get("gpus"), minimum=0)
    gpu_mem = memory_size(check, (*path, "gpu_mem"), body.get("gpu_mem"))
    if gpu_mem is not None:
        if gpus == 0:
            check.add((*path, "gpu_mem"), "a step with `gpus: 0` needs no GPU memory: drop one of the two")
        gpus = gpus or 1
    retries = whole_number(check, (*path, "retries"), body.get("retries"), minimum=0) or 0
    timeout = None
    if body.get("timeout") is not None:
        try:
            timeout = parse_duration(body["timeout"])
        except ValueError:
            check.add((*path, "timeout"), f"{body['timeout']!r} is not a duration (e.g. 90, 90s, 30m, 2h, 1h30m)")
    deps = names_list(check, (*path, "deps"), body.get("deps"))
    needs = None if body.get("needs") is None else names_list(check, (*path, "needs"), body["needs"])
    workdir = body.get("workdir")
    if workdir is not None and not isinstance(workdir, str):
        check.add((*path, "workdir"), "must be a folder path")
        workdir = None
    hydra = body.get("hydra")
    if hydra is not None and (not isinstance(hydra, str) or not hydra.strip()):
        check.add((*path, "hydra"), "must be the path of the Hydra app's primary config file (conf/config.yaml)")
        hydra = None
    # one command line: a backslash-newline continues the line (as in bash), other line breaks become spaces
    run = " ".join(run.replace("\\\n", "").split("\n")).strip()
    return StepSpec(name=name, run=run, call=call,
                    gpus=gpus, gpu_mem=gpu_mem, timeout=timeout, retries=retries, deps=deps, workdir=workdir,
                    needs=needs, hydra=hydra)


def _check_cycles(check: Checker, steps: list[StepSpec]) -> None:
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
