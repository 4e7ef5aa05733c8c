"""Load a spec from a file (native YAML, mlrunner ``params.yaml``, or a Python file) or from plain data."""

from __future__ import annotations

import glob
import hashlib
import os
import runpy
import sys
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from runyard.errors import Problem, SpecError
from runyard.spec import mlrunner
from runyard.spec.parse import parse_spec
from runyard.spec.types import Spec, StepSpec
from runyard.spec.yamlfile import in_line_order, load_documents

DEFAULT_SPEC = "runyard.yaml"


def load_spec(path: str | os.PathLike[str]) -> Spec:
    """Read and validate a spec file; raise SpecError (file:line / key path, what is valid) on any problem."""
    file = Path(path)
    source = str(path)
    if file.is_dir():
        file = file / DEFAULT_SPEC
        source = str(file)
    if not file.is_file():
        hint = " (runyard looks for ./runyard.yaml when no spec is given)" if file.name == DEFAULT_SPEC else ""
        raise SpecError([Problem(source, f"no such spec file{hint}")])
    folder = str(file.resolve().parent)
    if file.suffix == ".py":
        return _from_python(file, source, folder)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise SpecError([Problem(source, f"cannot read the spec: {err}")]) from None
    docs = load_documents(text, source)
    if not docs or docs[0].data is None:
        raise SpecError([Problem(source, "the spec is empty: it needs at least `experiment:` and `steps:`")])
    early = [p for doc in docs for p in doc.problems]  # duplicate keys, mlrunner settings
    try:
        if mlrunner.looks_like_mlrunner(docs):
            converted = mlrunner.convert(docs, source)
            early += converted.problems
            spec = parse_spec(converted.data, source=source, folder=folder, lines=converted.lines,
                              spelling=converted.spelling,
                              default_experiment=mlrunner.experiment_name(Path(folder).name))
        else:
            if len(docs) > 1:
                raise SpecError([Problem(f"{source}:{docs[1].lines.get((), '?')}",
                                         "a native spec is one YAML document (several documents is the mlrunner "
                                         "format, whose first document has `template:`)")])
            spec = parse_spec(docs[0].data, source=source, folder=folder, lines=docs[0].lines)
    except SpecError as err:  # every problem of the file in one message
        raise SpecError(in_line_order([*early, *err.problems], source)) from None
    if early:
        raise SpecError(in_line_order(early, source))
    return hash_code(spec)


def spec_from_dict(data: Mapping[str, Any], *, folder: str | os.PathLike[str] | None = None,
                   source: str = "<python>") -> Spec:
    """Build a Spec from plain data in the native format (the same validation as a YAML file)."""
    spec = parse_spec(dict(data), source=source, folder=str(Path(folder or os.getcwd()).resolve()))
    return hash_code(spec)


def _from_python(file: Path, source: str, folder: str) -> Spec:
    """Run the file (its folder first on ``sys.path``, so it can import its neighbours; no bytecode written,
    so loading a spec writes nothing) and validate its ``spec``."""
    saved_path, saved_flag = list(sys.path), sys.dont_write_bytecode
    sys.path.insert(0, folder)
    sys.dont_write_bytecode = True
    try:
        namespace = runpy.run_path(str(file))
    except Exception as err:  # user code: report it as a spec problem, with its type
        raise SpecError([Problem(source, f"running the spec file failed: {type(err).__name__}: {err}")]) from None
    finally:
        sys.path[:] = saved_path
        sys.dont_write_bytecode = saved_flag
    value = namespace.get("spec")
    if isinstance(value, Spec):  # built by hand: validated like any other spec
        value = value.to_data()
    if isinstance(value, Mapping):
        return spec_from_dict(value, folder=folder, source=source)
    raise SpecError([Problem(source, "a Python spec file must define `spec` (a dict in the native format, or a "
                                     "runyard.spec.Spec)")])


def hash_code(spec: Spec) -> Spec:
    """Fill in each step's ``code``: the sha256 of every file its ``deps:`` patterns match (the steps of
    ``aggregate:`` and ``select.then`` too)."""
    problems: list[Problem] = []
    steps = [_hashed(spec, step, "steps", problems) for step in spec.steps]
    aggregates = tuple(replace(a, step=_hashed(spec, a.step, "aggregate", problems)) for a in spec.aggregates)
    select = spec.select
    if select is not None:
        select = replace(select, then=tuple(_hashed(spec, s, "select.then", problems) for s in select.then))
    if problems:
        raise SpecError(problems)
    return replace(spec, steps=tuple(steps), aggregates=aggregates, select=select)


def _hashed(spec: Spec, step: StepSpec, block: str, problems: list[Problem]) -> StepSpec:
    base = Path(spec.folder, step.workdir or ".")
    code: dict[str, str] = {}
    for pattern in step.deps:
        matches = sorted(glob.glob(str(base / pattern), recursive=True))
        files = [m for m in matches if os.path.isfile(m)]
        if not files:
            problems.append(Problem(f"{spec.path}: {block}.{step.name}.deps",
                                    f"{pattern!r} matches no file under {base}"))
        for name in files:
            code[os.path.relpath(name, base)] = _file_hash(name)
    if step.hydra is None:
        return replace(step, code=code)
    from runyard.spec.hydra import config_keys

    try:
        keys, files = config_keys(str(base / step.hydra))
    except ValueError as err:
        problems.append(Problem(f"{spec.path}: {block}.{step.name}.hydra", str(err)))
        return replace(step, code=code)
    for name in files:  # the app's config decides what the program does, and what {*hydra} passes
        code[os.path.relpath(name, base)] = _file_hash(name)
    return replace(step, code=code, hydra_keys=keys)


def _file_hash(name: str) -> str:
    digest = hashlib.sha256()
    with open(name, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
