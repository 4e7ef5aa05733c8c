"""``runyard run``: submit a spec's runs and drain them with a local worker, showing progress."""

from __future__ import annotations

import signal
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from runyard.cli.common import (
    SpecCommand,
    executor_options,
    fake_gpus_option,
    install_stop_signals,
    load_plan,
    main_thread,
    spec_arguments,
    worker_options,
)
from runyard.cli.main import friendly

if TYPE_CHECKING:
    from runyard.app.executors import ExecutorOptions
    from runyard.app.session import RunOptions
    from runyard.model import Plan
    from runyard.spec.types import Spec


@click.command(cls=SpecCommand)
@spec_arguments
@click.option("--gpus", metavar="LIST", help="GPU indices to use: '0,1,2,3', 'auto' or 'none' (default: the spec's).")
@fake_gpus_option
@click.option("--per-gpu", type=click.IntRange(min=1), metavar="K", help="Steps sharing one GPU (default: the spec's).")
@click.option("--jobs", "-j", type=click.IntRange(min=1), metavar="N",
              help="Concurrent CPU-only steps (default: GPU slots, or the CPU count without GPUs).")
@click.option("--force", is_flag=True, help="Re-run every step execution of the selection, even if done.")
@click.option("--force-step", "force_steps", multiple=True, metavar="NAME",
              help="Re-run this step and everything downstream of it (repeatable).")
@click.option("--store", "store_url", envvar="RUNYARD_STORE", metavar="URL",
              help="Store URL (default: sqlite:///<home>/runyard.db).")
@click.option("--dry-run", is_flag=True, help="Show what would run (like `runyard plan`) and write nothing.")
@click.option("--detach", is_flag=True,
              help="Submit, then run the steps in a background worker that outlives the terminal.")
@worker_options(lease_help="Lease of a running step; a dead worker's steps are requeued after it expires.",
                grace_help="After a second Ctrl-C or a timeout: how long a step may take to exit after SIGTERM "
                           "before SIGKILL.")
@click.option("--inline", is_flag=True,
              help="Run Python (call:) steps one at a time in this process, so breakpoint() and pdb work.")
@executor_options
@click.option("--warm", is_flag=True,
              help="Run Python (call:) steps in warm processes, one per slot, that import the step's module once "
                   "and run call after call.")
@friendly
def run(args: tuple[str, ...], sweep: str | None, sample: int | None, sample_seed: int, home: str | None,
        gpus: str | None, fake_gpus: bool, per_gpu: int | None, jobs: int | None, force: bool,
        force_steps: tuple[str, ...], store_url: str | None, dry_run: bool, detach: bool, lease: float, grace: float,
        store_timeout: float, inline: bool, executor: ExecutorOptions, warm: bool) -> None:
    """Run SPEC (default ./runyard.yaml): every run of its sweeps, on every free slot, resumable.

    KEY=VALUE sets a param in every run; KEY=A,B,C sweeps it. Finished step executions are cached:
    running the same spec again only runs what is new, changed, failed or interrupted.
    Exit code: 0 all done, 1 a step failed, 2 usage or spec error, 75 the store stayed unreachable
    longer than --store-timeout, 130 interrupted.
    """
    from runyard.app.session import RunOptions, run_session
    from runyard.execute.slots import parse_gpus

    gpu_list = parse_gpus(gpus) if gpus is not None else None
    planned = load_plan(args, sweep=sweep, sample=sample, sample_seed=sample_seed, home=home, gpus=gpu_list,
                        per_gpu=per_gpu, store_url=store_url, fake_gpus=None if dry_run else fake_gpus)
    spec, plan, home_path = planned.spec, planned.plan, planned.home
    if dry_run:
        from runyard.app.why import plan_reasons
        from runyard.cli.plan_cmd import print_plan

        print_plan(plan, plan_reasons(plan, home_path, store_url), spec)
        return
    options = RunOptions(home=home_path, store_url=store_url, gpus=spec.resources.gpus, per_gpu=spec.resources.per_gpu,
                         jobs=jobs, force=force, force_steps=force_steps, lease_seconds=lease, grace=grace,
                         inline=inline, warm=warm, store_timeout=store_timeout, executor=executor)
    if inline and warm:
        from runyard.errors import UsageError

        raise UsageError("--inline and --warm do not mix: --inline runs call steps in this process, --warm in "
                         "processes of their own")
    if warm and executor.name != "local":
        from runyard.errors import UsageError

        raise UsageError("--warm runs call steps on this machine's slots: it does not go with "
                         f"--executor {executor.name}")
    if executor.name == "slurm":
        sys.exit(_run_on_slurm(executor, spec, plan, options, inline=inline, detach=detach, fake_gpus=fake_gpus))
    if detach:
        if inline:
            from runyard.errors import UsageError

            raise UsageError("--detach and --inline do not mix: --inline runs steps in this terminal's process")
        _run_detached(plan, options, fake_gpus=fake_gpus)
        if spec.select is not None:
            click.echo("select: the background worker runs the final stage once the sweep is done")
        return
    from runyard.app.session import FinalStage
    from runyard.cli.progress import Display

    display = Display(plan, live=not inline)  # no live status line under a debugger's prompt
    final = None
    if spec.select is not None:
        final = FinalStage(spec, display=lambda finals: Display(finals, live=not inline), report=_report)
    handled = _HANDLED if main_thread() else ()  # signal handlers can only be set in the main thread
    previous = {sig: signal.getsignal(sig) for sig in handled}
    try:
        code = run_session(plan, options, display=display, install_signals=install_stop_signals if handled else None,
                           final=final)
    finally:
        for sig, old in previous.items():
            if old is not None:  # None: a handler not set from Python, which cannot be put back
                signal.signal(sig, old)
    if display.to_run and code != 130:
        _results_table(options, plan, [m.name for m in spec.metrics])
    sys.exit(code)


