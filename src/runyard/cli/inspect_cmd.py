"""``runyard ls``, ``show``, ``logs`` and ``status``: read what the store and the folders hold."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from runyard.cli.common import open_existing, store_options
from runyard.cli.main import friendly
from runyard.errors import RunyardError, UsageError
from runyard.execute.attempts import log_of as attempt_log
from runyard.layout import ExecutionPaths
from runyard.model import Status

if TYPE_CHECKING:
    from runyard.store.base import Store
    from runyard.store.records import ExecRecord

F = TypeVar("F", bound=Callable[..., Any])


def _echo_json(data: object) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


@click.command(name="ls")
@click.argument("experiment", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--stage", metavar="STAGE,...",
              help="Runs of these stages: sweep, final (re-run by select:), aggregate, or all (the default).")
@store_options
@friendly
def ls(experiment: str | None, as_json: bool, stage: str | None, home: str | None, store_url: str | None) -> None:
    """List experiments, or the runs of EXPERIMENT with their status (and stage, when not all are sweep runs)."""
    from runyard.analyze.table import parse_stages

    stages = parse_stages(stage or "all")
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from runyard.app.inspect import experiment_rows, run_rows

    console = Console(highlight=False)
    with open_existing(home, store_url) as store:
        if experiment is None:
            rows = experiment_rows(store)
            if as_json:
                _echo_json(rows)
                return
            table = Table(show_edge=False, pad_edge=False)
            for column in ("experiment", "runs", "status"):
                table.add_column(column)
            for row in rows:
                status = ", ".join(f"{n} {s}" for s, n in row["status"].items())
                table.add_row(escape(row["experiment"]), str(row["runs"]), status)
            console.print(table)
            return
        runs = run_rows(store, experiment, stages)
    if as_json:
        _echo_json([{k: r[k] for k in ("id", "name", "status", "stage", "origin", "params", "folder")} for r in runs])
        return
    staged = any(r["stage"] != "sweep" for r in runs)
    table = Table(show_edge=False, pad_edge=False)
    for column in ("run", "id", "status", *(("stage", "from") if staged else ()), "steps"):
        table.add_column(column, overflow="fold")
    for run in runs:
        steps = " ".join(f"{name}:{status}" for name, status in run["steps"])
        extra = (run["stage"], escape(run["origin_name"])) if staged else ()
        table.add_row(escape(run["name"]), run["id"][:12], run["status"], *extra, escape(steps))
    console.print(table)


@click.command()
@click.argument("run")
@click.option("--experiment", "-e", help="Experiment of the run (when names repeat across experiments).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@store_options
@friendly
def show(run: str, experiment: str | None, as_json: bool, home: str | None, store_url: str | None) -> None:
    """Show a run (name, id prefix, or a step execution's key prefix): params, folders, each step's status,
    command and log, and each metric's summary with a sparkline of its points."""
    from runyard.app.inspect import run_details

    with open_existing(home, store_url) as store:
        data = run_details(store, run, experiment)
    if as_json:
        _echo_json(data)
        return
    click.echo(f"{data['name']}  ({data['id'][:12]})  {data['experiment']}  {data['status']}")
    if data["named"]:
        step = next(s["name"] for s in data["steps"] if s["key"] == data["named"])
        shared = f"; also a step of {', '.join(data['shared_with'])}" if data["shared_with"] else ""
        click.echo(f"{data['named'][:12]} is its step {step}{shared}")
    if data["stage"] == "final":
        click.echo(f"stage final: selected from run {data['origin_name']} ({(data['origin'] or '')[:12]})")
    elif data["origin"]:
        click.echo(f"rerun of run {data['origin_name']} ({data['origin'][:12]})")
    elif data["stage"] == "aggregate":
        click.echo("stage aggregate: its steps ran once over the runs of a sweep (see runs.csv in each "
                   "step folder); the params shown are the defaults")
    click.echo(f"folder  {data['folder']}")
    if data["tags"]:
        click.echo(f"tags    {', '.join(data['tags'])}")
    if data["note"]:
        click.echo(f"note    {data['note']}")
    for key, value in data["params"].items():
        click.echo(f"  {key} = {value!r}")
    for step in data["steps"]:
        took = f" {step['duration']:.2f}s" if step["duration"] is not None else ""
        code = f" exit {step['exit_code']}" if step["exit_code"] is not None else ""
        click.echo(f"\n{step['name']} {step['key'][:12]}  {step['status']}{code}{took}")
        click.echo(f"  $ {step['command']}")
        if step["error"]:  # a done step's error field holds its metrics warning ("metrics warning: ...")
            click.echo(f"  {step['error']}" if step["status"] == "done" else f"  error {step['error']}")
        click.echo(f"  log {step['log']}")
    if data["metrics"]:
        _print_metrics(data["metrics"])


def _print_metrics(rows: list[dict[str, Any]]) -> None:
    from runyard.analyze.formats import human

    click.echo("\nmetrics")
    cells = [(r["name"], human(r["last"]), human(r["min"]), human(r["max"]), str(r["count"]),
              "" if r["last_step"] is None else str(r["last_step"]), r["spark"]) for r in rows]
    header = ("metric", "last", "min", "max", "points", "step", "")
    widths = [max(len(c[i]) for c in [header, *cells]) for i in range(len(header))]
    for row in [header, *cells]:
        text = "  ".join(c.ljust(w) if i in (0, 6) else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths,
                                                                                               strict=True)))
        click.echo(f"  {text.rstrip()}")


