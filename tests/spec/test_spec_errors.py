"""Bad input: one message per problem with the file, the line (or key path) and what is valid; all together."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import NamedTuple

import pytest

from runyard.errors import SpecError

from .helpers import plan_of, write

VALID_TOP = ("valid: experiment, description, params, groups, steps, metrics, sweeps, resources, aggregate, select, "
             "slurm, tune")
BUILTINS = "builtins: {out} {run} {name} {*} {*hydra} {STEP.out}"


class Bad(NamedTuple):
    id: str
    text: str
    expected: list[str]  # every problem, in order; {f} is the spec file
    args: tuple[str, ...] = ()
    sweep: str | None = None


BAD = [
    Bad("yaml-syntax", """
        experiment: e
        steps:
          a: echo
          b: [unclosed
        """, ["{f}:5: YAML syntax error: while parsing a flow sequence expected ',' or ']', but got '<stream end>'"]),
    Bad("yaml-tab", "experiment: e\nsteps:\n\ta: echo\n",
        ["{f}:3: YAML syntax error: while scanning for the next token found character '\\t' that cannot start "
         "any token"]),
    Bad("unknown-top-level-key", """
        experiment: e
        steps:
          a: echo
        sweep:
          s: {}
        """, [f"{{f}}:4: sweep: unknown key; did you mean 'sweeps'? ({VALID_TOP})"]),
    Bad("placeholder-resolves-to-nothing", """
        experiment: e
        params:
          lr: 0.1
        steps:
          prep: echo
          a: echo {lrr} {prepp.out}
        """, [f"{{f}}:6: steps.a: placeholder {{lrr}} resolves to nothing; did you mean {{lr}}? (params: lr; "
              f"{BUILTINS}); placeholder {{prepp.out}} names no step; did you mean {{prep.out}}? "
              "(step outputs: {prep.out})"]),
    Bad("placeholder-without-value-in-a-run", """
        experiment: e
        groups:
          opt:
            sgd: {lr: 0.1}
        steps:
          a: echo {lr}
        """, ["{f}: steps.a: placeholder {lr} has no value in run 'default': give it a default under params (or "
              "set it in every group choice)"]),
    Bad("swept-key-not-a-param", """
        experiment: e
        params:
          norm: batch
        steps:
          a: echo {norm}
        sweeps:
          s:
            nrom: [a, b]
        """, ["{f}:8: sweeps.s.nrom: 'nrom' is not a param; did you mean 'norm'? (params: norm)"]),
    Bad("overridden-key-not-a-param", """
        experiment: e
        params:
          norm: batch
        steps:
          a: echo {norm}
        """, ["command line: nrom=new: 'nrom' is not a param; did you mean 'norm'? (params: norm)"],
        args=("nrom=new",)),
    Bad("empty-grid-axis", """
        experiment: e
        params:
          norm: batch
        steps:
          a: echo {norm}
        sweeps:
          s:
            norm: []
        """, ["{f}:8: sweeps.s.norm: empty list: a grid axis needs at least one value"]),
    Bad("empty-sweep", """
        experiment: e
        params:
          norm: batch
        steps:
          a: echo {norm}
        sweeps:
          s: []
        """, ["{f}:7: sweeps.s: empty list: a sweep needs at least one grid (param: [values])"]),
    Bad("group-choice-in-a-grid", """
        experiment: e
        params:
          opt: adam
        groups:
          opt:
            sgd: {lr: 1}
            adam: {lr: 2}
        steps:
          a: echo {lr}
        sweeps:
          s:
            opt: [sgd, adamw]
        """, ["{f}:12: sweeps.s.opt: 'adamw' is not a choice of group 'opt' (choices: sgd, adam)"]),
    Bad("group-choice-as-default", """
        experiment: e
        params:
          opt: adamw
        groups:
          opt:
            sgd: {lr: 1}
            adam: {lr: 2}
        steps:
          a: echo {lr}
        """, ["{f}:3: params.opt: 'adamw' is not a choice of group 'opt' (choices: sgd, adam)"]),
    Bad("group-choice-overridden", """
        experiment: e
        params:
          opt: adam
        groups:
          opt:
            sgd: {lr: 1}
            adam: {lr: 2}
        steps:
          a: echo {lr}
        """, ["command line: opt=rmsprop: 'rmsprop' is not a choice of group 'opt' (choices: sgd, adam)"],
        args=("opt=rmsprop",)),
    Bad("dependency-cycle-by-references", """
        experiment: e
        steps:
          a: cat {c.out}
          b: cat {a.out}
          c: cat {b.out}
        """, ["{f}:3: steps.a: dependency cycle: a → c → b → a"]),
    Bad("dependency-cycle-by-needs", """
        experiment: e
        steps:
          a:
            run: echo a
            needs: [b]
          b:
            run: echo b
            needs: a
        """, ["{f}:3: steps.a: dependency cycle: a → b → a"]),
    Bad("duplicate-step-name", """
        experiment: e
        steps:
          a: echo 1
          b: echo 2
          a: echo 3
        """, ["{f}:5: steps.a: duplicate key (first at line 3)"]),
    Bad("resource-types", """
        experiment: e
        steps:
          a:
            run: echo
            gpus: two
            timeout: soon
            retries: -1
        resources:
          gpus: lots
          per_gpu: 0
        """, ["{f}:5: steps.a.gpus: must be a whole number ≥ 0, not 'two'",
              "{f}:6: steps.a.timeout: 'soon' is not a duration (e.g. 90, 90s, 30m, 2h, 1h30m)",
              "{f}:7: steps.a.retries: must be a whole number ≥ 0, not -1",
              "{f}:9: resources.gpus: 'lots': must be a list of GPU indices, a count, 'auto' or 'none'",
              "{f}:10: resources.per_gpu: must be a whole number ≥ 1, not 0"]),
    Bad("resource-gpus-list", "experiment: e\nsteps:\n  a: echo\nresources:\n  gpus: [0, -1, x]\n  per_gpus: 2\n",
        ["{f}:5: resources.gpus: [0, -1, 'x']: must be a list of GPU indices, a count, 'auto' or 'none'",
         "{f}:6: resources.per_gpus: unknown key; did you mean 'per_gpu'? (valid: gpus, per_gpu)"]),
    Bad("placeholder-inside-quotes", """
        experiment: e
        params:
          a: 1
        steps:
          s: echo "{a}"
        """, ["{f}:5: steps.s: placeholder {a} is inside quotes: remove the quotes, runyard quotes every value "
              "itself"]),
    Bad("unknown-sweep", """
        experiment: e
        params:
          a: 1
        steps:
          s: echo {a}
        sweeps:
          lrs: {a: [1]}
        """, ["--sweep lr: no such sweep; did you mean 'lrs'? (sweeps: lrs)"], sweep="lr"),
    Bad("many-problems-together", """
        experiment: ../x
        params:
          a: [1, 2]
          out: 3
        steps:
          s: echo {b}
          t:
            run: echo
            needs: [nope]
            color: red
        metrics:
          m: {step: z, mode: best, regex: "(", extra: 1}
        sweeps:
          s: {a: []}
          u: 5
        description: [1]
        """, [
            "{f}:1: experiment: '../x' is not a valid name (letters, digits, '.', '_', '-'; starting with a letter "
            "or digit)",
            "{f}:3: params.a: must be a single value (text, number, true/false or null), not list; to sweep "
            "values, list them under `sweeps:`",
            "{f}:4: params.out: 'out' is a builtin placeholder and cannot be a param (reserved: out, run, name, "
            "time)",
            f"{{f}}:6: steps.s: placeholder {{b}} resolves to nothing (params: a; {BUILTINS})",
            "{f}:9: steps.t.needs: 'nope' is not another step",
            "{f}:10: steps.t.color: unknown key (valid: run, call, gpus, gpu_mem, timeout, retries, deps, workdir, "
            "needs, hydra)",
            "{f}:12: metrics.m.extra: unknown key (valid: step, regex, file, key, column, parser, mode, timeout)",
            "{f}:12: metrics.m.step: 'z' is not a step (steps: s, t)",
            "{f}:12: metrics.m.regex: invalid regular expression: missing ), unterminated subpattern at position 0",
            "{f}:12: metrics.m.mode: 'best' is not a mode (valid: max, min)",
            "{f}:14: sweeps.s.a: empty list: a grid axis needs at least one value",
            "{f}:15: sweeps.u: a grid must map params to a value or a list of values",
            "{f}:16: description: must be text",
        ]),
    Bad("duplicates-reported-with-the-rest", """
        experiment: e
        experiment: f
        steps:
          a: echo {x}
        """, ["{f}:2: experiment: duplicate key (first at line 1)",
              f"{{f}}:4: steps.a: placeholder {{x}} resolves to nothing (params: none; {BUILTINS})"]),
    Bad("missing-experiment-and-steps", "description: nothing\n",
        ["{f}:1: experiment: missing: name the experiment (letters, digits, '.', '_', '-')",
         "{f}:1: steps: missing: a spec needs at least one step (name: shell command)"]),
    Bad("empty-file", "# nothing\n", ["{f}: the spec is empty: it needs at least `experiment:` and `steps:`"]),
    Bad("not-a-mapping", "- a\n- b\n", ["{f}: a spec must be a mapping with at least `experiment:` and `steps:`"]),
    Bad("several-documents", "experiment: e\nsteps:\n  a: echo\n---\nx: [1]\n",
        ["{f}:5: a native spec is one YAML document (several documents is the mlrunner format, whose first "
         "document has `template:`)"]),
    Bad("step-not-a-command", "experiment: e\nsteps:\n  a: [echo]\n  b:\n    gpus: 1\n  c d: echo\n", [
        "{f}:3: steps.a: a step is a shell command or a mapping with `run:` or `call:` (and gpus, gpu_mem, "
        "timeout, retries, deps, workdir, needs)",
        "{f}:4: steps.b.run: missing: the shell command template of the step (or `call: module:function`)",
        "{f}:6: steps.c d: a step name must start with a letter or '_' and hold only letters, digits, '_', '-'"]),
    Bad("deps-match-nothing", "experiment: e\nsteps:\n  a:\n    run: echo\n    deps: [missing/*.py]\n",
        ["{f}: steps.a.deps: 'missing/*.py' matches no file under {d}"]),
    Bad("mlrunner-problems", """
        template:
          a: echo {x}
        resourc: [0]
        ---
        y: [1]
        ---
        _cmd: [zz]
        """, ["{f}:1: resource: missing: list one CUDA_VISIBLE_DEVICES value per worker",
              f"{{f}}:2: template.a: placeholder {{x}} resolves to nothing (params: none; {BUILTINS})",
              "{f}:3: resourc: unknown key in the first document (valid: template, default, resource, alias)",
              "{f}:5: document 2.y: 'y' is not a param (params: none)",
              "{f}:7: document 3._cmd: 'zz' is not a step (steps: a)"]),
]


def expected_lines(bad: Bad, path: Path) -> list[str]:
    return [line.format(f=path, d=path.parent / ".") if "{d}" in line else line.replace("{f}", str(path))
            for line in bad.expected]


def spec_file(tmp_path: Path, bad: Bad) -> Path:
    return write(tmp_path, textwrap.dedent(bad.text).lstrip("\n"), "spec.yaml")


@pytest.mark.parametrize("bad", BAD, ids=[b.id for b in BAD])
def test_bad_input_gives_every_problem_with_its_place(tmp_path: Path, bad: Bad) -> None:
    path = spec_file(tmp_path, bad)
    with pytest.raises(SpecError) as info:
        plan_of(path, *bad.args, home=tmp_path / "home", sweep=bad.sweep)
    assert [str(p) for p in info.value.problems] == expected_lines(bad, path)
    assert info.value.exit_code == 2
    text = str(info.value)
    if len(bad.expected) == 1:
        assert text == "spec error: " + expected_lines(bad, path)[0]
    else:
        assert text.splitlines() == [f"spec error: {len(bad.expected)} problems",
                                     *("  " + line for line in expected_lines(bad, path))]


def test_missing_spec_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"nothere.yaml: no such spec file\Z"):
        plan_of(tmp_path / "nothere.yaml", home=tmp_path)
    with pytest.raises(SpecError, match=r"runyard.yaml: no such spec file \(runyard looks for ./runyard.yaml"):
        plan_of(tmp_path, home=tmp_path)


def test_unreadable_spec(tmp_path: Path) -> None:
    path = tmp_path / "bin.yaml"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(SpecError, match=r"bin\.yaml: cannot read the spec"):
        plan_of(path, home=tmp_path)
