"""The notebook API on a real SQLite store: runyard.open → Yard → RunSet (.df, .compare, .metrics)
and RunView; metric column naming; run status and times."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import runyard
from runyard.analyze.yard import RunSet, RunView, Yard
from runyard.errors import RunNotFound, UsageError
from runyard.model import Status

from .conftest import SPEC, T0, Project


def test_open_resolves_home_url_and_environment(project: Project, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    for target in (str(project.home), project.home, project.url, str(project.home / "runyard.db")):
        with runyard.open(target) as yard:
            assert isinstance(yard, Yard) and yard.experiments() == ["norm"]
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RUNYARD_HOME", raising=False)
    monkeypatch.delenv("RUNYARD_STORE", raising=False)
    (tmp_path / "home").rename(tmp_path / ".runyard")
    with runyard.open() as yard:  # the nearest .runyard
        assert yard.experiments() == ["norm"]
    monkeypatch.setenv("RUNYARD_HOME", str(tmp_path / ".runyard"))
    monkeypatch.chdir("/")
    with runyard.open() as yard:
        assert len(yard.runs()) == 6
    with pytest.raises(RunNotFound, match="no runyard store at"):
        runyard.open(tmp_path / "nowhere")
    assert not (tmp_path / "nowhere").exists()


def test_df_has_one_row_per_run_with_sensible_dtypes(project: Project) -> None:
    with runyard.open(project.home) as yard:
        runs = yard.runs()
        df = runs.df
    assert isinstance(runs, RunSet) and len(runs) == 6
    assert df.index.name == "id" and set(df.index) == {r.id for r in project.plan.runs}
    assert list(df.columns) == ["name", "status", "stage", "origin", "data", "early-stop", "lr", "norm", "seed",
                                "bleu", "loss", "started", "ended", "duration"]
    assert df["seed"].dtype == np.int64 and df["lr"].dtype == np.float64 and df["early-stop"].dtype == bool
    assert pd.api.types.is_string_dtype(df["norm"]) and pd.api.types.is_string_dtype(df["name"])
    assert df["bleu"].dtype == np.float64 and str(df["started"].dtype).startswith("datetime64")
    assert set(df["status"]) == {"done"}
    by_name = df.set_index("name")
    assert by_name.loc["norm=layer,seed=2", "bleu"] == 22.0
    assert by_name.loc["default", "loss"] == 3.0  # last
    # train ran 10 s then test 10 s, one after the other on the fake clock
    run = project.run(norm="batch", seed=1)
    started = T0 + 10 * [ex.key for ex in project.plan.executions].index(project.key(run, "train"))
    assert by_name.loc["default", "started"] == pd.Timestamp(started, unit="s", tz="UTC")
    assert by_name.loc["default", "duration"] == 20.0
    assert (df["ended"] - df["started"]).dt.total_seconds().min() >= 20.0


def test_where_filters_and_compare_matches_the_cli(project: Project) -> None:
    with runyard.open(project.home) as yard:
        runs = yard.runs("norm", where="norm == layer and seed >= 2")
        assert sorted(runs.df["name"]) == ["norm=layer,seed=2", "norm=layer,seed=3"]
        assert repr(runs) == "<RunSet norm: 2 runs where norm == layer and seed >= 2>"
        table = runs.compare(sort="-bleu")
        assert list(table.columns) == ["name", "status", "seed", "bleu", "loss"]  # only seed differs here
        assert list(table["bleu"]) == [23.0, 22.0]
        best = yard.runs(where="loss.best < 2.2 and norm == batch").compare(
            cols="name,loss.best,loss.min,loss.count,bleu.best")
        assert list(best["name"]) == ["default"] and best["loss.count"].dtype == np.int64
        assert best.iloc[0]["loss.best"] == pytest.approx(2.1) and best.iloc[0]["bleu.best"] == 31.0
        text = yard.runs(where="norm == batch").render("csv", sort="seed", cols="name,bleu")
        assert text == "name,bleu\ndefault,31.0\nseed=2,32.0\nseed=3,33.0\n"


def test_metrics_long_format(project: Project) -> None:
    with runyard.open(project.home) as yard:
        runs = yard.runs(where="norm == batch")
        points = runs.metrics("loss")
        assert list(points.columns) == ["id", "name", "step", "value", "time"]
        assert len(points) == 9 and set(points["name"]) == {"default", "seed=2", "seed=3"}
        first = points[points["name"] == "seed=2"]
        assert list(first["step"]) == [0, 1, 2] and list(first["value"]) == [4.0, 2.2, 3.0]
        assert str(points["time"].dtype).startswith("datetime64") and points["step"].dtype == "Int64"
        assert len(yard.runs().metrics("bleu")) == 6
        with pytest.raises(RunNotFound, match="did you mean 'bleu'"):
            runs.metrics("blue")


def test_run_view(project: Project) -> None:
    run = project.run(norm="layer", seed=3)
    train = project.key(run, "train")
    (Path(project.store.execution(train).folder)).mkdir(parents=True)
    (Path(project.store.execution(train).folder) / "log").write_text("epoch 1\nloss 3.0\n")
    with runyard.open(project.home) as yard:
        view = yard.run("norm=layer,seed=3")
        assert isinstance(view, RunView) and view.id == run.id and view.name == run.name
        assert view.params == dict(run.params) and view.status == "done" and view.steps == ["train", "test"]
        assert set(view.metrics) == {"bleu", "loss"}
        loss = view.metrics["loss"]
        assert (loss.last, loss.min, loss.max, loss.count, loss.last_step) == (3.0, 2.3, 4.0, 3, 2)
        assert view.folders["train"].endswith(train[:12]) and view.folder == run.folder
        assert view.log("train") == "epoch 1\nloss 3.0\n" and view.log("test") == ""
        assert set(view.provenance) == {"train", "test"}
        assert yard.run(run.id[:10]).name == run.name
        with pytest.raises(RunNotFound, match="did you mean 'train'"):
            view.log("trian")
        names = [r.name for r in yard.runs(where="seed == 1")]
        assert names == ["default", "norm=layer"]


def test_experiment_choice(project: Project) -> None:
    other = dict(SPEC, experiment="other")
    project.submit(other)
    with runyard.open(project.home) as yard:
        assert yard.experiments() == ["norm", "other"]
        with pytest.raises(UsageError, match="the store holds 2 experiments; name one: norm, other"):
            yard.runs()
        with pytest.raises(RunNotFound, match="did you mean 'norm'"):
            yard.runs("nrom")
        pending = yard.runs("other").df
        assert set(pending["status"]) == {"ready"} and pending["ended"].isna().all()  # train ready, test waiting
        assert "bleu" not in pending.columns and pending["duration"].isna().all()


def test_metric_reported_by_two_steps_is_named_by_step(tmp_path: Path) -> None:
    proj = Project(tmp_path, SPEC)
    proj.finish_all()
    for run in proj.plan.runs:
        proj.log(run, "train", acc=0.5, bleu=10.0 + run.params["seed"])
        proj.log(run, "test", acc=0.7)
    with runyard.open(proj.home) as yard:
        runs = yard.runs()
        df = runs.df
        assert [c for c in df.columns if "acc" in c or "bleu" in c] == ["test.acc", "train.acc", "bleu"]
        assert set(df["train.acc"]) == {0.5} and set(df["test.acc"]) == {0.7}
        table = runs.compare(cols="name,train.acc.max,bleu", sort="-bleu")
        assert table.iloc[0]["bleu"] == 13.0
        several = "'acc' is reported by several steps: say which, 'test.acc' or 'train.acc'"
        with pytest.raises(UsageError, match=re.escape(several)):
            runs.compare(sort="acc")
        with pytest.raises(UsageError, match=re.escape("say which, 'test.acc.min' or 'train.acc.min'")):
            len(yard.runs(where="acc.min > 0"))
        assert len(runs.metrics("train.acc")) == 6
    proj.close()


def test_status_and_times_follow_the_executions(tmp_path: Path) -> None:
    proj = Project(tmp_path, SPEC)
    failed = proj.run(norm="layer", seed=1)
    running = proj.run(norm="layer", seed=2)
    for ex in proj.plan.executions:
        if ex.step == "train" and ex.key not in (proj.key(failed, "train"), proj.key(running, "train")):
            proj.finish(ex.key, seconds=5)
    proj.finish(proj.key(failed, "train"), seconds=7, status=Status.FAILED)
    proj.store.claim("w1", lambda rec: rec.key == proj.key(running, "train"), limit=1)
    with runyard.open(proj.home) as yard:
        df = yard.runs().df.set_index("name")
    assert df.loc["norm=layer", "status"] == "failed" and df.loc["norm=layer", "duration"] == 7.0
    assert df.loc["norm=layer", "ended"] == df.loc["norm=layer", "started"] + pd.Timedelta(seconds=7)
    assert df.loc["norm=layer,seed=2", "status"] == "running" and pd.isna(df.loc["norm=layer,seed=2", "ended"])
    assert df.loc["default", "status"] == "ready" and pd.isna(df.loc["default", "ended"])  # test is ready
    assert df.loc["default", "duration"] == 5.0  # what its steps ran so far
    proj.close()


def test_empty_experiment_and_no_metrics(tmp_path: Path) -> None:
    proj = Project(tmp_path, SPEC)
    with runyard.open(proj.home) as yard:
        runs = yard.runs(where="seed > 5")
        assert len(runs) == 0 and runs.df.empty and list(runs.df.columns)[:2] == ["name", "status"]
        assert runs.compare().empty and runs.render("csv") == "name,status\n"
        assert runs.metrics  # the method exists even with no metric columns
        with pytest.raises(UsageError, match="no metrics recorded yet"):
            yard.runs().compare(sort="bleu")
    proj.close()
