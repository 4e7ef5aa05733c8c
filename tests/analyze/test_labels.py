"""Tags and notes in the analysis: ``tags``/``note`` columns once a run has one, ``tag = X`` in --where,
and params named ``tag``, ``tags`` or ``note`` keeping their names."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.analyze.conftest import SPEC, Project

from runyard.analyze.compare import compare
from runyard.analyze.where import WhereError
from runyard.analyze.yard import RunSet, Yard


def names(project: Project, where: str) -> list[str]:
    return sorted(RunSet(Yard(project.store), "norm", where).df["name"])


def test_tags_select_runs_and_show_as_columns(project: Project) -> None:
    assert "tags" not in RunSet(Yard(project.store), "norm").df.columns, "no label: no column"
    first, second = project.plan.runs[:2]
    project.store.tag(first.id, ["baseline", "paper"])
    project.store.tag(second.id, ["baseline"])
    project.store.set_note(second.id, "odd")
    assert names(project, "tag = baseline") == sorted([first.name, second.name])
    assert names(project, "tag = paper or tag = nothing") == [first.name]
    assert names(project, "tag in (paper, other)") == [first.name]
    assert len(names(project, "tag != baseline")) == 4
    assert len(names(project, "tag not in (paper)")) == 5
    frame = RunSet(Yard(project.store), "norm").df
    assert frame.loc[first.id, "tags"] == "baseline,paper" and frame.loc[second.id, "note"] == "odd"
    table = compare(RunSet(Yard(project.store), "norm").results()).frame
    assert list(table.columns[:4]) == ["name", "status", "tags", "note"]
    with pytest.raises(WhereError, match="tag takes"):
        names(project, "tag > baseline")


def test_params_named_like_labels_keep_their_names(tmp_path: Path) -> None:
    spec = dict(SPEC, params={**SPEC["params"], "tag": "v1", "note": "n"},
                sweeps={"main": {"tag": ["v1", "v2"]}})
    spec["steps"] = {"train": "echo {tag} {note} {out}", "test": "echo {train.out}"}
    project = Project(tmp_path, spec)
    try:
        run = next(r for r in project.plan.runs if r.params["tag"] == "v2")
        project.store.tag(run.id, ["baseline"])
        project.store.set_note(run.id, "a label")
        assert names(project, "tag = v2") == [run.name], "the param, not the labels"
        frame = RunSet(Yard(project.store), "norm").df
        assert set(frame["note"]) == {"n"} and frame.loc[run.id, "tags"] == "baseline"
    finally:
        project.close()
