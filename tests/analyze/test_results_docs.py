"""docs/results.md matches the code: every compare option is documented, every --where example
parses, and the example outputs are what runyard prints for the runs they describe."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

import runyard
from runyard.analyze.where import parse
from runyard.cli.compare_cmd import compare

from .conftest import SPEC, Project

DOC = (Path(__file__).resolve().parents[2] / "docs" / "results.md").read_text(encoding="utf-8")


def test_every_option_is_documented() -> None:
    for param in compare.params:
        if isinstance(param, click.Option):
            for opt in param.opts:
                assert f"`{opt}" in DOC or f"{opt} " in DOC, opt


def where_examples() -> list[str]:
    table = DOC[DOC.index("| example | keeps |"):]
    table = table[:table.index("\n\n")]
    found = []
    for line in table.splitlines()[2:]:
        cell = line.split(" | ")[0].removeprefix("| ")
        found.append(cell[3:-3] if cell.startswith("`` ") else cell.strip("`"))
    return found


@pytest.mark.parametrize("example", where_examples())
def test_where_examples_parse(example: str) -> None:
    parse(example)


def block_after(command: str) -> str:
    start = DOC.index(f"$ {command}\n") + len(f"$ {command}\n")
    return DOC[start:DOC.index("```", start)]


def test_example_outputs(tmp_path: Path) -> None:
    spec = dict(SPEC, experiment="norm-study", sweeps={"main": {"norm": ["batch", "new"], "seed": [1, 2, 3]}})
    proj = Project(tmp_path, spec)
    proj.finish_all()
    values = {("batch", 1): (31, 2.1), ("batch", 2): (32, 2.2), ("batch", 3): (33, 2.3),
              ("new", 1): (33, 2.05), ("new", 2): (34, 2.1), ("new", 3): (33.5, 2.15)}
    for run in proj.plan.runs:
        bleu, loss = values[(run.params["norm"], run.params["seed"])]
        proj.log(run, "train", loss=loss)
        proj.log(run, "test", bleu=float(bleu))
    with runyard.open(proj.home) as yard:
        runs = yard.runs()
        assert runs.render("table") == block_after("runyard compare")
        assert runs.render("table", over="seed") == block_after("runyard compare --over seed")
        assert runs.render("json", over="seed", cols="bleu") == block_after(
            "runyard compare --over seed --cols bleu --format json")
    proj.close()
    assert re.search(r"at column 4: expected a value after '>'\n  lr >< 3\n     \^", DOC)
