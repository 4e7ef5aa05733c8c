"""One ``runyard run``: submit a plan, write its run folders and drain it with a local worker."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from runyard.app.executors import ExecutorOptions
from runyard.app.stores import open_for_plan
from runyard.errors import StoreUnavailable, UsageError, suggest
from runyard.execute import files
from runyard.execute.events import Event
from runyard.execute.slots import SlotPool
from runyard.home import resolve_store_url
from runyard.model import Plan, Status
from runyard.spec.types import Spec
from runyard.store.base import ExecRecord, Store, SubmitResult

if TYPE_CHECKING:
    from runyard.app.select import Picked


@dataclass(frozen=True)
class RunOptions:
    home: Path
    store_url: str | None = None
    gpus: Sequence[int] | str = ()
    per_gpu: int = 1
    jobs: int | None = None
    force: bool = False
    force_steps: Sequence[str] = ()
    lease_seconds: float = 30.0
    grace: float = 10.0
    inline: bool = False
    warm: bool = False  # call steps in warm slot processes (the "warm" launcher)
    store_timeout: float = 300.0  # seconds the store may stay unreachable before the worker gives up (exit 75)
    executor: ExecutorOptions = field(default_factory=ExecutorOptions)  # where the steps run (--executor)


@dataclass
class Outcome:
    """How the plan's executions stand after the worker stopped."""

    statuses: dict[str, Status] = field(default_factory=dict)
    failed: list[ExecRecord] = field(default_factory=list)
    blocked: int = 0
    interrupted: bool = False
    lost: int = 0  # attempts of this run's worker that another worker took over (never exit 0 then)

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return 130
        return 1 if self.failed or self.blocked or self.lost else 0


class Display(Protocol):
    def submitted(self, result: SubmitResult, pool: SlotPool) -> None: ...
    def event(self, event: Event) -> None: ...
    def close(self, outcome: Outcome) -> None: ...


@dataclass(frozen=True)
class FinalStage:
    """``select:`` after the sweep: ``spec`` holds the block, ``display`` makes the progress display of
    the final runs' plan, ``report`` prints the selection (lines of text), ``prepare`` (optional) changes
    the final runs' plan before it is submitted (``runyard.Experiment``: functions pickled by value)."""

    spec: Spec
    display: Callable[[Plan], Display]
    report: Callable[[Sequence[str]], None]
    prepare: Callable[[Plan], Plan] | None = None  # a last change to the final runs' plan before it is submitted


def forced_keys(plan: Plan, *, force: bool, steps: Collection[str], later: Collection[str] = ()) -> set[str]:
    """--force: every execution; --force-step NAME: that step's executions and everything downstream.
    ``later``: step names of a later stage (``select.then``), valid but not in this plan."""
    if force:
        return {ex.key for ex in plan.executions}
    names = {ex.step for ex in plan.executions}
    for step in steps:
        if step in later:
            continue
        if step not in names:
            names |= set(later)
            raise UsageError(f"--force-step {step}: no such step in this plan{suggest(step, names)} "
                             f"(steps: {', '.join(sorted(names))})")
    chosen = {ex.key for ex in plan.executions if ex.step in steps}
    for ex in plan.executions:  # topological order: upstream first
        if chosen.intersection(ex.needs):
            chosen.add(ex.key)
    return chosen


def make_pool(options: RunOptions) -> SlotPool:
    gpus = [] if isinstance(options.gpus, str) else list(options.gpus)
    return SlotPool(gpus, per_gpu=options.per_gpu, jobs=options.jobs)


def check_fits(plan: Plan, pool: SlotPool) -> None:
    from runyard.model import Resources

    for ex in plan.executions:
        why = pool.why_never(Resources(gpus=ex.gpus, gpu_mem=ex.gpu_mem))
        if why is not None:
            hint = "" if ex.gpu_mem else "; use --gpus to list GPU indices, or set gpus: 0 on the step"
            raise UsageError(f"step {ex.step!r} {why}{hint}")


