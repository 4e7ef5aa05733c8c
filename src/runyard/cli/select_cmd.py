"""``runyard select``: rank an experiment's sweep runs and run the ``select.then`` steps of the best."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable

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
    from runyard.analyze.table import choose_experiment
    from runyard.app.select import Criteria, plan_finals, rank
    from runyard.spec import spec_from_dict

    with open_existing(home, store_url) as store:
        name = choose_experiment(store, experiment)
        stored = store.experiment(name)
        folder = os.path.dirname(stored.spec_path) if os.path.isabs(stored.spec_path) else os.getcwd()
        spec = spec_from_dict(stored.spec, folder=folder, source=stored.spec_path or "<stored spec>")
        criteria = Criteria.of(spec, metric=metric, mode=mode, by=split_list(by) if by is not None else None,
                               over=split_list(over) if over is not None else None)
        selection = rank(store, name, criteria, where=where, declared=[m.name for m in spec.metrics])
        if spec.select is None:
            if as_json:
                click.echo(json.dumps({"picks": [p.__dict__ for p in selection.picks], "final_runs": []}, default=str))
                return
            for line in selection.lines():
                click.echo(line)
            click.echo("the spec has no `select.then` steps: nothing to run for the picks")
            return
        finals = plan_finals(store, spec, stored.home, selection)
        if dry_run:
            _show(selection, finals, store, as_json=as_json)
            return
        for line in selection.lines():
            click.echo(line)
        if finals is None:
            return
        from pathlib import Path

        from runyard.app.session import RunOptions, drain, make_pool
        from runyard.cli.progress import Display

        options = RunOptions(home=Path(stored.home), store_url=store.url, gpus=spec.resources.gpus,
                             per_gpu=spec.resources.per_gpu, jobs=jobs)
        code = drain(store, finals, options, Display(finals), make_pool(options), _signals()).exit_code
    sys.exit(code)


def _signals() -> Callable[[Callable[[], None]], None] | None:
    """Ctrl-C handling like ``runyard run`` (None outside the main thread)."""
    from runyard.cli.common import install_stop_signals
    from runyard.cli.run_cmd import _main_thread

    return install_stop_signals if _main_thread() else None


def _show(selection: object, finals: object, store: object, *, as_json: bool) -> None:
    from runyard.analyze.best import Selection
    from runyard.model import Plan
    from runyard.store.base import Store

    assert isinstance(selection, Selection) and isinstance(store, Store)
    assert finals is None or isinstance(finals, Plan)
    runs = list(finals.runs) if finals is not None else []
    known = {r.key: r.status for r in store.executions(finals.experiment, keys=[e.key for e in finals.executions])} \
        if finals is not None else {}
    if as_json:
        data = {
            "metric": selection.metric, "mode": selection.mode, "by": list(selection.by), "over": list(selection.over),
            "picks": [{"group": p.group, "runs": list(p.run_names), "ids": list(p.run_ids), "score": p.score,
                       "tied_with": list(p.tied_with)} for p in selection.picks],
            "left_out": [{"run": n, "why": w} for n, w in selection.left_out],
            "final_runs": [{"id": r.id, "name": r.name, "origin": r.origin,
                            "steps": [{"name": s, "key": k, "status": str(known.get(k, "new"))} for s, k in r.steps]}
                           for r in runs],
        }
        click.echo(json.dumps(data, indent=2, default=str))
        return
    for line in selection.lines():
        click.echo(line)
    for run in runs:
        steps = ", ".join(f"{s} {k[:12]} ({known.get(k, 'new')})" for s, k in run.steps)
        click.echo(f"would submit {run.name}: {steps}")
    click.echo("dry run: nothing written")
