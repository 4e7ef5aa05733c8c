"""The Ray launcher: each execution is a Ray task that asks for the step's resources, so Ray places it on
a node of the cluster and chooses its GPUs (``CUDA_VISIBLE_DEVICES`` as Ray sets it).

The worker (the driver) still claims, leases and records every execution in the store; only the step's
process runs on the node Ray picks (:func:`~runyard.execute.launchers.ray_task.run_step`).  What a task
asks for: ``num_gpus`` = the number of GPUs of the worker's slot (``1 / per_gpu`` for a one-GPU step when
steps share GPUs), ``num_cpus`` = :attr:`RaySettings.cpus` (default: 1 for a CPU step, 0 for a GPU step,
like the local slots where GPU steps and CPU steps do not compete) and the custom resources of
:attr:`RaySettings.resources`.  The remote function has ``max_calls=0`` (Ray would start a new worker
process for every GPU task otherwise: seconds each) and ``max_retries=0``: the step's ``retries`` decide.

Costs: one pipe per running step (its ``fileno()``, written by the completion callback of the task's
result, in Ray's own thread); one :class:`~.ray_task.NodeAgent` actor per node, started at the first
:meth:`RayHandle.terminate` (a cancel, a timeout, Ctrl-C), to signal the step's process group on its node.
A task that dies without a result (its node lost, its Ray worker killed) ends ``lost``: the worker records
the attempt failed, and the step's ``retries`` requeue it.

Files: the home must be on a file system every node sees (one machine, NFS, ...): steps write their log,
metrics and ``out/`` in place.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from runyard.errors import LaunchError
from runyard.execute.launchers.base import Capabilities, Clock, Exit, LaunchRequest
from runyard.execute.launchers.ray_cluster import require_ray

__all__ = ["RayHandle", "RayLauncher", "RaySettings", "task_resources"]


@dataclass(frozen=True)
class RaySettings:
    """What every step's Ray task asks for beyond its GPUs."""

    per_gpu: int = 1  # steps sharing one GPU: a one-GPU step asks for 1 / per_gpu of it
    cpus: float | None = None  # per step; None: 1 for a CPU step, 0 for a GPU step
    resources: Mapping[str, float] = field(default_factory=dict)  # custom Ray resources, per step


def task_resources(gpus: int, settings: RaySettings) -> dict[str, Any]:
    """The Ray options of a step needing ``gpus`` GPUs."""
    if gpus == 1 and settings.per_gpu > 1:
        num_gpus: float = 1.0 / settings.per_gpu
    else:
        num_gpus = float(gpus)
    cpus = settings.cpus if settings.cpus is not None else (0.0 if gpus else 1.0)
    options: dict[str, Any] = {"num_gpus": num_gpus, "num_cpus": cpus}
    if settings.resources:
        options["resources"] = dict(settings.resources)
    return options


def _slot_gpus(env: Mapping[str, str]) -> int:
    """How many GPUs the worker's slot gave the step (its ``CUDA_VISIBLE_DEVICES``): what the task asks Ray
    for; Ray chooses which."""
    return len([g for g in env.get("CUDA_VISIBLE_DEVICES", "").split(",") if g.strip()])


class RayHandle:
    """One execution's Ray task, watched from the driver."""

    def __init__(self, launcher: RayLauncher, ref: Any, token: str, *, timeout: float | None, grace: float) -> None:
        self.pid: int = os.getpid()  # the step's process is on a node of the cluster: the driver's own
        self.pgid: int | None = None  # no group of its own on this host
        self.terminating = False
        self.token = token
        self.ref = ref
        self._launcher = launcher
        self._clock = launcher.clock
        self._deadline = launcher.clock() + timeout if timeout else None
        self._grace = grace
        self._kill_at: float | None = None
        self._timed_out = False
        self._signalled: int | None = None
        self._exit: Exit | None = None
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        ref.future().add_done_callback(self._wake)

    def _wake(self, _future: object) -> None:  # in a thread of Ray's
        self._done.set()
        with self._lock:
            if self._write >= 0:
                with contextlib.suppress(OSError):
                    os.write(self._write, b"x")

    def fileno(self) -> int | None:
        return self._read if self._read >= 0 else None

    @property
    def due(self) -> float | None:
        moments = [m for m in (self._deadline, self._kill_at) if m is not None]
        return min(moments) if moments else None

    def poll(self) -> Exit | None:
        if self._exit is not None:
            return self._exit
        if not self._done.is_set():
            self._enforce()
            return None
        self._exit = self._result()
        self._launcher.forget(self)
        return self._exit

    def _result(self) -> Exit:
        ray = require_ray()
        reason = "timeout" if self._timed_out else ""
        try:
            code = ray.get(self.ref)
        except ray.exceptions.TaskCancelledError:  # cancelled before it started
            return Exit(128 + (self._signalled or signal.SIGTERM), reason)
        except ray.exceptions.RayTaskError as err:  # the task itself raised: the step could not start
            return Exit(None, reason, lost=f"the Ray task failed: {str(err).strip().splitlines()[-1]}")
        except ray.exceptions.RayError as err:  # its Ray worker or node died: no exit status
            detail = str(err).strip().splitlines()[0] if str(err).strip() else ""
            return Exit(None, reason, lost=f"the Ray task was lost ({type(err).__name__}: {detail})")
        return Exit(int(code), reason)

    def _enforce(self) -> None:
        now = self._clock()
        if self._kill_at is not None and now >= self._kill_at:
            self._send(signal.SIGKILL)
            self._kill_at = None
        elif self._deadline is not None and now >= self._deadline:
            self._timed_out = True
            self.terminate(self._grace)

    def terminate(self, grace: float) -> None:
        self.terminating = True
        self._deadline = None
        if grace <= 0:
            self._send(signal.SIGKILL)
            self._kill_at = None
            return
        self._send(signal.SIGTERM)
        self._kill_at = self._clock() + grace

    def _send(self, signum: int) -> None:
        if self._signalled is None:
            self._signalled = signum
        if not self._done.is_set():
            self._launcher.signal(self.token, signum)

    def close(self) -> None:
        with self._lock:
            read, write = self._read, self._write
            self._read = self._write = -1
        for fd in (read, write):
            if fd >= 0:
                os.close(fd)


