"""Shared by the hostile-input tests: a home with a real store in it, and a fingerprint of folders."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

from click.testing import CliRunner, Result

from runyard.cli.main import cli

HERE = Path(__file__).resolve().parent
CASES = HERE / "cases"
RUNYARD = str(Path(sys.executable).with_name("runyard"))

BASE_SPEC = """\
experiment: hostile
params: {lr: 0.1, seed: 1, fast: false, opt: adam}
groups:
  opt:
    adam: {beta: 0.9}
    sgd: {beta: 0.0}
steps:
  train: python -c pass --lr {lr} --seed {seed} [fast] --beta {beta} --out {out}
  test: python -c pass {train.out}
metrics:
  acc: {step: test, regex: 'acc=([0-9.]+)'}
sweeps:
  seeds: {seed: [1, 2]}
"""


def fingerprint(*folders: Path) -> dict[str, str]:
    """Every file, folder and link under ``folders``: relative path → content hash / link target / mode."""
    found: dict[str, str] = {}
    for folder in folders:
        for root, dirs, files in os.walk(folder):
            for name in dirs + files:
                path = Path(root, name)
                key = f"{folder.name}/{path.relative_to(folder)}"
                if path.is_symlink():
                    found[key] = "link " + os.readlink(path)
                elif path.is_dir():
                    found[key] = "dir"
                else:
                    found[key] = f"{oct(path.stat().st_mode)} {hashlib.sha256(path.read_bytes()).hexdigest()}"
    return found


def invoke(args: list[str]) -> Result:
    return CliRunner().invoke(cli, args)


def expected_of(case: Path) -> str:
    first = case.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# expect: "), f"{case.name}: the first line must be '# expect: FRAGMENT'"
    return first[len("# expect: "):]


def one_message(stderr: str) -> str:
    """The single error message of a failed command: one ``runyard:`` line (a spec error may list its
    problems indented below it) or click's usage error; never a traceback."""
    assert "Traceback" not in stderr, stderr
    if stderr.startswith("runyard: "):
        lines = stderr.rstrip("\n").splitlines()
        assert all(line.startswith("  ") for line in lines[1:]), stderr
        return stderr
    assert stderr.startswith("Usage: ") and stderr.count("Error: ") == 1, stderr
    return stderr
