"""``runyard plan`` and ``runyard run --dry-run`` when a step's set of params changed since the last run:
a param added to (or dropped from) a step is a ``params changed`` reason naming it, not a crash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .bug_cli import runyard

BEFORE = """\
experiment: grow
params: {lr: 0.1, seed: 1}
steps:
  train: echo {lr} {seed}
"""
ADDED = """\
experiment: grow
params: {lr: 0.1, seed: 1, bs: 4}
steps:
  train: echo {lr} {seed} {bs}
"""
DROPPED = """\
experiment: grow
params: {lr: 0.1, seed: 1}
steps:
  train: echo {lr}
"""


def _train_reason(tmp_path: Path, *args: str) -> dict[str, object]:
    proc = runyard("plan", "--json", *args, cwd=tmp_path, home=tmp_path / "home")
    assert proc.code == 0, proc
    data = json.loads(proc.stdout)
    (step,) = [s for run in data["runs"] for s in run["steps"] if s["name"] == "train"]
    reason = step["reason"]
    assert isinstance(reason, dict)
    return reason


@pytest.mark.parametrize(("after", "detail"), [(ADDED, "bs (none) → 4"), (DROPPED, "seed 1 → (none)")],
                         ids=["added", "dropped"])
def test_a_param_added_or_dropped_is_a_params_changed_reason(tmp_path: Path, after: str, detail: str) -> None:
    (tmp_path / "runyard.yaml").write_text(BEFORE)
    first = runyard("run", cwd=tmp_path, home=tmp_path / "home")
    assert first.code == 0, first
    (tmp_path / "runyard.yaml").write_text(after)
    reason = _train_reason(tmp_path)
    assert reason["kind"] == "params changed" and reason["detail"] == detail
    for args in (["plan"], ["run", "--dry-run"]):
        proc = runyard(*args, cwd=tmp_path, home=tmp_path / "home")
        assert proc.code == 0, proc
        assert "Traceback" not in proc.stderr
        assert f"params changed: {detail}" in proc.stdout
        assert proc.stdout.splitlines()[-1] == "1 would run (1 params changed), 0 cached"
