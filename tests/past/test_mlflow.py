"""``runyard export mlflow`` and ``runyard import mlflow`` against a real MLflow SQLite store (no server),
created once for the module: runs, params, metric series, status, tags and notes, both ways."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.past.conftest import Yard, finished_sweep

from runyard.app.mlflow_io import export_mlflow, import_mlflow
from runyard.errors import RunNotFound

mlflow = pytest.importorskip("mlflow", reason="needs runyard[mlflow] (mlflow-skinny, alembic)")
pytest.importorskip("alembic", reason="MLflow's SQLite store needs alembic (runyard[mlflow])")


@pytest.fixture(scope="module")
def yard(tmp_path_factory: pytest.TempPathFactory) -> Yard:
    yard = finished_sweep(tmp_path_factory.mktemp("mlflow"))
    yard.ok("tag", "lr=0.2", "baseline")
    yard.ok("note", "seed=2", "check the data")
    return yard


@pytest.fixture(scope="module")
def uri(yard: Yard) -> str:
    return f"sqlite:///{yard.root / 'mlflow.db'}"


def client(uri: str) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def test_export_then_import_gives_the_same_table(yard: Yard, uri: str) -> None:
    out = yard.ok("export", "mlflow", "past", "--tracking-uri", uri, subprocess_=True)
    assert "exported 6 run(s) to MLflow experiment 'past': 18 params, 24 metric points" in out
    c = client(uri)
    experiment = c.get_experiment_by_name("past")
    runs = {r.info.run_name: r for r in c.search_runs([experiment.experiment_id])}
    assert sorted(runs) == ["default", "lr=0.2", "lr=0.2,seed=2", "lr=0.3", "lr=0.3,seed=2", "seed=2"]
    two = runs["lr=0.2"]
    assert two.data.params == {"lr": "0.2", "n": "3", "seed": "1"} and two.info.status == "FINISHED"
    assert two.data.tags["baseline"] == "true" and len(two.data.tags["runyard.run_id"]) == 64
    assert runs["seed=2"].data.tags["mlflow.note.content"] == "check the data"
    history = c.get_metric_history(two.info.run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(0, 0.2), (1, 0.1), (2, 0.0667)]
    assert [m.value for m in c.get_metric_history(two.info.run_id, "acc")] == [0.8]
    with yard.store() as store:  # in this process from here on: MLflow takes seconds to import and open
        again = export_mlflow(store, "past", tracking_uri=uri)
    assert again.runs == 0 and len(again.skipped) == 6
    assert len(c.search_runs([experiment.experiment_id])) == 6, "a second export adds nothing"

    out = yard.ok("import", "mlflow", "past", "--into", "back", "--tracking-uri", uri, subprocess_=True)
    assert "imported 6 run(s) into experiment 'back': 18 params, 24 metric points" in out
    mine = json.loads(yard.ok("compare", "past", "--format", "json", "--cols", "name,tags,note,lr,seed,acc,loss"))
    back = json.loads(yard.ok("compare", "back", "--format", "json", "--cols", "name,tags,note,lr,seed,acc,loss"))
    assert sorted(mine, key=lambda r: r["name"]) == sorted(back, key=lambda r: r["name"])
    with yard.store() as store:
        assert import_mlflow(store, "past", home=str(yard.home), tracking_uri=uri, into="back").runs == 6
    assert len(json.loads(yard.ok("ls", "back", "--json"))) == 6, "importing again replaces, never doubles"


def test_import_of_runs_logged_with_mlflow_and_bad_input(yard: Yard, uri: str) -> None:
    c = client(uri)
    exp = c.create_experiment("native")
    for lr in (0.01, 0.1):
        run = c.create_run(exp, run_name=f"lr{lr}", tags={"team": "vision", "best": "true"})
        c.log_param(run.info.run_id, "lr", lr)
        c.log_param(run.info.run_id, "model", "resnet")
        for step in range(3):
            c.log_metric(run.info.run_id, "val_acc", 0.5 + lr * step, step=step)
        c.set_terminated(run.info.run_id, "FAILED" if lr == 0.1 else "FINISHED")
    with yard.store() as store:
        assert import_mlflow(store, "native", home=str(yard.home), tracking_uri=uri).points == 6
    rows = {r["name"]: r for r in json.loads(yard.ok("compare", "native", "--format", "json", "--cols",
                                                        "name,status,tags,lr,model,val_acc,val_acc.count"))}
    assert rows["lr0.01"] == {"name": "lr0.01", "status": "done", "tags": "best,team=vision", "lr": 0.01,
                              "model": "resnet", "val_acc": 0.52, "val_acc.count": 3}
    assert rows["lr0.1"]["status"] == "failed"
    tagged = json.loads(yard.ok("compare", "native", "--where", "tag = best", "--format", "json"))
    assert len(tagged) == 2
    with yard.store() as store, pytest.raises(RunNotFound, match="did you mean 'native'"):
        import_mlflow(store, "nativ", home=str(yard.home), tracking_uri=uri)
    yard.fails("import", "mlflow", "native", "--into", "past", "--tracking-uri", uri, match="choose another name")
    yard.fails("export", "mlflow", "pats", "--tracking-uri", uri, match="did you mean 'past'")
