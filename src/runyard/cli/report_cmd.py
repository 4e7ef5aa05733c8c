"""``runyard report`` and ``runyard plot``: an experiment's results as one HTML file, a metric as a chart."""

from __future__ import annotations

import os

import click

from runyard.cli.common import open_existing, store_options
from runyard.cli.main import friendly
from runyard.errors import UsageError

PLOT_FORMATS = (".html", ".png", ".svg", ".pdf")


@click.command()
@click.argument("experiment", required=False)
@click.option("--output", "-o", metavar="FILE", default="report.html", show_default=True,
              help="Where to write the HTML file.")
@click.option("--where", "-w", metavar="EXPR", help="Only the runs matching EXPR (the --where language of compare).")
@click.option("--over", metavar="PARAM,...", help="Group the runs that differ only in these params (seeds): the "
                                                  "table shows mean ± std, the curves each group's mean and band.")
@store_options
@friendly
def report(experiment: str | None, output: str, where: str | None, over: str | None, home: str | None,
           store_url: str | None) -> None:
    """Write the results of EXPERIMENT (default: the only one) as one self-contained HTML file: the best
    runs, the runs table, every metric's curves, params against metrics (parallel coordinates) and
    where the runs ran (git commit, host, GPU, versions). It opens offline and can be mailed."""
    from runyard.analyze.where import Where
    from runyard.app.results import report_data
    from runyard.report import report_page

    if where is not None:
        Where.parse(where)  # bad syntax fails before the store opens
    _check_writable(output)
    with open_existing(home, store_url) as store:
        data = report_data(store, experiment, where=where, over=over)
    _write(output, report_page(data))
    click.echo(f"wrote {output}: {data.runs} runs, {len(data.metrics)} metrics")


@click.command()
@click.argument("experiment")
@click.argument("metric")
@click.option("--over", metavar="PARAM,...", help="One curve per group of runs that differ only in these params: "
                                                  "the mean, with mean ± std shaded.")
@click.option("--where", "-w", metavar="EXPR", help="Only the runs matching EXPR.")
@click.option("--output", "-o", metavar="FILE", help="Write FILE: .html (no extra needed), .png, .svg or .pdf "
                                                     "(matplotlib: pip install 'runyard[plot]'). Default: "
                                                     "EXPERIMENT-METRIC.html.")
@store_options
@friendly
def plot(experiment: str, metric: str, over: str | None, where: str | None, output: str | None, home: str | None,
         store_url: str | None) -> None:
    """Draw METRIC of EXPERIMENT's runs over the training steps: one curve per run, or per group with --over."""
    from runyard.app.results import curves, run_set

    output = output or f"{experiment}-{metric}.html".replace(os.sep, "_")
    suffix = os.path.splitext(output)[1].lower()
    if suffix not in PLOT_FORMATS:
        raise UsageError(f"--output {output!r}: the file name must end in {', '.join(PLOT_FORMATS)}")
    if suffix != ".html":
        from runyard.analyze.plotting import pyplot

        pyplot(f"writing {suffix[1:].upper()} ({output})")  # no matplotlib: say so before reading anything
    _check_writable(output)
    with open_existing(home, store_url) as store:
        runs = run_set(store, experiment, where, stage=None)
        found = curves(runs, metric, over=over)
        mode = runs.results().metric(metric)
    how = "max" if mode is None else mode.mode
    if suffix == ".html":
        from runyard.report import chart_page

        _write(output, chart_page(experiment, metric, found, how))
    else:
        from runyard.analyze.plotting import save

        save(found, metric, output, title=f"{experiment}: {metric}")
    click.echo(f"wrote {output}: {len(found)} curve{'s' if len(found) != 1 else ''}")


def _check_writable(path: str) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"--output {path!r}: the folder {folder} does not exist")
    if os.path.isdir(path):
        raise UsageError(f"--output {path!r} is a folder; give a file name")


def _write(path: str, text: str) -> None:
    try:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as err:
        raise UsageError(f"cannot write {path}: {err.strerror}") from None


__all__ = ["plot", "report"]
