"""Call steps (``call: package.module:function``) in a spec: import the function at load time and turn its
signature into params, defaults and dependencies (see :mod:`runyard.callables`)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from runyard.callables import INJECTED, REQUIRED, CallError, inspect_call
from runyard.model import ParamValue
from runyard.spec.types import StepSpec
from runyard.spec.yamlfile import KeyPath

TARGET_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_<][A-Za-z0-9_.<>]*\Z")  # <locals>: a function given
PARAM_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*\Z")
BUILTIN_NAMES = ("run", "name", "time")  # placeholders that cannot be function parameters ("out" is given)

Add = Callable[[KeyPath, str], None]


def check_target(add: Add, path: KeyPath, value: object) -> str | None:
    if not isinstance(value, str) or not TARGET_RE.match(value.strip()):
        add(path, f"{value!r} is not a callable path: write package.module:function (the module is imported with "
                  "the spec's folder first on sys.path)")
        return None
    return value.strip()


def resolve(add: Add, path: KeyPath, step: StepSpec, folder: str, steps: list[str]) -> tuple[StepSpec, dict[str, Any]]:
    """Import the step's function; return the step with ``takes``, ``inputs`` and ``call_code`` filled in, and the
    params it takes with their defaults (:data:`REQUIRED` for none)."""
    assert step.call is not None
    others = frozenset(s for s in steps if s != step.name)
    folders = [folder]
    if step.workdir:
        folders.append(os.path.normpath(os.path.join(folder, step.workdir)))
    try:
        info = inspect_call(step.call, folders, others)
    except CallError as err:
        add((*path, "call"), str(err))
        return step, {}
    params: dict[str, Any] = {}
    inputs = []
    for argument in info.arguments:
        if argument.name in others:
            inputs.append(argument.name)
            continue
        if argument.name in INJECTED:
            continue
        if argument.name in BUILTIN_NAMES:
            add((*path, "call"), f"parameter {argument.name!r} of {step.call}: {argument.name!r} is a builtin "
                                 f"placeholder and cannot be a param; rename the parameter")
            continue
        for name, default in argument.params.items():
            if not PARAM_RE.match(name):
                add((*path, "call"), f"parameter {name!r} of {step.call} is not a valid param name")
                continue
            params[name] = default
    return replace(step, takes=tuple(params), inputs=tuple(inputs), call_code=info.code,
                   call_source=info.source), params


def merge_defaults(add: Add, explicit: Mapping[str, ParamValue], taken: list[tuple[StepSpec, dict[str, Any]]],
                   known: list[str]) -> tuple[dict[str, ParamValue], tuple[str, ...]]:
    """The spec's params with the functions' signature defaults added (a spec value wins), and the params that
    have no default anywhere (``known``: names that groups set)."""
    params = dict(explicit)
    origin: dict[str, str] = {}
    required: dict[str, None] = {}
    for step, takes in taken:
        for name, default in takes.items():
            if name in explicit or default is REQUIRED:
                continue
            if name in origin and params[name] != default:
                add(("steps", step.name, "call"),
                    f"param {name!r} has the default {default!r} here and {params[name]!r} in {origin[name]}; "
                    f"set it under params: to choose one")
                continue
            params[name] = default
            origin.setdefault(name, str(step.call))
    for _, takes in taken:
        for name, default in takes.items():
            if default is REQUIRED and name not in params and name not in known:
                required[name] = None
    return params, tuple(required)


def command(target: str, params: Mapping[str, ParamValue], results: Mapping[str, str],
            folders: Mapping[str, str]) -> str:
    """The readable command a call step runs: ``python -m runyard.call TARGET --params JSON`` with
    ``--input STEP=FOLDER`` for each upstream call step whose result the function takes (its execution folder)
    and ``--path STEP=FOLDER`` for each upstream command step it takes (that step's ``out/`` folder)."""
    import json
    import shlex

    parts = ["python", "-m", "runyard.call", shlex.quote(target),
             "--params", shlex.quote(json.dumps(dict(params), sort_keys=True, ensure_ascii=False))]
    for name, folder in results.items():
        parts += ["--input", shlex.quote(f"{name}={folder}")]
    for name, folder in folders.items():
        parts += ["--path", shlex.quote(f"{name}={folder}")]
    return " ".join(parts)
