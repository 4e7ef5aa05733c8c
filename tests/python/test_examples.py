"""examples/python runs as its files say: runyard.yaml with `runyard run`, notebook.py with runyard.Experiment."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from .conftest import Project, compare_json

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "python"


def test_the_python_example_runs_from_yaml_and_from_python(project: Project) -> None:
    for name in ("steps.py", "runyard.yaml", "notebook.py"):
        shutil.copy(EXAMPLE / name, project.root / name)
    proc = project.run("run")
    assert proc.code == 0, proc
    assert "6 runs, 13 step executions" in proc.stdout  # `data` is shared by the six runs
    rows = compare_json(project, "--sort", "mse")
    assert len(rows) == 6 and rows[0]["cfg.lr"] == 0.5 and rows[0]["mse"] < 0.02
    done = subprocess.run([sys.executable, "notebook.py"], cwd=project.root, env=project.env(), capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "best: cfg.lr=0.5," in done.stdout and "'w': 2.98" in done.stdout
    assert "runyard: 13 done" in done.stderr
