"""``runyard import``: runs from the tools a lab already uses (``import mlflow``)."""

from __future__ import annotations

import click

from runyard.cli.main import friendly


@click.group(name="import")
def import_() -> None:
    """Import runs from another tool."""


@import_.command(name="mlflow")
@click.argument("experiment")
@click.option("--tracking-uri", metavar="URI", envvar="MLFLOW_TRACKING_URI",
              help="MLflow tracking URI, e.g. sqlite:///mlflow.db or http://host:5000 (default: MLflow's).")
@click.option("--into", metavar="NAME", help="runyard experiment to import into (default: the same name).")
@click.option("--home", type=click.Path(file_okay=False), envvar="RUNYARD_HOME",
              help="Folder of runyard's data (default: the nearest .runyard, else ./.runyard).")
@click.option("--store", "store_url", envvar="RUNYARD_STORE", metavar="URL",
              help="Store URL (default: sqlite:///<home>/runyard.db).")
@friendly
def import_mlflow(experiment: str, tracking_uri: str | None, into: str | None, home: str | None,
                  store_url: str | None) -> None:
    """Import the runs of MLflow EXPERIMENT: params, metric series, status, times, tags and note. Each
    becomes a run with one step, `mlflow`; importing again replaces what an earlier import brought."""
    from runyard.app.mlflow_io import import_mlflow as import_runs
    from runyard.app.stores import open_for_plan
    from runyard.home import resolve_home

    root = resolve_home(home)
    with open_for_plan(root, store_url) as store:
        done = import_runs(store, experiment, home=str(root), tracking_uri=tracking_uri, into=into)
    click.echo(f"imported {done.runs} run(s) into experiment {done.experiment!r}: {done.params} params, "
               f"{done.points} metric points")
