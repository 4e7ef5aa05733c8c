"""``runyard select``: rank an experiment's sweep runs and run the ``select.then`` steps of the best."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable

import click

from runyard.cli.common import open_existing, store_options
from runyard.cli.main import friendly


@click.command(name="select")
@click.argument("experiment", required=False)
@click.option("--metric", "-m", metavar="NAME", help="Rank on this metric (default: the spec's select.metric).")
@click.option("--mode", type=click.Choice(["max", "min"]), help="Which end is best (default: the metric's mode).")
@click.option("--by", "by", metavar="PARAM,...", help="One pick per value of these params (default: select.by).")
@click.option("--over", "over", metavar="PARAM,...",
              help="Score a config by the mean over these params (seeds); pick all its runs (default: select.over).")
@click.option("--where", "-w", "where", metavar="EXPR", help="Rank only the sweep runs matching EXPR.")
@click.option("--dry-run", is_flag=True, help="Show the picks and the final runs they would get; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="With --dry-run: print the picks and final runs as JSON.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), metavar="N", help="Concurrent CPU-only steps.")
@store_options
@friendly
def select(experiment: str | None, metric: str | None, mode: str | None, by: str | None, over: str | None,
           where: str | None, dry_run: bool, as_json: bool, jobs: int | None, home: str | None,
           store_url: str | None) -> None:
    """Pick the best sweep runs of EXPERIMENT and run the spec's `select.then` steps for each pick.

    Uses the experiment's stored spec (its `select:` block, overridden by the options) and the metric
    values in the store. Runs that are not done or have no value are left out. The final runs are
    recorded with stage `final` and the run they came from; picks whose final runs are done already
    are cached. Exit code: 0 done, 1 a step failed, 2 usage error, 130 interrupted.
    """
    from runyard.analyze.compare import split_list
    from runyard.app.select import final_runs, pick, picked_data
    from runyard.app.session import run_picked
    from runyard.cli.progress import Display

    with open_existing(home, store_url) as store:
        picked = pick(store, experiment, metric=metric, mode=mode, where=where,
                      by=split_list(by) if by is not None else None,
                      over=split_list(over) if over is not None else None)
        selection = picked.selection
        if picked.spec.select is None:
            if as_json:
                click.echo(json.dumps({"picks": [p.__dict__ for p in selection.picks], "final_runs": []}, default=str))
                return
            _echo(selection.lines())
            click.echo("the spec has no `select.then` steps: nothing to run for the picks")
            return
        if dry_run:
            if as_json:
                click.echo(json.dumps(picked_data(store, picked), indent=2, default=str))
                return
            _echo(selection.lines())
            for run in final_runs(store, picked):
                steps = ", ".join(f"{s['name']} {s['key'][:12]} ({s['status']})" for s in run["steps"])
                click.echo(f"would submit {run['name']}: {steps}")
            click.echo("dry run: nothing written")
            return
        _echo(selection.lines())
        if picked.finals is None:
            return
        code = run_picked(store, picked, Display(picked.finals), jobs=jobs, install_signals=_signals())
    sys.exit(code)


def _echo(lines: Iterable[str]) -> None:
    for line in lines:
        click.echo(line)


def _signals() -> Callable[[Callable[[], None]], None] | None:
    """Ctrl-C handling like ``runyard run`` (None outside the main thread)."""
    from runyard.cli.common import install_stop_signals, main_thread

    return install_stop_signals if main_thread() else None
