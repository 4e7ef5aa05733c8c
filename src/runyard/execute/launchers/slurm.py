"""The Slurm launcher: each step is a Slurm batch job (``runyard worker --executor slurm``, and ``runyard run
--executor slurm`` with ``slurm: {workers: 0}``).

``start`` submits ``bash -c COMMAND`` with ``sbatch`` (the worker's environment and the step's, the spec's folder
first on ``PYTHONPATH``, output appended to the step's log), asking for the step's GPUs (``--gres=gpu:N``, N the
number of devices of its slot: Slurm chooses which and sets ``CUDA_VISIBLE_DEVICES``), the ``slurm:`` block's
settings for that step, and ``--time`` from its timeout.  The worker polls the handle (it has no descriptor):
the launcher reads every job it watches with one ``sacct`` call at most four times a second.

Termination signals every process of the job (``scancel --full --signal=TERM``, then ``KILL`` once the grace
period has passed on the worker's clock).  A job Slurm ended itself is *lost*, with sacct's reason (``CANCELLED
by 1000``, ``TIMEOUT``, ``NODE_FAIL on node7`` ...), so the step's ``retries`` decide whether it runs again; a
preempted job is submitted again at once (preemption is not the step's failure) and the handle goes on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from runyard.execute.launchers.base import Capabilities, Clock, Exit, LaunchRequest
from runyard.execute.slurm_jobs import JobBoard, cancel, check_slurm, environment, submit
from runyard.spec.slurm import SlurmSpec, sbatch_options

__all__ = ["SlurmHandle", "SlurmLauncher"]

#: minutes added to a step's timeout in its ``--time``: the worker stops it first, Slurm is the backstop
_SLACK = 120.0


@dataclass
class _Job:
    request: LaunchRequest
    options: list[str]
    name: str
    id: str = ""
    preempted: list[str] = field(default_factory=list)


class SlurmHandle:
    """One step's Slurm job, watched through the launcher's :class:`JobBoard`."""

    def __init__(self, launcher: SlurmLauncher, job: _Job, *, clock: Clock) -> None:
        self._launcher = launcher
        self._job = job
        self._clock = clock
        self.pid: int = launcher.pid
        self.pgid: int | None = None  # the step's processes are Slurm's, maybe on another node
        self.terminating = False
        self._deadline = clock() + job.request.timeout if job.request.timeout else None
        self._kill_at: float | None = None
        self._timed_out = False
        self._killed = False

    @property
    def job(self) -> str:
        return self._job.id

    def fileno(self) -> int | None:
        return None

    @property
    def due(self) -> float | None:
        moments = [m for m in (self._deadline, self._kill_at) if m is not None]
        return min(moments) if moments else None

    def poll(self) -> Exit | None:
        board = self._launcher.board
        state = board.state(self._job.id)
        if state is None or not state.ended:
            self._enforce()
            return None
        if state.state == "PREEMPTED" and not self.terminating:
            self._job.preempted.append(state.reason)
            board.forget(self._job.id)
            self._launcher.resubmit(self._job)
            return None
        board.forget(self._job.id)
        if state.state == "CANCELLED" and self.terminating:  # our own scancel, after the signals
            return Exit(128 + 9 if self._killed else 128 + 15, "timeout" if self._timed_out else "")
        if state.state in ("CANCELLED", "TIMEOUT", "NODE_FAIL", "BOOT_FAIL", "DEADLINE", "REVOKED") or (
                state.state == "PREEMPTED"):
            return Exit(None, lost=f"Slurm job {self._job.id} ended {state.reason}")
        return Exit(state.code, "timeout" if self._timed_out else "")

    def _enforce(self) -> None:
        now = self._clock()
        if self._kill_at is not None and now >= self._kill_at:
            self._kill()
        elif self._deadline is not None and now >= self._deadline:
            self._timed_out = True
            self.terminate(self._job.request.grace)

    def _kill(self) -> None:
        self._kill_at = None
        self._killed = True
        env = self._launcher.env
        cancel(self._job.id, "KILL", env=env)
        cancel(self._job.id, env=env)  # a pending job has no process to signal

    def terminate(self, grace: float) -> None:
        self.terminating = True
        self._deadline = None
        if grace <= 0:
            self._kill()
            return
        cancel(self._job.id, "TERM", env=self._launcher.env)
        self._kill_at = self._clock() + grace

    def close(self) -> None:
        self._launcher.board.forget(self._job.id)


class SlurmLauncher:
    """Steps as Slurm batch jobs."""

    name = "slurm"
    capabilities = Capabilities(
        own_process=True, process_tree=True, gpus=False, timeouts=True, remote_files=True,
        limits={"gpus": "Slurm chooses a step's GPUs (--gres=gpu:N) and sets CUDA_VISIBLE_DEVICES itself"})

    def __init__(self, clock: Clock = time.monotonic, *, settings: SlurmSpec | None = None,
                 env: dict[str, str] | None = None) -> None:
        import os

        check_slurm()
        self._clock = clock
        self.settings = settings or SlurmSpec()
        self.env = env  # for the Slurm commands (SLURM_CONF ...); None: this process's environment
        self.board = JobBoard(env=env)
        self.pid = os.getpid()
        self.submitted = 0  # Slurm jobs submitted, preempted ones submitted again included

    def start(self, request: LaunchRequest) -> SlurmHandle:
        step = request.env.get("RUNYARD_STEP")
        settings = self.settings.for_step(step)
        devices = request.env.get("CUDA_VISIBLE_DEVICES", "")
        gpus = len([d for d in devices.split(",") if d.strip()])
        time_limit = request.timeout + request.grace + _SLACK if request.timeout else None
        key = request.env.get("RUNYARD_KEY", "")
        job = _Job(request, sbatch_options(settings, gpus=gpus, time=time_limit),
                   name=f"runyard-{step}-{key[:12]}" if step else "runyard-step")
        self.resubmit(job)
        return SlurmHandle(self, job, clock=self._clock)

    def resubmit(self, job: _Job) -> None:
        request = job.request
        extra = {k: v for k, v in request.env.items() if k != "CUDA_VISIBLE_DEVICES"}
        env = environment({**(self.env or {}), **extra}, request.pythonpath_first)
        env.pop("CUDA_VISIBLE_DEVICES", None)  # Slurm sets the allocated GPUs'
        job.id = submit(request.command, options=job.options, cwd=request.cwd, log_path=request.log_path, env=env,
                        name=job.name)
        self.submitted += 1
        self.board.watch(job.id)

    def close(self) -> None:
        """Cancel every job still watched (the worker is done)."""
        for job in list(self.board.watched):
            cancel(job, env=self.env)
            self.board.forget(job)
