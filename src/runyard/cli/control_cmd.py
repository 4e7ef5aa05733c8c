"""``runyard pause`` / ``resume`` / ``cancel`` / ``priority``: control queued and running work from any machine."""

from __future__ import annotations

from collections.abc import Callable

import click

from runyard.cli.common import open_existing, store_options
from runyard.cli.main import friendly


def _pausing(paused: bool) -> Callable[[str, str | None, str | None], None]:
    """``runyard pause`` (``paused``) or ``runyard resume``: the same call, told apart by what it says."""

    def command(experiment: str, home: str | None, store_url: str | None) -> None:
        from runyard.app.control import set_paused

        with open_existing(home, store_url) as store:
            queued, running = set_paused(store, experiment, paused)
        if paused:
            click.echo(f"paused {experiment}: {queued} queued step executions wait; {running} running ones "
                       f"finish (`runyard resume {experiment}` to go on)")
        else:
            click.echo(f"resumed {experiment}: {queued} queued step executions")

    return command


pause = click.command(name="pause", help="Stop starting EXPERIMENT's steps: queued work stays queued, running "
                                         "steps finish.")(
    click.argument("experiment")(store_options(friendly(_pausing(True)))))
resume = click.command(name="resume", help="Let workers start EXPERIMENT's queued steps again after `runyard pause`.")(
    click.argument("experiment")(store_options(friendly(_pausing(False)))))


@click.command()
@click.argument("target")
@click.option("--experiment", "-e", metavar="NAME", help="The experiment of TARGET when it is a run.")
@store_options
@friendly
def cancel(target: str, experiment: str | None, home: str | None, store_url: str | None) -> None:
    """Cancel an EXPERIMENT's unfinished steps, or a RUN's (what it shares with other runs goes on).

    TARGET is an experiment, a run (name, id or id prefix), or a step execution's key or key prefix
    (then the runs holding it are cancelled).

    Running steps are terminated on whichever machine runs them (SIGTERM, then SIGKILL after the
    worker's grace period). `runyard run` / `submit` queue cancelled steps again.
    """
    from runyard.app.control import cancel as cancel_target

    with open_existing(home, store_url) as store:
        done = cancel_target(store, target, experiment)
    if not done.keys:
        click.echo(f"{done.what}: nothing to cancel (no queued or running step)")
        return
    running = f"; {len(done.running)} running on {', '.join(done.hosts)} are being terminated" if done.running else ""
    click.echo(f"cancelled {len(done.keys)} step executions of {done.what}{running}")


@click.command()
@click.argument("experiment")
@click.argument("priority", type=int)
@store_options
@friendly
def priority(experiment: str, priority: int, home: str | None, store_url: str | None) -> None:
    """Set the PRIORITY of EXPERIMENT's queued steps (workers take higher priorities first)."""
    from runyard.app.control import set_priority

    with open_existing(home, store_url) as store:
        count = set_priority(store, experiment, priority)
    click.echo(f"{experiment}: {count} queued step executions now have priority {priority}")


__all__ = ["cancel", "pause", "priority", "resume"]
