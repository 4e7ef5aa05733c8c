"""Loading specs: the native YAML format, the mlrunner params.yaml format and Python specs."""

from __future__ import annotations

from pathlib import Path

import pytest

from runyard.errors import SpecError
from runyard.spec import DEFAULT_SPEC, Grid, MetricSpec, ResourceSpec, Spec, StepSpec, load_spec, spec_from_dict
from runyard.spec.checker import parse_duration

from .helpers import MLRUNNER, NORM_STUDY, load, problems, write


def test_design_example_loads_every_section() -> None:
    spec = load_spec(NORM_STUDY)
    assert spec.experiment == "norm-study"
    assert spec.path == str(NORM_STUDY)
    assert spec.folder == str(NORM_STUDY.parent)
    assert dict(spec.params) == {"data": "iwslt14", "norm": "batch", "moment": 0.1, "early-stop": False, "seed": 1,
                                 "opt": "adam"}
    assert list(spec.params) == ["data", "norm", "moment", "early-stop", "seed", "opt"]
    assert spec.groups == {"opt": {"sgd": {"optimizer": "sgd", "lr": 0.1}, "adam": {"optimizer": "adam", "lr": 0.001}}}
    assert spec.param_names == ("data", "norm", "moment", "early-stop", "seed", "opt", "optimizer", "lr")
    assert [s.name for s in spec.steps] == ["prep", "train", "test"]
    prep, train, test = spec.steps
    assert prep == StepSpec(name="prep", run="python prep.py --data {data} --out {out}", needs=())
    # `>-` folds the two lines into one command
    assert train.run == ("python train.py --data {prep.out} --norm {norm} [moment] [early-stop] "
                         "--optimizer {optimizer} --lr {lr} --seed {seed} --save-dir {out}")
    assert (train.gpus, train.timeout, train.retries, train.needs) == (1, 7200.0, 1, ("prep",))
    assert (test.gpus, test.timeout, test.retries, test.needs) == (None, None, 0, ("train",))
    assert spec.metrics == (MetricSpec(name="bleu", step="test", regex="BLEU4 = ([0-9.]+)", mode="max"),)
    assert spec.sweeps == {
        "norms": (Grid(axes=(("norm", ("new", "batch")), ("moment", (0.1, 0.05)))),),
        "stop": (Grid(axes=(("norm", ("batch",)), ("early-stop", (True, False)), ("opt", ("sgd", "adam")))),),
    }
    assert spec.resources == ResourceSpec(gpus=(0, 1, 2, 3), per_gpu=1)
    assert spec.raw["experiment"] == "norm-study"


def test_a_folder_means_its_runyard_yaml(tmp_path: Path) -> None:
    write(tmp_path, "experiment: e\nsteps: {a: echo hi}\n")
    assert load_spec(tmp_path).path == str(tmp_path / DEFAULT_SPEC)
    assert load_spec(tmp_path).experiment == "e"


def test_minimal_spec_defaults(tmp_path: Path) -> None:
    spec = load(tmp_path, "experiment: e\nsteps: {a: echo hi}\n")
    assert spec.params == {} and spec.groups == {} and spec.sweeps == {} and spec.metrics == ()
    assert spec.resources == ResourceSpec(gpus=(), per_gpu=1) and not spec.resources.has_gpus
    assert spec.description == ""


