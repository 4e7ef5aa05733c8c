"""``runyard run --executor slurm`` and ``runyard worker --executor slurm``: steps on a Slurm cluster.

The home (and a SQLite store in it) must be on a file system the cluster's nodes share; the store stays the
record of every execution.  Two ways, chosen by the ``slurm:`` block's ``workers``:

- **worker jobs** (``workers: N``, default 4): the plan is submitted to the store, then for each GPU count
  its steps need, up to N Slurm jobs each run ``runyard worker --burst`` for this experiment on the GPUs Slurm
  gave the job, pulling steps from the store one after another until none is left.  A 1,000-step sweep is a
  handful of Slurm jobs.  A worker job Slurm ends (time limit, preemption, node failure, ``scancel``) is
  reported with sacct's reason; its running steps are recorded interrupted (SIGTERM reached them) or
  requeued when their lease expires (SIGKILL, a lost node), and a new worker job takes over while ready
  work is left.
- **one job per step** (``workers: 0``): a worker on this machine starts each step as a Slurm job of its own
  (the ``slurm`` launcher): the step's GPUs, ``--time`` from its timeout, sacct's reason recorded with the
  step when Slurm ends it, its ``retries`` deciding whether it runs again, preempted steps submitted again.
"""

from __future__ import annotations

import os
import shlex
import sys
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from runyard.execute.launchers.base import Exit, LaunchRequest
from runyard.layout import HomePaths
from runyard.model import Plan, Status
from runyard.spec.slurm import SlurmSpec
from runyard.store.base import Store

if TYPE_CHECKING:
    from runyard.app.session import Display, RunOptions

__all__ = ["SlurmRun", "parse_slurm_options", "run_on_slurm", "run_worker_jobs", "slurm_launcher", "worker_command"]

#: worker jobs started again after Slurm ended some, at most this many times the first round's
_REPLACEMENTS = 3
#: one Slurm job per step: at most this many submitted at once (unless --jobs says)
_PER_STEP_JOBS = 64


def parse_slurm_options(texts: Collection[str]) -> dict[str, str]:
    """``--slurm-opt key=value`` (or ``key`` for a flag) → sbatch option names and values."""
    from runyard.errors import UsageError
    from runyard.spec.slurm import _OPTION

    out: dict[str, str] = {}
    for text in texts:
        name, _, value = text.partition("=")
        name = name.strip().lstrip("-")
        if not _OPTION.match(name):
            raise UsageError(f"--slurm-opt {text!r}: expected KEY=VALUE with an sbatch long option name as KEY "
                             "(e.g. --slurm-opt mail-type=END, --slurm-opt exclusive)")
        out[name] = value
    return out


def slurm_launcher(settings: SlurmSpec, *, env: Mapping[str, str] | None = None) -> list[object]:
    """Register the ``slurm`` launcher with ``settings``; the launchers it opens are appended to the list
    returned (to count their jobs)."""
    from runyard.execute import launchers
    from runyard.execute.launchers.slurm import SlurmLauncher

    opened: list[object] = []

    def factory(clock: Callable[[], float]) -> SlurmLauncher:
        launcher = SlurmLauncher(clock, settings=settings, env=dict(env) if env is not None else None)
        opened.append(launcher)
        return launcher

    launchers.register("slurm", factory)
    return opened


@dataclass
class SlurmRun:
    """What the worker jobs did: the Slurm jobs submitted and how each ended."""

    jobs: list[str] = field(default_factory=list)
    ended: dict[str, str] = field(default_factory=dict)  # job → "" (its worker exited) or sacct's reason


def worker_command(experiment: str, home: str, *, grace: float, lease: float, fake_gpus: bool) -> str:
    """The command of a worker job: this Python's runyard, on the GPUs Slurm gave the job."""
    args = [sys.executable, "-m", "runyard", "worker", "--home", home, "--experiment", experiment, "--burst",
            "--lease", f"{lease:g}", "--grace", f"{grace:g}"]
    if fake_gpus:
        args.append("--fake-gpus")
    # the job's GPUs are its slots; a job without GPUs runs one CPU step at a time
    return shlex.join(args) + ' --gpus "${CUDA_VISIBLE_DEVICES:-none}" --jobs 1'


