"""Hostile input (DESIGN §10 "bad input"): every spec under ``cases/`` and every command line of
``CLI_CASES`` makes ``runyard`` exit 2 with one message holding the expected fragment, no traceback,
and leaves the home (a real store of earlier runs of the same experiment) and the spec's folder
byte-for-byte unchanged. Through click's runner, and a representative few as real subprocesses."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .helpers import BASE_SPEC, CASES, RUNYARD, expected_of, fingerprint, invoke, one_message

SPEC_CASES = sorted(CASES.glob("*.yaml"))
SUBPROCESS_CASES = ["billion_laughs", "deep_nesting", "grid_1e9_without_sample", "nul_in_value", "undeclared_flag"]

# (id, argv after `runyard`, expected fragment); SPEC stands for the valid spec BASE_SPEC
CLI_CASES = [
    ("override_without_value", ["run", "SPEC", "lr="], "no value after '=': write lr=VALUE"),
    ("override_without_key", ["run", "SPEC", "=1"], "an override is KEY=VALUE"),
    ("option_for_a_param", ["run", "SPEC", "--lr", "0.1"], "A param is set after the spec as KEY=VALUE: lr=0.1"),
    ("option_for_a_param_glued", ["run", "SPEC", "--lr=0.1"], "KEY=VALUE: lr=0.1"),
    ("option_for_a_param_plan", ["plan", "SPEC", "--beta", "0.5"], "KEY=VALUE: beta=0.5"),
    ("option_near_miss", ["run", "SPEC", "--smaple", "5"], "Did you mean '--sample'?"),
    ("unknown_param", ["run", "SPEC", "lrr=0.1"], "'lrr' is not a param; did you mean 'lr'?"),
    ("control_char_in_key", ["run", "SPEC", "l\x01r=1"], "'l\\\\x01r' is not a param"),
    ("param_given_twice", ["run", "SPEC", "seed=1", "seed=2"], "'seed' is given twice"),
    ("nested_list_value", ["run", "SPEC", "lr=[1, [2]]"], "must be a single value (text, number, true/false or null), "
                                                           "not list"),
    ("broken_list_value", ["run", "SPEC", "lr=[1"], "not a valid list: expected ',' or ']'"),
    ("unknown_sweep", ["run", "SPEC", "--sweep", "sedes"], "no such sweep; did you mean 'seeds'?"),
    ("empty_sweep_name", ["run", "SPEC", "--sweep", ","], "--sweep: name a sweep"),
    ("group_choice_unknown", ["run", "SPEC", "opt=rmsprop"], "'rmsprop' is not a choice of group 'opt'"),
    ("sample_zero", ["run", "SPEC", "--sample", "0"], "0 is not in the range x>=1"),
    ("jobs_zero", ["run", "SPEC", "--jobs", "0"], "0 is not in the range x>=1"),
    ("gpus_not_indices", ["run", "SPEC", "--gpus", "abc"], "'abc' is not a GPU index"),
    ("force_step_unknown", ["run", "SPEC", "--force-step", "tset"], "--force-step tset: no such step"),
    ("two_specs", ["run", "SPEC", "SPEC", "lr=1"], "expected KEY=VALUE after the spec"),
    ("missing_spec", ["run", "nope.yaml"], "no such spec file"),
    ("detach_with_inline", ["run", "SPEC", "--detach", "--inline"], "--detach and --inline do not mix"),
    ("bad_store_url", ["run", "SPEC", "--store", "bogus://x"], "bad store URL 'bogus://x'"),
    ("unreachable_store_plan", ["plan", "SPEC", "--store", "postgresql://nobody@127.0.0.1:1/x"],
     "cannot read the store postgresql://nobody@127.0.0.1:1/x: connection failed"),
    ("unreachable_store_ls", ["ls", "--store", "postgresql://nobody@127.0.0.1:1/x"],
     "cannot reach the store postgresql://nobody@127.0.0.1:1/x: connection failed"),
    ("grid_too_large_by_overrides", ["run", "SPEC", "lr=" + ",".join(map(str, range(1001))),
                                     "seed=" + ",".join(map(str, range(1000)))],
     "expand to 1,001,000 runs, more than 1,000,000: run a random subset with --sample N"),
    ("submit_override_without_value", ["submit", "SPEC", "seed="], "no value after '='"),
    ("unknown_command", ["rnu", "SPEC"], "No such command 'rnu'"),
]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A home holding a finished run of the same experiment the cases name (``hostile``)."""
    folder = tmp_path_factory.mktemp("project")
    (folder / "runyard.yaml").write_text(BASE_SPEC)
    home = folder / "home"
    result = invoke(["run", str(folder / "runyard.yaml"), "--home", str(home)])
    assert result.exit_code == 0, result.output
    assert (home / "runyard.db").is_file()
    yield home


@pytest.fixture
def spec_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "specs"
    folder.mkdir()
    (folder / "base.yaml").write_text(BASE_SPEC)
    return folder


def test_the_corpus_is_large_enough() -> None:
    assert len(SPEC_CASES) + len(CLI_CASES) >= 40
    assert {p.stem for p in SPEC_CASES} >= set(SUBPROCESS_CASES)


@pytest.mark.parametrize("case", SPEC_CASES, ids=[p.stem for p in SPEC_CASES])
def test_hostile_spec_exits_2_with_one_message_and_writes_nothing(case: Path, home: Path, spec_folder: Path) -> None:
    spec = spec_folder / case.name
    shutil.copyfile(case, spec)
    before = fingerprint(home, spec_folder)
    result = invoke(["run", str(spec), "--home", str(home)])
    assert result.exit_code == 2, (result.output, result.exception)
    assert expected_of(case) in one_message(result.stderr), result.stderr
    assert result.stdout == ""
    assert fingerprint(home, spec_folder) == before


@pytest.mark.parametrize(("argv", "expected"), [c[1:] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES])
def test_hostile_command_line_exits_2_with_one_message_and_writes_nothing(argv: list[str], expected: str, home: Path,
                                                                         spec_folder: Path) -> None:
    spec = str(spec_folder / "base.yaml")
    args = [spec if a == "SPEC" else a for a in argv]
    before = fingerprint(home, spec_folder)
    result = invoke([*args, "--home", str(home)])
    assert result.exit_code == 2, (result.output, result.exception)
    assert expected in one_message(result.stderr), result.stderr
    assert fingerprint(home, spec_folder) == before


@pytest.mark.parametrize("name", SUBPROCESS_CASES)
def test_hostile_spec_through_the_real_command(name: str, home: Path, spec_folder: Path) -> None:
    case = CASES / f"{name}.yaml"
    spec = spec_folder / case.name
    shutil.copyfile(case, spec)
    before = fingerprint(home, spec_folder)
    proc = subprocess.run([RUNYARD, "run", str(spec), "--home", str(home)], capture_output=True, text=True,
                          timeout=60, cwd=spec_folder)
    assert proc.returncode == 2, proc.stderr
    assert expected_of(case) in one_message(proc.stderr)
    assert proc.stdout == ""
    assert fingerprint(home, spec_folder) == before


def test_option_for_a_param_through_the_real_command(home: Path, spec_folder: Path) -> None:
    before = fingerprint(home, spec_folder)
    proc = subprocess.run([RUNYARD, "run", str(spec_folder / "base.yaml"), "--lr", "0.1", "--home", str(home)],
                          capture_output=True, text=True, timeout=60, cwd=spec_folder)
    assert proc.returncode == 2
    assert "lr=0.1" in one_message(proc.stderr)
    assert fingerprint(home, spec_folder) == before
