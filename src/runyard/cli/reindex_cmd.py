"""``runyard reindex``: rebuild the store from the run and step folders of a home."""

from __future__ import annotations

import click

from runyard.cli.common import store_options
from runyard.cli.main import friendly


@click.command()
@store_options
@friendly
def reindex(home: str | None, store_url: str | None) -> None:
    """Rebuild the store from the folders of a home (experiment.json, run.json, meta.json, logs and
    metrics files): after runyard.db was deleted or damaged, nothing recorded in the folders is lost.
    A damaged SQLite store is moved aside first; folders that cannot be read are reported and skipped."""
    from runyard.app.reindex import open_for_reindex
    from runyard.app.reindex import reindex as rebuild

    with open_for_reindex(home, store_url, report=lambda line: click.echo(line, err=True)) as (store, root):
        result = rebuild(store, root)
    for problem in result.problems:
        click.echo(f"skipped: {problem}", err=True)
    click.echo(f"reindexed {len(result.experiments)} experiment(s) ({', '.join(result.experiments) or 'none'}): "
               f"{result.runs} run(s), {result.executions} step execution(s), {result.points} metric point(s)")
