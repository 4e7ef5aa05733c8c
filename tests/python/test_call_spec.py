"""Call steps in a spec, in-process: params, defaults, inputs, keys and code hashes (no run)."""

from __future__ import annotations

import hashlib
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from runyard.callables import source_hash
from runyard.errors import SpecError
from runyard.spec import expand, load_spec, spec_from_dict
from runyard.spec.keys import canonical_json

MODULE = '''
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Inner:
    depth: int = 2


@dataclass
class Cfg:
    lr: float = 0.1
    inner: Inner = field(default_factory=Inner)
    tag: str | None = None


def prep(data="tiny", *, size=10):
    return list(range(size))


def train(prep, cfg: Cfg = Cfg(lr=0.5), seed=0, out=None, runs=None):
    return {"loss": cfg.lr}


def scale(width: int):
    return width


class Tools:
    @staticmethod
    def report(train, width: int):
        return width
'''


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "mod_calls.py").write_text(MODULE)
    (tmp_path / "helper.txt").write_text("v1")
    yield tmp_path
    sys.modules.pop("mod_calls", None)


def spec_at(folder: Path, text: str) -> Path:
    path = folder / "runyard.yaml"
    path.write_text(textwrap.dedent(text))
    return path


SPEC = """
experiment: e
params: {width: 3}
steps:
  prep: {call: mod_calls:prep}
  train: {call: mod_calls:train}
  report: {call: 'mod_calls:Tools.report'}
  shell:
    run: cat helper.txt {seed}
    deps: [helper.txt]
    needs: []
  bare: {run: 'echo {data}', needs: []}
"""


def test_signature_params_defaults_and_inputs(folder: Path) -> None:
    spec = load_spec(spec_at(folder, SPEC))
    assert dict(spec.params) == {"width": 3, "data": "tiny", "size": 10, "cfg.lr": 0.5, "cfg.inner.depth": 2,
                                 "cfg.tag": None, "seed": 0}
    assert spec.required == ()
    steps = {s.name: s for s in spec.steps}
    assert steps["prep"].takes == ("data", "size") and steps["prep"].needs == ()
    assert steps["train"].takes == ("cfg.lr", "cfg.inner.depth", "cfg.tag", "seed")
    assert steps["train"].inputs == ("prep",) and steps["train"].needs == ("prep",)
    assert steps["report"].inputs == ("train",) and steps["report"].takes == ("width",)
    source = (folder / "mod_calls.py").read_bytes()
    assert steps["train"].call_code == source_hash(source)  # the module's code, not its text
    again = spec_from_dict(spec.to_data(), folder=folder)
    assert again.steps == spec.steps and again.params == spec.params


def test_keys_hold_exactly_the_params_a_function_takes(folder: Path) -> None:
    spec = load_spec(spec_at(folder, SPEC))
    plan = expand(spec, home=str(folder / "h"))
    other = expand(spec_from_dict({**spec.to_data(), "params": {**spec.params, "width": 4}}, folder=folder),
                   home=str(folder / "h"))
    keys = {ex.step: ex.key for ex in plan.executions}
    changed = {ex.step: ex.key for ex in other.executions}
    assert [s for s in keys if keys[s] != changed[s]] == ["report"]  # only the step taking `width`
    execs = {ex.step: ex for ex in plan.executions}
    assert execs["report"].params == {"width": 3} and execs["report"].kind == "call"
    assert execs["shell"].kind == "command" and execs["bare"].code == ""
    deps_hash = hashlib.sha256(b"v1").hexdigest()
    assert execs["shell"].code == hashlib.sha256(canonical_json({"helper.txt": deps_hash}).encode()).hexdigest()
    assert execs["train"].code == spec.step("train").call_code


def test_editing_the_module_changes_the_keys_of_its_steps(folder: Path) -> None:
    before = {ex.step: ex.key for ex in expand(load_spec(spec_at(folder, SPEC)), home=str(folder / "h")).executions}
    (folder / "mod_calls.py").write_text(MODULE + "\nEDITED = 1\n")  # code: a comment would not count
    after = {ex.step: ex.key for ex in expand(load_spec(spec_at(folder, SPEC)), home=str(folder / "h")).executions}
    assert {s for s in before if before[s] != after[s]} == {"prep", "train", "report"}
    (folder / "helper.txt").write_text("v2")
    again = {ex.step: ex.key for ex in expand(load_spec(spec_at(folder, SPEC)), home=str(folder / "h")).executions}
    assert {s for s in after if after[s] != again[s]} == {"shell"}


def test_comments_docstrings_and_layout_of_the_module_do_not_count_its_code_does(folder: Path) -> None:
    def keys() -> dict[str, str]:
        return {ex.step: ex.key for ex in expand(load_spec(spec_at(folder, SPEC)), home=str(folder / "h")).executions}

    before = keys()
    prep = 'def prep(data="tiny", *, size=10):\n    return list(range(size))\n'
    assert prep in MODULE
    documented = ('def prep(data="tiny", *, size=10):  # why\n    """Makes the data."""\n\n'
                  '    return list(range(size))  # all of it\n\n# the end\n')
    (folder / "mod_calls.py").write_text('"""Steps."""\n' + MODULE.replace(prep, documented))
    assert keys() == before
    (folder / "mod_calls.py").write_text(MODULE.replace(prep, prep.replace("range(size)", "range(size + 0)")))
    assert keys() != before


def test_a_required_param_is_known_to_overrides_and_sweeps(folder: Path) -> None:
    path = spec_at(folder, """
        experiment: e
        steps:
          report: {call: 'mod_calls:scale'}
        sweeps:
          w: {width: [1, 2]}
        """)
    spec = load_spec(path)
    assert spec.required == ("width",) and "width" in spec.param_names
    assert [r.params["width"] for r in expand(spec, home=str(folder / "h")).runs] == [1, 2]
    bare = spec_at(folder, "experiment: e\nsteps:\n  report: {call: 'mod_calls:scale'}\n")
    with pytest.raises(SpecError, match="parameter 'width' of mod_calls:scale has no default"):
        expand(load_spec(bare), home=str(folder / "h"))


def test_a_call_step_must_name_a_step_it_takes_or_it_is_a_param(folder: Path) -> None:
    # `train` takes `prep`: without a step named prep it is a param without a default
    path = spec_at(folder, "experiment: e\nsteps:\n  train: {call: mod_calls:train}\n")
    spec = load_spec(path)
    assert spec.required == ("prep",)
    with pytest.raises(SpecError, match="parameter 'prep' of mod_calls:train has no default"):
        expand(spec, home=str(folder / "h"))
