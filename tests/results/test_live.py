"""``runyard run`` in a terminal (a real pseudo-terminal): the live display lists the running step
executions by step and run under its status line."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

RUNYARD = str(Path(sys.executable).with_name("runyard"))

SPEC = """
experiment: live
params:
  lr: 0.1
steps:
  hold: python hold.py {lr}
sweeps:
  grid:
    lr: [0.1, 0.2]
"""

HOLD = """
import os, sys, time
deadline = time.monotonic() + 120  # a bound on a hang: the test releases it as soon as it saw the display
while not os.path.exists("release") and time.monotonic() < deadline:
    time.sleep(0.02)
"""


def test_the_live_display_lists_what_runs(tmp_path: Path) -> None:
    (tmp_path / "runyard.yaml").write_text(SPEC)
    (tmp_path / "hold.py").write_text(HOLD)
    env = {**os.environ, "RUNYARD_HOME": str(tmp_path / "home"), "COLUMNS": "200", "TERM": "xterm"}
    env.pop("RUNYARD_STORE", None)
    main, child = pty.openpty()
    proc = subprocess.Popen([RUNYARD, "run", "-j", "2"], cwd=tmp_path, env=env, stdin=child, stdout=child,
                            stderr=child, close_fds=True)
    os.close(child)
    seen = b""
    deadline = time.monotonic() + 120  # a bound on a hang, not a timing assumption
    try:
        while time.monotonic() < deadline:
            text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", seen.decode("utf-8", "replace"))
            if re.search(r"running hold default \([0-9a-f]{12}\)", text) and \
                    re.search(r"running hold lr=0\.2 \([0-9a-f]{12}\)", text):
                break
            ready, _, _ = select.select([main], [], [], 1.0)
            if ready:
                try:
                    seen += os.read(main, 65536)
                except OSError:
                    break
        (tmp_path / "release").write_text("")
        while True:  # drain until the run ends (the pty closes)
            try:
                chunk = os.read(main, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        assert proc.wait(120) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(main)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", seen.decode("utf-8", "replace"))
    assert "running 2 ·" in text and re.search(r"running hold default \([0-9a-f]{12}\) · \d+s", text), text
    assert re.search(r"running hold lr=0\.2 \([0-9a-f]{12}\) · \d+s", text), text
    assert "live: 2 done" in text
