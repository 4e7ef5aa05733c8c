"""docs/spec.md stays exact: its examples are run and compared with what the code does."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from runyard.cli.main import cli
from runyard.spec import load_spec

from .helpers import EXAMPLES, MLRUNNER, NORM_STUDY, ROOT, plan_of, plan_text

DOC = (ROOT / "docs" / "spec.md").read_text(encoding="utf-8")
DESIGN = Path("/work/shared/DESIGN.md")


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", DOC, flags=re.S)


def test_examples_are_the_design_example_and_the_mlrunner_reference(tmp_path: Path) -> None:
    yaml_blocks = blocks("yaml")
    assert yaml_blocks[0] == NORM_STUDY.read_text(encoding="utf-8")
    if DESIGN.exists():
        design = re.search(r"## 4\. The spec\n\n```yaml\n(.*?)```", DESIGN.read_text(encoding="utf-8"), re.S)
        assert design and design.group(1) == NORM_STUDY.read_text(encoding="utf-8")
    shown = next(b for b in yaml_blocks if b.startswith("---\ntemplate:"))
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "params.yaml").write_text(shown)
    doc, reference = load_spec(tmp_path / "specs" / "params.yaml"), load_spec(MLRUNNER)
    assert (doc.experiment, doc.params, doc.steps, doc.sweeps, doc.resources) == \
        (reference.experiment, reference.params, reference.steps, reference.sweeps, reference.resources)
    assert sorted(p.name for p in EXAMPLES.iterdir()) == ["mlrunner-params.yaml", "norm-study.yaml"]


def test_the_plan_output_shown_is_what_plan_prints(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    shown = re.search(r"```\n\$ runyard plan (examples/specs/norm-study.yaml --sweep norms [^\n]*)\n(.*?)```", DOC,
                      re.S)
    assert shown
    result = CliRunner().invoke(cli, ["plan", *shown.group(1).split()])
    assert result.exit_code == 0
    actual = [line.rstrip() for line in result.stdout.splitlines()]
    for line in shown.group(2).splitlines()[1:]:  # the first line holds the absolute spec path
        if "…" not in line:
            assert line.rstrip() in actual, line


def test_the_error_example_is_exact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = next(b for b in blocks("yaml") if b.startswith("experiment: study\n"))
    (tmp_path / "bad.yaml").write_text(bad)
    monkeypatch.chdir(tmp_path)
    shown = re.search(r"\$ runyard plan bad.yaml\n(.*?)\n\n", DOC, re.S)
    assert shown
    result = CliRunner().invoke(cli, ["plan", "bad.yaml"])
    assert result.exit_code == 2
    assert result.stderr == shown.group(1) + "\n"
    monkeypatch.chdir(ROOT)
    override = re.search(r"\$ runyard plan (examples/specs/norm-study.yaml nrom=new)\n(.*?)\n```", DOC, re.S)
    assert override
    result = CliRunner().invoke(cli, ["plan", *override.group(1).split()])
    assert result.exit_code == 2 and result.stderr == override.group(2) + "\n"


def test_star_and_group_examples(tmp_path: Path) -> None:
    star = next(b for b in blocks("yaml") if "{*hydra}" in b and b.startswith("params:"))
    plan = plan_text(tmp_path, "experiment: e\n" + star)
    expected = re.findall(r"# (python main\.py .*)", star)
    assert [ex.command for ex in plan.executions] == expected
    group = next(b for b in blocks("yaml") if b.startswith("params:\n  opt: adam"))
    plan = plan_text(tmp_path, "experiment: e\n" + group)
    rows = re.findall(r"^\| `(\S+)` \| .*? \| `(python train\.py[^`]*)` \|$", DOC, flags=re.M)
    assert [(r.name, plan.execution(dict(r.steps)["train"]).command) for r in plan.runs] == rows


def test_sweep_examples(tmp_path: Path) -> None:
    named = next(b for b in blocks("yaml") if b.startswith("sweeps:\n  lrs:"))
    plan = plan_text(tmp_path, textwrap.dedent("""
        experiment: e
        params: {lr: 0.1, seed: 1, momentum: 0.9, opt: adam}
        groups: {opt: {sgd: {x: 1}, adam: {x: 2}}}
        steps:
          s: echo {lr} {seed} {momentum} {x}
        """) + named)
    assert len(plan.runs) == 6 + 3 + 1 - 2  # the default run is in all three
    assert {name: len(plan_of(load_spec(tmp_path / "runyard.yaml"), home=tmp_path, sweep=name).runs)
            for name in ("lrs", "opts", "base")} == {"lrs": 6, "opts": 3, "base": 1}
    listed = next(b for b in blocks("yaml") if b.startswith("sweeps:\n  - "))
    spec = plan_text(tmp_path, "experiment: e\nparams: {lr: 0.1, norm: a}\nsteps:\n  s: echo {lr} {norm}\n" + listed)
    assert len(spec.runs) == 4


def test_python_examples(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    first = next(b for b in blocks("python") if "spec_from_dict" in b)
    second = next(b for b in blocks("python") if b.startswith("# sweep.py"))
    monkeypatch.chdir(tmp_path)
    exec(compile(first, "docs/spec.md", "exec"), {})
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out] == ["default", "seed=2", "lr=0.01", "lr=0.01,seed=2"]
    (tmp_path / "sweep.py").write_text(second)
    plan = plan_of(tmp_path / "sweep.py", home=tmp_path / "h")
    assert [r.params["lr"] for r in plan.runs] == [0.1, 0.01, 0.001, 0.0001]
