"""Run one call step: import the function, give it its params and upstream results, save what it returns.

The command a call step runs (rendered by ``runyard.spec.calls.command``)::

    python -m runyard.call package.module:function --params '{"cfg.lr": 0.1, "seed": 1}' \\
        --input prep=<prep's execution folder> --path raw=<a command step's out/ folder>

* ``--params``: the params the function takes (JSON); dataclass parameters are rebuilt from their
  dotted params (``cfg.lr`` …); a parameter without a value keeps its default.
* ``--input STEP=FOLDER``: the result a call step saved in FOLDER, loaded (by its serializer) only
  when the function takes a parameter named STEP; ``--path STEP=FOLDER``: a ``pathlib.Path``.
* ``out``: the step's output folder (``$RUNYARD_OUT``); ``runs``: ``pandas.read_csv($RUNYARD_RUNS)``,
  the run table a worker writes for an aggregating step.
* ``--pickle FILE``: the function itself, pickled by value (cloudpickle) for a function defined in
  a notebook or ``__main__``.

The return value: a non-empty dict of numbers is logged as metrics (``runyard.log``) and saved as
JSON; anything else is saved by its serializer (``runyard.serializers``) in ``out/``. Exit codes: 0
done; 1 the function raised (its traceback is in the log); 2 runyard could not call it or save what
it returned (the reason is in the log).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from runyard.callables import Argument, CallError, arguments, import_target
from runyard.errors import ResultError
from runyard.layout import ExecutionPaths, ResultPaths

TYPE_CHECKING = False  # typing costs ~2 ms to import; mypy treats this name as true
if TYPE_CHECKING:
    from typing import Any

NOTE = "runyard: "


class CallFailed(Exception):
    """runyard could not call the function or save its result (exit code 2); the message says why."""


@dataclass(frozen=True)
class CallRequest:
    target: str
    params: Mapping[str, Any] = field(default_factory=dict)
    inputs: Mapping[str, str] = field(default_factory=dict)  # step → execution folder of a call step
    paths: Mapping[str, str] = field(default_factory=dict)  # step → out/ folder of a command step
    pickle: str | None = None


def parse_args(argv: Sequence[str]) -> CallRequest:
    parser = argparse.ArgumentParser(prog="python -m runyard.call", description="Run one runyard call step.")
    parser.add_argument("target", help="package.module:function")
    parser.add_argument("--params", default="{}", help="the params the function takes, as a JSON object")
    parser.add_argument("--input", action="append", default=[], metavar="STEP=FOLDER",
                        help="the execution folder of an upstream call step whose result a parameter receives")
    parser.add_argument("--path", action="append", default=[], metavar="STEP=FOLDER",
                        help="the out/ folder of an upstream command step, given as a pathlib.Path")
    parser.add_argument("--pickle", help="the function, pickled by value (cloudpickle)")
    args = parser.parse_args(list(argv))
    try:
        params = json.loads(args.params)
    except ValueError as err:
        parser.error(f"--params is not JSON: {err}")
    if not isinstance(params, dict):
        parser.error("--params must be a JSON object")

    def pairs(items: list[str], option: str) -> dict[str, str]:
        out = {}
        for item in items:
            name, sep, folder = item.partition("=")
            if not sep or not name:
                parser.error(f"{option} {item!r}: expected STEP=FOLDER")
            out[name] = folder
        return out

    return CallRequest(args.target, params, pairs(args.input, "--input"), pairs(args.path, "--path"), args.pickle)


def load_function(request: CallRequest, folders: list[str] | None = None) -> Callable[..., Any]:
    if request.pickle:
        try:
            import pickle

            import cloudpickle  # noqa: F401 - the pickle refers to it

            with open(request.pickle, "rb") as handle:
                func = pickle.load(handle)
        except Exception as err:
            raise CallFailed(f"cannot load the pickled function {request.target} from {request.pickle}: "
                             f"{type(err).__name__}: {err}") from None
        return func  # type: ignore[no-any-return]
    try:
        return import_target(request.target, folders)
    except CallError as err:
        raise CallFailed(str(err)) from None


def rebuild(cls: type, prefix: str, params: Mapping[str, Any]) -> Any:
    """An instance of dataclass ``cls`` from the dotted params under ``prefix`` (missing fields: defaults)."""
    from runyard.callables import type_hints

    hints = type_hints(cls)
    values: dict[str, Any] = {}
    for item in dataclasses.fields(cls):
        if not item.init:
            continue
        name = f"{prefix}.{item.name}"
        kind = hints.get(item.name)
        if isinstance(kind, type) and dataclasses.is_dataclass(kind):
            if any(p.startswith(name + ".") for p in params):
                values[item.name] = rebuild(kind, name, params)
        elif name in params:
            values[item.name] = params[name]
    try:
        return cls(**values)
    except TypeError as err:
        raise CallFailed(f"cannot build {cls.__qualname__} for parameter {prefix!r}: {err}") from None


def _wants_path(func: Callable[..., Any], name: str) -> bool:
    """Whether parameter ``name`` is annotated ``Path`` (``pathlib.Path``): it gets a folder, not a value."""
    import inspect

    try:
        annotation = inspect.signature(func).parameters[name].annotation
    except (TypeError, ValueError, KeyError):
        return False
    from pathlib import Path

    return annotation is Path or annotation in ("Path", "pathlib.Path")


def build_kwargs(func: Callable[..., Any], request: CallRequest, *, out: str,
                 runs_table: str | None) -> dict[str, Any]:
    """The keyword arguments of the call. Upstream results are loaded here, and only those the function takes."""
    from runyard.serializers import load_result

    steps = frozenset([*request.inputs, *request.paths])
    try:
        args: tuple[Argument, ...] = arguments(func, request.target, steps)
    except CallError as err:
        raise CallFailed(str(err)) from None
    kwargs: dict[str, Any] = {}
    for arg in args:
        if arg.name in request.inputs and _wants_path(func, arg.name):  # the result's folder, not loaded
            from pathlib import Path

            from runyard.serializers import out_folder

            kwargs[arg.name] = Path(out_folder(request.inputs[arg.name]))
        elif arg.name in request.inputs:
            try:
                kwargs[arg.name] = load_result(request.inputs[arg.name])
            except ResultError as err:
                raise CallFailed(f"parameter {arg.name!r}: the result of step {arg.name!r}: {err}") from None
        elif arg.name in request.paths:
            from pathlib import Path

            kwargs[arg.name] = Path(request.paths[arg.name])
        elif arg.name == "out":
            from pathlib import Path

            kwargs["out"] = Path(out)
        elif arg.name == "runs":
            if runs_table:
                import pandas as pd

                try:
                    kwargs["runs"] = pd.read_csv(runs_table)
                except Exception as err:
                    raise CallFailed(f"parameter 'runs': cannot read the run table {runs_table} ($RUNYARD_RUNS): "
                                     f"{type(err).__name__}: {err}") from None
            elif not arg.has_default:
                raise CallFailed("parameter 'runs' receives the run table of an aggregating step ($RUNYARD_RUNS), "
                                 "which is not set for this step")
        elif arg.dataclass is not None:
            if any(p in request.params for p in arg.params) or not arg.has_default:
                kwargs[arg.name] = rebuild(arg.dataclass, arg.name, request.params)
        elif arg.name in request.params:
            kwargs[arg.name] = request.params[arg.name]
        elif not arg.has_default:
            raise CallFailed(f"parameter {arg.name!r} of {request.target} has no value: it is not in --params")
    return kwargs


def metrics_of(value: Any) -> dict[str, float] | None:
    """A non-empty mapping of text → number (not bool) as metrics, with plain int and float values; None for
    anything else."""
    import numbers

    if not isinstance(value, Mapping) or not value:
        return None
    out: dict[str, float] = {}
    for name, number in value.items():
        if not isinstance(name, str) or isinstance(number, bool) or not isinstance(number, numbers.Real):
            return None
        out[name] = int(number) if isinstance(number, numbers.Integral) else float(number)
    return out


def finish(value: Any, out: str, *, note: Callable[[str], None]) -> None:
    """Log metrics and save the result (raises CallFailed when the result cannot be saved)."""
    from runyard import track
    from runyard.serializers import save_result

    metrics = metrics_of(value)
    if metrics is not None:
        points: dict[str, Any] = dict(metrics)
        track.log(**points)
        value = metrics  # plain numbers (numpy scalars converted): saved as JSON
    try:
        meta = save_result(value, out, warn=lambda text: note(f"warning: {text}"))
    except ResultError as err:
        raise CallFailed(f"{err}; the step fails and no result is kept") from None
    if meta["file"]:
        note(f"result saved: {ResultPaths(out).named(meta['file'])} ({meta['serializer']}, {meta['type']})")


def call(request: CallRequest, *, folders: list[str] | None = None, note: Callable[[str], None]) -> int:
    """Run the step in this process; the exit code (0, 1 the function raised, 2 runyard could not run it)."""
    import traceback

    out = os.environ.get("RUNYARD_OUT") or ExecutionPaths(os.getcwd()).out
    try:
        func = load_function(request, folders)
        kwargs = build_kwargs(func, request, out=out, runs_table=os.environ.get("RUNYARD_RUNS") or None)
    except CallFailed as err:
        note(str(err))
        return 2
    try:
        value = func(**kwargs)
    except Exception:
        traceback.print_exc()
        return 1
    try:
        os.makedirs(out, exist_ok=True)
        finish(value, out, note=note)
    except (CallFailed, OSError) as err:
        note(str(err))
        return 2
    return 0


def _note(text: str) -> None:
    sys.stderr.write(NOTE + text + "\n")
    sys.stderr.flush()


def main(argv: Sequence[str] | None = None) -> int:
    request = parse_args(sys.argv[1:] if argv is None else argv)
    return call(request, note=_note)