class RayLauncher:
    """Steps as Ray tasks on the cluster this process is connected to (``ray.init`` done by the caller:
    :func:`~runyard.execute.launchers.ray_cluster.connected`; without it, it joins a running cluster)."""

    name = "ray"
    capabilities = Capabilities(
        own_process=True, process_tree=True, gpus=False, timeouts=True, remote_files=True,
        limits={"gpus": "Ray chooses the GPUs of each task and sets CUDA_VISIBLE_DEVICES itself; the slot's "
                        "indices only say how many it asks for"})

    def __init__(self, clock: Clock = time.monotonic, *, settings: RaySettings | None = None) -> None:
        ray = require_ray()
        if not ray.is_initialized():
            from runyard.execute.launchers.ray_cluster import join

            join("auto")
        from runyard.execute.launchers import ray_task

        self.clock = clock
        self.settings = settings or RaySettings()
        self._remote = ray.remote(max_calls=0, max_retries=0, retry_exceptions=False)(ray_task.task_entry)
        self._agent_class = ray.remote(ray_task.NodeAgent)
        self._agents: dict[str, Any] = {}
        self._running: dict[str, RayHandle] = {}

    def start(self, request: LaunchRequest) -> RayHandle:
        token = uuid.uuid4().hex
        fields = {"command": request.command, "cwd": request.cwd, "log_path": request.log_path,
                  "env": dict(request.env), "pythonpath_first": request.pythonpath_first, "token": token}
        options = task_resources(_slot_gpus(request.env), self.settings)
        try:
            ref = self._remote.options(**options).remote(fields)
        except Exception as err:  # Ray refuses the options (an unknown resource name, ...)
            raise LaunchError(f"Ray did not accept the task of this step ({options}): {err}") from err
        handle = RayHandle(self, ref, token, timeout=request.timeout, grace=request.grace)
        self._running[token] = handle
        return handle

    def forget(self, handle: RayHandle) -> None:
        self._running.pop(handle.token, None)

    def signal(self, token: str, signum: int) -> None:
        """Send ``signum`` to step ``token``'s process group on whichever node runs it (each node's agent
        is asked; the one that has it signals it, the others keep it for a step that starts later)."""
        for agent in self._node_agents():
            agent.signal.remote(token, signum)

    def _node_agents(self) -> list[Any]:
        ray = require_ray()
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        alive = {node["NodeID"] for node in ray.nodes() if node.get("Alive")}
        for node in alive - self._agents.keys():
            strategy = NodeAffinitySchedulingStrategy(node_id=node, soft=False)
            self._agents[node] = self._agent_class.options(num_cpus=0, scheduling_strategy=strategy,
                                                           max_restarts=0).remote()
        for node in self._agents.keys() - alive:
            del self._agents[node]
        return list(self._agents.values())

    def close(self) -> None:
        """Kill what still runs (its process groups, then its Ray tasks) and the node agents."""
        ray = require_ray()
        if not ray.is_initialized():
            return
        left = list(self._running.values())
        for handle in left:
            handle.terminate(0)
        refs = [handle.ref for handle in left]
        with contextlib.suppress(Exception):
            if refs:
                ray.wait(refs, num_returns=len(refs), timeout=5.0)
        for ref in refs:
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)
        self._running.clear()
        for agent in self._agents.values():
            with contextlib.suppress(Exception):
                ray.kill(agent)
        self._agents.clear()
