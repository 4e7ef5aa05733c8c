"""``runyard ls``, ``show``, ``logs`` and ``status``: read what the store and the folders hold."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

import click

from runyard.cli.common import open_existing, store_options
from runyard.cli.main import friendly
from runyard.errors import RunNotFound, UsageError
from runyard.execute.attempts import log_of as attempt_log
from runyard.layout import ExecutionPaths
from runyard.model import Status

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

    from runyard.execute.lost import lost_keys, shown_run_status, shown_status

    with open_existing(home, store_url) as store:
        console = Console(highlight=False)
        lost = lost_keys(store, experiment)  # running, but their worker is gone
        if experiment is None:
            rows = []
            for name in store.experiments():
                runs = store.runs(name)
                counts: dict[str, int] = {}
                for run in runs:
                    shown = shown_run_status(run, lost)
                    counts[shown] = counts.get(shown, 0) + 1
                rows.append({"experiment": name, "runs": len(runs), "status": counts})
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
        if experiment not in store.experiments():
            from runyard.spec.parse import did_you_mean

            raise RunNotFound(f"no experiment {experiment!r}{did_you_mean(experiment, store.experiments())} "
                              f"(experiments: {', '.join(store.experiments()) or 'none'})")
        every = store.runs(experiment)
        runs = [r for r in every if r.stage in stages]
        if as_json:
            _echo_json([{"id": r.id, "name": r.name, "status": shown_run_status(r, lost), "stage": r.stage,
                         "origin": r.origin,
                         "params": dict(r.params), "folder": r.folder} for r in runs])
            return
        names = {r.id: r.name for r in every}
        staged = any(r.stage != "sweep" for r in runs)
        table = Table(show_edge=False, pad_edge=False)
        for column in ("run", "id", "status", *(("stage", "from") if staged else ()), "steps"):
            table.add_column(column, overflow="fold")
        for run in runs:
            steps = " ".join(f"{name}:{shown_status(status, key, lost)}"
                             for (name, key), status in zip(run.steps, run.statuses, strict=False))
            origin = names.get(run.origin, run.origin[:12]) if run.origin else ""
            extra = (run.stage, escape(origin)) if staged else ()
            table.add_row(escape(run.name), run.short, shown_run_status(run, lost), *extra, escape(steps))
        console.print(table)


@click.command()
@click.argument("run")
@click.option("--experiment", "-e", help="Experiment of the run (when names repeat across experiments).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@store_options
@friendly
def show(run: str, experiment: str | None, as_json: bool, home: str | None, store_url: str | None) -> None:
    """Show a run (id prefix or name): params, folders, and each step's status, command and log."""
    from runyard.execute.lost import LOST, lost_among, shown_run_status, shown_status

    with open_existing(home, store_url) as store:
        record = store.run(run, experiment)
        execs = {e.key: e for e in store.executions(record.experiment, keys=[k for _, k in record.steps])}
        running = [e for e in execs.values() if e.status == Status.RUNNING]
        lost = lost_among(running, store.workers()) if running else set()
        steps = []
        for name, key in record.steps:
            ex = execs[key]
            shown = shown_status(ex.status, key, lost)
            error = (f"its worker {ex.worker_id} is gone (dead, or its lease expired); the next `runyard run` "
                     "or worker takes it back") if shown == LOST else ex.error
            steps.append({"name": name, "key": key, "status": shown, "exit_code": ex.exit_code,
                          "attempts": ex.attempts, "duration": ex.duration, "error": error,
                          "command": ex.command, "folder": ex.folder, "log": ExecutionPaths(ex.folder).log})
        origin = _origin(store, record.origin, record.experiment)
        data = {"id": record.id, "name": record.name, "experiment": record.experiment,
                "status": shown_run_status(record, lost), "stage": record.stage, "origin": record.origin,
                "origin_name": origin, "params": dict(record.params), "folder": record.folder, "steps": steps}
        if as_json:
            _echo_json(data)
            return
        click.echo(f"{record.name}  ({record.id[:12]})  {record.experiment}  {data['status']}")
        if record.stage == "final":
            click.echo(f"stage final: selected from run {origin} ({(record.origin or '')[:12]})")
        elif record.stage == "aggregate":
            click.echo("stage aggregate: its steps ran once over the runs of a sweep (see runs.csv in each "
                       "step folder); the params shown are the defaults")
        click.echo(f"folder  {record.folder}")
        for key, value in record.params.items():
            click.echo(f"  {key} = {value!r}")
        for step in steps:
            took = f" {step['duration']:.2f}s" if step["duration"] is not None else ""
            code = f" exit {step['exit_code']}" if step["exit_code"] is not None else ""
            click.echo(f"\n{step['name']} {step['key'][:12]}  {step['status']}{code}{took}")
            click.echo(f"  $ {step['command']}")
            if step["error"]:  # a done step's error field holds its metrics warning ("metrics warning: ...")
                click.echo(f"  {step['error']}" if step["status"] == "done" else f"  error {step['error']}")
            click.echo(f"  log {step['log']}")


