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

from runyard.layout import HomePaths


def start_worker(worker_args: Sequence[str], *, home: Path, experiment: str, store_url: str) -> tuple[int, Path]:
    """Start ``runyard worker *worker_args`` detached; returns its pid and its output file."""
    paths = HomePaths(str(home))
    os.makedirs(paths.workers, exist_ok=True)
    log_path = Path(paths.worker_output(experiment, time.strftime("%Y%m%d-%H%M%S"), os.getpid()))
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
