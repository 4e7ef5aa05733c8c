"""What runs inside a Ray worker for the Ray launcher (:mod:`.ray_launcher`): one step, and the node agent
that signals steps on its node.

:func:`run_step` is the body of the Ray task of one execution.  It starts the step exactly like the local
launcher does (:func:`runyard.execute.launchers.local.launch`: ``bash -c COMMAND`` in a process group of its
own, output appended to the log, a death signal and a guardian per Ray worker process, so the step dies
with the Ray worker that runs it: a force-cancel, a killed worker), waits for it (and kills it should the
raylet of its node die meanwhile: a lost node, whose steps run again elsewhere), kills what is
left of its group and returns its exit code (``128 + N`` when killed by signal N).  The GPUs the step sees
are the ones Ray gave the task (``CUDA_VISIBLE_DEVICES`` as Ray set it), never the driver's.

Signals: Ray's own cancel reaches the Ray worker, not the step's process group.  So each running step
writes ``<token>.pgid`` in a folder of its node (:func:`signal_folder`), and :class:`NodeAgent` (one actor
per node, no CPU) sends a signal to the group named there.  A signal that comes before the step has
started is left as ``<token>.signal``; the step reads it right after it starts and applies it.  Each side
checks the other's file after writing its own, so one of them always sees both.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

from runyard.execute.guardian import Guardian
from runyard.execute.launchers.local import Child, launch
from runyard.execute.processes import group_alive, signal_group

__all__ = ["NodeAgent", "run_step", "signal_folder", "task_entry"]

#: seconds between two looks at whether this Ray worker's raylet is alive, where pidfds are missing
ORPHAN_CHECK = 0.5
#: seconds after which a signal left for a step that never started on this node is deleted
STALE_SIGNAL = 3600.0

_guardian: list[Guardian] = []  # one per Ray worker process, started with its first step


def signal_folder() -> Path:
    """The node-local folder of the running steps' process groups and pending signals (this user's)."""
    folder = Path(tempfile.gettempdir()) / f"runyard-ray-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def _pending_signal(folder: Path, token: str) -> int | None:
    try:
        return int((folder / f"{token}.signal").read_text())
    except (OSError, ValueError):
        return None


def run_step(request: dict[str, Any], gpu_ids: list[str] | None) -> int:
    """Run one step (``request``: the fields of a :class:`~.base.LaunchRequest` plus its ``token``) in this
    Ray worker and return its exit code.  ``gpu_ids``: the GPUs Ray gave the task (None: it asked for none,
    and sees none)."""
    if not _guardian or not _guardian[0].alive:
        _guardian[:] = [Guardian()]
    guardian = _guardian[0]
    env = dict(request["env"])
    env["CUDA_VISIBLE_DEVICES"] = ",".join(gpu_ids or ())
    env["RUNYARD_RAY_NODE"] = request.get("node", "")
    folder = signal_folder()
    token = request["token"]
    child = launch(request["command"], cwd=request["cwd"], log_path=request["log_path"], env_extra=env,
                   pythonpath_first=request.get("pythonpath_first"), guardian=guardian)
    mark = folder / f"{token}.pgid"
    try:
        mark.write_text(str(child.pgid))
        pending = _pending_signal(folder, token)
        if pending is not None:
            signal_group(child.pgid, pending)
        _wait_unless_orphaned(child)
        signal_group(child.pgid, signal.SIGKILL)  # what outlived the leader (it is not reaped yet: no reuse)
        code = child.poll()
        assert code is not None
        return code
    finally:
        with contextlib.suppress(OSError):
            mark.unlink()
        with contextlib.suppress(OSError):
            (folder / f"{token}.signal").unlink()
        child.close()


def task_entry(request: dict[str, Any]) -> int:
    """The Ray task of one step: :func:`run_step` with the GPUs and the node Ray gave it."""
    import ray

    context = ray.get_runtime_context()
    gpu_ids = [str(g) for g in context.get_accelerator_ids().get("GPU", [])]
    return run_step({**request, "node": context.get_node_id()}, gpu_ids)


def _wait_unless_orphaned(child: Child) -> None:
    """Wait for the step's leader to exit; should the raylet that started this Ray worker die first (its
    node is lost: the driver runs the step again elsewhere), kill the step's group at once.  A Ray worker
    blocked in a task outlives its raylet, and its step with it."""
    raylet = os.getppid()
    try:
        watch = os.pidfd_open(raylet)
    except (AttributeError, OSError):
        watch = -1
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(child.fileno(), selectors.EVENT_READ)
            if watch >= 0:
                selector.register(watch, selectors.EVENT_READ)
            while child.poll() is None:
                selector.select(None if watch >= 0 else ORPHAN_CHECK)
                if os.getppid() != raylet:
                    signal_group(child.pgid, signal.SIGKILL)
                    child.wait()
                    return
    finally:
        if watch >= 0:
            os.close(watch)


class NodeAgent:
    """Signals the steps running on its node (a Ray actor pinned to the node, see :mod:`.ray_launcher`)."""

    def signal(self, token: str, signum: int) -> bool:
        """Send ``signum`` to the process group of step ``token`` on this node; when it has not started
        here (yet), leave the signal for it.  True when a running group was signalled."""
        folder = signal_folder()
        if self._send(folder, token, signum):
            return True
        pending = folder / f"{token}.signal"
        part = folder / f"{token}.signal.part"
        part.write_text(str(signum))
        os.replace(part, pending)
        if self._send(folder, token, signum):
            return True
        self._forget_stale(folder)
        return False

    def ping(self) -> int:
        """The agent's pid: it is up."""
        return os.getpid()

    @staticmethod
    def _send(folder: Path, token: str, signum: int) -> bool:
        try:
            pgid = int((folder / f"{token}.pgid").read_text())
        except (OSError, ValueError):
            return False
        signal_group(pgid, signum)
        return True

    @staticmethod
    def _forget_stale(folder: Path) -> None:
        """Delete the signals left for steps that never started here, and the groups of steps whose Ray
        worker was killed before it could delete them."""
        now = time.time()
        for path in folder.glob("*.signal"):
            with contextlib.suppress(OSError):
                if now - path.stat().st_mtime > STALE_SIGNAL:
                    path.unlink()
        for path in folder.glob("*.pgid"):
            with contextlib.suppress(OSError, ValueError):
                if now - path.stat().st_mtime > STALE_SIGNAL and not group_alive(int(path.read_text())):
                    path.unlink()
