"""Talking to Slurm through its commands: submit a batch job (``sbatch``), read how jobs stand (``sacct``,
the accounting record, with ``scontrol`` for what accounting has not heard of yet) and signal or cancel them
(``scancel``).  Each call is one process; :class:`JobBoard` reads every watched job in one call."""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import subprocess
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from runyard.errors import LaunchError

__all__ = ["ENDED", "LOST_STATES", "JobBoard", "JobState", "cancel", "check_slurm", "submit"]

#: states in which a job is over for good
ENDED = frozenset({"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL",
                   "DEADLINE", "OUT_OF_MEMORY", "REVOKED", "SPECIAL_EXIT"})
#: states in which Slurm ended the job, not its own exit: the step's exit status says nothing
LOST_STATES = frozenset({"CANCELLED", "TIMEOUT", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "DEADLINE", "REVOKED"})
_CALL_TIMEOUT = 60.0
#: the batch script: the step in a session of its own, SIGTERM passed on to its whole group, and what is left
#: of the group killed once its leader exited (Slurm's process tracking may not follow a detached process),
#: and the step's death by a signal passed on (the job's exit code then says which signal)
_SCRIPT = """#!/bin/bash
setsid bash -c {command} &
child=$!
trap 'kill -TERM -- -$child 2>/dev/null' TERM
while :; do wait "$child"; code=$?; kill -0 "$child" 2>/dev/null || break; done
kill -KILL -- -"$child" 2>/dev/null
if [ "$code" -gt 128 ] && [ "$code" -lt 160 ]; then trap - TERM; kill -"$((code - 128))" $$; fi
exit "$code"
"""


@dataclass(frozen=True)
class JobState:
    """One job as Slurm reports it: ``state`` (``RUNNING``, ``CANCELLED`` ...), ``reason`` (sacct's
    full state text, e.g. ``CANCELLED by 0``, with the pending reason or the node), exit status and signal."""

    job: str
    state: str
    reason: str = ""
    exit_status: int = 0
    signal: int = 0

    @property
    def ended(self) -> bool:
        return self.state in ENDED

    @property
    def code(self) -> int:
        """A shell's exit code: ``128 + N`` when killed by signal N."""
        return 128 + self.signal if self.signal else self.exit_status


def check_slurm() -> None:
    """Raise :class:`LaunchError` when the Slurm commands are not on PATH."""
    missing = [tool for tool in ("sbatch", "sacct", "scancel", "scontrol") if shutil.which(tool) is None]
    if missing:
        raise LaunchError(f"the Slurm commands {', '.join(missing)} are not on PATH: run on a machine of the "
                          "cluster (a login node), or install Slurm's clients (Debian: slurm-client)")


def _run(argv: Sequence[str], *, env: Mapping[str, str] | None = None, stdin: str | None = None) -> str:
    try:
        done = subprocess.run(list(argv), input=stdin, capture_output=True, text=True, timeout=_CALL_TIMEOUT,
                              env=dict(env) if env is not None else None)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise LaunchError(f"{shlex.join(argv[:2])} failed: {err}") from err
    if done.returncode != 0:
        raise LaunchError(f"{shlex.join(argv[:1])} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def submit(command: str, *, options: Sequence[str], cwd: str, log_path: str, env: Mapping[str, str],
           name: str) -> str:
    """Submit ``bash -c COMMAND`` as a batch job in ``cwd`` with the environment ``env`` (the whole of it:
    ``--export=ALL``), output appended to ``log_path``; its job id."""
    script = _SCRIPT.format(command=shlex.quote(command))
    argv = ["sbatch", "--parsable", f"--job-name={name}", f"--chdir={cwd}", f"--output={log_path}",
            "--open-mode=append", "--export=ALL", "--no-requeue", *options]
    out = _run(argv, env=env, stdin=script).strip()
    job = out.split(";")[0]
    if not job.isdigit():
        raise LaunchError(f"sbatch printed {out!r}, not a job id")
    return job


def cancel(job: str, signal: str | None = None, *, env: Mapping[str, str] | None = None) -> None:
    """``scancel`` the job; with ``signal`` (``TERM``, ``KILL``), only send it to every process of the job."""
    argv = ["scancel", job] if signal is None else ["scancel", "--full", f"--signal={signal}", job]
    with contextlib.suppress(LaunchError):  # already over: nothing to cancel
        _run(argv, env=env)


def _exit(text: str) -> tuple[int, int]:
    status, _, sig = text.partition(":")
    return (int(status) if status.isdigit() else 0, int(sig) if sig.isdigit() else 0)


class JobBoard:
    """The state of every job being watched, read in one ``sacct`` call at most every ``every`` seconds."""

    def __init__(self, *, env: Mapping[str, str] | None = None, every: float = 0.25) -> None:
        self._env = env
        self._every = every
        self._read_at = -1e9
        self.states: dict[str, JobState] = {}
        self.watched: set[str] = set()

    def watch(self, job: str) -> None:
        self.watched.add(job)

    def forget(self, job: str) -> None:
        self.watched.discard(job)
        self.states.pop(job, None)

    def state(self, job: str) -> JobState | None:
        """The job's state as last read, reading again when it is time."""
        if time.monotonic() - self._read_at >= self._every:
            self.refresh()
        return self.states.get(job)

    def refresh(self, jobs: Collection[str] | None = None) -> None:
        """Read the jobs again: one ``sacct`` call, and one ``scontrol`` call for those accounting has not
        recorded yet.  When Slurm does not answer, the states read before are kept (asked again next time)."""
        ids = sorted(jobs if jobs is not None else self.watched)
        self._read_at = time.monotonic()
        if not ids:
            return
        try:
            out = _run(["sacct", "-n", "-P", "-X", "-D", "-j", ",".join(ids), "-o",
                        "JobIDRaw,State,ExitCode,NodeList"], env=self._env)
        except LaunchError:
            return
        seen: dict[str, JobState] = {}
        for line in out.splitlines():
            fields = line.split("|")
            if len(fields) < 4:
                continue
            job, state_text, exit_text, nodes = fields[:4]
            status, sig = _exit(exit_text)
            state = state_text.split()[0].rstrip("+") if state_text else "UNKNOWN"
            reason = state_text + (f" on {nodes}" if nodes and nodes != "None assigned" else "")
            seen[job] = JobState(job, state, reason, status, sig)  # with -D: the last record of a job wins
        missing = [job for job in ids if job not in seen]
        if missing:  # just submitted: accounting may not know them yet, the controller does
            seen.update(self._controller(missing))
        self.states.update(seen)

    def _controller(self, jobs: Collection[str]) -> dict[str, JobState]:
        try:
            out = _run(["scontrol", "-o", "show", "job"], env=self._env)
        except LaunchError:
            return {}
        found: dict[str, JobState] = {}
        for line in out.splitlines():
            fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
            job, state = fields.get("JobId", ""), fields.get("JobState", "UNKNOWN")
            if job not in jobs or state in ENDED:  # an ended job: wait for its accounting record (its reason)
                continue
            status, sig = _exit(fields.get("ExitCode", "0:0"))
            found[job] = JobState(job, state, fields.get("Reason", ""), status, sig)
        return found


def environment(extra: Mapping[str, str], pythonpath_first: str | None) -> dict[str, str]:
    """The environment a job is submitted with: this process's, ``extra`` and the spec's folder first on
    ``PYTHONPATH``."""
    env = {**os.environ, **extra}
    if pythonpath_first:
        old = env.get("PYTHONPATH")
        env["PYTHONPATH"] = pythonpath_first + os.pathsep + old if old else pythonpath_first
    return env
