"""Store.results and Store.metric_series: the SQLite scan path agrees with the portable joined
queries (shared executions, several experiments, both scan strategies, fallback), and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import runyard.store.scan as scan
from runyard.model import Metric, Plan, Run, Status, StepExec
from runyard.store import Store
from runyard.store.base import ResultTables
from runyard.testing.pgserver import PgServer

from .conftest import SPEC, Project

SHARED = dict(SPEC, params={**SPEC["params"]}, steps={
    "prep": "echo prep {data} {out}",
    "train": "echo train {prep.out} {norm} {seed} {out}",
    "test": "echo test {train.out}",
})
SHARED["metrics"] = {"bleu": {"step": "test", "mode": "max"}, "rows": {"step": "prep", "mode": "max"}}


def canonical(tables: ResultTables) -> tuple[dict[str, tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Order-free form: run id → its fields; sorted (run id, step, name, stats...) rows."""
    runs = tables.runs
    ids = [str(i) for i in runs["id"]]
    params = runs["params"]
    params_rows = (params.to_dict("records") if hasattr(params, "to_dict") else list(params))

    def num(value: Any) -> Any:
        return None if value is None or value != value else round(float(value), 6)

    by_id = {ids[i]: (str(runs["name"][i]), {k: v for k, v in params_rows[i].items() if v == v},
                      num(runs["created"][i]), str(runs["status"][i]), num(runs["started"][i]),
                      num(runs["ended"][i]), num(runs["duration"][i])) for i in range(len(ids))}
    summ = tables.summaries
    stats = [k for k in summ if k not in ("run", "step", "name")]
    rows = sorted((ids[int(summ["run"][i])], str(summ["step"][i]), str(summ["name"][i]),
                   *(num(summ[s][i]) for s in stats)) for i in range(len(summ["run"])))
    return by_id, rows


def portable(store: Store, experiment: str, stats: list[str]) -> ResultTables:
    sql: Any = store
    with sql.tx(write=False) as conn:
        runs = sql._run_columns(conn, experiment)
        positions = {run_id: i for i, run_id in enumerate(runs["id"])}
        return ResultTables(runs=runs, summaries=sql._summary_columns(conn, experiment, stats, positions))


@pytest.fixture
def shared(tmp_path: Path) -> Iterator[Project]:
    """Two experiments; prep is shared by the runs of one data value and reports a metric itself."""
    proj = Project(tmp_path, dict(SHARED, sweeps={"main": {"data": ["a", "b"], "seed": [1, 2, 3]}}))
    proj.submit(dict(SHARED, experiment="other", sweeps={"main": {"seed": [1, 2]}}))
    first = proj.plans[0]
    for ex in first.executions[:5]:
        if proj.store.execution(ex.key).status == Status.READY:
            proj.finish(ex.key, seconds=3)
    for run in first.runs:
        prep = dict(run.steps)["prep"]
        if proj.store.execution(prep).status == Status.DONE:
            proj.store.log_metrics(prep, [Metric("rows", 100.0 if run.params["data"] == "a" else 200.0)])
        proj.store.log_metrics(dict(run.steps)["test"], [Metric("bleu", float(run.params["seed"])),
                                                        Metric("bleu", float("nan"))])
    try:
        yield proj
    finally:
        proj.close()


@pytest.mark.parametrize("share", [1, 10**9])  # scan whole tables / look the experiment's rows up
def test_scan_path_agrees_with_joined_queries(shared: Project, share: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scan, "SCAN_SHARE", share)
    stats = ["last", "min", "max", "count", "last_step"]
    fast = scan.sqlite_results(shared.store, "norm", stats)  # type: ignore[arg-type]
    assert fast is not None
    assert canonical(fast) == canonical(portable(shared.store, "norm", stats))
    by_id, rows = canonical(fast)
    done_preps = sum(1 for ex in shared.plans[0].executions
                     if ex.step == "prep" and shared.store.execution(ex.key).status == Status.DONE)
    assert done_preps == 1
    assert len(by_id) == 6 and len(rows) == 6 + 3 * done_preps  # bleu of every run; rows of the prep 3 runs share
    statuses = sorted(v[3] for v in by_id.values())
    assert statuses == sorted(statuses) and set(statuses) <= {"ready", "waiting", "done"}
    bleu = [r for r in rows if r[2] == "bleu"]
    assert all(r[3] is None and r[4] is not None and r[6] == 2 for r in bleu)  # last NaN, min/max of the rest


def test_results_of_the_other_experiment_and_unknown(shared: Project) -> None:
    by_id, rows = canonical(shared.store.results("other", stats=["last"]))
    assert len(by_id) == 2 and rows == []
    with pytest.raises(Exception, match="did you mean 'other'"):
        shared.store.results("othre")
    with pytest.raises(ValueError, match="unknown summary statistics"):
        shared.store.results("other", stats=["mean"])