def run_session(plan: Plan, options: RunOptions, *, display: Display,
                install_signals: Callable[[Callable[[], None]], None] | None = None,
                final: FinalStage | None = None) -> int:
    """Submit ``plan`` and drain it; then, with ``final`` and unless interrupted, the final stage.  The
    worker runs its steps with ``options.executor`` (opened for the command, closed after)."""
    from runyard.app.executors import opened

    given = None if isinstance(options.gpus, str) or not options.gpus else list(options.gpus)
    with opened(options.executor, per_gpu=options.per_gpu, jobs=options.jobs, gpus=given) as executor:
        pool = executor.pool or make_pool(options)
        return _session(plan, options, display, install_signals, final, pool, executor.launcher)


def _session(plan: Plan, options: RunOptions, display: Display,
             install_signals: Callable[[Callable[[], None]], None] | None, final: FinalStage | None,
             pool: SlotPool, launcher: str) -> int:
    check_fits(plan, pool)
    then = [s.name for s in final.spec.select.then] if final is not None and final.spec.select else []
    force = forced_keys(plan, force=options.force, steps=options.force_steps, later=then)
    if not force and (final is None or final.spec.select is None) and all_cached(plan, options, display, pool):
        return 0
    store = open_for_plan(options.home, options.store_url)  # a store that cannot be opened writes nothing
    try:
        outcome = drain(store, plan, options, display, pool, install_signals, force, recover_first=True,
                        launcher=launcher)
        if final is None or final.spec.select is None or outcome.interrupted:
            return outcome.exit_code
        code = run_final_stage(store, plan, options, final, pool, install_signals, launcher=launcher)
        return 130 if 130 in (code, outcome.exit_code) else max(code, outcome.exit_code)
    finally:
        store.close()


def all_cached(plan: Plan, options: RunOptions, display: Display, pool: SlotPool) -> bool:
    """A re-run with every execution done and nothing else to change: it is shown like any run, its run
    folders are checked, and the store is only read (no worker, no transaction, no SQLAlchemy)."""
    from runyard.store.unchanged import nothing_to_submit

    try:
        if not nothing_to_submit(resolve_store_url(options.store_url, options.home), plan):
            return False
    except Exception:  # in doubt, the usual way says what is wrong
        return False
    files.write_run_folders(plan)
    keys = tuple(dict.fromkeys(ex.key for ex in plan.executions))
    display.submitted(SubmitResult(experiment=plan.experiment, cached=keys, runs_total=len(plan.runs)), pool)
    display.close(Outcome(statuses=dict.fromkeys(keys, Status.DONE)))
    return True


def run_final_stage(store: Store, plan: Plan, options: RunOptions, final: FinalStage, pool: SlotPool,
                    install_signals: Callable[[Callable[[], None]], None] | None, *, launcher: str = "local") -> int:
    """Rank the plan's sweep runs, then submit and drain the final runs of the picks."""
    from runyard.app.select import Criteria, final_forced, plan_finals, rank

    selection = rank(store, plan.experiment, Criteria.of(final.spec),
                     run_ids=[r.id for r in plan.runs if r.stage == "sweep"],
                     declared=[m.name for m in final.spec.metrics])
    final.report(selection.lines())
    finals = plan_finals(store, final.spec, plan.home, selection)
    if finals is None:
        return 0
    if final.prepare is not None:
        finals = final.prepare(finals)
    check_fits(finals, pool)
    force = final_forced(finals, [ex.key for ex in plan.executions], force=options.force,
                         steps=options.force_steps, forced_keys=forced_keys)
    return drain(store, finals, options, final.display(finals), pool, install_signals, force,
                 launcher=launcher).exit_code


