"""Expansion: grids, sweeps, groups, overrides, duplicates, --sample, run ids and names, steps per run."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from runyard.errors import SpecError
from runyard.spec import expand, load_spec, parse_overrides, spec_from_dict
from runyard.spec.expand import MAX_NAME

from .helpers import MLRUNNER, NORM_STUDY, by_name, files_under, plan_of, plan_text, step_of

NORM_RUNS = ["norm=new", "norm=new,moment=0.05", "default", "moment=0.05", "early-stop=true,opt=sgd",
             "early-stop=true", "opt=sgd"]


def test_design_example_runs(tmp_path: Path) -> None:
    plan = plan_of(NORM_STUDY, home=tmp_path)
    # norms (4) ∪ stop (4) = 7: {norm: batch, moment: 0.1, early-stop: false, opt: adam} is in both
    assert [r.name for r in plan.runs] == NORM_RUNS
    runs = by_name(plan)
    assert dict(runs["default"].params) == {"data": "iwslt14", "norm": "batch", "moment": 0.1, "early-stop": False,
                                           "seed": 1, "opt": "adam", "optimizer": "adam", "lr": 0.001}
    assert dict(runs["early-stop=true,opt=sgd"].params) == {
        "data": "iwslt14", "norm": "batch", "moment": 0.1, "early-stop": True, "seed": 1, "opt": "sgd",
        "optimizer": "sgd", "lr": 0.1}
    assert all(list(r.params) == list(runs["default"].params) for r in plan.runs)
    assert all([s for s, _ in r.steps] == ["prep", "train", "test"] for r in plan.runs)
    assert plan.experiment == "norm-study" and plan.home == str(tmp_path)
    assert dict(plan.defaults) == dict(runs["default"].params)


def test_prep_is_one_execution_shared_by_every_run_with_the_same_data(tmp_path: Path) -> None:
    plan = plan_of(NORM_STUDY, home=tmp_path)
    preps = {dict(r.steps)["prep"] for r in plan.runs}
    assert len(preps) == 1
    assert len(plan.executions) == 1 + 2 * 7
    two = plan_of(NORM_STUDY, "data=iwslt14,wmt16", home=tmp_path)
    assert len(two.runs) == 14
    by_data: dict[object, set[str]] = {}
    for run in two.runs:
        by_data.setdefault(run.params["data"], set()).add(dict(run.steps)["prep"])
    assert {k: len(v) for k, v in by_data.items()} == {"iwslt14": 1, "wmt16": 1}
    assert dict(two.runs[0].steps)["prep"] == preps.pop()  # same key as in the one-data plan


def test_executions_are_unique_and_topologically_ordered(tmp_path: Path) -> None:
    plan = plan_of(NORM_STUDY, home=tmp_path)
    keys = [ex.key for ex in plan.executions]
    assert len(keys) == len(set(keys))
    assert {k for r in plan.runs for _, k in r.steps} == set(keys)
    seen: set[str] = set()
    for ex in plan.executions:
        assert set(ex.needs) <= seen
        seen.add(ex.key)


@pytest.mark.parametrize(("sweep", "names"), [
    ("norms", NORM_RUNS[:4]),
    ("stop", ["early-stop=true,opt=sgd", "early-stop=true", "opt=sgd", "default"]),
    ("norms,stop", NORM_RUNS),
    ("stop, norms", ["early-stop=true,opt=sgd", "early-stop=true", "opt=sgd", "default", "norm=new",
                     "norm=new,moment=0.05", "moment=0.05"]),
])
def test_sweep_selection(tmp_path: Path, sweep: str, names: list[str]) -> None:
    assert [r.name for r in plan_of(NORM_STUDY, home=tmp_path, sweep=sweep).runs] == names


def test_sweep_option_must_name_a_sweep(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"--sweep: name a sweep \(sweeps: norms, stop\)"):
        plan_of(NORM_STUDY, home=tmp_path, sweep=" , ")


def test_no_sweeps_is_one_run_of_the_defaults(tmp_path: Path) -> None:
    plan = plan_text(tmp_path, "experiment: e\nparams: {a: 1}\nsteps:\n  s: echo {a}\n")
    assert [(r.name, dict(r.params)) for r in plan.runs] == [("default", {"a": 1})]


def test_grid_is_cartesian_in_order_and_scalars_are_one_value(tmp_path: Path) -> None:
    plan = plan_text(tmp_path, """
        experiment: e
        params: {a: 0, b: x, c: false}
        steps:
          s: echo {a} {b} {c}
        sweeps:
          g: {a: [1, 2], b: [y, z], c: true}
        """)
    assert [(r.params["a"], r.params["b"], r.params["c"]) for r in plan.runs] == [
        (1, "y", True), (1, "z", True), (2, "y", True), (2, "z", True)]


def test_duplicates_are_dropped_across_and_within_grids(tmp_path: Path) -> None:
    plan = plan_text(tmp_path, """
        experiment: e
        params: {a: 0}
        steps:
          s: echo {a}
        sweeps:
          one: {a: [1, 2, 1]}
          two: [{a: [2, 3]}, {a: 0}]
          three: {}
        """)
    assert [r.params["a"] for r in plan.runs] == [1, 2, 3, 0]
    assert [r.name for r in plan.runs] == ["a=1", "a=2", "a=3", "default"]


def test_types_are_kept_apart(tmp_path: Path) -> None:
    plan = plan_text(tmp_path, """
        experiment: e
        params: {a: 0}
        steps:
          s: echo {a}
        sweeps:
          g: {a: [1, "1", 1.0, true, "true", null, ""]}
        """)
    assert len(plan.runs) == 7
    assert len({r.name for r in plan.runs}) == 7
    assert len({r.id for r in plan.runs}) == 7
    # only the plain spelling of a value keeps a plain name: "1" (text) and "true" (text) get the id's start
    assert [r.name.split("-")[0] for r in plan.runs] == ["a=1", "a=1", "a=1.0", "a=true", "a=true", "a=", "a="]
    assert [r.name == r.name.split("-")[0] for r in plan.runs] == [True, False, True, True, False, False, False]


def test_float_names_and_nan(tmp_path: Path) -> None:
    plan = plan_text(tmp_path, """
        experiment: e
        params: {lr: .nan, wd: 0.0}
        steps:
          s: echo {lr} {wd}
        sweeps:
          g: {wd: [0.0, 1.0e-5, 0.5]}
        """)
    names = [r.name for r in plan.runs]
    assert names[0] == "default" and names[2] == "wd=0.5"
    assert names[1].startswith("wd=1e-05-")  # "1e-05" would read back as text


# --- groups --------------------------------------------------------------------------------------------------

GROUPS = textwrap.dedent("""
    experiment: e
    params: {opt: adam, lr: 0.5, seed: 1}
    groups:
      opt:
        sgd: {optimizer: sgd, lr: 0.1, momentum: 0.9}
        adam: {optimizer: adam, lr: 0.001}
    steps:
      s: train --opt {optimizer} --lr {lr} [momentum] --seed {seed}
    """)


def test_choosing_a_group_sets_several_params(tmp_path: Path) -> None:
    plan = plan_text(tmp_path, GROUPS + "sweeps:\n  g: {opt: [sgd, adam]}\n")
    sgd, adam = plan.runs
    assert dict(sgd.params) == {"opt": "sgd", "lr": 0.1, "seed": 1, "optimizer": "sgd", "momentum": 0.9}
    # the default choice's values win over a plain default of the same param
    assert dict(adam.params) == {"opt": "adam", "lr": 0.001, "seed": 1, "optimizer": "adam"}
    assert (sgd.name, adam.name) == ("opt=sgd", "default")
    assert step_of(plan, sgd, "s").command == "train --opt sgd --lr 0.1 --momentum 0.9 --seed 1"
    # [p] of a param the chosen group does not set renders nothing (a conditional param)
    assert step_of(plan, adam, "s").command == "train --opt adam --lr 0.001 --seed 1"


def test_a_swept_param_wins_over_its_group_value(tmp_path: Path) -> None:
    plan = plan_text(tmp_path, GROUPS + "sweeps:\n  g: {opt: [sgd], lr: [0.001, 0.1]}\n")
    a, b = plan.runs
    assert (a.params["lr"], b.params["lr"]) == (0.001, 0.1)
    # names tell the runs apart: lr=0.001 differs from what sgd sets, lr=0.1 does not
    assert (a.name, b.name) == ("opt=sgd,lr=0.001", "opt=sgd")


def test_overriding_a_group_selector(tmp_path: Path) -> None:
    plan = plan_text(tmp_path, GROUPS, "opt=sgd")
    assert [(r.name, r.params["lr"], r.params["optimizer"]) for r in plan.runs] == [("opt=sgd", 0.1, "sgd")]
    both = plan_text(tmp_path, GROUPS, "opt=sgd,adam", "lr=0.3")
    assert [(r.params["opt"], r.params["optimizer"], r.params["lr"]) for r in both.runs] == [
        ("sgd", "sgd", 0.3), ("adam", "adam", 0.3)]
    assert [r.name for r in both.runs] == ["opt=sgd,lr=0.3", "lr=0.3"]


def test_group_selector_without_default(tmp_path: Path) -> None:
    plan = plan_text(tmp_path, """
        experiment: e
        params: {lr: 0.5}
        groups:
          opt: {sgd: {lr: 0.1}}
        steps:
          s: echo {lr}
        sweeps:
          g: [{opt: sgd}, {lr: 0.2}]
        """)
    assert [(r.name, dict(r.params)) for r in plan.runs] == [("opt=sgd", {"lr": 0.1, "opt": "sgd"}),
                                                              ("lr=0.2", {"lr": 0.2})]


# --- overrides -----------------------------------------------------------------------------------------------

SIMPLE = """
    experiment: e
    params: {lr: 0.1, seed: 1, name_: x, flag: false}
    steps:
      s: echo {lr} {seed} {name_} [flag]
    sweeps:
      g: {lr: [0.1, 0.01]}
    """


def test_override_sets_a_value_in_every_run(tmp_path: Path) -> None:
    plan = plan_text(tmp_path, SIMPLE, "seed=7")
    assert [(r.params["lr"], r.params["seed"]) for r in plan.runs] == [(0.1, 7), (0.01, 7)]
    assert [r.name for r in plan.runs] == ["seed=7", "lr=0.01,seed=7"]


def test_override_with_commas_adds_an_axis(tmp_path: Path) -> None:
    plan = plan_text(tmp_path, SIMPLE, "seed=1,2,3")
    assert [(r.params["lr"], r.params["seed"]) for r in plan.runs] == [
        (0.1, 1), (0.1, 2), (0.1, 3), (0.01, 1), (0.01, 2), (0.01, 3)]


def test_override_of_a_swept_param_replaces_its_axis(tmp_path: Path) -> None:
    plan = plan_text(tmp_path, SIMPLE, "lr=0.5")
    assert [r.params["lr"] for r in plan.runs] == [0.5]
    plan = plan_text(tmp_path, SIMPLE, "lr=0.5,0.6")
    assert [r.params["lr"] for r in plan.runs] == [0.5, 0.6]


def test_override_values_are_typed_like_yaml(tmp_path: Path) -> None:
    spec = spec_from_dict({"experiment": "e", "params": {"a": 0}, "steps": {"s": "echo {a}"}}, folder=tmp_path)
    values = {text: parse_overrides(spec, [f"a={text}"])[0].values for text in
              ["1", "0.5", "true", "null", "abc", '[""]', "1,x", "[1, 'a,b']", "'quoted'", "{x: 1}", "2020-01-01",
               " spaced "]}
    assert values == {"1": (1,), "0.5": (0.5,), "true": (True,), "null": (None,), "abc": ("abc",), '[""]': ("",),
                      "1,x": (1, "x"), "[1, 'a,b']": (1, "a,b"), "'quoted'": ("'quoted'",), "{x: 1}": ("{x: 1}",),
                      "2020-01-01": ("2020-01-01",), " spaced ": (" spaced ",)}


def test_overrides_on_a_spec_without_sweeps(tmp_path: Path) -> None:
    plan = plan_text(tmp_path, "experiment: e\nparams: {a: 1, b: 2}\nsteps:\n  s: echo {a} {b}\n", "a=3,4", "b=5")
    assert [dict(r.params) for r in plan.runs] == [{"a": 3, "b": 5}, {"a": 4, "b": 5}]


def test_override_problems_are_reported_together(tmp_path: Path) -> None:
    spec = spec_from_dict({"experiment": "e", "params": {"seed": 1, "lr": 0.1}, "steps": {"s": "echo {seed} {lr}"}},
                          folder=tmp_path)
    with pytest.raises(SpecError) as info:
        parse_overrides(spec, ["sed=1", "lr", "=3", "seed=1", "seed=2", "lr=[1, [2]]"])
    assert [str(p) for p in info.value.problems] == [
        "command line: sed=1: 'sed' is not a param; did you mean 'seed'? (params: seed, lr)",
        "command line: lr: an override is KEY=VALUE or KEY=V1,V2,... (an axis)",
        "command line: =3: an override is KEY=VALUE or KEY=V1,V2,... (an axis)",
        "command line: seed=2: 'seed' is given twice: list every value once (KEY=V1,V2,...)",
        "command line: lr=[1, [2]]: must be a single value (text, number, true/false or null), not list",
    ]


# --- --sample ------------------------------------------------------------------------------------------------

BIG = """
    experiment: e
    params: {a: 0, b: 0}
    steps:
      s: echo {a} {b}
    sweeps:
      g: {a: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], b: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]}
    """


def test_sample_is_a_seeded_random_subset_in_plan_order(tmp_path: Path) -> None:
    full = plan_text(tmp_path, BIG)
    assert len(full.runs) == 100
    order = [r.id for r in full.runs]
    some = plan_text(tmp_path, BIG, sample=10)
    assert len(some.runs) == 10
    ids = [r.id for r in some.runs]
    assert ids == sorted(ids, key=order.index)
    assert ids == [r.id for r in plan_text(tmp_path, BIG, sample=10).runs]  # deterministic
    other = [r.id for r in plan_text(tmp_path, BIG, sample=10, seed=1).runs]
    assert other != ids
    full_by_id = {r.id: r for r in full.runs}
    for run in some.runs:  # a run is the same run (name, folder, keys) whatever else is in the plan
        assert run == full_by_id[run.id]
    assert len(plan_text(tmp_path, BIG, sample=1000).runs) == 100


def test_sample_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="--sample: must be at least 1"):
        plan_text(tmp_path, BIG, sample=0)


# --- ids, names, folders -------------------------------------------------------------------------------------


def test_run_ids_are_stable_and_depend_on_experiment_and_params(tmp_path: Path) -> None:
    a = plan_of(NORM_STUDY, home=tmp_path)
    b = plan_of(NORM_STUDY, home=tmp_path / "elsewhere", sweep="norms")
    assert {r.name: r.id for r in b.runs} == {r.name: r.id for r in a.runs if r.name in by_name(b)}
    assert all(len(r.id) == 64 and int(r.id, 16) >= 0 for r in a.runs)
    assert len({r.id for r in a.runs}) == len(a.runs)
    spec = load_spec(NORM_STUDY)
    from dataclasses import replace

    renamed = expand(replace(spec, experiment="other"), home=str(tmp_path))
    assert not {r.id for r in renamed.runs} & {r.id for r in a.runs}


def test_run_and_execution_folders(tmp_path: Path) -> None:
    plan = plan_of(NORM_STUDY, home=tmp_path)
    for run in plan.runs:
        assert run.folder == os.path.join(tmp_path, "norm-study", "runs", run.name)
        for step, key in run.steps:
            ex = plan.execution(key)
            assert ex.folder == os.path.join(tmp_path, "norm-study", "steps", step, key[:12])
            assert ex.short == key[:12] and ex.experiment == "norm-study" and ex.step == step
            assert ex.workdir == str(NORM_STUDY.parent)


def test_names_are_sanitised_unique_and_never_paths(tmp_path: Path) -> None:
    spec = spec_from_dict({
        "experiment": "e", "params": {"a": "x", "b": 0},
        "steps": {"s": "echo {a} {b}"},
        "sweeps": {"g": {"a": ["../../etc", "a/b", ".hidden", "..", "", "ü", "$(rm -rf /)", "x" * 300, "a b",
                                "a_b"]}},
    }, folder=tmp_path)
    plan = expand(spec, home=str(tmp_path))
    names = [r.name for r in plan.runs]
    assert len(set(names)) == len(names)
    for run in plan.runs:
        assert "/" not in run.name and not run.name.startswith(".") and run.name not in ("", ".", "..")
        assert len(run.name) <= MAX_NAME + 9
        assert os.path.dirname(run.folder) == os.path.join(tmp_path, "e", "runs")
        assert run.name == f"a={run.params['a']}" or run.name.endswith("-" + run.id[:8]), run.name
    named = {r.params["a"]: r.name for r in plan.runs}
    assert named["a_b"] == "a=a_b" and named[".hidden"] == "a=.hidden"  # plain values keep a plain name
    # a sanitised name gets the run id's start, so "a b" and "a_b" stay apart
    assert named["a b"].startswith("a=a_b-") and named["../../etc"].startswith("a=.._.._etc-")
    assert named[".."] == "a=.." and named["ü"].startswith("a=_-")


def test_names_of_non_default_params_in_param_order(tmp_path: Path) -> None:
    plan = plan_text(tmp_path, """
        experiment: e
        params: {z: 1, a: 1, m: x}
        steps:
          s: echo {z} {a} {m}
        sweeps:
          g: {m: [x, y], a: [1, 2], z: [1, 3]}
        """)
    assert [r.name for r in plan.runs] == ["default", "z=3", "a=2", "z=3,a=2", "m=y", "z=3,m=y", "a=2,m=y",
                                           "z=3,a=2,m=y"]


# --- steps per run, GPUs -------------------------------------------------------------------------------------


def test_mlrunner_reference_plan(tmp_path: Path) -> None:
    plan = plan_of(MLRUNNER, home=tmp_path)
    assert [r.name for r in plan.runs] == ["norm=new", "norm=new,moment=0.05", "default", "moment=0.05",
                                           "early-stop=true"]
    assert len(plan.executions) == 15  # {_output} is the run folder: every step depends on all params
    run = by_name(plan)["early-stop=true"]
    folder = os.path.join(tmp_path, "specs", "runs", "early-stop=true")
    assert run.folder == folder
    train = step_of(plan, run, "train").command
    assert train.split() == ["python", "train.py", "data-bin/iwslt14", "--seed", "1", "--save-dir", folder,
                             "--tensorboard-logdir", folder, "--max-epochs", "80", "--normalization", "batch",
                             "--moment", "0.1", "--early-stop"]
    assert step_of(plan, run, "avg").command.split() == [
        "python", "scripts/average_checkpoints.py", "--inputs", folder, "--num-epoch-checkpoints", "5",
        "--output", f"{folder}/averaged_model.pt"]
    assert f"--path {folder}/averaged_model.pt --gen-subset test" in step_of(plan, run, "test").command
    assert "--early-stop" not in step_of(plan, by_name(plan)["default"], "train").command
    assert all(ex.gpus == 1 for ex in plan.executions)
    assert [r.name for r in plan_of(MLRUNNER, home=tmp_path, sweep="grid2").runs] == ["early-stop=true", "default"]


MLR_CMD = """
    template:
      train: python train.py {x} {_output}
      avg: python avg.py {_output}
      test: python test.py {_output}
    default: {x: 0}
    resource: ["0,1", "2,3"]
    ---
    x: [1]
    _cmd: [train]
    ---
    x: [2]
    _cmd: test
    ---
    x: [3]
    _cmd: [avg]
    ---
    x: [3]
    _cmd: [train]
    """


def test_mlrunner_cmd_limits_the_steps_plus_what_they_need(tmp_path: Path) -> None:
    plan = plan_text(tmp_path, MLR_CMD)
    assert [(r.name, [s for s, _ in r.steps]) for r in plan.runs] == [
        ("x=1", ["train"]), ("x=2", ["train", "avg", "test"]), ("x=3", ["train", "avg"])]
    assert all(ex.gpus == 2 for ex in plan.executions)


def test_native_steps_key_limits_the_steps(tmp_path: Path) -> None:
    plan = plan_text(tmp_path, """
        experiment: e
        params: {x: 0}
        steps:
          a: echo a {x}
          b: echo b
          c: cat {a.out}
        sweeps:
          g: {x: [1], _steps: [c]}
        """)
    assert [s for s, _ in plan.runs[0].steps] == ["a", "c"]


@pytest.mark.parametrize(("resources", "step_gpus", "expected"), [
    ("", "", 0), ("resources: {gpus: [0, 1]}", "", 1), ("resources: {gpus: auto}", "", 1),
    ("resources: {gpus: none}", "", 0), ("resources: {gpus: [0, 1]}", "gpus: 2", 2), ("", "gpus: 0", 0),
    ("resources: {gpus: [0]}", "gpus: 0", 0),
])
def test_gpus_per_step(tmp_path: Path, resources: str, step_gpus: str, expected: int) -> None:
    plan = plan_text(tmp_path, f"""
        experiment: e
        steps:
          s:
            run: echo
            {step_gpus}
        {resources}
        """)
    assert plan.executions[0].gpus == expected


def test_timeout_and_retries_reach_the_execution(tmp_path: Path) -> None:
    plan = plan_of(NORM_STUDY, home=tmp_path)
    train = step_of(plan, plan.runs[0], "train")
    assert (train.timeout, train.retries, train.gpus) == (7200.0, 1, 1)
    assert step_of(plan, plan.runs[0], "test").timeout is None


def test_unused_varying_params_are_warned_about(tmp_path: Path) -> None:
    plan = plan_text(tmp_path, "experiment: e\nparams: {a: 1, b: 1}\nsteps:\n  s: echo {a}\n"
                               "sweeps:\n  g: {b: [1, 2]}\n")
    assert plan.warnings == ("param 'b' varies across runs but no step uses it: those runs share their step "
                             "executions",)
    assert len(plan.executions) == 1
    mlr = plan_text(tmp_path, "template:\n  s: echo {_output} {a}\ndefault: {a: 1, b: 1}\nresource: [0]\n"
                              "---\nb: [1, 2]\n")
    assert mlr.warnings == ("param 'b' varies across runs but no step uses it: only the run folder or name "
                            "changes",)
    star = plan_text(tmp_path, "experiment: e\nparams: {a: 1, b: 1}\nsteps:\n  s: echo {*}\n"
                               "sweeps:\n  g: {b: [1, 2]}\n")
    assert star.warnings == ()


def test_expand_is_pure_and_deterministic(tmp_path: Path) -> None:
    spec = load_spec(NORM_STUDY)
    before = files_under(tmp_path)
    one = expand(spec, home=str(tmp_path / "home"), overrides=parse_overrides(spec, ["seed=1,2"]), sample=5)
    two = expand(spec, home=str(tmp_path / "home"), overrides=parse_overrides(spec, ["seed=1,2"]), sample=5)
    assert one == two
    assert files_under(tmp_path) == before
    assert not (tmp_path / "home").exists()