def test_metric_series(shared: Project) -> None:
    series = shared.store.metric_series("norm", "bleu")
    assert len(series["run_id"]) == 12 and set(series["step_name"]) == {"test"}
    assert sum(1 for v in series["value"] if v != v) == 6
    one = shared.plans[0].runs[0].id
    assert set(shared.store.metric_series("norm", "rows", run_ids=[one])["run_id"]) <= {one}


def test_fallback_when_keys_do_not_pack(tmp_path: Path) -> None:
    proj = Project(tmp_path)
    ex = StepExec(key="not-a-hex-key", experiment="odd", step="s", command="true", needs=(),
                  folder=str(tmp_path / "f"), workdir=str(tmp_path))
    run = Run(id="run-1", experiment="odd", name="one", params={"x": 1}, steps=(("s", ex.key),),
              folder=str(tmp_path / "r"))
    proj.store.submit(Plan(experiment="odd", home=str(proj.home), spec_path="spec.yaml", runs=(run,),
                           executions=(ex,), spec={"experiment": "odd"}))
    proj.store.log_metrics(ex.key, [Metric("m", 2.5)])
    assert scan.sqlite_results(proj.store, "odd", ["last"]) is None  # type: ignore[arg-type]
    tables = proj.store.results("odd")
    assert list(tables.runs["id"]) == ["run-1"] and list(tables.summaries["last"]) == [2.5]
    proj.close()


def test_fallback_when_two_keys_share_their_first_digits(tmp_path: Path) -> None:
    proj = Project(tmp_path)
    runs, execs = [], []
    for i in range(2):
        ex = StepExec(key="ab" * 8 + f"{i:048x}", experiment="twins", step="s", command=f"true {i}", needs=(),
                      folder=str(tmp_path / f"f{i}"), workdir=str(tmp_path))
        execs.append(ex)
        runs.append(Run(id="cd" * 8 + f"{i:048x}", experiment="twins", name=f"r{i}", params={"i": i},
                        steps=(("s", ex.key),), folder=str(tmp_path / f"r{i}")))
    proj.store.submit(Plan(experiment="twins", home=str(proj.home), spec_path="spec.yaml", runs=tuple(runs),
                           executions=tuple(execs), spec={"experiment": "twins"}))
    for i, ex in enumerate(execs):
        proj.store.log_metrics(ex.key, [Metric("m", float(i))])
    assert scan.sqlite_results(proj.store, "twins", ["last"]) is None  # type: ignore[arg-type]
    _, rows = canonical(proj.store.results("twins"))
    assert [(r[0][-1], r[3]) for r in rows] == [("0", 0.0), ("1", 1.0)]
    proj.close()


def test_exact_numbers_survive_the_packing(tmp_path: Path) -> None:
    proj = Project(tmp_path, SPEC)
    values = [0.1, 1 / 3, 1e-300, 12345678.123456789, -2.5e17, 5e-324]
    for run, value in zip(proj.plan.runs, values, strict=True):
        proj.store.log_metrics(dict(run.steps)["test"], [Metric("bleu", value)])
    tables = proj.store.results("norm")
    assert sorted(np.asarray(tables.summaries["last"]).tolist()) == sorted(values)
    proj.close()


@pytest.mark.postgres
def test_postgresql_results_match_sqlite(tmp_path: Path, pg_server: PgServer) -> None:
    url = pg_server.create_database()
    try:
        lite = Project(tmp_path / "lite", SHARED)
        pg = Project(tmp_path / "pg", SHARED, url=url)
        for proj in (lite, pg):
            proj.finish_all(seconds=2)
            for run in proj.plan.runs:
                proj.log(run, "test", bleu=[1.0, float(run.params["seed"])])
        stats = ["last", "min", "max", "count", "last_step"]
        a, b = canonical(lite.store.results("norm", stats=stats)), canonical(pg.store.results("norm", stats=stats))
        assert {k: v[:4] + v[6:] for k, v in a[0].items()} == {k: v[:4] + v[6:] for k, v in b[0].items()}
        assert [r[1:] for r in a[1]] == [r[1:] for r in b[1]]
        import runyard

        with runyard.open(url) as yard:
            table = yard.runs(where="seed >= 2").compare(over="seed", sort="-bleu")
            assert list(table["bleu.mean"]) == [2.5, 2.5] and list(table["bleu.n"]) == [2, 2]
            assert len(yard.runs().metrics("bleu")) == 12
        lite.close()
        pg.close()
    finally:
        pg_server.drop_database(url)
