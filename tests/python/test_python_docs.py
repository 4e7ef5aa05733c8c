"""docs/python.md stays exact: its example runs, the command format and the errors it shows are what the code
does."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

import runyard

from .conftest import Project, show_json

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "python.md").read_text(encoding="utf-8")


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", DOC, flags=re.S)


def test_the_example_runs_as_described(project: Project) -> None:
    project.file("steps.py", blocks("python")[0])
    project.spec(blocks("yaml")[0])
    proc = project.run("run", "--gpus", "0")
    assert proc.code == 0, proc
    run = show_json(project, "cfg.lr=0.01,seed=2")
    assert run["params"]["size"] == 500 and run["params"]["cfg.optim.name"] == "adam"
    steps = {s["name"]: s for s in run["steps"]}
    shown = next(line for line in blocks("text")[0].splitlines() if line.startswith("python -m runyard.call"))
    actual = steps["train"]["command"]
    assert actual == re.sub(r"prep=\S+", f"prep={steps['prep']['folder']}", shown)
    frame = runyard.load(run["name"], "prep", home=project.home)
    assert isinstance(frame, pd.DataFrame) and len(frame) == 500
    assert runyard.load(run["name"], home=project.home) == "500 rows, loss 0.12"
    meta = json.loads((Path(steps["prep"]["folder"]) / "out" / "result.meta.json").read_text())
    assert list(meta) == list(json.loads(blocks("json")[0]))
    assert meta["serializer"] == "parquet" and meta["type"] == "pandas.DataFrame"
    rows = {r["name"]: r for r in json.loads(project.run("compare", "--format", "json").stdout)}
    assert rows["cfg.lr=0.01,seed=2"]["acc"] == 0.91


def test_the_errors_shown_are_exact(project: Project) -> None:
    shown = [line for line in blocks("text")[-1].splitlines() if line.startswith("runyard:")]
    project.file("steps.py", "def train(lr, seed=1, layers=(64, 64)):\n    return 1\n")
    cases = ["stepz:train", "steps:trian", "steps:train", "steps:train"]
    for line, target in zip(shown, cases, strict=True):
        text = f"experiment: study\nparams: {{}}\nsteps:\n  train: {{call: '{target}'}}\n"
        if "layers" not in line:
            project.file("steps.py", "def train(lr, seed=1):\n    return 1\n")
        else:
            project.file("steps.py", "def train(lr, seed=1, layers=(64, 64)):\n    return 1\n")
        project.spec(text)
        proc = project.run("run")
        assert proc.code == 2
        assert proc.stderr.replace(str(project.root), "/proj") == line + "\n"
