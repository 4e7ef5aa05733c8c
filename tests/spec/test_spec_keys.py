"""Step keys (DESIGN §3): exactly what a step depends on, nothing more, nothing less."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from runyard.spec import expand, load_spec, spec_from_dict
from runyard.spec.keys import canonical_json, run_id, step_key

from .helpers import by_name, plan_text, step_of, write

BASE: dict[str, Any] = {
    "experiment": "k",
    "params": {"data": "d1", "lr": 0.1, "seed": 1, "unused": "u"},
    "steps": {
        "prep": "prep --data {data} --out {out}",
        "train": "train --in {prep.out} --lr {lr} [seed] --out {out}",
        "test": "test {train.out}",
    },
}


def keys(data: dict[str, Any], folder: Path) -> dict[str, str]:
    plan = expand(spec_from_dict(data, folder=folder), home=str(folder / "home"))
    assert len(plan.runs) == 1
    return dict(plan.runs[0].steps)


def changed(data: dict[str, Any], folder: Path, /, **params: object) -> dict[str, bool]:
    before = keys(data, folder)
    other = {**data, "params": {**data["params"], **params}}
    after = keys(other, folder)
    return {step: before[step] != after[step] for step in before}


def test_keys_are_full_sha256_hex(tmp_path: Path) -> None:
    for key in keys(BASE, tmp_path).values():
        assert len(key) == 64 and int(key, 16) >= 0


def test_a_referenced_param_changes_the_step_and_everything_downstream(tmp_path: Path) -> None:
    assert changed(BASE, tmp_path, data="d2") == {"prep": True, "train": True, "test": True}
    assert changed(BASE, tmp_path, lr=0.2) == {"prep": False, "train": True, "test": True}
    assert changed(BASE, tmp_path, seed=2) == {"prep": False, "train": True, "test": True}  # via [seed]


def test_an_unreferenced_param_changes_nothing(tmp_path: Path) -> None:
    assert changed(BASE, tmp_path, unused="v") == {"prep": False, "train": False, "test": False}
    # adding a new param with a default does not invalidate anything either
    assert changed(BASE, tmp_path, extra=5) == {"prep": False, "train": False, "test": False}


def test_same_value_different_type_is_a_different_key(tmp_path: Path) -> None:
    assert changed(BASE, tmp_path, lr="0.1") == {"prep": False, "train": True, "test": True}


def test_the_template_changes_the_key(tmp_path: Path) -> None:
    before = keys(BASE, tmp_path)
    steps = {**BASE["steps"], "train": "train --in {prep.out} --lr {lr} [seed] --out {out} --fast"}
    after = keys({**BASE, "steps": steps}, tmp_path)
    assert {s: before[s] != after[s] for s in before} == {"prep": False, "train": True, "test": True}


def test_the_experiment_and_workdir_change_the_key(tmp_path: Path) -> None:
    before = keys(BASE, tmp_path)
    assert not set(before.values()) & set(keys({**BASE, "experiment": "other"}, tmp_path).values())
    steps = {**BASE["steps"], "prep": {"run": "prep --data {data} --out {out}", "workdir": "sub"}}
    after = keys({**BASE, "steps": steps}, tmp_path)
    assert {s: before[s] != after[s] for s in before} == {"prep": True, "train": True, "test": True}


def test_resources_and_policies_do_not_change_the_key(tmp_path: Path) -> None:
    before = keys(BASE, tmp_path)
    steps = {**BASE["steps"], "train": {"run": BASE["steps"]["train"], "gpus": 3, "timeout": "1h",
                                        "retries": 2}}
    assert keys({**BASE, "steps": steps, "resources": {"gpus": [0, 1]}}, tmp_path) == before


def test_upstream_keys_change_the_key_even_without_a_reference(tmp_path: Path) -> None:
    data = {**BASE, "steps": {"prep": "prep --data {data}", "train": "train --lr {lr}"}}  # train needs prep (order)
    assert changed(data, tmp_path, data="d2") == {"prep": True, "train": True}
    independent = {**BASE, "steps": {"prep": "prep --data {data}",
                                     "train": {"run": "train --lr {lr}", "needs": []}}}
    assert changed(independent, tmp_path, data="d2") == {"prep": True, "train": False}


def test_deps_file_content_changes_the_key(tmp_path: Path) -> None:
    write(tmp_path, "print('v1')\n", "train.py")
    write(tmp_path, "x\n", "other.txt")
    write(tmp_path, """
        experiment: k
        params: {lr: 0.1}
        steps:
          prep: prep
          train:
            run: python train.py --lr {lr}
            deps: [train.py]
          test: test
        """)

    def current() -> dict[str, str]:
        return dict(expand(load_spec(tmp_path), home=str(tmp_path / "home")).runs[0].steps)

    first = current()
    (tmp_path / "train.py").write_text("print('v1')\n")  # same content, new mtime
    assert current() == first
    (tmp_path / "other.txt").write_text("y\n")  # not a dep
    assert current() == first
    (tmp_path / "train.py").write_text("print('v2')\n")
    second = current()
    assert {s: first[s] != second[s] for s in first} == {"prep": False, "train": True, "test": True}
    (tmp_path / "train.py").write_text("print('v1')\n")
    assert current() == first


def test_deps_globs_cover_new_files(tmp_path: Path) -> None:
    write(tmp_path / "src", "a\n", "a.py")
    write(tmp_path, "experiment: k\nsteps:\n  s: {run: run, deps: ['src/**/*.py']}\n")
    first = dict(expand(load_spec(tmp_path), home=str(tmp_path)).runs[0].steps)
    write(tmp_path / "src" / "pkg", "b\n", "b.py")
    assert dict(expand(load_spec(tmp_path), home=str(tmp_path)).runs[0].steps) != first


@pytest.mark.parametrize("builtin", ["{run}", "{name}", "{*}", "{_output}", "{_name}"])
def test_run_name_and_star_steps_depend_on_all_params(tmp_path: Path, builtin: str) -> None:
    data = {**BASE, "steps": {"s": f"echo {builtin}"}}
    assert changed(data, tmp_path, unused="v") == {"s": True}
    assert changed(data, tmp_path, extra=1) == {"s": True}
    plan = expand(spec_from_dict(data, folder=tmp_path), home=str(tmp_path))
    assert dict(plan.executions[0].params) == dict(plan.runs[0].params)


def test_hydra_steps_depend_on_exactly_the_overrides_they_pass(tmp_path: Path) -> None:
    data = {**BASE, "steps": {"s": "echo {*hydra}"}}
    # a default is the app's own business: {*hydra} does not pass it, so changing it or adding one re-runs nothing
    assert changed(data, tmp_path, unused="v") == {"s": False}
    assert changed(data, tmp_path, extra=1) == {"s": False}
    swept = {**data, "sweeps": {"s": {"lr": [0.1, 0.2]}}}
    plan = expand(spec_from_dict(swept, folder=tmp_path), home=str(tmp_path))
    assert [dict(plan.execution(dict(r.steps)["s"]).params) for r in plan.runs] == [{"lr": 0.1}, {"lr": 0.2}]
    assert [plan.execution(dict(r.steps)["s"]).command for r in plan.runs] == ["echo lr=0.1", "echo lr=0.2"]


def test_out_and_time_do_not_add_params(tmp_path: Path) -> None:
    data = {**BASE, "steps": {"s": "echo {out} {_time}"}}
    assert changed(data, tmp_path, lr=9, unused="v") == {"s": False}
    plan = expand(spec_from_dict(data, folder=tmp_path), home=str(tmp_path))
    assert dict(plan.executions[0].params) == {}


def test_execution_params_are_exactly_the_referenced_ones(tmp_path: Path) -> None:
    plan = expand(spec_from_dict(BASE, folder=tmp_path), home=str(tmp_path))
    assert [dict(ex.params) for ex in plan.executions] == [{"data": "d1"}, {"lr": 0.1, "seed": 1}, {}]


def test_steps_that_render_identically_share_one_key(tmp_path: Path) -> None:
    plan = plan_text(tmp_path, """
        experiment: k
        params: {data: a, lr: 0.1, seed: 1}
        steps:
          prep: prep --data {data} --out {out}
          train: train --in {prep.out} --lr {lr} --seed {seed}
        sweeps:
          g: {data: [a, b], lr: [0.1, 0.2], seed: [1, 2]}
        """)
    assert len(plan.runs) == 8
    assert len({dict(r.steps)["prep"] for r in plan.runs}) == 2
    assert len({dict(r.steps)["train"] for r in plan.runs}) == 8
    assert len(plan.executions) == 10
    runs = by_name(plan)
    assert step_of(plan, runs["lr=0.2"], "prep") == step_of(plan, runs["default"], "prep")


def test_keys_do_not_depend_on_home_or_the_spec_folder(tmp_path: Path) -> None:
    spec = spec_from_dict(BASE, folder=tmp_path)
    a = expand(spec, home=str(tmp_path / "h1"))
    b = expand(spec_from_dict(BASE, folder=tmp_path / "elsewhere"), home=str(tmp_path / "h2"))
    assert a.runs[0].steps == b.runs[0].steps
    assert a.executions[0].command != b.executions[0].command  # the folders differ, the key does not


def test_key_function_inputs() -> None:
    base: dict[str, Any] = {"experiment": "e", "step": "s", "template": "t", "workdir": None, "params": {"a": 1},
                            "needs": ["x"], "code": {"f": "h"}}
    key = step_key(**base)
    for field, other in [("experiment", "f"), ("step", "t"), ("template", "u"), ("workdir", "w"),
                         ("params", {"a": 2}), ("needs", ["y"]), ("code", {"f": "i"})]:
        assert step_key(**{**base, field: other}) != key, field
    assert step_key(**{**base, "params": {"a": 1}}) == key
    assert run_id("e", {"a": 1, "b": 2}) == run_id("e", {"b": 2, "a": 1})
    assert canonical_json({"b": 1, "a": [1.0, None, True, "ü"]}) == '{"a":[1.0,null,true,"ü"],"b":1}'


def test_a_changed_default_invalidates_exactly_what_uses_it(tmp_path: Path) -> None:
    text = textwrap.dedent("""
        experiment: k
        params: {data: a, lr: 0.1}
        steps:
          prep: prep --data {data}
          train: train --lr {lr}
          eval:
            run: eval {data}
            needs: [prep]
        """)
    a = plan_text(tmp_path, text)
    b = plan_text(tmp_path, text.replace("lr: 0.1", "lr: 0.2"))
    ka, kb = dict(a.runs[0].steps), dict(b.runs[0].steps)
    assert {s: ka[s] != kb[s] for s in ka} == {"prep": False, "train": True, "eval": False}
