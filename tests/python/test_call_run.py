"""Call steps through a real ``runyard run``: params from signatures, dataclasses, upstream results, metrics,
caching by the module's source, CUDA_VISIBLE_DEVICES."""

from __future__ import annotations

import json
from pathlib import Path

import runyard

from .conftest import Project, compare_json, count, show_json

STEPS = '''
import os
from dataclasses import dataclass, field

CALLS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "calls.txt")


def note(label):
    with open(CALLS, "a") as handle:
        handle.write(label + "\\n")


@dataclass
class Optim:
    name: str = "adam"
    momentum: float = 0.9


@dataclass
class Train:
    lr: float = 0.1
    epochs: int = 3
    optim: Optim = field(default_factory=Optim)


def prep(data="iwslt", size=4):
    note("prep")
    return list(range(size))


def train(prep, cfg: Train, seed=0, out=None):
    note("train")
    assert isinstance(cfg, Train) and isinstance(cfg.optim, Optim), cfg
    (out / "weights.txt").write_text(str(cfg.lr))
    return {"loss": cfg.lr * cfg.epochs + seed, "rows": float(len(prep)), "momentum": cfg.optim.momentum}


def report(train, prep):
    note("report")
    return {"summary": f"{len(prep)} rows, loss {train['loss']}"}
'''

SPEC = """
experiment: py
params:
  size: 6
  cfg.epochs: 2
steps:
  prep: {call: steps:prep}
  train: {call: steps:train}
  report: {call: steps:report}
sweeps:
  lrs: {cfg.lr: [0.1, 0.2], seed: [1, 2]}
"""


def _project(project: Project) -> Project:
    project.file("steps.py", STEPS)
    project.spec(SPEC)
    return project


def test_signature_defaults_are_params_recorded_with_every_run(project: Project) -> None:
    _project(project)
    proc = project.run("run")
    assert proc.code == 0, proc
    shown = show_json(project, "cfg.lr=0.2,seed=2")
    # signature defaults (data, cfg.optim.*), a spec value over a signature default (size: 6, cfg.epochs: 2)
    assert shown["params"] == {"size": 6, "cfg.epochs": 2, "data": "iwslt", "cfg.lr": 0.2, "cfg.optim.name": "adam",
                               "cfg.optim.momentum": 0.9, "seed": 2}
    steps = {s["name"]: s for s in shown["steps"]}
    assert steps["prep"]["command"] == "python -m runyard.call steps:prep --params '{\"data\": \"iwslt\", \"size\": 6}'"
    meta = json.loads((Path(steps["train"]["folder"]) / "meta.json").read_text())
    assert meta["params"] == {"cfg.lr": 0.2, "cfg.epochs": 2, "cfg.optim.name": "adam", "cfg.optim.momentum": 0.9,
                              "seed": 2}
    assert f"--input prep={Path(steps['prep']['folder'])}" in steps["train"]["command"]
    assert (Path(steps["train"]["folder"]) / "out" / "weights.txt").read_text() == "0.2"
    with project.store() as store:
        kinds = {ex.step: (ex.kind, len(ex.code)) for ex in store.executions("py")}
    assert kinds == {"prep": ("call", 64), "train": ("call", 64), "report": ("call", 64)}


def test_returned_numbers_are_metrics_and_results_reach_downstream(project: Project) -> None:
    _project(project)
    assert project.run("run").code == 0
    rows = {r["name"]: r for r in compare_json(project)}
    assert rows["cfg.lr=0.2,seed=2"]["loss"] == 0.2 * 2 + 2
    assert rows["seed=1"]["rows"] == 6.0 and rows["seed=1"]["momentum"] == 0.9
    # the metrics dict is also the step's result; a downstream step gets both upstream results
    assert runyard.load("cfg.lr=0.2,seed=2", "report", home=project.home) == {"summary": "6 rows, loss 2.4"}
    assert runyard.load("cfg.lr=0.2,seed=2", home=project.home) == {"summary": "6 rows, loss 2.4"}
    assert runyard.load("seed=1", "prep", home=project.home) == [0, 1, 2, 3, 4, 5]
    assert count(project.root / "calls.txt", "prep") == 1  # shared by the four runs


def test_overrides_and_sweeps_reach_dataclass_fields(project: Project) -> None:
    _project(project)
    proc = project.run("run", "--sweep", "lrs", "cfg.optim.momentum=0.5", "cfg.epochs=1,3")
    assert proc.code == 0, proc
    rows = compare_json(project)
    assert len(rows) == 8
    assert {r["momentum"] for r in rows} == {0.5}
    assert sorted({r["loss"] for r in rows if r["seed"] == 1}) == [1.1, 1.2, 1.3, pytest_approx(1.6)]


def pytest_approx(value: float) -> object:
    import pytest

    return pytest.approx(value)


TWELVE = """
experiment: cache
steps:
  prep: {call: prep_mod:prep}
  train: {call: train_mod:train}
  final: {call: final_mod:final}
sweeps:
  seeds: {seed: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]}
"""

MODULE = '''
import os


def {name}({args}):
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "calls.txt"), "a") as handle:
        handle.write("{name}\\n")
    return {value}
'''


