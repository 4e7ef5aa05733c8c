"""Results of call steps: every serializer round trip (in a downstream step and through runyard.load),
custom serializers, failures that keep nothing, and runyard.load's lookups."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import runyard
from runyard.errors import ResultError, RunNotFound

from .conftest import Project, show_json

VALUES = '''
import numpy as np
import pandas as pd
import runyard


class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __eq__(self, other):
        return (self.x, self.y) == (other.x, other.y)


class Celsius(float):
    pass


def _save(value, path):
    with open(path, "w") as handle:
        handle.write(repr(float(value)))
    return {"unit": "C"}


def _load(path):
    with open(path) as handle:
        return Celsius(float(handle.read()))


runyard.serializer(Celsius, save=_save, load=_load, name="celsius", ext="txt")


def expected(kind):
    return {
        "json": {"a": [1, 2.5, None, True], "b": {"c": "text"}},
        "pickle": (1, {2, 3}, Point(1, 2)),
        "frame": pd.DataFrame({"x": [1, 2, 3], "y": ["a", "b", "c"]}),
        "series": pd.Series([1.5, 2.5], name="speed"),
        "intcols": pd.DataFrame({0: [1, 2], 1: [3, 4]}),
        "array": np.arange(6, dtype=np.float32).reshape(2, 3),
        "objects": np.array([{"a": 1}, None], dtype=object),
        "custom": Celsius(21.5),
        "none": None,
        "text": "just text",
    }[kind]


def make(kind="json"):
    return expected(kind)


def same(a, b):
    if isinstance(b, (pd.DataFrame, pd.Series)):
        return type(a) is type(b) and a.equals(b) and getattr(a, "name", None) == getattr(b, "name", None)
    if isinstance(b, np.ndarray):
        return type(a) is np.ndarray and a.dtype == b.dtype and a.shape == b.shape and all(
            x == y for x, y in zip(a.ravel(), b.ravel()))
    return type(a) is type(b) and a == b


def check(make, kind="json"):
    assert same(make, expected(kind)), (make, expected(kind))
    return {"ok": 1}
'''

KINDS = ["json", "pickle", "frame", "series", "intcols", "array", "objects", "custom", "none", "text"]
SERIALIZERS = {"json": "json", "pickle": "pickle", "frame": "parquet", "series": "parquet", "intcols": "pickle",
               "array": "npy", "objects": "pickle", "custom": "celsius", "none": "none", "text": "json"}
FILES = {"json": "result.json", "pickle": "result.pkl", "parquet": "result.parquet", "npy": "result.npy",
         "celsius": "result.txt", "none": None}


def test_every_serializer_round_trips(project: Project) -> None:
    project.file("values.py", VALUES)
    project.spec(f"""
        experiment: values
        steps:
          make: {{call: values:make}}
          check: {{call: values:check}}
        sweeps:
          kinds: {{kind: {json.dumps(KINDS)}}}
    """)
    proc = project.run("run")
    assert proc.code == 0, proc
    sys.path.insert(0, str(project.root))
    try:
        import values  # the test process loads the results like a notebook would
    finally:
        sys.path.remove(str(project.root))
    for kind in KINDS:
        name = "default" if kind == "json" else f"kind={kind}"  # json: the signature's default
        run = show_json(project, name)
        make = next(s for s in run["steps"] if s["name"] == "make")
        meta = json.loads((Path(make["folder"]) / "out" / "result.meta.json").read_text())
        assert meta["serializer"] == SERIALIZERS[kind], kind
        assert meta["file"] == FILES[meta["serializer"]]
        assert meta["python"].count(".") == 2
        loaded = runyard.load(name, "make", home=project.home)
        assert values.same(loaded, values.expected(kind)), kind
    custom = json.loads((Path(show_json(project, "kind=custom")["steps"][0]["folder"]) / "out" /
                         "result.meta.json").read_text())
    assert custom["meta"] == {"unit": "C"} and custom["module"] == "values" and custom["type"] == "values.Celsius"
    frame_meta = json.loads((Path(show_json(project, "kind=frame")["steps"][0]["folder"]) / "out" /
                             "result.meta.json").read_text())
    assert frame_meta["pandas"] == pd.__version__
    log = Path(show_json(project, "kind=intcols")["steps"][0]["log"]).read_text()
    assert "runyard: warning: saving the DataFrame with pickle, not parquet: column names that are not text" in log


def test_dataframes_fall_back_to_pickle_without_pyarrow(project: Project) -> None:
    project.file("pyarrow/__init__.py", "raise ImportError('pyarrow is not installed here')\n")
    project.file("frames.py", "import pandas as pd\n\ndef make():\n    return pd.DataFrame({'x': [1.0, 2.0]})\n")
    project.spec("experiment: frames\nsteps:\n  make: {call: frames:make}\n")
    proc = project.run("run")
    assert proc.code == 0, proc
    step = show_json(project, "default")["steps"][0]
    assert "not parquet: pyarrow is not installed (pip install 'runyard[parquet]')" in Path(step["log"]).read_text()
    assert json.loads((Path(step["folder"]) / "out" / "result.meta.json").read_text())["serializer"] == "pickle"
    assert runyard.load("default", home=project.home).equals(pd.DataFrame({"x": [1.0, 2.0]}))


def test_torch_values_are_saved_with_torch(project: Project) -> None:
    torch = pytest.importorskip("torch")
    project.file("tensors.py", "import torch\n\ndef make():\n    return torch.arange(4.0)\n")
    project.spec("experiment: t\nsteps:\n  make: {call: tensors:make}\n")
    assert project.run("run").code == 0
    assert torch.equal(runyard.load("default", home=project.home), torch.arange(4.0))


FAILING = '''
import runyard


class Thing:
    pass


def _save(value, path):
    with open(path, "w") as handle:
        handle.write("half")
    raise OSError("disk full")


runyard.serializer(Thing, save=_save, load=lambda path: Thing(), name="thing")


def thing():
    return Thing()


def generator():
    return (i for i in range(3))


def after():
    return 1
'''


@pytest.mark.parametrize(("step", "message"), [
    ("thing", "runyard: could not save the result (failing.Thing) with serializer 'thing': OSError: disk full; the "
              "step fails and no result is kept"),
    ("generator", "runyard: could not save the result (builtins.generator) with serializer 'pickle': TypeError: "
                  "cannot pickle 'generator' object"),
])
def test_a_result_that_cannot_be_saved_fails_the_step_and_leaves_nothing(project: Project, step: str,
                                                                         message: str) -> None:
    project.file("failing.py", FAILING)
    project.spec(f"experiment: f\nsteps:\n  {step}: {{call: 'failing:{step}'}}\n  after: {{call: 'failing:after', "
                 f"needs: [{step}]}}\n")
    proc = project.run("run")
    assert proc.code == 1, proc
    run = show_json(project, "default")
    first = run["steps"][0]
    assert first["status"] == "failed" and first["exit_code"] == 2
    assert run["steps"][1]["status"] == "waiting"
    assert message in Path(first["log"]).read_text()
    assert sorted(p.name for p in (Path(first["folder"]) / "out").iterdir()) == []
    with pytest.raises(RunNotFound, match="is failed, so it saved no result"):
        runyard.load("default", step, home=project.home)


def test_a_failing_function_fails_the_step_with_its_traceback(project: Project) -> None:
    project.file("oops.py", "def f(x=1):\n    raise ValueError(f'bad x {x}')\n")
    project.spec("experiment: o\nsteps:\n  f: {call: 'oops:f'}\n")
    proc = project.run("run")
    assert proc.code == 1, proc
    step = show_json(project, "default")["steps"][0]
    log = Path(step["log"]).read_text()
    assert step["exit_code"] == 1 and "Traceback" in log and "ValueError: bad x 1" in log
    assert not (Path(step["folder"]) / "out" / "result.meta.json").exists()


def test_load_finds_results_by_name_id_or_key(project: Project) -> None:
    project.file("nums.py", "def a(n=2):\n    return list(range(n))\n\ndef b(a):\n    return sum(a)\n")
    project.spec("experiment: n\nsteps:\n  a: {call: 'nums:a'}\n  b: {call: 'nums:b'}\nsweeps:\n  s: {n: [2, 5]}\n")
    assert project.run("run").code == 0
    run = show_json(project, "n=5")
    keys = {s["name"]: s["key"] for s in run["steps"]}
    assert runyard.load("n=5", home=project.home) == 10  # the last step that saved a result
    assert runyard.load(run["id"][:10], "a", home=project.home) == [0, 1, 2, 3, 4]
    assert runyard.load(keys["a"][:12], home=project.home) == [0, 1, 2, 3, 4]
    assert runyard.load("default", "b", experiment="n", home=project.home) == 1  # n=2: the default
    with pytest.raises(RunNotFound, match=r"run n=5 has no step 'c'"):
        runyard.load("n=5", "c", home=project.home)
    with pytest.raises(RunNotFound, match=r"is of step 'a', not 'b'"):
        runyard.load(keys["a"][:12], "b", home=project.home)
    with pytest.raises(RunNotFound):
        runyard.load("n=7", home=project.home)
    with pytest.raises(RunNotFound, match="no runyard store"):
        runyard.load("n=5", home=project.tmp / "elsewhere")


def test_load_refuses_a_result_whose_serializer_is_not_registered(tmp_path: Path) -> None:
    from runyard.serializers import load_result, save_result, serializer

    class Local:
        pass

    serializer(Local, save=lambda value, path: Path(path).write_text("x") and None, load=lambda path: Local(),
               name="local-test")
    meta = save_result(Local(), str(tmp_path))
    assert meta["serializer"] == "local-test"
    meta_path = tmp_path / "result.meta.json"
    data = json.loads(meta_path.read_text())
    data.update(serializer="unknown-one", module="no_such_module_here")
    meta_path.write_text(json.dumps(data))
    with pytest.raises(ResultError, match="registered in module 'no_such_module_here', which cannot be imported"):
        load_result(str(tmp_path))
    with pytest.raises(ResultError, match="'json' is the name of a built-in serializer"):
        serializer(Local, save=lambda value, path: None, load=lambda path: None, name="json")
    np.save(tmp_path / "x.npy", np.zeros(2))
    with pytest.raises(ResultError, match="no saved result in"):
        load_result(str(tmp_path / "nothing"))


def test_loading_parquet_without_pyarrow_names_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from runyard.serializers import load_result, save_result

    frame = pd.DataFrame({"x": [1, 2]})
    assert save_result(frame, str(tmp_path))["serializer"] == "parquet"
    assert load_result(str(tmp_path)).equals(frame)
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # as if it were not installed
    with pytest.raises(ResultError, match=r"needs the optional package 'pyarrow': pip install 'runyard\[parquet\]'"):
        load_result(str(tmp_path))


def test_numpy_numbers_in_a_returned_dict_are_metrics_saved_as_json(project: Project) -> None:
    project.file("npm.py", "import numpy as np\n\ndef f():\n    return {'a': np.float32(0.5), 'n': np.int64(3)}\n")
    project.spec("experiment: npm\nsteps:\n  f: {call: 'npm:f'}\n")
    assert project.run("run").code == 0
    step = show_json(project, "default")["steps"][0]
    assert (Path(step["folder"]) / "out" / "result.json").read_text() == '{"a": 0.5, "n": 3}'
    value = runyard.load("default", home=project.home)
    assert value == {"a": 0.5, "n": 3} and type(value["n"]) is int
    rows = json.loads(project.run("compare", "--format", "json").stdout)
    assert rows[0]["a"] == 0.5 and rows[0]["n"] == 3
