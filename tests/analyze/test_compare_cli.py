"""``runyard compare`` through click's runner and a real process: output, defaults, and bad input
(one clear message, exit 2, no traceback)."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from runyard.cli.main import cli

from .conftest import SPEC, Project

BIN = Path(sys.executable).parent


def invoke(project: Project, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    runner = CliRunner()
    result = runner.invoke(cli, ["compare", *args, "--home", str(project.home)], env=env)
    assert "Traceback" not in result.output + result.stderr, result.output + result.stderr
    return result.exit_code, result.stdout, result.stderr


def test_default_table_when_piped(project: Project) -> None:
    code, out, err = invoke(project)
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].split() == ["name", "status", "norm", "seed", "bleu", "loss"]
    assert len(lines) == 7 and lines[1].split() == ["default", "done", "batch", "1", "31", "3"]


def test_options_reach_the_table(project: Project) -> None:
    code, out, _ = invoke(project, "norm", "--where", "seed >= 2 and norm == batch", "--sort", "-bleu",
                          "--cols", "name,bleu,loss.best", "--format", "csv")
    assert code == 0
    assert list(csv.reader(io.StringIO(out))) == [["name", "bleu", "loss.best"], ["seed=3", "33.0", "2.3"],
                                                  ["seed=2", "32.0", "2.2"]]
    code, out, _ = invoke(project, "-o", "seed", "-f", "json", "-s", "-bleu", "-n", "1")
    assert code == 0 and json.loads(out) == [{"norm": "batch", "runs": 3, "status": "done",
                                              "bleu": {"mean": 32.0, "std": 1.0, "n": 3},
                                              "loss": {"mean": 3.0, "std": 0.0, "n": 3}}]
    code, out, _ = invoke(project, "--all-params", "--format", "tsv", "--limit", "1")
    assert out.splitlines()[0].split("\t") == ["name", "status", "data", "early-stop", "lr", "norm", "seed", "bleu",
                                               "loss"]
    code, out, _ = invoke(project, "--format", "markdown", "--cols", "name,bleu", "--sort", "name", "--limit", "1")
    assert out == "| name | bleu |\n|---|---:|\n| default | 31 |\n"


def test_store_from_the_environment(project: Project, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["compare", "--format", "csv", "--cols", "name"],
                                env={"RUNYARD_STORE": project.url, "RUNYARD_HOME": str(tmp_path / "none")})
    assert result.exit_code == 0 and result.stdout.splitlines()[0] == "name" and len(result.stdout.splitlines()) == 7


def test_no_match_says_so_on_stderr(project: Project) -> None:
    code, out, err = invoke(project, "--where", "seed > 10")
    assert code == 0 and out == "" and "no runs match in norm" in err
    code, out, _ = invoke(project, "--where", "seed > 10", "--format", "csv")
    assert out == "name,status,bleu,loss\n"


@pytest.mark.parametrize(("args", "message"), [
    (["--where", "lr >< 3"], "runyard: bad --where expression: at column 4: expected a value after '>'\n  lr >< 3\n"
                             "     ^\n"),
    (["--where", "sede == 1"], "at column 1: unknown name 'sede'; did you mean 'seed'"),
    (["--where", "norm == 'batch"], "unterminated text"),
    (["--sort", "-blue"], "runyard: --sort: unknown name 'blue'; did you mean 'bleu'?"),
    (["--cols", "name,lss"], "runyard: --cols: unknown name 'lss'; did you mean 'loss'?"),
    (["--over", "sed"], "runyard: --over: 'sed' is not a param of norm; did you mean 'seed'?"),
    (["nrom"], "runyard: no experiment 'nrom'; did you mean 'norm'? (experiments: norm)"),
    (["--format", "xml"], "Invalid value for '--format'"),
    (["--limit", "-1"], "Invalid value for '--limit'"),
])
def test_bad_input_is_one_message_and_exit_2(project: Project, args: list[str], message: str) -> None:
    code, out, err = invoke(project, *args)
    assert code == 2 and out == ""
    assert message in err


def test_several_experiments_need_a_name(project: Project) -> None:
    project.submit(dict(SPEC, experiment="other"))
    code, _, err = invoke(project)
    assert code == 2 and err == "runyard: the store holds 2 experiments; name one: norm, other\n"
    code, out, _ = invoke(project, "other", "--format", "csv", "--cols", "name,status")
    rows = list(csv.reader(io.StringIO(out)))
    assert code == 0 and rows[0] == ["name", "status"] and len(rows) == 7
    assert {status for _, status in rows[1:]} == {"ready"} and ["norm=layer,seed=2", "ready"] in rows


def test_missing_store_writes_nothing(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["compare", "--home", str(tmp_path / "nothing")])
    assert result.exit_code == 2 and "no runyard store at" in result.stderr
    assert not (tmp_path / "nothing").exists()


def test_real_process(project: Project) -> None:
    done = subprocess.run([str(BIN / "runyard"), "compare", "--format", "json", "--sort", "bleu", "--limit", "2",
                           "--home", str(project.home)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert [row["name"] for row in json.loads(done.stdout)] == ["norm=layer", "norm=layer,seed=2"]
    bad = subprocess.run([str(BIN / "runyard"), "compare", "--where", "(seed == 1", "--home", str(project.home)],
                         capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and bad.stdout == "" and "Traceback" not in bad.stderr
    assert bad.stderr.startswith("runyard: bad --where expression: at column 11: expected ')' to close the '('")


def test_import_runyard_stays_light() -> None:
    code = ("import sys, runyard; heavy = ('pandas', 'numpy', 'sqlalchemy', 'click', 'rich');"
            " print([m for m in heavy if m in sys.modules]); assert callable(runyard.open)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")})
    assert done.stdout.strip() == "[]"
    lazy = subprocess.run([sys.executable, "-c", "import sys, runyard; runyard.Yard; print('pandas' in sys.modules)"],
                          capture_output=True, text=True, check=True)
    assert lazy.stdout.strip() == "False"  # the classes load without pandas too


def test_help_lists_compare() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert "compare" in result.output and "Compare runs" in result.output
