"""Running the ``runyard`` console script as a real subprocess for the regression tests of tests/faults."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from runyard.testing.processes import Proc

RUNYARD = str(Path(sys.executable).with_name("runyard"))


def runyard(*args: str, cwd: Path, home: Path | None = None, env: Mapping[str, str] | None = None,
            timeout: float = 120) -> Proc:
    """``runyard ARGS`` in ``cwd`` (with ``RUNYARD_HOME`` set to ``home`` when given), finished."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("RUNYARD_")}
    if home is not None:
        full_env["RUNYARD_HOME"] = str(home)
    full_env.update(env or {})
    start = time.monotonic()
    done = subprocess.run([RUNYARD, *args], cwd=cwd, env=full_env, capture_output=True, text=True,
                          timeout=timeout, check=False)
    return Proc([RUNYARD, *args], done.returncode, done.stdout, done.stderr, time.monotonic() - start)
