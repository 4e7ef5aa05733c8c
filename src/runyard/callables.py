"""Python step functions: import them by ``module:function`` and read their signatures as params.

A call step's function parameters are of four kinds, decided by name and annotation:

* a parameter named after another step of the spec: that step's result (and a dependency on it);
* ``out``: the step's output folder (a :class:`pathlib.Path`); ``runs``: the run table of an
  aggregating step (``pandas.read_csv($RUNYARD_RUNS)``);
* a parameter annotated with a dataclass: flattened to dotted params (``cfg: Train`` with fields
  ``lr`` and ``epochs`` → ``cfg.lr`` and ``cfg.epochs``; nested dataclasses nest further), rebuilt
  before the call;
* anything else: one param of that name; its default (a single value) becomes the param's default.

The standard library only: the step runner (``python -m runyard.call``) imports this at start-up.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import inspect
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from runyard.errors import suggest

TYPE_CHECKING = False  # typing costs ~2 ms to import; mypy treats this name as true
if TYPE_CHECKING:
    from typing import Any
INJECTED = ("out", "runs")  # parameters runyard fills itself (not params, not steps)
REQUIRED: Any = inspect.Parameter.empty  # the default of a param that has none


class CallError(Exception):
    """The callable cannot be imported or its signature cannot be params; the message says why."""


@dataclass(frozen=True)
class Argument:
    """One parameter of the function. ``params`` maps the param name(s) it stands for to their defaults
    (:data:`REQUIRED` when none); ``dataclass`` is set for a flattened dataclass parameter."""

    name: str
    params: Mapping[str, Any]
    dataclass: type | None = None
    has_default: bool = False


@dataclass(frozen=True)
class CallInfo:
    """What a spec needs to know of a step function."""

    target: str
    arguments: tuple[Argument, ...]
    source: str | None  # the module's source file, when it has one
    code: str  # hash of the module's code (else of the function's): source_hash


def split_target(target: str) -> tuple[str, str]:
    module, sep, attr = target.partition(":")
    if not sep or not module.strip() or not attr.strip():
        raise CallError(f"{target!r} is not a callable path: write it as package.module:function")
    return module.strip(), attr.strip()


@contextmanager
def search_path(folders: list[str]) -> Iterator[None]:
    """Import with ``folders`` first on ``sys.path`` (and no bytecode written: loading a spec writes nothing)."""
    saved_path, saved_flag = list(sys.path), sys.dont_write_bytecode
    sys.path[:0] = [f for f in dict.fromkeys(folders) if f]
    sys.dont_write_bytecode = True
    try:
        yield
    finally:
        sys.path[:] = saved_path
        sys.dont_write_bytecode = saved_flag


_given: dict[str, Callable[..., Any]] = {}  # target → function, for functions handed over in this process


def give(func: Callable[..., Any]) -> str:
    """Remember ``func`` under its target (``module:qualname``) for this process, so that a function no import
    can reach (a local function, one of a notebook) resolves here; return the target."""
    target = target_of(func)
    _given[target] = func
    return target


def import_target(target: str, folders: list[str] | None = None) -> Callable[..., Any]:
    """The function ``package.module:function`` names (``function`` may be ``Class.method``)."""
    if target in _given:
        return _given[target]
    module_name, attr = split_target(target)
    with search_path(folders or []), contextlib.redirect_stdout(sys.stderr):  # prints at import: not our output
        try:
            module = importlib.import_module(module_name)
        except (Exception, SystemExit) as err:  # user code: a missing module, a syntax error, an error at import
            where = f" (searched first in {', '.join(folders)})" if folders else ""
            raise CallError(f"cannot import module {module_name!r}{where}: {type(err).__name__}: {err}") from None
    value: Any = module
    for part in attr.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            names = [n for n in dir(value) if not n.startswith("_") and callable(getattr(value, n, None))]
            hint = suggest(part, names)
            raise CallError(f"module {module_name!r} ({getattr(module, '__file__', None) or 'no file'}) has no "
                            f"attribute {attr!r}{hint}") from None
    if not callable(value):
        raise CallError(f"{target} is not callable (it is of type {type(value).__name__}): name a function")
    return value  # type: ignore[no-any-return]


def is_scalar(value: object) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def type_hints(func: Callable[..., Any]) -> dict[str, Any]:
    """The annotations as objects (``from __future__ import annotations`` makes them text)."""
    raw = dict(getattr(func, "__annotations__", {}) or {})
    if not any(isinstance(value, str) for value in raw.values()):
        return raw  # nothing to resolve: no need for typing (the step runner starts faster)
    import typing

    try:
        return typing.get_type_hints(func)
    except Exception:  # annotations that do not resolve: use them as written
        return raw


def _flatten(cls: type, prefix: str, instance: object, where: str) -> dict[str, Any]:
    """``prefix.field`` → default for every init field of dataclass ``cls`` (nested ones flattened)."""
    out: dict[str, Any] = {}
    hints = type_hints(cls)
    for item in dataclasses.fields(cls):
        if not item.init:
            continue
        name = f"{prefix}.{item.name}"
        if instance is not None:
            default = getattr(instance, item.name)
        elif item.default is not dataclasses.MISSING:
            default = item.default
        elif item.default_factory is not dataclasses.MISSING:
            default = item.default_factory()
        else:
            default = REQUIRED
        kind = hints.get(item.name)
        if isinstance(kind, type) and dataclasses.is_dataclass(kind):
            out.update(_flatten(kind, name, None if default is REQUIRED else default, where))
            continue
        if default is not REQUIRED and not is_scalar(default):
            raise CallError(f"{where}: field {name!r} has the default {default!r} ({type(default).__name__}); "
                            "params are single values (text, numbers, true/false, null): give it one of those, "
                            "or a nested dataclass")
        out[name] = default
    return out


def arguments(func: Callable[..., Any], target: str, steps: frozenset[str] = frozenset()) -> tuple[Argument, ...]:
    """The function's parameters as :class:`Argument` s; ``steps``: names that are upstream results."""
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError) as err:
        raise CallError(f"cannot read the signature of {target}: {err}") from None
    hints = type_hints(func)
    out = []
    for param in signature.parameters.values():
        where = f"parameter {param.name!r} of {target}"
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise CallError(f"{where}: *args and **kwargs cannot be params; name every parameter")
        if param.kind is param.POSITIONAL_ONLY:
            raise CallError(f"{where}: positional-only parameters cannot be params; remove the '/'")
        has_default = param.default is not param.empty
        if param.name in steps or param.name in INJECTED:
            out.append(Argument(param.name, {}, has_default=has_default))
            continue
        kind = hints.get(param.name)
        if isinstance(kind, type) and dataclasses.is_dataclass(kind):
            instance = param.default if has_default else None
            out.append(Argument(param.name, _flatten(kind, param.name, instance, where), kind, has_default))
            continue
        if has_default and not is_scalar(param.default):
            raise CallError(f"{where} has the default {param.default!r} ({type(param.default).__name__}); params "
                            "are single values (text, numbers, true/false, null): use one of those, a dataclass "
                            "parameter, or build the value inside the function")
        out.append(Argument(param.name, {param.name: param.default}, has_default=has_default))
    return tuple(out)


