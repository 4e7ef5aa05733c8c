"""``runyard export``: an experiment's runs written for another tool. Each exporter is a subcommand in
:data:`EXPORTERS`, imported only when used (add one there: its module, its click command, its help)."""

from __future__ import annotations

import click

from runyard.cli.common import open_existing, store_options
from runyard.cli.main import LazyGroup, friendly

# name → (module, attribute, one-line help)
EXPORTERS: dict[str, tuple[str, str, str]] = {
    "tensorboard": ("runyard.cli.export_cmd", "tensorboard",
                    "Event files for `tensorboard --logdir DIR`: every metric series and the HParams table."),
    "mlflow": ("runyard.cli.export_cmd", "export_mlflow",
               "Runs to an MLflow tracking store: params, metric series, status, times, tags and note."),
}


class ExportGroup(LazyGroup):
    table = EXPORTERS


@click.group(cls=ExportGroup)
def export() -> None:
    """Export an experiment's runs to another tool."""


@click.command()
@click.argument("experiment")
@click.argument("folder", metavar="DIR", type=click.Path(file_okay=False))
@click.option("--where", "-w", metavar="EXPR", help="Only the runs matching EXPR (the --where language of compare).")
@store_options
@friendly
def tensorboard(experiment: str, folder: str, where: str | None, home: str | None, store_url: str | None) -> None:
    """Write EXPERIMENT's runs as TensorBoard event files under DIR (new or empty): one folder per run
    with a scalar for every point of every metric, and the HParams plugin's data (each run's params and
    status; its final metric values are the last scalars), so `tensorboard --logdir DIR` shows the
    HParams table. Needs the tensorboard extra: pip install 'runyard[tensorboard]'."""
    from runyard.analyze.where import Where
    from runyard.app.tensorboard import export_tensorboard

    if where is not None:
        Where.parse(where)
    with open_existing(home, store_url) as store:
        done = export_tensorboard(store, experiment, folder, where=where)
    click.echo(f"wrote {done.runs} runs, {done.metrics} metrics, {done.points} points to {done.folder}: "
               f"tensorboard --logdir {done.folder}")


@click.command(name="mlflow")
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


__all__ = ["EXPORTERS", "export", "export_mlflow", "tensorboard"]
