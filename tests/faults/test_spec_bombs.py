"""Spec bombs under a memory limit: a billion-laughs file and `--sample 5` of a 10^9-run grid, each in a
real `runyard` child process whose address space is capped at 1 GiB (``RLIMIT_AS``). Before the bounds,
the first took 1.8 GB and ended in MemoryError after ~28 s, the second in MemoryError after ~18 s."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

LIMIT = 1 << 30  # 1 GiB of address space
ENDS_WITHIN = 60.0  # seconds: a generous hang bound, not a speed test
RUNYARD = str(Path(sys.executable).with_name("runyard"))

LAUGHS = ("experiment: laughs\nsteps: {a: echo hi}\na0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
          + "".join(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 9)))
GRID = ("experiment: grid\nparams: {" + ", ".join(f"p{i}: 0" for i in range(9)) + "}\n"
        "steps:\n  a: echo " + " ".join(f"{{p{i}}}" for i in range(9)) + "\n"
        "sweeps:\n  big: {" + ", ".join(f"p{i}: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]" for i in range(9)) + "}\n")


def capped() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))


def runyard(*args: str, cwd: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.monotonic()
    proc = subprocess.run([RUNYARD, *args], capture_output=True, text=True, cwd=cwd, preexec_fn=capped,
                          timeout=ENDS_WITHIN)
    return proc, time.monotonic() - start


def test_billion_laughs_is_a_spec_error_within_the_memory_cap(tmp_path: Path) -> None:
    (tmp_path / "laughs.yaml").write_text(LAUGHS)
    proc, took = runyard("plan", "laughs.yaml", "--home", str(tmp_path / "home"), cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("runyard: spec error: laughs.yaml:")
    assert "YAML aliases (*name) expand to more than 100,000 values" in proc.stderr
    assert "Traceback" not in proc.stderr and "MemoryError" not in proc.stderr
    assert took < ENDS_WITHIN
    assert sorted(p.name for p in tmp_path.iterdir()) == ["laughs.yaml"]


def test_sample_of_a_billion_run_grid_within_the_memory_cap(tmp_path: Path) -> None:
    (tmp_path / "grid.yaml").write_text(GRID)
    proc, took = runyard("plan", "grid.yaml", "--sample", "5", "--json", "--home", str(tmp_path / "home"),
                         cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    runs = json.loads(proc.stdout)["runs"]
    assert len(runs) == 5 and len({json.dumps(r["params"], sort_keys=True) for r in runs}) == 5
    assert took < ENDS_WITHIN


def test_billion_run_grid_without_sample_is_refused_within_the_memory_cap(tmp_path: Path) -> None:
    (tmp_path / "grid.yaml").write_text(GRID)
    proc, took = runyard("run", "grid.yaml", "--home", str(tmp_path / "home"), cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "expand to 1,000,000,000 runs, more than 1,000,000: run a random subset with --sample N" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert took < ENDS_WITHIN
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid.yaml"]
