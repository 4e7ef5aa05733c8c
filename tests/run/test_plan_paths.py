"""One spec planned three ways lands the same in the store: ``runyard run``, ``runyard submit`` and the
notebook's ``yard.submit`` (which plans the spec as the store recorded it) give the same runs (ids,
names, params, steps), step executions (keys, commands, params, needs, folders) and stored spec."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from click.testing import CliRunner

import runyard
from runyard.cli.main import cli
from runyard.store import open_store

SPEC = """
experiment: paths
params: {lr: 0.1, seed: 0, depth: 2}
steps:
  prep:
    run: echo prep {depth} > {out}/data
    deps: [tool.py]
  train:
    run: echo train {lr} {seed} {out} {prep.out}
    needs: [prep]
sweeps:
  lrs: {lr: [0.1, 0.01]}
  deep: {depth: [2, 4], lr: [0.1]}
"""


def _store_content(home: Path) -> dict[str, Any]:
    """What the store of ``home`` holds of the experiment, with the home's path written as ``HOME``."""

    def local(value: object) -> object:
        return str(value).replace(str(home), "HOME")

    with open_store(f"sqlite:///{home / 'runyard.db'}") as store:
        experiment = store.experiment("paths")
        runs = sorted((r.id, r.name, r.stage, local(dict(r.params)), tuple(r.steps), local(r.folder))
                      for r in store.runs("paths"))
        executions = sorted((e.key, e.step, local(e.command), local(dict(e.params)), tuple(e.needs),
                             local(e.folder), e.workdir, e.code) for e in store.executions("paths"))
        return {"runs": runs, "executions": executions, "spec": experiment.spec,
                "spec_path": experiment.spec_path, "home": local(experiment.home)}


def test_run_submit_and_yard_submit_store_the_same_plan(tmp_path: Path) -> None:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "tool.py").write_text("print('the code of prep')\n")
    spec = folder / "runyard.yaml"
    spec.write_text(SPEC)
    cli_runner = CliRunner()

    def invoke(*args: str) -> None:
        result = cli_runner.invoke(cli, list(args), catch_exceptions=False)
        assert result.exit_code == 0, result.output

    ran, submitted, from_yard = tmp_path / "ran", tmp_path / "submitted", tmp_path / "yard"
    invoke("run", str(spec), "seed=1,2", "--home", str(ran), "-j", "2")
    invoke("submit", str(spec), "seed=1,2", "--home", str(submitted))
    # yard.submit plans the spec the store recorded: one sweep block submitted first, the rest from Python
    invoke("submit", str(spec), "seed=1,2", "--sweep", "deep", "--home", str(from_yard))
    with runyard.open(from_yard) as yard:
        result = yard.submit("paths", seed=[1, 2])
    assert result.runs_added == 2 and len(result.added) > 0, "yard.submit added the runs of the other sweep"

    expected = _store_content(ran)
    assert len(expected["runs"]) == 6 and len(expected["executions"]) == 2 + 6
    assert _store_content(submitted) == expected
    assert _store_content(from_yard) == expected
    assert expected["spec_path"] == str(spec)