def _run_on_slurm(executor: ExecutorOptions, spec: Spec, plan: Plan, options: RunOptions, *, inline: bool,
                  detach: bool, fake_gpus: bool) -> int:
    """``--executor slurm``: the plan on a Slurm cluster; its exit code."""
    from runyard.errors import UsageError

    if inline or detach:
        raise UsageError("--executor slurm does not mix with --inline or --detach: the steps run in Slurm jobs")
    from runyard.app.slurm import run_on_slurm
    from runyard.cli.progress import Display
    from runyard.spec.slurm import SlurmSpec

    settings = (spec.slurm or SlurmSpec()).with_options(executor.partition, dict(executor.slurm_options))
    handled = _HANDLED if main_thread() else ()
    previous = {sig: signal.getsignal(sig) for sig in handled}
    try:
        code, _ = run_on_slurm(plan, options, settings, display=Display(plan), say=click.echo, fake_gpus=fake_gpus,
                               install_signals=install_stop_signals if handled else None)
    finally:
        for sig, old in previous.items():
            if old is not None:
                signal.signal(sig, old)
    return code
def _results_table(options: RunOptions, plan: Plan, declared: Sequence[str]) -> None:
    """The sweep's runs with their headline metric, the best starred (nothing when no run has metrics)."""
    from runyard.analyze.formats import plain_table, rich_table
    from runyard.app.results import sweep_summary
    from runyard.app.stores import open_existing
    from runyard.errors import RunyardError

    try:
        with open_existing(options.home, options.store_url) as store:
            keys = [key for run in plan.runs if run.stage == "sweep" for _, key in run.steps]
            summary = sweep_summary(store, plan.experiment, declared, keys)
    except RunyardError as err:  # the results stay in the store: say why there is no table, keep the exit code
        click.echo(f"runyard: no results table: {err}", err=True)
        return
    if summary is None:
        return
    shown = len(summary.table.frame)
    more = f" ({shown} best of {summary.total} runs: `runyard compare {plan.experiment}` shows all)" \
        if shown < summary.total else ""
    click.echo(f"\n{summary.metric}, best starred{more}:")
    if sys.stdout.isatty():
        from rich.console import Console

        Console(highlight=False).print(rich_table(summary.table, mark=True))
    else:
        click.echo(plain_table(summary.table, mark=True), nl=False)


def _run_detached(plan: Plan, options: RunOptions, *, fake_gpus: bool) -> None:
    from runyard.app.detach import start_worker
    from runyard.app.session import run_detached

    result, worker_args, url = run_detached(plan, options)
    if fake_gpus:
        worker_args = [*worker_args, "--fake-gpus"]
    if options.warm:
        worker_args = [*worker_args, "--warm"]
    from runyard.app.submission import describe

    click.echo(describe(result))
    if not result.queued and not result.already_queued:
        click.echo("everything is cached, nothing to run")
        return
    pid, log = start_worker(worker_args, home=options.home, experiment=plan.experiment, store_url=url)
    click.echo(f"worker running in the background: pid {pid}, output {log}")
    click.echo(f"follow with: runyard status · runyard logs -f RUN · stop with: kill {pid}")


_HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _report(lines: Sequence[str]) -> None:
    for line in lines:
        click.echo(line)


__all__ = ["run"]