def test_editing_a_module_reruns_only_its_steps_and_their_dependents(project: Project) -> None:
    project.file("prep_mod.py", MODULE.format(name="prep", args="data='x'", value="[1, 2, 3]"))
    project.file("train_mod.py", MODULE.format(name="train", args="prep, seed=0", value="{'score': sum(prep) + seed}"))
    project.file("final_mod.py", MODULE.format(name="final", args="train", value="train['score'] * 2"))
    project.spec(TWELVE)
    calls = project.root / "calls.txt"
    assert project.run("run").code == 0
    assert (count(calls, "prep"), count(calls, "train"), count(calls, "final")) == (1, 12, 12)

    assert project.run("run").code == 0  # nothing changed: everything cached
    assert (count(calls, "prep"), count(calls, "train"), count(calls, "final")) == (1, 12, 12)

    (project.root / "train_mod.py").write_text(
        MODULE.format(name="train", args="prep, seed=0", value="{'score': sum(prep) + 10 * seed}"))
    assert project.run("run").code == 0
    assert (count(calls, "prep"), count(calls, "train"), count(calls, "final")) == (1, 24, 24)
    assert runyard.load("seed=3", home=project.home) == (6 + 30) * 2

    (project.root / "final_mod.py").write_text(MODULE.format(name="final", args="train", value="train['score']"))
    assert project.run("run").code == 0
    assert (count(calls, "prep"), count(calls, "train"), count(calls, "final")) == (1, 24, 36)

    (project.root / "prep_mod.py").write_text(MODULE.format(name="prep", args="data='x'", value="[1, 2, 3, 4]"))
    assert project.run("run").code == 0
    assert (count(calls, "prep"), count(calls, "train"), count(calls, "final")) == (2, 36, 48)
    assert runyard.load("seed=3", home=project.home) == 10 + 30


LAZY = '''
import os
import runyard

HERE = os.path.dirname(os.path.abspath(__file__))


class Blob:
    def __init__(self, text):
        self.text = text


def _save(value, path):
    with open(path, "w") as handle:
        handle.write(value.text)
    return {"length": len(value.text)}


def _load(path):
    with open(os.path.join(HERE, "loads.txt"), "a") as handle:
        handle.write("blob\\n")
    with open(path) as handle:
        return Blob(handle.read())


runyard.serializer(Blob, save=_save, load=_load, name="blob", ext=".txt", meta={"format": 1})


def make():
    return Blob("hello")


def use(make):
    return {"length": float(len(make.text))}


def ignore(seed=1):
    return {"seed": float(seed)}
'''


def test_upstream_results_are_loaded_only_when_the_function_takes_them(project: Project) -> None:
    project.file("blobs.py", LAZY)
    project.spec("""
        experiment: lazy
        steps:
          make: {call: blobs:make}
          use: {call: blobs:use}
          ignore: {call: blobs:ignore, needs: [make]}
    """)
    proc = project.run("run")
    assert proc.code == 0, proc
    assert count(project.root / "loads.txt", "blob") == 1  # by `use`; `ignore` needs `make` but never loads it
    run = show_json(project, "default")
    make = next(s for s in run["steps"] if s["name"] == "make")
    ignore = next(s for s in run["steps"] if s["name"] == "ignore")
    assert "--input" not in ignore["command"]
    meta = json.loads((Path(make["folder"]) / "out" / "result.meta.json").read_text())
    assert meta["serializer"] == "blob" and meta["type"] == "blobs.Blob" and meta["module"] == "blobs"
    assert meta["meta"] == {"format": 1, "length": 5} and meta["file"] == "result.txt"
    assert (Path(make["folder"]) / "out" / "result.txt").read_text() == "hello"


def test_a_call_step_takes_a_command_steps_output_folder(project: Project) -> None:
    project.file("reader.py", '''
def read(raw, n=2):
    return (raw / "data.txt").read_text() * n
''')
    project.spec("""
        experiment: mixed
        steps:
          raw: printf abc > {out}/data.txt
          read: {call: reader:read}
    """)
    assert project.run("run").code == 0
    assert runyard.load("default", "read", home=project.home) == "abcabc"


GPU = '''
import glob, os, time


def probe(seed=0):
    # wait until two probes have started (two run at once, one per GPU), then answer
    open(f"probe-{seed}.started", "w").close()
    deadline = time.time() + 30
    while len(glob.glob("probe-*.started")) < 2 and time.time() < deadline:
        time.sleep(0.01)
    return {"seed": seed, "cvd": os.environ.get("CUDA_VISIBLE_DEVICES")}
'''


def test_call_steps_see_their_slot_gpus(project: Project) -> None:
    project.file("gpu.py", GPU)
    project.spec("""
        experiment: gpu
        steps:
          probe: {call: gpu:probe, gpus: 1}
        sweeps:
          s: {seed: [1, 2, 3, 4]}
    """)
    proc = project.run("run", "--gpus", "0,1")
    assert proc.code == 0, proc
    seen = [runyard.load(f"seed={s}", home=project.home) for s in (1, 2, 3, 4)]
    assert [v["seed"] for v in seen] == [1, 2, 3, 4]
    assert {v["cvd"] for v in seen} == {"0", "1"}
