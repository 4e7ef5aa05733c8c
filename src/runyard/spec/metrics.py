"""The ``metrics:`` block of a spec: where each metric comes from, validated at load.

One entry names a metric and its source (at most one of them)::

    metrics:
      bleu:  {step: test, regex: 'BLEU4 = ([0-9.]+)', mode: max}       # every match in the step's log
      acc:   {step: test, file: results.json, key: test.acc}            # a JSON key path
      val_loss: {step: train, file: 'lightning_logs/*/metrics.csv', mode: min}   # a CSV column
      extra: {step: test, parser: mytools.parse:read_scores, timeout: 5s}   # a function of the step's folder
      loss:  {mode: min}                                                # logged by the program itself

``file`` is relative to the step execution's ``out/`` folder (``{out}``) and may be a glob (the newest
match is read); its kind comes from its suffix: ``.json``, ``.jsonl`` / ``.ndjson``, ``.csv``, ``.tsv``.
``key`` (JSON) and ``column`` (CSV) default to the metric's name. A ``parser`` is ``module:function``
importable with the spec's folder first on ``sys.path``; it is located (not run) at load time, and
called in a process of its own with a ``timeout`` (default 60 s, e.g. ``5s``, ``2m``).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from runyard.spec.types import MetricSpec

if TYPE_CHECKING:
    import ast

    from runyard.spec.checker import Checker
    from runyard.spec.yamlfile import KeyPath

METRIC_KEYS = ("step", "regex", "file", "key", "column", "parser", "mode", "timeout")
SOURCES = ("regex", "file", "parser")
JSON_SUFFIXES = (".json",)
JSONL_SUFFIXES = (".jsonl", ".ndjson")
CSV_SUFFIXES = (".csv", ".tsv")
PARSER_RE = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*:[A-Za-z_]\w*\Z")
SHAPE = ("{step: STEP, regex: '...' | file: PATH [key: a.b | column: NAME] | parser: module:function [timeout: 5s], "
         "mode: max|min}")


def file_kind(path: str) -> str | None:
    """``json``, ``jsonl`` or ``csv`` from a file name's suffix (None when it is none of them)."""
    lower = path.lower()
    if lower.endswith(JSON_SUFFIXES):
        return "json"
    if lower.endswith(JSONL_SUFFIXES):
        return "jsonl"
    if lower.endswith(CSV_SUFFIXES):
        return "csv"
    return None


def regex_groups(compiled: re.Pattern[str]) -> tuple[int | str, str | None] | str:
    """Which group of a metric regex holds the value and which the step: ``(value, step)``, or a
    problem. The value is the named group ``value``, else the only group, else the whole match."""
    named = compiled.groupindex
    step = "step" if "step" in named else None
    others = compiled.groups - (1 if step else 0)
    if "value" in named:
        if others > 1:
            return "with (?P<value>…) use no other capture group than (?P<step>…); (?:…) does not capture"
        return "value", step
    if others > 1:
        return ("use at most one capture group (the value), or the named groups (?P<value>…) and "
                "(?P<step>…); (?:…) does not capture")
    if others == 1:
        value = next(i for i in range(1, compiled.groups + 1) if named.get("step") != i)
        return value, step
    return 0, step


def parse_metrics(check: Checker, value: object, steps: list[str], folder: str | None,
                  later_steps: list[str] | None = None) -> list[MetricSpec]:
    """Validate the ``metrics:`` block; ``folder`` is the spec's folder, where parsers are looked up
    (None: do not look them up). ``later_steps``: aggregate and final steps, which a metric may name
    too (the default step stays the sweep's last)."""
    from runyard.errors import suggest

    out: list[MetricSpec] = []
    for name, body in check.mapping(value, ("metrics",), f"metric names to {SHAPE}").items():
        path: KeyPath = ("metrics", name)
        if not isinstance(body, dict):
            check.add(path, f"a metric is a mapping: {SHAPE}")
            continue
        check.unknown_keys(body, path, METRIC_KEYS)
        step = body.get("step", steps[-1] if steps else "")
        valid = [*steps, *(later_steps or ())]
        if step not in valid:
            check.add((*path, "step"), f"{step!r} is not a step{suggest(str(step), valid)} "
                      f"(steps: {', '.join(valid) or 'none'})")
        given = [s for s in SOURCES if body.get(s) is not None]
        if len(given) > 1:
            check.add(path, f"give one source per metric, not {' and '.join(given)} (sources: regex, file, parser)")
        texts = {k: _text(check, (*path, k), body.get(k)) for k in ("regex", "file", "key", "column", "parser")}
        if texts["regex"] is not None:
            _check_regex(check, (*path, "regex"), texts["regex"])
        kind = _check_file(check, (*path, "file"), texts["file"]) if texts["file"] is not None else None
        if texts["key"] is not None and kind != "json" and kind != "jsonl":
            check.add((*path, "key"), "`key:` is a key path into a JSON file: give `file:` ending in .json or .jsonl")
        if texts["column"] is not None and kind != "csv":
            check.add((*path, "column"), "`column:` names a column of a CSV file: give `file:` ending in .csv or .tsv")
        if texts["parser"] is not None:
            _check_parser(check, (*path, "parser"), texts["parser"], folder)
        timeout = _timeout(check, path, body.get("timeout"), texts["parser"])
        mode = body.get("mode", "max")
        if mode not in ("max", "min"):
            check.add((*path, "mode"), f"{mode!r} is not a mode (valid: max, min)")
        out.append(MetricSpec(name=name, step=str(step), regex=texts["regex"], mode=str(mode), file=texts["file"],
                              key=texts["key"], column=texts["column"], parser=texts["parser"], timeout=timeout))
    return out


