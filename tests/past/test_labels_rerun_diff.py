"""``runyard tag``, ``untag``, ``note``, ``rerun`` and ``diff`` on a finished sweep, as real subprocesses
(one sweep shared by the module's tests)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from tests.past.conftest import Yard, finished_sweep

from runyard.layout import RunPaths


@pytest.fixture(scope="module")
def yard(tmp_path_factory: pytest.TempPathFactory) -> Yard:
    return finished_sweep(tmp_path_factory.mktemp("labels"))


def test_tags_and_notes_are_shown_selected_and_kept_in_the_run_folder(yard: Yard) -> None:
    assert "baseline, paper" in yard.ok("tag", "lr=0.2", "baseline", "paper")
    assert "baseline" in yard.ok("tag", "lr=0.3,seed=2", "baseline")
    assert yard.ok("untag", "lr=0.2", "paper").strip().endswith("baseline")
    yard.ok("note", "lr=0.2", "loss spikes at epoch 2")
    shown = yard.ok("show", "lr=0.2")
    assert "tags    baseline" in shown and "note    loss spikes at epoch 2" in shown
    picked = yard.ok("compare", "--where", "tag = baseline", "--format", "json")
    rows = json.loads(picked)
    assert sorted(r["name"] for r in rows) == ["lr=0.2", "lr=0.3,seed=2"]
    assert {r["name"]: r["note"] for r in rows}["lr=0.2"] == "loss spikes at epoch 2"
    others = json.loads(yard.ok("compare", "--where", "tag != baseline and seed = 1", "--format", "json"))
    assert sorted(r["name"] for r in others) == ["default", "lr=0.3"]
    table = yard.ok("compare")
    assert "tags" in table.splitlines()[0] and "note" in table.splitlines()[0]
    with yard.store() as store:
        record = store.run("lr=0.2")
    labels = json.loads(Path(RunPaths(record.folder).labels).read_text())
    assert labels == {"tags": ["baseline"], "note": "loss spikes at epoch 2"}
    yard.ok("note", "lr=0.2", "")
    assert "note" not in yard.ok("show", "lr=0.2")


def test_bad_input_is_one_message(yard: Yard) -> None:
    yard.fails("tag", "lr=0.9", "x", match="no run matches 'lr=0.9'")
    with yard.store() as store:
        ids = [r.id for r in store.runs("past")]
    first = Counter(i[0] for i in ids).most_common(1)[0]
    if first[1] > 1:  # two ids start alike: a one-character prefix names several runs
        yard.fails("note", first[0], "x", match="is ambiguous")
    yard.fails("tag", "lr=0.2", "two words", match="bad tag")
    yard.fails("tag", "lr=0.2", match="Missing argument")
    yard.fails("compare", "--where", "tag < baseline", match="tag takes")
    yard.fails("diff", "lr=0.2", "nope", match="no run matches 'nope'")
    yard.fails("rerun", "lr=0.2", match="nothing to change")
    yard.fails("rerun", "lr=0.2", "momentum=0.9", match="'momentum' is not a param")
    yard.fails("rerun", "lr=0.2", "seed=1,2", match="give one value")
    yard.fails("rerun", "lr=0.2", "--step", "evaluate", match="no such step")


def test_rerun_with_a_change_is_a_new_run_that_keeps_shared_steps_cached(yard: Yard) -> None:
    with yard.store() as store:
        parent = store.run("lr=0.2")
        before = {x.key: x.ended for x in store.executions("past")}
    out = yard.ok("rerun", "lr=0.2", "lr=0.25", "--name", "lr-quarter")
    assert f"rerun of lr=0.2 ({parent.short}) as lr-quarter" in out
    with yard.store() as store:
        new = store.run("lr-quarter")
        assert new.params == {**parent.params, "lr": 0.25} and new.origin == parent.id
        steps, old = dict(new.steps), dict(parent.steps)
        assert steps["prep"] == old["prep"] and steps["train"] != old["train"] != steps["test"]
        execs = {x.key: x for x in store.executions("past")}
        assert execs[steps["prep"]].ended == before[old["prep"]], "the shared prep ran once, before"
        assert all(execs[k].status.value == "done" for k in steps.values())
    assert "rerun of run lr=0.2" in yard.ok("show", "lr-quarter")
    again = yard.ok("rerun", "lr=0.2", "--step", "test")
    assert "1 to run, 2 cached" in again
    with yard.store() as store:
        assert store.execution(old["test"]).ended != before[old["test"]]
        assert store.execution(old["train"]).ended == before[old["train"]]


def test_diff_shows_params_with_defaults_metrics_code_and_machine(yard: Yard) -> None:
    text = yard.ok("diff", "default", "lr=0.3,seed=2")
    assert "≠ lr: 0.1 (default)  |  0.3" in text and "≠ seed: 1 (default)  |  2" in text
    assert "test.acc: 0.9  |  0.85" in text and "train.loss:" in text
    assert "prep: " in text and "(the same execution)" in text
    assert "packages: the same" in text and "machine: the same" in text
    data = json.loads(yard.ok("diff", "default", "lr=0.3,seed=2", "--json"))
    lr = next(p for p in data["params"] if p["name"] == "lr")
    assert lr == {"name": "lr", "a": 0.1, "b": 0.3, "a_default": True, "b_default": False, "same": False}
    assert {m["name"]: (m["a"], m["b"]) for m in data["metrics"]}["test.acc"] == (0.9, 0.85)
    assert [c["step"] for c in data["code"]] == ["prep", "train", "test"]