def code_hash(func: Callable[..., Any]) -> tuple[str | None, str]:
    """(source file, hash) of the function's module file; without one (``__main__`` of a notebook), the hash
    of the function's own source text. The hash is of the code (:func:`source_hash`), not of the text."""
    module = sys.modules.get(getattr(func, "__module__", "") or "")
    source = getattr(module, "__file__", None)
    if source and os.path.isfile(source) and source.endswith(".py"):
        with open(source, "rb") as handle:
            return os.path.abspath(source), source_hash(handle.read())
    try:
        import textwrap

        text = textwrap.dedent(inspect.getsource(func))
    except (OSError, TypeError):
        text = f"{getattr(func, '__module__', '')}:{getattr(func, '__qualname__', repr(func))}"
    return None, source_hash(text.encode("utf-8"))


def source_hash(data: bytes) -> str:
    """sha256 of Python source as code: of its syntax tree without docstrings, so that comments, docstrings,
    blank lines and layout do not count and every other edit does; of the text when it does not parse."""
    import ast
    import hashlib

    try:
        tree = ast.parse(data)
    except (SyntaxError, ValueError):
        return hashlib.sha256(data).hexdigest()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value,
                                                                                                    str):
                node.body = node.body[1:] or [ast.Pass()]
    return hashlib.sha256(b"python-ast:" + ast.dump(tree).encode("utf-8")).hexdigest()


def inspect_call(target: str, folders: list[str], steps: frozenset[str] = frozenset()) -> CallInfo:
    """Import ``target`` and read its params; raises :class:`CallError`."""
    func = import_target(target, folders)
    source, code = code_hash(func)
    return CallInfo(target=target, arguments=arguments(func, target, steps), source=source, code=code)


def target_of(func: Callable[..., Any]) -> str:
    """``module:qualname`` of a function (what a spec's ``call:`` names)."""
    module = getattr(func, "__module__", None)
    qualname = getattr(func, "__qualname__", None)
    if not module or not qualname:
        raise CallError(f"{func!r} has no module and name: give a function defined with def")
    return f"{module}:{qualname}"


def importable(target: str) -> bool:
    """Whether a fresh Python process can import ``target`` (not ``__main__``, not a local function)."""
    module, attr = split_target(target)
    return module != "__main__" and "<locals>" not in attr and "<lambda>" not in attr