def run_worker_jobs(store: Store, plan: Plan, settings: SlurmSpec, *, store_url: str, grace: float, lease: float,
                    say: Callable[[str], None], stop: threading.Event, fake_gpus: bool = False,
                    env: Mapping[str, str] | None = None) -> SlurmRun:
    """Run the submitted ``plan`` with worker jobs until none is left running (see the module's docstring).
    ``stop`` set: cancel the jobs (``scancel``) and return."""
    from runyard.execute.launchers.slurm import SlurmHandle, SlurmLauncher

    launcher = SlurmLauncher(settings=settings, env=dict(env) if env is not None else None)
    home = HomePaths(plan.home)
    os.makedirs(home.workers, exist_ok=True)
    command = worker_command(plan.experiment, plan.home, grace=grace, lease=lease, fake_gpus=fake_gpus)
    done = SlurmRun()
    running: dict[str, tuple[int, SlurmHandle]] = {}  # job → (its GPU count, its handle)
    budget: dict[int, int] = {}

    def start(gpus: int) -> None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        log = home.worker_output(plan.experiment, f"{stamp}-slurm{len(done.jobs)}", os.getpid())
        devices = ",".join(str(i) for i in range(gpus))  # the launcher asks Slurm for as many GPUs
        handle = launcher.start(LaunchRequest(command, cwd=plan.home, log_path=log, env={
            "RUNYARD_STORE": store_url, "CUDA_VISIBLE_DEVICES": devices}, grace=grace))
        done.jobs.append(handle.job)
        running[handle.job] = (gpus, handle)
        say(f"Slurm job {handle.job}: runyard worker on {gpus} GPU(s), output {log}")

    try:
        for gpus, count in sorted(_waiting_by_gpus(store, plan).items()):
            for _ in range(min(settings.workers, count)):
                start(gpus)
            budget[gpus] = _REPLACEMENTS * min(settings.workers, count)
        while not stop.is_set():
            for job, (_, handle) in list(running.items()):
                ended = handle.poll()
                if ended is None:
                    continue
                del running[job]
                handle.close()
                done.ended[job] = _said(ended)
                if ended.lost or ended.code:
                    say(f"Slurm job {job}: {done.ended[job]}")
            store.reap()  # the steps of a worker killed outright go back to ready once their lease expired
            for gpus, count in _waiting_by_gpus(store, plan, ready_only=True).items():
                serving = any(g == gpus for g, _ in running.values())
                if count and not serving and budget.get(gpus, 0) > 0:  # Slurm ended this group's jobs
                    budget[gpus] -= 1
                    start(gpus)
            if not running and not _unfinished(store, plan):
                break  # no job left, nothing running (a dead worker's step waits for its lease to expire)
            stop.wait(0.5)
    finally:
        if running:
            say(f"cancelling Slurm job(s) {', '.join(running)}")
        launcher.close()
    return done


def _said(ended: Exit) -> str:
    if ended.lost:
        return ended.lost.replace("Slurm job ", "", 1).split(" ", 1)[-1]
    return "" if not ended.code else f"worker exited {ended.code}"


def _waiting_by_gpus(store: Store, plan: Plan, *, ready_only: bool = False) -> dict[int, int]:
    keys = [ex.key for ex in plan.executions]
    statuses = [Status.READY] if ready_only else [Status.READY, Status.WAITING]
    counts: dict[int, int] = {}
    for record in store.executions(plan.experiment, keys=keys, statuses=statuses):
        counts[record.gpus] = counts.get(record.gpus, 0) + 1
    return counts


def _unfinished(store: Store, plan: Plan) -> bool:
    """Whether a step of the plan is still marked running (its worker's lease not yet expired)."""
    keys = [ex.key for ex in plan.executions]
    return bool(store.executions(plan.experiment, keys=keys, statuses=[Status.RUNNING]))


def run_on_slurm(plan: Plan, options: RunOptions, settings: SlurmSpec, *, display: Display,
                 say: Callable[[str], None], install_signals: Callable[[Callable[[], None]], None] | None = None,
                 fake_gpus: bool = False) -> tuple[int, int]:
    """``runyard run --executor slurm``: submit ``plan`` and run it on the cluster; the exit code and the
    number of Slurm jobs submitted."""
    from runyard.app.session import collect_outcome, drain, forced_keys
    from runyard.app.stores import open_for_plan
    from runyard.app.submission import describe, submit_plan
    from runyard.execute.slots import SlotPool
    from runyard.execute.slurm_jobs import check_slurm

    check_slurm()
    force = forced_keys(plan, force=options.force, steps=options.force_steps)
    store = open_for_plan(options.home, options.store_url)
    try:
        if settings.workers == 0:  # one Slurm job per step, started by a worker here
            opened = slurm_launcher(settings)
            jobs = options.jobs or _PER_STEP_JOBS
            pool = SlotPool(list(range(jobs)), per_gpu=1, jobs=jobs)  # a bound on the jobs at once, not GPUs
            outcome = drain(store, plan, options, display, pool, install_signals, force, recover_first=True,
                            launcher="slurm")
            return outcome.exit_code, sum(getattr(launcher, "submitted", 0) for launcher in opened)
        result = submit_plan(store, plan, force=force).result
        say(describe(result))
        stop = threading.Event()
        if install_signals is not None:
            install_signals(stop.set)
        done = run_worker_jobs(store, plan, settings, store_url=store.url, grace=options.grace,
                               lease=options.lease_seconds, say=say, stop=stop, fake_gpus=fake_gpus)
        outcome = collect_outcome(store, plan)
        outcome.interrupted = stop.is_set() and any(s != Status.DONE for s in outcome.statuses.values())
        counts: dict[str, int] = {}
        for status in outcome.statuses.values():
            counts[str(status)] = counts.get(str(status), 0) + 1
        say(f"{plan.experiment}: {', '.join(f'{n} {s}' for s, n in sorted(counts.items()))} "
            f"({len(done.jobs)} Slurm job{'s' if len(done.jobs) != 1 else ''})")
        for record in outcome.failed:
            say(f"failed: {record.step} {record.short}: {record.error}")
        stopped = sum(1 for status in outcome.statuses.values() if status == Status.INTERRUPTED)
        if stopped:  # their worker job was ended by Slurm (or scancel): not done, so not a success
            outcome.blocked += stopped
            say(f"{stopped} step{'s were' if stopped != 1 else ' was'} interrupted when Slurm ended a worker job: "
                "run the same command again to resume")
        return outcome.exit_code, len(done.jobs)
    finally:
        store.close()
