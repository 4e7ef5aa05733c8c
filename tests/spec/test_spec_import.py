"""`import runyard` stays light (DESIGN §9): no heavy or CLI-only packages at import time."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ["sqlalchemy", "pandas", "rich", "click", "numpy", "ray", "optuna", "psycopg", "fastapi", "torch"]


def loaded_after(statement: str) -> set[str]:
    code = f"import sys, json\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    return {name.split(".")[0] for name in json.loads(done.stdout)}


@pytest.mark.parametrize("statement", [
    "import runyard",
    "import runyard.spec",
    "from runyard.spec import load_spec, expand, spec_from_dict, parse_overrides",
    "import runyard.home, runyard.model, runyard.errors",
])
def test_import_is_light(statement: str) -> None:
    assert not loaded_after(statement) & set(HEAVY)


def test_plan_help_does_not_import_rich_or_the_store() -> None:
    code = ("import sys\nfrom click.testing import CliRunner\nfrom runyard.cli.main import cli\n"
            "r = CliRunner().invoke(cli, ['plan', '--help'])\nassert r.exit_code == 0, r.output\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('rich', 'sqlalchemy', 'pandas')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.strip() == "[]"
