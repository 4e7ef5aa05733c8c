"""Helpers to test step execution in-process: submit a spec to a SQLite store, drain it with a worker."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from runyard.app.session import forced_keys
from runyard.execute.worker import Worker
from runyard.layout import HomePaths
from runyard.spec import expand, load_spec
from runyard.store import Store, open_store


def submit_spec(spec: str | Path, home: str | Path) -> Store:
    """Expand ``spec`` with ``home`` and submit it to ``<home>/runyard.db``; the caller closes the store."""
    home = Path(home)
    plan = expand(load_spec(spec), home=str(home))
    home.mkdir(parents=True, exist_ok=True)
    store = open_store(f"sqlite:///{HomePaths(str(home)).store_file}")
    store.submit(plan, force=forced_keys(plan, force=False, steps=()))
    return store


def drain(worker: Worker, timeout: float) -> float:
    """``worker.run(burst=True)`` in a thread; its wall time in seconds. If it is still running after
    ``timeout``, stop it (as two Ctrl-C would) and raise AssertionError."""
    began = time.monotonic()
    thread = threading.Thread(target=worker.run, kwargs={"burst": True}, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        worker.request_stop()
        worker.request_stop()
        thread.join(30)
        raise AssertionError(f"the worker was still running after {timeout}s")
    return time.monotonic() - began