def test_steps_as_strings_and_mappings(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub", "x = 1\n", "model.py")
    spec = load(tmp_path, """
        experiment: e
        description: a study
        params: {a: 1}
        steps:
          one: echo {a}
          two:
            run: echo two
            gpus: 2
            timeout: 90
            retries: 3
            deps: ["*.py"]
            workdir: sub
          three:
            run: echo three
            needs: [one]
        """)
    one, two, three = spec.steps
    assert one.run == "echo {a}" and one.needs == ()
    assert (two.gpus, two.timeout, two.retries, two.workdir, two.needs) == (2, 90.0, 3, "sub", ("one",))
    assert two.deps == ("*.py",) and set(two.code) == {"model.py"}
    assert three.needs == ("one",)
    assert spec.description == "a study"


def test_deps_are_hashed_relative_to_the_workdir(tmp_path: Path) -> None:
    write(tmp_path / "code", "print(1)\n", "train.py")
    spec = load(tmp_path, """
        experiment: e
        steps:
          a: {run: python train.py, workdir: code, deps: ["*.py"]}
          b: {run: python code/train.py, deps: code/train.py}
        """)
    import hashlib

    digest = hashlib.sha256(b"print(1)\n").hexdigest()
    assert spec.step("a").code == {"train.py": digest}
    assert spec.step("b").code == {"code/train.py": digest}


def test_needs_default_to_references_else_the_step_before(tmp_path: Path) -> None:
    spec = load(tmp_path, """
        experiment: e
        steps:
          a: echo a
          b: echo b
          c: cat {a.out}
          d: {run: echo d, needs: b}
          e:
            run: cat {a.out}
            needs: [d]
        """)
    needs = {s.name: s.needs for s in spec.steps}
    assert needs == {"a": (), "b": ("a",), "c": ("a",), "d": ("b",), "e": ("d", "a")}


@pytest.mark.parametrize(("text", "seconds"), [
    (90, 90.0), (1.5, 1.5), ("90", 90.0), ("90s", 90.0), ("30m", 1800.0), ("2h", 7200.0), ("1h30m", 5400.0),
    ("1d", 86400.0), ("500ms", 0.5), ("1h 30m", 5400.0),
])
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", [0, -1, True, "soon", "", "1x", "h"])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_multiline_commands_become_one_command_line(tmp_path: Path) -> None:
    spec = load(tmp_path, """
        experiment: e
        params: {a: 1}
        steps:
          folded: >
            python train.py
              --a {a}
              --b 2
          literal: |
            python train.py \\
              --a {a}
            --b 2
        """)
    assert spec.step("folded").run == "python train.py   --a {a}   --b 2"
    # a backslash-newline continues the line as in bash: no stray "\\ " argument
    assert spec.step("literal").run == "python train.py   --a {a} --b 2"


def test_metrics_default_to_the_last_step_and_max(tmp_path: Path) -> None:
    spec = load(tmp_path, """
        experiment: e
        steps: {a: echo a, b: echo b}
        metrics:
          acc: {regex: 'acc=([0-9.]+)'}
          loss: {step: a, mode: min}
        """)
    assert spec.metrics == (MetricSpec("acc", "b", "acc=([0-9.]+)", "max"), MetricSpec("loss", "a", None, "min"))


@pytest.mark.parametrize(("value", "gpus"), [
    ("[0, 1, 2, 3]", (0, 1, 2, 3)), ("[2, 2, 3]", (2, 3)), ("2", (0, 1)), ("0", ()), ("auto", "auto"),
    ("none", ()), ("'0,1'", (0, 1)), ("null", ()), ("[]", ()),
])
def test_resources_gpus(tmp_path: Path, value: str, gpus: object) -> None:
    spec = load(tmp_path, f"experiment: e\nsteps: {{a: echo}}\nresources: {{gpus: {value}, per_gpu: 2}}\n")
    assert spec.resources == ResourceSpec(gpus=gpus, per_gpu=2)  # type: ignore[arg-type]


def test_sweeps_as_named_blocks_lists_of_grids_and_scalars(tmp_path: Path) -> None:
    spec = load(tmp_path, """
        experiment: e
        params: {a: 1, b: x}
        steps:
          s: echo {a} {b}
        sweeps:
          one: {a: [1, 2], b: y}
          two:
            - {a: 3}
            - {b: [p, q], _steps: [s]}
        """)
    assert spec.sweeps == {
        "one": (Grid(axes=(("a", (1, 2)), ("b", ("y",)))),),
        "two": (Grid(axes=(("a", (3,)),)), Grid(axes=(("b", ("p", "q")),), steps=("s",))),
    }
    listed = load(tmp_path, """
        experiment: e
        params: {a: 1}
        steps:
          s: echo {a}
        sweeps:
          - {a: [1, 2]}
          - {a: 3}
        """)
    assert list(listed.sweeps) == ["sweep1", "sweep2"]


def test_yaml_boolean_looking_keys_keep_their_spelling(tmp_path: Path) -> None:
    spec = load(tmp_path, "experiment: e\nparams: {on: 1, no: 2}\nsteps:\n  a: echo {on} {no}\n")
    assert dict(spec.params) == {"on": 1, "no": 2}


# --- the mlrunner params.yaml format -------------------------------------------------------------------------


def test_mlrunner_reference_loads_unchanged() -> None:
    spec = load_spec(MLRUNNER)
    assert spec.experiment == "specs"  # named after its folder
    assert [s.name for s in spec.steps] == ["train", "avg", "test"]
    assert [s.needs for s in spec.steps] == [(), ("train",), ("avg",)]
    assert dict(spec.params) == {"data": "iwslt14", "norm": "batch", "moment": 0.1, "early-stop": False}
    assert spec.resources == ResourceSpec(gpus=(0, 1, 2, 3), per_gpu=1)
    assert spec.sweeps == {
        "grid1": (Grid(axes=(("norm", ("new", "batch")), ("moment", (0.1, 0.05)))),),
        "grid2": (Grid(axes=(("norm", ("batch",)), ("early-stop", (True, False)))),),
    }
    train = spec.step("train")
    assert train.run.startswith("python train.py data-bin/{data} --seed 1 ")
    assert "\n" not in train.run and "[moment] [early-stop]" in train.run
    assert all(s.gpus is None for s in spec.steps)
    # the raw data (kept in the plan for a store to re-plan) is native and names the experiment
    again = spec_from_dict(spec.raw, folder=spec.folder)
    assert (again.experiment, again.params, again.steps, again.sweeps, again.resources) == \
        (spec.experiment, spec.params, spec.steps, spec.sweeps, spec.resources)


def test_mlrunner_alias_title_cmd_and_gpu_pairs(tmp_path: Path) -> None:
    spec = load(tmp_path / "my study", """
        template:
          train: python train.py {p1} {p2} --out {_output} --name {_name}
          test: python test.py {_output}
        default: {p1: 0}
        resource: ["0,1", "2,3"]
        alias:
          opt: {case_a: {p1: 1, p2: 2}, case_b: {p1: 3, p2: 4}}
        ---
        _title: first
        opt: [case_a, case_b]
        ---
        _title: first
        _cmd: [train]
        p1: 7
        ---
        p1: [8, 9]
        """, name="params.yaml")
    assert spec.experiment == "my-study"
    assert spec.groups == {"opt": {"case_a": {"p1": 1, "p2": 2}, "case_b": {"p1": 3, "p2": 4}}}
    assert spec.resources == ResourceSpec(gpus=(0, 1, 2, 3), per_gpu=1)
    assert [s.gpus for s in spec.steps] == [2, 2]
    assert spec.sweeps == {
        "first": (Grid(axes=(("opt", ("case_a", "case_b")),)), Grid(axes=(("p1", (7,)),), steps=("train",))),
        "grid3": (Grid(axes=(("p1", (8, 9)),)),),
    }


def test_mlrunner_repeated_resource_entries_share_a_gpu(tmp_path: Path) -> None:
    spec = load(tmp_path, "template: {a: echo}\nresource: [0, 0, 1, 1]\n", name="params.yaml")
    assert spec.resources == ResourceSpec(gpus=(0, 1), per_gpu=2)


def test_mlrunner_errors_point_at_the_document_line(tmp_path: Path) -> None:
    path = write(tmp_path, """
        template:
          a: echo {x}
        default: {x: 1}
        resource: [0]
        ---
        x: [1]
        y: [2]
        """, name="params.yaml")
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert problems(info.value) == [f"{path}:7: document 2.y: 'y' is not a param (params: x)"]


def test_mlrunner_first_document_is_checked(tmp_path: Path) -> None:
    path = write(tmp_path, "template: {a: echo}\ndefualt: {x: 1}\n", name="params.yaml")
    with pytest.raises(SpecError) as info:
        load_spec(path)
    text = "\n".join(problems(info.value))
    assert f"{path}:2: defualt: unknown key in the first document (valid: template, default, resource, alias)" in text
    assert "resource: missing" in text


@pytest.mark.parametrize("resource", ["[]", "[a]", "'0'", "[0.5]"])
def test_mlrunner_bad_resource(tmp_path: Path, resource: str) -> None:
    path = write(tmp_path, f"template: {{a: echo}}\nresource: {resource}\n", name="params.yaml")
    with pytest.raises(SpecError, match=r"params.yaml:2: resource: .*(list|GPU index)"):
        load_spec(path)


# --- Python specs --------------------------------------------------------------------------------------------

DATA = {
    "experiment": "py",
    "params": {"lr": 0.1, "seed": 1},
    "steps": {"train": {"run": "python train.py --lr {lr} --seed {seed} --out {out}", "gpus": 1, "timeout": "1h"},
              "test": "python test.py {train.out}"},
    "sweeps": {"lrs": {"lr": [0.1, 0.01]}},
    "metrics": {"acc": {"step": "test", "regex": "acc ([0-9.]+)"}},
    "resources": {"gpus": [0, 1]},
}


def _same(a: Spec, b: Spec) -> None:
    assert (a.experiment, a.params, a.steps, a.groups, a.sweeps, a.metrics, a.resources) == \
        (b.experiment, b.params, b.steps, b.groups, b.sweeps, b.metrics, b.resources)


def test_spec_from_dict_equals_the_yaml_spec(tmp_path: Path) -> None:
    import yaml

    from_yaml = load(tmp_path, yaml.safe_dump(DATA, sort_keys=False))
    from_dict = spec_from_dict(DATA, folder=tmp_path)
    _same(from_dict, from_yaml)
    assert from_dict.folder == str(tmp_path.resolve())
    assert from_dict.path == "<python>"


def test_spec_from_dict_validates(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as info:
        spec_from_dict({"experiment": "py", "steps": {"a": "echo {nope}"}, "sweeps": {"s": {"x": [1]}}},
                       folder=tmp_path)
    text = str(info.value)
    assert "<python>: steps.a: placeholder {nope} resolves to nothing" in text
    assert "<python>: sweeps.s.x: 'x' is not a param" in text


def test_python_data_may_use_tuples_and_other_keys(tmp_path: Path) -> None:
    spec = spec_from_dict({"experiment": "py", "params": {"lr": 0.1}, "steps": {"s": "echo {lr}"},
                           "sweeps": {"g": {"lr": (0.1, 0.2)}}}, folder=tmp_path)
    assert spec.sweeps["g"][0].axes == (("lr", (0.1, 0.2)),)
    with pytest.raises(SpecError, match=r"<python>: sweeps.g.1: '1' is not a param"):
        spec_from_dict({"experiment": "py", "steps": {"s": "echo"}, "sweeps": {"g": {1: [1]}}}, folder=tmp_path)


def test_python_file_defining_a_dict(tmp_path: Path) -> None:
    path = write(tmp_path, f"LR = [0.1, 0.01]\nspec = {DATA!r}\n", "sweep.py")
    spec = load_spec(path)
    _same(spec, spec_from_dict(DATA, folder=tmp_path))
    assert spec.path == str(path) and spec.folder == str(tmp_path.resolve())


def test_python_file_defining_a_spec_object_is_validated(tmp_path: Path) -> None:
    path = write(tmp_path, """
        from runyard.spec import Spec, StepSpec, spec_from_dict
        spec = Spec(experiment="obj", path="x", folder="/nowhere", params={"a": 1},
                    steps=(StepSpec("prep", "echo {a} {out}"), StepSpec("train", "cat {prep.out}")))
        """, "sweep.py")
    spec = load_spec(path)
    assert spec.folder == str(tmp_path.resolve()) and spec.path == str(path)
    # needs are resolved as for any spec: train references prep's output
    assert spec.step("train").needs == ("prep",)
    bad = write(tmp_path, """
        from runyard.spec import Spec, StepSpec
        spec = Spec(experiment="../escape", path="x", folder="/", params={},
                    steps=(StepSpec("a", "echo {nothing}"),))
        """, "bad.py")
    with pytest.raises(SpecError) as info:
        load_spec(bad)
    text = str(info.value)
    assert "experiment: '../escape' is not a valid name" in text
    assert "placeholder {nothing} resolves to nothing" in text


def test_python_file_imports_its_neighbours_and_writes_no_bytecode(tmp_path: Path) -> None:
    import sys

    write(tmp_path, "LRS = [0.1, 0.01]\n", "spec_neighbour_mod.py")
    path = write(tmp_path, """
        from spec_neighbour_mod import LRS
        spec = {"experiment": "py", "params": {"lr": 0.1}, "steps": {"s": "echo {lr}"}, "sweeps": {"g": {"lr": LRS}}}
        """, "sweep.py")
    before = list(sys.path)
    try:
        assert load_spec(path).sweeps["g"][0].axes == (("lr", (0.1, 0.01)),)
    finally:
        sys.modules.pop("spec_neighbour_mod", None)
    assert sys.path == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec_neighbour_mod.py", "sweep.py"]


def test_python_file_problems(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"boom.py: running the spec file failed: ZeroDivisionError"):
        load_spec(write(tmp_path, "x = 1 / 0\n", "boom.py"))
    with pytest.raises(SpecError, match=r"nospec.py: a Python spec file must define `spec`"):
        load_spec(write(tmp_path, "x = 1\n", "nospec.py"))
