"""``runyard reparse``: extract the metrics of finished runs again after a change of the spec's metrics."""

from __future__ import annotations

import sys

import click

from runyard.cli.common import open_existing, store_options
from runyard.cli.main import friendly


@click.command()
@click.argument("experiment", required=False)
@click.option("--quiet", "-q", is_flag=True, help="Print only the summary and the problems.")
@store_options
@friendly
def reparse(experiment: str | None, quiet: bool, home: str | None, store_url: str | None) -> None:
    """Extract the metrics of every done step execution of EXPERIMENT again, without running anything.

    Reads the experiment's spec again from the file it was last run from, applies its metrics: block
    (regexes on the logs, files, parsers) and the in-run API's metrics files to the latest attempt of
    each done execution, and replaces the metrics stored for it. EXPERIMENT may be left out when the
    store holds only one. Exits 1 when some metric could not be read (the problems are listed); bad
    lines in a metrics file are skipped with a warning (the good ones are stored) and exit 0.
    """
    from runyard.app.reparse import Reparsed, pick_experiment
    from runyard.app.reparse import reparse as reparse_experiment

    def show(item: Reparsed) -> None:
        if not quiet:
            ex = item.record
            click.echo(f"  {ex.step} {ex.short}: {item.points} point{'s' if item.points != 1 else ''}"
                       + (f", {len(item.problems)} problem(s)" if item.problems else "")
                       + (", bad lines skipped" if item.warnings else ""))

    with open_existing(home, store_url) as store:
        name = pick_experiment(store, experiment)
        click.echo(f"reparsing {name} with {store.experiment(name).spec_path}")
        result = reparse_experiment(store, name, progress=show)
    left = f"; {result.not_done} not done, left alone" if result.not_done else ""
    click.echo(f"{name}: {result.points} points from {len(result.done)} done step execution(s){left}; "
               f"spec metrics: {', '.join(result.metrics) or 'none'}")
    for warning in result.warnings:
        click.echo(f"runyard: warning: {warning}", err=True)
    for problem in result.problems:
        click.echo(f"runyard: {problem}", err=True)
    if result.problems:
        sys.exit(1)
