"""``runyard compare``: one row per run (or per group with --over), filtered, sorted, in five formats."""

from __future__ import annotations

import sys

import click

from runyard.cli.common import open_existing, store_options
from runyard.cli.main import friendly

FORMATS = ("table", "csv", "tsv", "json", "markdown")
RICH_MAX_ROWS = 300  # rich draws ~600 rows of 27 columns a second: beyond this, the plain table


@click.command()
@click.argument("experiment", required=False)
@click.option("--where", "-w", "where", metavar="EXPR",
              help="Keep the runs matching EXPR, e.g. \"status == done and lr < 0.01 and norm in (batch, layer)\".")
@click.option("--sort", "-s", "sort", metavar="[-]COL,...",
              help="Sort by these columns (a metric, metric.best, a param, name ...); '-' for descending.")
@click.option("--over", "-o", "over", metavar="PARAM,...",
              help="Fold runs that differ only in these params into one row: mean ± std and n per metric.")
@click.option("--cols", "-c", "cols", metavar="COL,...",
              help="Show these columns: params, metrics, metric.min/.max/.best/.count/.step, name, status, "
                   "id, started, ended, duration.")
@click.option("--all-params", "-a", is_flag=True, help="Show every param, not only those that differ.")
@click.option("--format", "-f", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
              help="table (plain text when not a terminal), or exact machine formats csv, tsv, json, markdown.")
@click.option("--raw", is_flag=True, help="Every digit of each number in table and markdown (default: 6 significant "
              "digits; mean ± std to the std's second digit).")
@click.option("--limit", "-n", type=click.IntRange(min=0), metavar="N", help="Show the first N rows (after sorting).")
@click.option("--stage", metavar="STAGE,...",
              help="Runs of these stages: sweep, final (re-run by select:), aggregate, or all "
                   "(default: sweep,final; a stage column shows when both are there).")
@store_options
@friendly
def compare(experiment: str | None, where: str | None, sort: str | None, over: str | None, cols: str | None,
            all_params: bool, fmt: str, raw: bool, limit: int | None, stage: str | None, home: str | None,
            store_url: str | None) -> None:
    """Compare the runs of EXPERIMENT (default: the only one in the store).

    One row per run: name, status, the params that differ between the selected runs and the last
    value of every metric (a metric two steps report is shown as step.metric). The --where language:
    comparisons == != < <= > >= between a name and a value, `in (a, b)`, `not in`, and, or, not,
    parentheses; quote odd names with backticks. See docs/results.md.
    """
    from runyard.analyze.formats import render, rich_table
    from runyard.analyze.table import choose_experiment, parse_stages
    from runyard.analyze.where import Where
    from runyard.analyze.yard import RunSet, Yard

    if where is not None:
        Where.parse(where)  # bad syntax fails before the store opens
    parse_stages(stage)
    with open_existing(home, store_url) as store:
        name = choose_experiment(store, experiment)
        runs = RunSet(Yard(store), name, where, stage)
        table = runs.comparison(over, cols, sort, all_params=all_params, limit=limit)
    if table.frame.empty:
        click.echo(f"no runs{' match' if where else ''} in {name}", err=True)
        if fmt == "table":
            return
    if fmt == "table" and sys.stdout.isatty() and len(table.frame) <= RICH_MAX_ROWS:
        from rich.console import Console

        Console(highlight=False).print(rich_table(table, raw=raw, mark=bool(table.aggregated)))
        return
    text = render(table, fmt, raw=raw)
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:  # `runyard compare ... | head`: the reader has what it wanted
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