@click.command()
@click.argument("run")
@click.option("--step", "step_name", metavar="NAME",
              help="Which step (default: the failed one, else the last started).")
@click.option("--experiment", "-e", help="Experiment of the run.")
@click.option("--follow", "-f", is_flag=True,
              help="Keep printing as the log grows, until the step ends (a step not started yet: wait for it).")
@click.option("--attempt", type=click.IntRange(min=1), metavar="N",
              help="The log of attempt N (1 = the first; default: the latest, the folder's `log`).")
@store_options
@friendly
def logs(run: str, step_name: str | None, experiment: str | None, follow: bool, attempt: int | None,
         home: str | None, store_url: str | None) -> None:
    """Print the log of one step of a run (name or id prefix; or a step execution's key prefix: that step):
    its latest attempt, or --attempt N."""
    from runyard.app.inspect import step_of
    from runyard.app.targets import resolve

    with open_existing(home, store_url) as store:
        target = resolve(store, run, experiment)
        record = target.run
        chosen = step_of(store, record, step_name or target.step)
        if follow and attempt is None and chosen.status in (Status.WAITING, Status.READY):
            chosen = _wait_to_start(store, chosen, record.name)
        try:
            path, _ = attempt_log(chosen.folder, attempt)
        except ValueError as err:
            raise UsageError(f"{chosen.step} of run {record.name}: {err}; its folder is {chosen.folder}") from None
        follow = follow and path == ExecutionPaths(chosen.folder).log
        where = (0, 0)  # offset, inode: a new attempt starts a new log file
        while True:
            where = _print_from(path, where)
            if not follow:
                break
            if store.execution(chosen.key).status != Status.RUNNING:
                _print_from(path, where)
                break
            time.sleep(0.3)
        if not os.path.exists(path):
            click.echo(f"(no log yet: {chosen.step} is {chosen.status}; log will be {path})", err=True)


def _wait_to_start(store: Store, chosen: ExecRecord, run: str) -> ExecRecord:
    """``logs -f`` of a step not started yet: wait for it (RunyardError when it never will start)."""
    from runyard.app.follow import wait_to_start

    click.echo(f"runyard: {chosen.step} of run {run} is {chosen.status}: waiting for it to start "
               "(Ctrl-C to stop)", err=True)
    record, blocker = wait_to_start(store, chosen.key)
    if blocker is not None:
        log = ExecutionPaths(blocker.folder).log
        raise RunyardError(f"{chosen.step} of run {run} will not start: the step {blocker.step} "
                           f"{blocker.key[:12]} it needs is {blocker.status} (log {log})")
    return record


def _print_from(path: str, where: tuple[int, int]) -> tuple[int, int]:
    """Print what ``path`` holds past ``where`` (offset, inode); from its start when it is a new file
    (the log of the next attempt). Returns where it ends."""
    offset, inode = where
    try:
        with open(path, "rb") as handle:
            now = os.fstat(handle.fileno()).st_ino
            if inode and now != inode:
                offset = 0
                click.echo("runyard: (a new attempt started: its log follows)", err=True)
            handle.seek(offset)
            data = handle.read()
    except FileNotFoundError:
        return where
    sys.stdout.buffer.write(data)
    sys.stdout.flush()
    return offset + len(data), now


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@store_options
@friendly
def status(as_json: bool, home: str | None, store_url: str | None) -> None:
    """What is running where: workers with their slots and the step executions they run.

    Steps whose worker died (lease expired, or a dead pid on this host) are lost: they are taken back
    first, as any worker would, and queued again whatever their retries (`ls` and `show` only show
    them as lost)."""
    from runyard.app.inspect import queue_lines, worker_status

    with open_existing(home, store_url) as store:
        taken, rows = worker_status(store)
        lines = [] if as_json else queue_lines(store)
    for message in taken:
        click.echo(f"taken back: {message}", err=True)
    if as_json:
        _echo_json(rows)
        return
    if not rows:
        click.echo("no worker is running")
    for row in rows:
        state = "alive" if row["alive"] else "lease expired"
        click.echo(f"{row['worker']}  host {row['host']} pid {row['pid']}  {row['slots']}  ({state}, "
                   f"seen {row['last_seen']}s ago)")
        for item in row["running"]:
            click.echo(f"  {item['experiment']} {item['label']} pid {item['pid']} "
                       f"running {item['elapsed']}s · log {item['log']}")
    for line in lines:
        click.echo(line)
