"""``runyard plan``: show the runs and step executions a spec expands to. Writes nothing."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

import click

from runyard.app.planning import differing_params
from runyard.cli.common import SpecCommand, load_plan, spec_arguments
from runyard.cli.main import friendly
from runyard.model import Plan
from runyard.spec.render import value_text
from runyard.spec.types import Spec

if TYPE_CHECKING:
    from runyard.app.why import Reason


@click.command(cls=SpecCommand)
@spec_arguments
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@click.option("--store", "store_url", envvar="RUNYARD_STORE", metavar="URL",
              help="Store URL to compare with (default: sqlite:///<home>/runyard.db; read only).")
@friendly
def plan(args: tuple[str, ...], sweep: str | None, sample: int | None, sample_seed: int, home: str | None,
         as_json: bool, store_url: str | None) -> None:
    """Show the runs of SPEC (default ./runyard.yaml), each step's command, key and needs, and why each
    step execution would run (new, params/code/upstream changed, failed before) or is cached.

    Compares with the store read only; writes nothing and creates no store.
    KEY=VALUE sets a param in every run; KEY=A,B,C sweeps it (an axis added to every grid).
    """
    from runyard.app.why import plan_data, plan_reasons

    planned = load_plan(args, sweep=sweep, sample=sample, sample_seed=sample_seed, home=home, store_url=store_url)
    reasons = plan_reasons(planned.plan, planned.home, store_url)
    if as_json:
        click.echo(json.dumps(plan_data(planned.plan, reasons, planned.spec), indent=2, default=str))
        return
    print_plan(planned.plan, reasons, planned.spec)


def print_plan(plan: Plan, reasons: Mapping[str, Reason] | None = None, spec: Spec | None = None) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(highlight=False, soft_wrap=True)
    if not console.is_terminal:  # piped or captured: no wrapping, so every line stays greppable
        console = Console(highlight=False, soft_wrap=True, width=100_000)
    sweep_runs = [r for r in plan.runs if r.stage == "sweep"]
    uses = Counter(key for run in sweep_runs for _, key in run.steps)
    shared = sum(1 for n in uses.values() if n > 1)
    varying = differing_params(replace(plan, runs=tuple(sweep_runs)))
    console.print(f"[bold]{escape(plan.experiment)}[/]  spec {escape(plan.spec_path)}  home {escape(plan.home)}")
    table = Table(show_edge=False, pad_edge=False)
    for column in ("run", "id", *varying):
        table.add_column(escape(column), overflow="fold")
    for run in sweep_runs:
        table.add_row(escape(run.name), run.short, *(escape(value_text(run.params.get(p))) for p in varying))
    console.print(table)
    by_key = {ex.key: ex for ex in plan.executions}
    shown: set[str] = set()
    for run in plan.runs:
        stage = f" [dim]{run.stage}: once every run above is done[/]" if run.stage == "aggregate" else ""
        console.print(f"\n[bold]{escape(run.name)}[/] ({run.short}){stage}")
        for step, key in run.steps:
            ex = by_key[key]
            why = _why(reasons, key)
            if key in shown:
                console.print(f"  {escape(step)} {key[:12]} [dim](shared, shown above)[/]")
                continue
            shown.add(key)
            if ex.kind == "aggregate":
                needs = f" needs all {len(ex.needs)} step executions of the {len(sweep_runs)} runs"
            else:
                needs = f" needs {', '.join(f'{by_key[k].step} {k[:12]}' for k in ex.needs)}" if ex.needs else ""
            note = f" [dim](shared by {uses[key]} runs)[/]" if uses[key] > 1 else ""
            console.print(f"  {escape(step)} {key[:12]} gpus {ex.gpus}{needs}{note}{why}")
            console.print(f"    [cyan]{escape(ex.command)}[/]")
    for warning in plan.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}")
    if spec is not None and spec.select is not None:
        chosen = spec.select
        how = f"best {chosen.metric} ({chosen.mode})" + (f" per {', '.join(chosen.by)}" if chosen.by else "")
        how += f", mean over {', '.join(chosen.over)}" if chosen.over else ""
        console.print(f"\nthen select: {escape(how)}; each pick gets a final run with "
                      f"{escape(', '.join(s.name for s in chosen.then))} (decided once the sweep is done)")
    console.print(f"\n{_count(len(sweep_runs), 'run')}, {_count(len(plan.executions), 'step execution')} "
                  f"({shared} shared by several runs)")
    if reasons is not None:
        from runyard.app.why import counts

        found = counts(reasons)
        to_run = sum(n for kind, n in found.items() if kind not in ("cached", "queued"))
        parts = ", ".join(f"{n} {kind}" for kind, n in found.items() if kind not in ("cached", "queued"))
        queued = f", {found['queued']} queued already" if found.get("queued") else ""
        console.print(f"{to_run} would run{f' ({escape(parts)})' if parts else ''}, {found.get('cached', 0)} "
                      f"cached{queued}")


def _why(reasons: Mapping[str, Reason] | None, key: str) -> str:
    from rich.markup import escape

    if reasons is None:
        return ""
    reason = reasons[key]
    style = "green" if reason.kind == "cached" else "dim" if reason.kind == "queued" else "yellow"
    return f" [{style}]{escape(reason.text())}[/]"


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
