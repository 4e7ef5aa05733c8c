"""Stages in the store (SQLite and PostgreSQL): stage and origin in the bulk results, the read-only reader of
``runyard plan``, the final plan's keys, the spec round trip of the stage blocks."""

from __future__ import annotations

from pathlib import Path

import pytest

from runyard.analyze.best import best
from runyard.analyze.table import load
from runyard.app.why import explain
from runyard.errors import UsageError
from runyard.model import Status
from runyard.spec import expand, spec_from_dict
from runyard.spec.final import Origin, final_plan
from runyard.store import open_store
from runyard.store.readonly import read_past

DATA = {
    "experiment": "st",
    "params": {"model": "a", "lr": 0.1, "seed": 1},
    "steps": {"prep": "echo prep {out}", "train": "echo train {model} {lr} {seed} {prep.out} {out}"},
    "metrics": {"acc": {"step": "train", "regex": "acc (\\S+)"}, "tacc": {"step": "test", "mode": "min"}},
    "sweeps": {"grid": {"model": ["a", "b"], "lr": [0.1, 0.2], "seed": [1, 2]}},
    "aggregate": {"summary": {"run": "cat {runs}", "uses": ["acc"]}},
    "select": {"metric": "acc", "by": ["model"], "over": ["seed"],
               "then": {"retrain": "echo retrain {lr} {train.out} {out}", "test": "echo test {retrain.out}"}},
}

ACC = {("a", 0.1): [0.5, 0.7], ("a", 0.2): [0.9, 0.1], ("b", 0.1): [0.4, 0.4], ("b", 0.2): [0.4, float("nan")]}


def test_the_stage_blocks_survive_a_round_trip(tmp_path: Path) -> None:
    spec = spec_from_dict(DATA, folder=tmp_path)
    again = spec_from_dict(spec.to_data(), folder=tmp_path)
    assert again.aggregates == spec.aggregates and again.select == spec.select
    assert spec.select is not None and spec.select.mode == "max" and spec.select.then[1].needs == ("retrain",)
    assert spec.aggregates[0].uses == ("acc",)


def test_results_stages_best_and_the_readonly_reader(store_url: str, tmp_path: Path) -> None:
    spec = spec_from_dict(DATA, folder=tmp_path)
    plan = expand(spec, home=str(tmp_path / "home"))
    assert read_past(store_url, "st").exists is False  # no store yet (SQLite) or no tables (a new database)
    with open_store(store_url) as store:
        store.submit(plan)
        for run in plan.runs:
            if run.stage != "sweep":
                continue
            params = dict(run.params)
            value = ACC[(str(params["model"]), float(str(params["lr"])))][int(str(params["seed"])) - 1]
            store.log_metric_rows(dict(run.steps)["train"], [("", "acc", None, value, None)])
        for ex in plan.executions:
            if ex.step != "summary":
                store.set_status(ex.key, Status.DONE, expected=store.execution(ex.key).status)
        results = load(store, "st")
        assert sorted(results.frame["stage"]) == ["aggregate"] + ["sweep"] * 8
        sweep = results.select((results.frame["stage"] == "sweep").to_numpy())
        selection = best(sweep, "acc", by="model", over="seed")
        by_model = {p.group["model"]: p for p in selection.picks}
        assert by_model["a"].config["lr"] == 0.1 and by_model["a"].score == pytest.approx(0.6)  # 0.6 > 0.5
        # b: lr=0.2 has a NaN left out, so its mean is 0.4 like lr=0.1's: a tie, the first run name wins
        assert by_model["b"].config["lr"] == 0.1 and by_model["b"].tied_with == ("model=b,lr=0.2",)
        assert ("model=b,lr=0.2,seed=2", "no acc value") in selection.left_out
        with pytest.raises(UsageError, match="--by: 'mdl' is not a param"):
            best(sweep, "acc", by="mdl")
        origins = [Origin(i, str(results.frame.loc[i, "name"]), dict(store.run(i).params))
                   for p in selection.picks for i in p.run_ids]
        finals = final_plan(spec, plan.home, origins)
        assert len(finals.runs) == 4 and all(r.stage == "final" and r.origin for r in finals.runs)
        sweep_keys = {ex.key for ex in plan.executions}
        assert {ex.step for ex in finals.executions if ex.key in sweep_keys} == {"prep", "train"}
        assert {ex.step for ex in finals.executions if ex.key not in sweep_keys} == {"retrain", "test"}
        store.submit(finals)
        stages = load(store, "st").frame
        assert sorted(stages["stage"]) == ["aggregate"] + ["final"] * 4 + ["sweep"] * 8
        assert set(stages.loc[stages["stage"] == "final", "origin"]) == {o.id for o in origins}
    past = read_past(store_url, "st")
    assert past.exists and set(past.executions) == {ex.key for ex in (*plan.executions, *finals.executions)}
    reasons = explain(plan, past)
    assert {r.kind for r in reasons.values()} == {"folder gone", "queued"}  # done, but no folder was made
    assert reasons[next(ex.key for ex in plan.executions if ex.step == "summary")].kind == "queued"
