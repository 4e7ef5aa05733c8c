"""Upstream results by name through a real ``runyard run``: a parameter named after a step gets its value (loaded
by its serializer, which is given the metadata recorded at save time), or with a ``Path`` annotation the folder
the result is in; a command step's output is a ``Path``."""

from __future__ import annotations

import json

from .conftest import Project, show_json

STEPS = '''
from __future__ import annotations

import json
from pathlib import Path

import runyard


class Scaled:
    def __init__(self, values, scale):
        self.values, self.scale = values, scale


def _save(value, path):
    Path(path).write_text(json.dumps(value.values))
    return {"scale": value.scale}


def _load(path, meta):
    return Scaled(json.loads(Path(path).read_text()), meta["scale"])


runyard.serializer(Scaled, save=_save, load=_load, name="scaled", ext=".json", meta={"format": 1})


def make(scale=3):
    return Scaled([1, 2], scale)


def use(make, raw: Path):
    return {"total": sum(make.values) * make.scale, "raw": float((raw / "n.txt").read_text())}


def where(make: Path):
    meta = json.loads((make / "result.meta.json").read_text())
    return {"files": float(len(list(make.iterdir()))), "format": float(meta["meta"]["format"])}
'''

SPEC = """
experiment: inputs
steps:
  raw: {run: 'echo 7 > {out}/n.txt', needs: []}
  make: {call: steps:make}
  use: {call: steps:use}
  where: {call: steps:where}
"""


def test_results_reach_later_steps_by_name_as_values_or_folders(project: Project) -> None:
    project.file("steps.py", STEPS)
    project.spec(SPEC)
    proc = project.run("run")
    assert proc.code == 0, proc
    shown = show_json(project, "default")
    steps = {s["name"]: s for s in shown["steps"]}
    assert [s["status"] for s in shown["steps"]] == ["done"] * 4
    rows = json.loads(project.run("compare", "--format", "json").stdout)
    assert rows[0]["total"] == 9 and rows[0]["raw"] == 7  # loaded with the scale recorded at save time
    assert rows[0]["files"] == 2 and rows[0]["format"] == 1  # the folder of make's result: value and metadata
    assert "--input make=" in steps["where"]["command"]
