"""Helpers of the Python step tests: the ``project`` fixture of tests/run (a spec folder and a home under
tmp_path, ``runyard`` as a real subprocess) with a few step modules written into the spec folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from run.conftest import RUNYARD, Proc, Project, project

__all__ = ["RUNYARD", "Proc", "Project", "compare_json", "count", "project", "show_json"]


def show_json(proj: Project, run: str, *args: str) -> dict[str, Any]:
    proc = proj.run("show", run, "--json", *args)
    assert proc.code == 0, proc
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


def compare_json(proj: Project, *args: str) -> list[dict[str, Any]]:
    proc = proj.run("compare", "--format", "json", *args)
    assert proc.code == 0, proc
    data: list[dict[str, Any]] = json.loads(proc.stdout)
    return data


def count(path: Path, label: str) -> int:
    """How many lines ``label`` the step functions appended to the file ``path`` (one per call)."""
    if not path.exists():
        return 0
    return sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line == label)