def _origin(store: Any, origin: str | None, experiment: str) -> str | None:
    """The name of the run a final run was selected from (its id when it is gone)."""
    if origin is None:
        return None
    try:
        found: str = store.run(origin, experiment).name
        return found
    except RunNotFound:
        return origin


@click.command()
@click.argument("run")
@click.option("--step", "step_name", metavar="NAME",
              help="Which step (default: the failed one, else the last started).")
@click.option("--experiment", "-e", help="Experiment of the run.")
@click.option("--follow", "-f", is_flag=True, help="Keep printing as the log grows, until the step ends.")
@click.option("--attempt", type=click.IntRange(min=1), metavar="N",
              help="The log of attempt N (1 = the first; default: the latest, the folder's `log`).")
@store_options
@friendly
def logs(run: str, step_name: str | None, experiment: str | None, follow: bool, attempt: int | None,
         home: str | None, store_url: str | None) -> None:
    """Print the log of one step of a run (id prefix or name): its latest attempt, or --attempt N."""
    from runyard.model import Status

    with open_existing(home, store_url) as store:
        record = store.run(run, experiment)
        names = [name for name, _ in record.steps]
        if step_name is not None and step_name not in names:
            from runyard.spec.parse import did_you_mean

            raise RunNotFound(f"run {record.name} has no step {step_name!r}{did_you_mean(step_name, names)} "
                              f"(steps: {', '.join(names)})")
        execs = {e.key: e for e in store.executions(record.experiment, keys=[k for _, k in record.steps])}
        chosen = _pick_step(record.steps, execs, step_name)
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


def _pick_step(steps: Any, execs: dict[str, Any], name: str | None) -> Any:
    from runyard.model import Status

    if name is not None:
        return next(execs[k] for n, k in steps if n == name)
    ordered = [execs[k] for _, k in steps]
    for status in (Status.FAILED, Status.RUNNING):
        for ex in ordered:
            if ex.status == status:
                return ex
    started = [ex for ex in ordered if ex.started is not None]
    return started[-1] if started else ordered[0]


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
    import socket

    from runyard.execute.recovery import recover

    with open_existing(home, store_url) as store:
        taken: list[str] = []
        recover(store, "", socket.gethostname(), lambda event: taken.append(event.message))
        for message in taken:
            click.echo(f"taken back: {message}", err=True)
        now = time.time()
        workers = store.workers()
        rows = []
        for worker in workers:
            running = []
            for key in worker.running:
                ex = store.execution(key)
                running.append({"key": key, "experiment": ex.experiment, "step": ex.step, "pid": ex.pid,
                                "elapsed": None if ex.started is None else round(now - ex.started, 1),
                                "log": ExecutionPaths(ex.folder).log})
            rows.append({"worker": worker.id, "host": worker.host, "pid": worker.pid, "slots": worker.slots,
                         "alive": worker.alive(now), "last_seen": round(now - worker.last_seen, 1),
                         "running": running})
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
                click.echo(f"  {item['experiment']} {item['step']} {item['key'][:12]} pid {item['pid']} "
                           f"running {item['elapsed']}s · log {item['log']}")
        counts = store.counts()
        click.echo("queue: " + (", ".join(f"{n} {s}" for s, n in counts.items() if n) or "empty"))
        names = store.experiments()
        for name in names:
            record = store.experiment(name)
            mine = store.counts(name)
            queued = mine[Status.READY] + mine[Status.WAITING]
            if record.paused or (len(names) > 1 and (queued or mine[Status.RUNNING])):
                paused = " (paused: nothing new starts; `runyard resume` it)" if record.paused else ""
                click.echo(f"  {name}: {queued} queued, {mine[Status.RUNNING]} running{paused}")
