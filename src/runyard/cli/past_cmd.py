"""``runyard tag``, ``untag``, ``note``, ``rm`` and ``gc``: labels on past runs, and cleaning up."""

from __future__ import annotations

import click

from runyard.cli.common import open_existing, store_options
from runyard.cli.main import friendly

EXPERIMENT = click.option("--experiment", "-e", help="Experiment of the run (when names repeat across experiments).")


@click.command()
@click.argument("run")
@click.argument("tags", nargs=-1, required=True)
@EXPERIMENT
@store_options
@friendly
def tag(run: str, tags: tuple[str, ...], experiment: str | None, home: str | None, store_url: str | None) -> None:
    """Add TAGS to a RUN (id prefix or name); select them later with --where "tag = TAG"."""
    from runyard.app.labels import tag_run

    with open_existing(home, store_url) as store:
        record = tag_run(store, run, tags, experiment=experiment)
    click.echo(f"{record.name} ({record.short}): {', '.join(record.tags) or 'no tags'}")


@click.command()
@click.argument("run")
@click.argument("tags", nargs=-1, required=True)
@EXPERIMENT
@store_options
@friendly
def untag(run: str, tags: tuple[str, ...], experiment: str | None, home: str | None, store_url: str | None) -> None:
    """Take TAGS off a RUN (id prefix or name)."""
    from runyard.app.labels import tag_run

    with open_existing(home, store_url) as store:
        record = tag_run(store, run, tags, experiment=experiment, remove=True)
    click.echo(f"{record.name} ({record.short}): {', '.join(record.tags) or 'no tags'}")


@click.command()
@click.argument("run")
@click.argument("text")
@EXPERIMENT
@store_options
@friendly
def note(run: str, text: str, experiment: str | None, home: str | None, store_url: str | None) -> None:
    """Set the note of a RUN (id prefix or name); "" removes it. Shown by show and compare."""
    from runyard.app.labels import note_run

    with open_existing(home, store_url) as store:
        record = note_run(store, run, text, experiment=experiment)
    click.echo(f"{record.name} ({record.short}): {'note: ' + record.note if record.note else 'no note'}")


def _report(removal: object, yes: bool) -> None:
    from runyard.app.cleanup import Removal

    assert isinstance(removal, Removal)
    for line in removal.refused:
        click.echo(f"kept: {line}", err=True)
    for run in removal.runs:
        click.echo(f"run {run.name} ({run.short}) of {run.experiment}: {run.status}")
    for key, folder in removal.executions.items():
        click.echo(f"  step execution {key[:12]}  {folder}")
    for folder in removal.stray:
        click.echo(f"  folder the store does not know: {folder}")
    click.echo(removal.summary() + ("" if yes or removal.empty else "; add --yes to delete"))


@click.command()
@click.argument("runs", nargs=-1)
@click.option("--where", "-w", metavar="EXPR", help="Remove the runs of the experiment matching EXPR.")
@EXPERIMENT
@click.option("--yes", "-y", is_flag=True, help="Delete (without it: show what would go, and how many bytes).")
@store_options
@friendly
def rm(runs: tuple[str, ...], where: str | None, experiment: str | None, yes: bool, home: str | None,
       store_url: str | None) -> None:
    """Remove RUNS (id prefixes or names) or the runs matching --where, with their step executions no
    other run shares. A dry run unless --yes; a run with a step running or queued is kept."""
    from runyard.app.cleanup import execute, plan_rm, runs_to_remove
    from runyard.errors import UsageError

    with open_existing(home, store_url) as store:
        removal = plan_rm(store, runs_to_remove(store, runs, where=where, experiment=experiment))
        if yes and not removal.empty:
            removal = execute(store, removal)
    _report(removal, yes)
    if removal.refused and not removal.runs:
        raise UsageError("nothing removed: every run named is in use")


@click.command()
@click.option("--older-than", metavar="AGE", help="Runs created more than AGE ago (30d, 12h, 2w) and finished.")
@click.option("--failed", is_flag=True, help="Runs that failed, were interrupted or cancelled.")
@click.option("--unlinked", is_flag=True, help="Also what nothing refers to: step executions no run links to, "
              "folders the store does not know, leftovers of an interrupted removal (the default without options).")
@EXPERIMENT
@click.option("--yes", "-y", is_flag=True, help="Delete (without it: show what would go, and how many bytes).")
@store_options
@friendly
def gc(older_than: str | None, failed: bool, unlinked: bool, experiment: str | None, yes: bool, home: str | None,
       store_url: str | None) -> None:
    """Clean up: old or failed runs, and what nothing refers to. A dry run unless --yes; never deletes a
    step execution a kept run links to, nor one running or queued."""
    from runyard.app.cleanup import execute, parse_age, plan_gc

    age = parse_age(older_than) if older_than is not None else None
    with open_existing(home, store_url) as store:
        removal = plan_gc(store, older_than=age, failed=failed, unlinked=unlinked, experiment=experiment)
        if yes and not removal.empty:
            removal = execute(store, removal)
    _report(removal, yes)
