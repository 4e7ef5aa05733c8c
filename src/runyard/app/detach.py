"""``runyard run --detach``: a worker that outlives the terminal.

The sweep is submitted in the foreground (so every spec or store error shows at once); then a
``runyard worker --burst`` for that experiment starts in a new session (no controlling terminal:
closing the terminal or Ctrl-C in it does not reach it), its output in ``<home>/workers/``.
``runyard status`` and ``runyard logs -f`` follow it; ``kill PID`` stops it like a second Ctrl-C.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from runyard.spec.text import file_name


def start_worker(worker_args: Sequence[str], *, home: Path, experiment: str, store_url: str) -> tuple[int, Path]:
    """Start ``runyard worker *worker_args`` detached; returns its pid and its output file."""
    logs = home / "workers"
    logs.mkdir(parents=True, exist_ok=True)
    safe = file_name("".join(c if c.isalnum() or c in "-_." else "_" for c in experiment))
    log_path = logs / f"{safe}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    with open(log_path, "ab") as log, open(os.devnull, "rb") as devnull:
        child = subprocess.Popen(
            [sys.executable, "-m", "runyard", "worker", *worker_args],
            stdin=devnull,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            env={**os.environ, "RUNYARD_STORE": store_url},
        )
    return child.pid, log_path