def run_picked(store: Store, picked: Picked, display: Display, *, jobs: int | None = None,
               install_signals: Callable[[Callable[[], None]], None] | None = None) -> int:
    """Drain the final runs ``runyard select`` planned with a local worker, on the slots of the spec's
    resources; the exit code (0 when there are none)."""
    if picked.finals is None:
        return 0
    resources = picked.spec.resources
    options = RunOptions(home=Path(picked.home), store_url=store.url, gpus=resources.gpus, per_gpu=resources.per_gpu,
                         jobs=jobs)
    return drain(store, picked.finals, options, display, make_pool(options), install_signals).exit_code


def drain(store: Store, plan: Plan, options: RunOptions, display: Display, pool: SlotPool,
          install_signals: Callable[[Callable[[], None]], None] | None, force: Collection[str] = (), *,
          recover_first: bool = False, launcher: str = "local") -> Outcome:
    """Submit ``plan`` to an open store and drain it with a local worker whose steps start through
    ``launcher``. ``recover_first``: take back what a dead worker (a killed `runyard run`) left running
    before the submit, so that the submit requeues it like any failed or interrupted execution."""
    from runyard.app.workers import worker_hooks
    from runyard.execute.worker import Worker

    worker = Worker(store, pool, experiment=plan.experiment, lease_seconds=options.lease_seconds,
                    grace=options.grace, on_event=display.event, inline=options.inline, warm=options.warm,
                    hooks=worker_hooks(), store_timeout=options.store_timeout, launcher=launcher)
    if install_signals is not None:  # from here on Ctrl-C is a request to the worker, never a traceback
        install_signals(worker.request_stop)
    try:
        if recover_first:
            worker.recover()
        result = store.submit(plan, force=force)
        files.write_run_folders(plan)
    except BaseException:
        worker.close()
        raise
    display.submitted(result, pool)
    try:
        worker.run(burst=True)
        outcome = collect_outcome(store, plan)
    except StoreUnavailable:
        if not worker.stopping:
            raise
        outcome = Outcome(interrupted=True)  # stopped (Ctrl-C, SIGTERM) while the store was unreachable
    outcome.lost = len(worker.result.lost)
    # interrupted: stopped before everything was done (a Ctrl-C while the last steps ran, which then
    # finished, leaves nothing to resume)
    outcome.interrupted = worker.stopping and any(s != Status.DONE for s in outcome.statuses.values())
    display.close(outcome)
    if worker.disk_full is not None:  # recorded, nothing more launched: say why and exit non-zero
        raise worker.disk_full
    return outcome


def collect_outcome(store: Store, plan: Plan) -> Outcome:
    keys = [ex.key for ex in plan.executions]
    records = store.executions(plan.experiment, keys=keys)
    outcome = Outcome(statuses={r.key: r.status for r in records})
    outcome.failed = [r for r in records if r.status == Status.FAILED]
    outcome.blocked = sum(1 for r in records if r.status in (Status.WAITING, Status.READY))
    return outcome


def run_detached(plan: Plan, options: RunOptions) -> tuple[SubmitResult, list[str], str]:
    """What ``runyard run --detach`` does in the foreground: check, take back dead workers' steps,
    submit and write the run folders. Returns the submit result, the ``runyard worker`` arguments
    that drain this experiment on the same slots, and the store URL (passed by environment: it may
    hold a password)."""
    from runyard.app.submission import submit_plan

    pool = make_pool(options)
    check_fits(plan, pool)
    force = forced_keys(plan, force=options.force, steps=options.force_steps)
    with open_for_plan(options.home, options.store_url) as store:
        done = submit_plan(store, plan, force=force)  # takes back dead workers' steps first
    gpus = "none" if isinstance(options.gpus, str) or not options.gpus else ",".join(map(str, options.gpus))
    args = ["--home", str(options.home), "--experiment", plan.experiment, "--burst",
            "--gpus", gpus, "--per-gpu", str(options.per_gpu), "--lease", str(options.lease_seconds),
            "--grace", str(options.grace), "--store-timeout", str(options.store_timeout),
            *options.executor.worker_args()]
    if options.jobs:
        args += ["--jobs", str(options.jobs)]
    return done.result, args, resolve_store_url(options.store_url, options.home)
