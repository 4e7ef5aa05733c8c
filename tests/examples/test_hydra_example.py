"""examples/hydra: a Hydra app (hydra-core) swept with ``{*hydra}``: each run passes only what it sets, a key the
app's config lacks goes as ``+key=value``, the app's own config decides the rest; Hydra's sweep syntax on the
command line is refused with the runyard form."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from run.conftest import Project

pytest.importorskip("hydra", reason="hydra-core is not installed (pip install hydra-core; it is in the dev extra)")


def commands(project: Project, *args: str) -> dict[str, str]:
    proc = project.run("plan", "--json", *args)
    assert proc.code == 0, proc
    runs = json.loads(proc.stdout)["runs"]
    return {run["name"]: run["steps"][0]["command"].split(" hydra.run.dir=")[0] for run in runs}


def test_a_hydra_app_swept_with_its_own_overrides(example: Callable[[str], Project]) -> None:
    project = example("hydra")
    planned = commands(project)
    large = next(n for n in planned if n.startswith("model=large"))
    assert planned == {
        "seed=1": "python app.py lr=0.01 seed=1",  # lr equals its default (not in the name), but the sweep sets it
        "lr=0.1,seed=1": "python app.py lr=0.1 seed=1",
        large: "python app.py model=large '+run.note=first try'",  # conf/config.yaml has no run.note
    }
    first = project.run("run")
    assert first.code == 0, first
    configs = {}
    with project.store() as store:
        runs = store.runs("hydra-app")
        for run in runs:
            execution = store.execution(dict(run.steps)["train"])
            configs[run.name] = json.loads((Path(execution.folder) / "out" / "config.json").read_text())
    # what the run did not set comes from the app's config: epochs and seed here, the small model elsewhere
    assert configs[large] == {"model": {"width": 64, "depth": 4}, "lr": 0.01, "seed": 0, "epochs": 3,
                     "run": {"note": "first try"}}
    assert configs["lr=0.1,seed=1"] == {"model": {"width": 8, "depth": 1}, "lr": 0.1, "seed": 1, "epochs": 3}
    again = project.run("run")
    assert again.code == 0 and "cached" in again.stdout + again.stderr, again

    # null: key=null for a key the config has, nothing for one it lacks
    assert set(commands(project, "seed=null", "run.note=null", "--sweep", "large").values()) == \
        {"python app.py seed=null model=large"}


def test_hydra_sweep_syntax_is_refused_with_the_runyard_form(example: Callable[[str], Project]) -> None:
    proc = example("hydra").run("plan", "seed=range(1,4)", "model=choice(small,large)", "lr=interval(0.001,0.1)",
                                "+run.note=x")
    assert proc.code == 2 and "Traceback" not in proc.stderr, proc
    assert proc.stderr.splitlines()[1:] == [
        "  command line: seed=range(1,4): range() is Hydra's sweep syntax; runyard lists the values: seed=1,2,3",
        "  command line: model=choice(small,large): choice() is Hydra's sweep syntax; runyard lists the values: "
        "model=small,large",
        "  command line: lr=interval(0.001,0.1): interval() asks a Hydra sweeper plugin to sample; runyard runs "
        "listed values: write lr=V1,V2,V3 (for a large grid, pick runs with --sample N)",
        "  command line: +run.note=x: '+' is Hydra's prefix for its own config: a runyard param is declared in the "
        "spec and set as run.note=x ({*hydra} passes a key the app's config lacks as +run.note=…)",
    ]


def test_habits_from_other_command_lines_get_a_hint(example: Callable[[str], Project]) -> None:
    project = example("hydra")
    typo = project.run("comapre")
    assert typo.code == 2 and "No such command 'comapre'; did you mean 'compare'?" in typo.stderr, typo
    multirun = project.run("run", "-m", "seed=1,2")
    assert multirun.code == 2 and "runyard runs every run of KEY=V1,V2 without it: drop it" in multirun.stderr
    project.file("runyard.yaml", (project.root / "runyard.yaml").read_text().replace("conf/config.yaml", "conf/x.yaml"))
    missing = project.run("plan")
    assert missing.code == 2 and "steps.train.hydra: cannot read" in missing.stderr, missing
