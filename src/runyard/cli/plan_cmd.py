"""``runyard plan``: show the runs and step executions a spec expands to. Writes nothing."""

from __future__ import annotations

import json
from collections import Counter

import click

from runyard.cli.common import differing_params, load_plan, spec_arguments
from runyard.cli.main import friendly
from runyard.model import Plan
from runyard.spec.render import value_text


def plan_json(plan: Plan) -> dict[str, object]:
    by_key = {ex.key: ex for ex in plan.executions}
    return {
        "experiment": plan.experiment,
        "runs": [
            {
                "id": run.id,
                "name": run.name,
                "params": dict(run.params),
                "steps": [
                    {"name": step, "key": key, "command": by_key[key].command, "needs": list(by_key[key].needs),
                     "gpus": by_key[key].gpus}
                    for step, key in run.steps
                ],
            }
            for run in plan.runs
        ],
        "executions": len(plan.executions),
    }


@click.command()
@spec_arguments
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@friendly
def plan(args: tuple[str, ...], sweep: str | None, sample: int | None, sample_seed: int, home: str | None,
         as_json: bool) -> None:
    """Show the runs of SPEC (default ./runyard.yaml) and each step's command, key and needs. Writes nothing.

    KEY=VALUE sets a param in every run; KEY=A,B,C sweeps it (an axis added to every grid).
    """
    _, the_plan, _ = load_plan(args, sweep=sweep, sample=sample, sample_seed=sample_seed, home=home)
    if as_json:
        click.echo(json.dumps(plan_json(the_plan), indent=2, default=str))
        return
    print_plan(the_plan)


def print_plan(plan: Plan) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(highlight=False, soft_wrap=True)
    if not console.is_terminal:  # piped or captured: no wrapping, so every line stays greppable
        console = Console(highlight=False, soft_wrap=True, width=100_000)
    uses = Counter(key for run in plan.runs for _, key in run.steps)
    shared = sum(1 for n in uses.values() if n > 1)
    varying = differing_params(plan)
    console.print(f"[bold]{escape(plan.experiment)}[/]  spec {escape(plan.spec_path)}  home {escape(plan.home)}")
    table = Table(show_edge=False, pad_edge=False)
    for column in ("run", "id", *varying):
        table.add_column(escape(column), overflow="fold")
    for run in plan.runs:
        table.add_row(escape(run.name), run.short, *(escape(value_text(run.params.get(p))) for p in varying))
    console.print(table)
    by_key = {ex.key: ex for ex in plan.executions}
    shown: set[str] = set()
    for run in plan.runs:
        console.print(f"\n[bold]{escape(run.name)}[/] ({run.short})")
        for step, key in run.steps:
            ex = by_key[key]
            needs = f" needs {', '.join(f'{by_key[k].step} {k[:12]}' for k in ex.needs)}" if ex.needs else ""
            if key in shown:
                console.print(f"  {escape(step)} {key[:12]} [dim](shared, shown above)[/]")
                continue
            shown.add(key)
            note = f" [dim](shared by {uses[key]} runs)[/]" if uses[key] > 1 else ""
            console.print(f"  {escape(step)} {key[:12]} gpus {ex.gpus}{needs}{note}")
            console.print(f"    [cyan]{escape(ex.command)}[/]")
    for warning in plan.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}")
    console.print(f"\n{_count(len(plan.runs), 'run')}, {_count(len(plan.executions), 'step execution')} "
                  f"({shared} shared by several runs)")


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
