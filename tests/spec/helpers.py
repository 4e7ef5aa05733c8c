"""Shared helpers for the spec tests: write a spec, load it, expand it, run a rendered command."""

from __future__ import annotations

import os
import subprocess
import textwrap
from collections.abc import Sequence
from pathlib import Path

from runyard.errors import SpecError
from runyard.model import Plan, Run, StepExec
from runyard.spec import Spec, expand, load_spec, parse_overrides

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "specs"
NORM_STUDY = EXAMPLES / "norm-study.yaml"
MLRUNNER = EXAMPLES / "mlrunner-params.yaml"


def write(folder: Path, text: str, name: str = "runyard.yaml") -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def load(folder: Path, text: str, name: str = "runyard.yaml") -> Spec:
    return load_spec(write(folder, text, name))


def plan_of(spec: Spec | Path, *overrides: str, home: Path | str, sweep: str | None = None,
            sample: int | None = None, seed: int = 0) -> Plan:
    if not isinstance(spec, Spec):
        spec = load_spec(spec)
    return expand(spec, home=str(home), overrides=parse_overrides(spec, overrides), sweep=sweep, sample=sample,
                  seed=seed)


def plan_text(folder: Path, text: str, *overrides: str, sweep: str | None = None, sample: int | None = None,
              seed: int = 0) -> Plan:
    return plan_of(load(folder, text), *overrides, home=folder / "home", sweep=sweep, sample=sample, seed=seed)


def problems(err: SpecError) -> list[str]:
    return [str(p) for p in err.problems]


def by_name(plan: Plan) -> dict[str, Run]:
    return {run.name: run for run in plan.runs}


def step_of(plan: Plan, run: Run, step: str) -> StepExec:
    return plan.execution(dict(run.steps)[step])


def argv_of(command: str, cwd: Path | None = None) -> list[str]:
    """Run ``command`` with ``bash -c`` (as a worker does) and split its stdout on NUL: for templates of the
    form ``printf '%s\\0' ...`` that is exactly the argument vector the program received."""
    done = subprocess.run(["bash", "-c", command], capture_output=True, cwd=cwd, check=False,
                          env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")}, timeout=30)
    assert done.returncode == 0, (command, done.stderr)
    out = done.stdout.decode("utf-8", "surrogateescape")
    assert out.endswith("\0"), out
    return out[:-1].split("\0")


def files_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def inside(folder: str, home: str) -> bool:
    """``folder`` is a normalised path strictly below ``home`` (no ``..`` segments, no symlink games)."""
    real_home = os.path.realpath(home)
    real = os.path.realpath(folder)
    return (os.path.normpath(folder) == folder and os.path.commonpath([real_home, real]) == real_home
            and real != real_home)


def params_differing(plan: Plan) -> Sequence[str]:
    names: dict[str, None] = {}
    for run in plan.runs:
        names.update(dict.fromkeys(run.params))
    return [n for n in names if len({repr(r.params.get(n)) for r in plan.runs}) > 1]