def _timeout(check: Checker, path: KeyPath, value: object, parser: str | None) -> float | None:
    """``timeout:`` of a parser metric, in seconds."""
    from runyard.spec.checker import parse_duration

    if value is None:
        return None
    if parser is None:
        check.add((*path, "timeout"), "`timeout:` bounds how long a `parser:` may take: give `parser:` too")
        return None
    try:
        return parse_duration(value)
    except ValueError:
        check.add((*path, "timeout"), f"{value!r} is not a duration (e.g. 5, 5s, 2m, 1h)")
        return None


def metric_specs(data: Mapping[str, Any]) -> list[MetricSpec]:
    """The metric entries of a spec stored as plain data (``Plan.spec``), validated at load already:
    entries that are not valid now are left out. Parsers are not looked up."""
    from runyard.spec.checker import Checker
    from runyard.spec.stages import stage_step_names

    steps = data.get("steps")
    names = [str(s) for s in steps] if isinstance(steps, Mapping) else []
    entries = data.get("metrics")
    out: list[MetricSpec] = []
    for name, body in (entries.items() if isinstance(entries, Mapping) else ()):
        check = Checker("<stored spec>", {}, {})
        parsed = parse_metrics(check, {str(name): body}, names, None, later_steps=stage_step_names(data))
        if not check.problems:
            out.extend(parsed)
    return out


def _text(check: Checker, path: KeyPath, value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)) or not str(value).strip():
        check.add(path, f"must be text, not {value!r}")
        return None
    return str(value)


def _check_regex(check: Checker, path: KeyPath, regex: str) -> None:
    try:
        compiled = re.compile(regex)
    except re.error as err:
        check.add(path, f"invalid regular expression: {err}")
        return
    found = regex_groups(compiled)
    if isinstance(found, str):
        check.add(path, found)


def _check_file(check: Checker, path: KeyPath, file: str) -> str | None:
    parts = file.replace("\\", "/").split("/")
    if os.path.isabs(file) or file.startswith("~") or ".." in parts:
        check.add(path, f"{file!r}: give a path relative to the step's out/ folder ({{out}}), without '..'")
        return None
    kind = file_kind(file)
    if kind is None:
        check.add(path, f"{file!r}: the file must end in .json, .jsonl, .ndjson, .csv or .tsv (that is how runyard "
                        "reads it); for any other file write a `parser:`")
    return kind


def _check_parser(check: Checker, path: KeyPath, target: str, folder: str | None) -> None:
    if not PARSER_RE.match(target):
        check.add(path, f"{target!r} is not module:function (e.g. mytools.parse:read_scores)")
        return
    if folder is None:
        return
    problem = locate_parser(target, folder)
    if problem:
        check.add(path, problem)


def locate_parser(target: str, folder: str) -> str | None:
    """Check that ``module:function`` exists with ``folder`` first on ``sys.path``, without running the
    module (its parent packages are imported, as any import would). Returns a problem or None."""
    import ast
    import importlib.util

    module, _, function = target.partition(":")
    saved, saved_flag = list(sys.path), sys.dont_write_bytecode
    sys.path.insert(0, folder)
    sys.dont_write_bytecode = True
    try:
        found = importlib.util.find_spec(module)
    except Exception as err:  # a parent package that fails to import
        return f"cannot import {module!r}: {type(err).__name__}: {err}"
    finally:
        sys.path[:] = saved
        sys.dont_write_bytecode = saved_flag
    if found is None:
        return f"no module {module!r} (looked in the spec's folder {folder} and on sys.path)"
    origin = found.origin
    if not origin or not origin.endswith(".py") or not os.path.isfile(origin):
        return None  # compiled or namespace module: checked when it is called
    try:
        with open(origin, encoding="utf-8") as handle:
            tree = ast.parse(handle.read(), origin)
    except (OSError, SyntaxError, ValueError) as err:
        return f"cannot read {origin}: {err}"
    if function not in _top_level_names(tree):
        return f"{module} ({origin}) defines no {function!r}"
    return None


def _top_level_names(tree: ast.Module) -> set[str]:
    import ast

    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.If, ast.Try)):  # definitions under `if` / `try` count too
            names.update(_top_level_names(type(tree)(body=[*node.body, *node.orelse], type_ignores=[])))
    return names
