"""``runyard export``: runs to the tools a lab already uses (``export mlflow``)."""

from __future__ import annotations

import click

from runyard.cli.common import open_existing, store_options
from runyard.cli.main import friendly


@click.group()
def export() -> None:
    """Export runs to another tool."""


@export.command(name="mlflow")
@click.argument("experiment")
@click.option("--tracking-uri", metavar="URI", envvar="MLFLOW_TRACKING_URI",
              help="MLflow tracking URI, e.g. sqlite:///mlflow.db or http://host:5000 (default: MLflow's).")
@click.option("--into", metavar="NAME", help="MLflow experiment to export into (default: the same name).")
@click.option("--where", "-w", metavar="EXPR", help="Export only the runs matching EXPR (the compare language).")
@store_options
@friendly
def export_mlflow(experiment: str, tracking_uri: str | None, into: str | None, where: str | None, home: str | None,
                  store_url: str | None) -> None:
    """Export the runs of EXPERIMENT to MLflow: params, every metric point, status, times, tags and note.
    Runs exported before are skipped."""
    from runyard.app.mlflow_io import export_mlflow as export_runs

    with open_existing(home, store_url) as store:
        run_ids = None
        if where:
            from runyard.analyze.yard import RunSet, Yard

            run_ids = list(RunSet(Yard(store), experiment, where, "all").results().frame.index)
        done = export_runs(store, experiment, tracking_uri=tracking_uri, into=into, run_ids=run_ids)
    for line in done.skipped:
        click.echo(f"skipped {line}", err=True)
    click.echo(f"exported {done.runs} run(s) to MLflow experiment {done.experiment!r}: {done.params} params, "
               f"{done.points} metric points")
