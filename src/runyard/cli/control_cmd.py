"""``runyard pause`` / ``resume`` / ``cancel`` / ``priority``: control queued and running work from any machine."""

from __future__ import annotations

import click

from runyard.cli.common import open_existing, store_options
from runyard.cli.main import friendly
from runyard.errors import RunNotFound
from runyard.model import Status


@click.command()
@click.argument("experiment")
@store_options
@friendly
def pause(experiment: str, home: str | None, store_url: str | None) -> None:
    """Stop starting EXPERIMENT's steps: queued work stays queued, running steps finish."""
    with open_existing(home, store_url) as store:
        store.pause(experiment)
        counts = store.counts(experiment)
    queued = counts[Status.READY] + counts[Status.WAITING]
    click.echo(f"paused {experiment}: {queued} queued step executions wait; {counts[Status.RUNNING]} running ones "
               f"finish (`runyard resume {experiment}` to go on)")


@click.command()
@click.argument("experiment")
@store_options
@friendly
def resume(experiment: str, home: str | None, store_url: str | None) -> None:
    """Let workers start EXPERIMENT's queued steps again after `runyard pause`."""
    with open_existing(home, store_url) as store:
        store.pause(experiment, False)
        counts = store.counts(experiment)
    click.echo(f"resumed {experiment}: {counts[Status.READY] + counts[Status.WAITING]} queued step executions")


@click.command()
@click.argument("target")
@click.option("--experiment", "-e", metavar="NAME", help="The experiment of TARGET when it is a run.")
@store_options
@friendly
def cancel(target: str, experiment: str | None, home: str | None, store_url: str | None) -> None:
    """Cancel an EXPERIMENT's unfinished steps, or a RUN's (what it shares with other runs goes on).

    Running steps are terminated on whichever machine runs them (SIGTERM, then SIGKILL after the
    worker's grace period). `runyard run` / `submit` queue cancelled steps again.
    """
    with open_existing(home, store_url) as store:
        if experiment is None and target in store.experiments():
            result = store.cancel(target)
            what = f"experiment {target}"
        else:
            try:
                run = store.run(target, experiment)
            except RunNotFound as err:
                if experiment is not None:
                    raise
                names = ", ".join(store.experiments()) or "none yet"
                raise RunNotFound(f"{err}; nor is it an experiment (experiments: {names})") from None
            result = store.cancel(run.experiment, [run.id])
            what = f"run {run.name} ({run.short}) of {run.experiment}"
        hosts = sorted({store.execution(k).host or "?" for k in result.running})
    if not result.keys:
        click.echo(f"{what}: nothing to cancel (no queued or running step)")
        return
    running = f"; {len(result.running)} running on {', '.join(hosts)} are being terminated" if result.running else ""
    click.echo(f"cancelled {len(result.keys)} step executions of {what}{running}")


@click.command()
@click.argument("experiment")
@click.argument("priority", type=int)
@store_options
@friendly
def priority(experiment: str, priority: int, home: str | None, store_url: str | None) -> None:
    """Set the PRIORITY of EXPERIMENT's queued steps (workers take higher priorities first)."""
    with open_existing(home, store_url) as store:
        store.experiment(experiment)
        count = store.set_priority(experiment, priority)
    click.echo(f"{experiment}: {count} queued step executions now have priority {priority}")


__all__ = ["cancel", "pause", "priority", "resume"]
