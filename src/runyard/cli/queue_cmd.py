"""``runyard submit`` (enqueue without running) and ``runyard worker`` (pull and run, on any machine)."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING

import click

from runyard.cli.common import (
    SpecCommand,
    executor_options,
    fake_gpus_option,
    install_stop_signals,
    load_plan,
    open_existing,
    spec_arguments,
    store_options,
    worker_options,
)
from runyard.cli.main import friendly
from runyard.execute.events import Event
from runyard.layout import ExecutionPaths

if TYPE_CHECKING:
    from runyard.app.executors import ExecutorOptions


@click.command(cls=SpecCommand)
@spec_arguments
@click.option("--store", "store_url", envvar="RUNYARD_STORE", metavar="URL",
              help="Store URL (default: sqlite:///<home>/runyard.db); workers must use the same one.")
@click.option("--priority", type=int, default=0, show_default=True, metavar="N",
              help="Workers take higher priorities first.")
@click.option("--snapshot", is_flag=True,
              help="Freeze the code now: queued steps run from a copy of the git work tree as it is at submit time.")
@click.option("--force", is_flag=True, help="Re-run every step execution of the selection, even if done.")
@click.option("--force-step", "force_steps", multiple=True, metavar="NAME",
              help="Re-run this step and everything downstream of it (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print what was submitted as JSON.")
@click.option("--tune", "tune_study", is_flag=True,
              help="Put the spec's `tune:` study on the queue instead: workers take its trials one by one.")
@click.option("--trials", type=click.IntRange(min=1), metavar="N",
              help="With --tune: N more trials per study (default: up to the spec's `tune.trials`).")
@friendly
def submit(args: tuple[str, ...], sweep: str | None, sample: int | None, sample_seed: int, home: str | None,
           store_url: str | None, priority: int, snapshot: bool, force: bool, force_steps: tuple[str, ...],
           as_json: bool, tune_study: bool, trials: int | None) -> None:
    """Validate, plan and enqueue SPEC's runs without running them; `runyard worker` processes run them.

    KEY=VALUE sets a param in every run; KEY=A,B,C sweeps it. Done step executions stay cached;
    failed, interrupted and cancelled ones are queued again. With --tune, the spec's study is queued:
    each free slot of any worker asks the store for its next trial.
    """
    if tune_study:
        _submit_tune(args, home, store_url, trials)
        return
    from runyard.app.session import forced_keys
    from runyard.app.stores import open_for_plan
    from runyard.app.submission import describe, submit_plan

    planned = load_plan(args, sweep=sweep, sample=sample, sample_seed=sample_seed, home=home, detect=False,
                        store_url=store_url)
    plan = planned.plan
    force_set = forced_keys(plan, force=force, steps=force_steps)
    with open_for_plan(planned.home, store_url) as store:
        done = submit_plan(store, plan, priority=priority, force=force_set, snapshot=snapshot)
    result = done.result
    if as_json:
        import json

        data = {"experiment": plan.experiment, "store": store.url, **result.counts(), "runs": result.runs_total,
                "snapshot": None if done.snapshot is None else str(done.snapshot.root)}
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(describe(result))
    if done.snapshot is not None:
        click.echo(f"code snapshot {done.snapshot.id}: {done.snapshot.root}")
    if result.queued or result.already_queued:
        click.echo(f"start workers with: runyard worker --store {store.url}  (on every machine that shares it)")


def _submit_tune(args: tuple[str, ...], home: str | None, store_url: str | None, trials: int | None) -> None:
    import os

    from runyard.app.planning import split_args
    from runyard.app.tuning_run import submit_tune
    from runyard.errors import UsageError
    from runyard.home import resolve_home
    from runyard.spec.load import load_spec

    spec_path, overrides = split_args(args)
    if overrides:
        raise UsageError("--tune takes no KEY=VALUE: fix params under `params:` or `tune.grid:` in the spec")
    spec = load_spec(spec_path)
    home_path = resolve_home(home, spec_folder=spec.folder, cwd=os.getcwd())
    targets = submit_tune(spec, home_path, store_url, trials=trials)
    for study, target in targets.items():
        where = "" if study == "{}" else f" {study}"
        click.echo(f"study {spec.experiment}{where}: up to {target} trials queued")
    click.echo("start workers with: runyard worker  (each takes trials of the study until it is done)")


@click.command()
@store_options
@click.option("--gpus", metavar="LIST", default="auto", show_default=True,
              help="GPU indices this worker uses: '0,1,2,3', 'auto' (every visible GPU) or 'none'.")
@fake_gpus_option
@click.option("--per-gpu", type=click.IntRange(min=1), default=1, show_default=True, metavar="K",
              help="Steps sharing one GPU.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), metavar="N",
              help="Concurrent CPU-only steps (default: GPU slots, or the CPU count without GPUs).")
@click.option("--experiment", "experiments", multiple=True, metavar="NAME",
              help="Only run these experiments (repeatable; default: every experiment in the store).")
@click.option("--burst", is_flag=True, help="Exit once nothing this worker could run is left.")
@click.option("--max-runs", type=click.IntRange(min=1), metavar="N", help="Exit after starting N step executions.")
@worker_options(lease_help="Lease of a running step; if this worker dies, others requeue its steps after it expires.",
                grace_help="How long a terminated step may take to exit after SIGTERM before SIGKILL.")
@click.option("--poll", type=click.FloatRange(min=0.05), default=0.5, show_default=True, metavar="SECONDS",
              help="How often an idle worker looks for work without a wake-up channel (SQLite).")
@executor_options
@click.option("--warm", is_flag=True,
              help="Run Python (call:) steps in warm processes, one per slot, that import the step's module once "
                   "and run call after call.")
@friendly
def worker(home: str | None, store_url: str | None, gpus: str, fake_gpus: bool, per_gpu: int, jobs: int | None,
           experiments: tuple[str, ...], burst: bool, max_runs: int | None, lease: float, grace: float,
           poll: float, store_timeout: float, executor: ExecutorOptions, warm: bool) -> None:
    """Pull queued step executions from the store and run them on this machine's slots.

    Start one per machine (PostgreSQL store) or several on one (SQLite). Ctrl-C once: finish the
    running steps and exit; twice: terminate them (recorded interrupted, queued again by the next
    submit or run). SIGTERM / SIGHUP: terminate them. Exit code: 0, 1 if a step failed (with --burst),
    75 the store stayed unreachable longer than --store-timeout, 130 interrupted.
    """
    from runyard.app.executors import opened
    from runyard.app.workers import make_worker, worker_pool

    if warm and executor.name != "local":
        from runyard.errors import UsageError

        raise UsageError("--warm runs call steps on this machine's slots: it does not go with "
                         f"--executor {executor.name}")

    with open_existing(home, store_url) as store, opened(executor, per_gpu=per_gpu, jobs=jobs) as chosen:
        pool, warning = worker_pool(gpus, per_gpu=per_gpu, jobs=jobs, fake_gpus=fake_gpus, executor=chosen)
        if warning:
            click.echo(f"warning: {warning}", err=True)
        runner = make_worker(store, pool, experiments, lease_seconds=lease, grace=grace, poll_interval=poll,
                              on_event=_print_event, max_executions=max_runs, store_timeout=store_timeout,
                              launcher=chosen.launcher, warm=warm)
        install_stop_signals(runner.request_stop)
        where = ", ".join(experiments) if experiments else "every experiment"
        on = {"local": "", "ray": f" (ray at {executor.ray_address})"}.get(chosen.launcher, f" ({chosen.launcher})")
        _say(f"worker {runner.id} on {store.url}: slots {pool.describe()}{on}; {where}"
             + ("; exits when drained" if burst else "; Ctrl-C to stop"))
        result = runner.run(burst=burst)
    _say(f"worker {runner.id} stopped: {result.done} done, {len(result.failed)} failed, "
         f"{len(result.interrupted)} interrupted, {len(result.cancelled)} cancelled"
         + (f", {len(result.lost)} lost to another worker" if result.lost else ""))
    if runner.disk_full is not None:
        raise runner.disk_full
    sys.exit(result.exit_code if burst or result.interrupted else 0)


def _say(text: str) -> None:
    click.echo(f"{time.strftime('%H:%M:%S')} {text}")


def _print_event(event: Event) -> None:
    record = event.record
    if record is None:
        if event.message:
            _say(event.message)
        return
    what = f"{record.experiment} {record.step} {record.short}"
    if event.kind == "started":
        _say(f"started {what} on {event.slot}")
    elif event.kind == "finished":
        log = ExecutionPaths(record.folder).log
        status = str(event.status)
        took = f" in {record.duration:.2f} s" if record.duration is not None else ""
        if status == "done":
            _say(f"done {what}{took}")
        elif status == "cancelled":
            _say(f"cancelled {what}")
        elif status == "ready":
            _say(f"retry {what}: {event.message} · log {log}")
        else:
            _say(f"{status} {what}: {event.message} · log {log}")
    else:
        _say(event.message or f"{event.kind} {what}")


__all__ = ["submit", "worker"]
