"""``runyard rerun`` (a past run again, with changes) and ``runyard diff`` (why two runs differ)."""

from __future__ import annotations

import json
import signal
import sys
from typing import Any

import click

from runyard.cli.common import install_stop_signals, main_thread, open_existing, store_options
from runyard.cli.main import friendly


@click.command()
@click.argument("run")
@click.argument("changes", nargs=-1, metavar="[KEY=VALUE ...]")
@click.option("--step", metavar="STEP", help="Run this step (and the steps after it) again even if nothing it "
              "uses changed.")
@click.option("--name", metavar="NAME", help="Name of the new run (default: from its params, as `runyard run`).")
@click.option("--experiment", "-e", help="Experiment of the run (when names repeat across experiments).")
@click.option("--jobs", "-j", type=click.IntRange(min=1), metavar="N", help="Concurrent CPU-only steps.")
@store_options
@friendly
def rerun(run: str, changes: tuple[str, ...], step: str | None, name: str | None, experiment: str | None,
          jobs: int | None, home: str | None, store_url: str | None) -> None:
    """Run RUN (id prefix or name) again with KEY=VALUE changes, as a new run of its experiment that
    records RUN as its origin. Steps whose params did not change stay cached."""
    from runyard.app.rerun import plan_rerun
    from runyard.app.session import RunOptions, run_session
    from runyard.cli.progress import Display

    with open_existing(home, store_url) as store:
        planned = plan_rerun(store, run, changes, step=step, name=name, experiment=experiment)
    new = planned.run
    click.echo(f"rerun of {planned.parent.name} ({planned.parent.short}) as {new.name} ({new.short})")
    resources = planned.spec.resources
    options = RunOptions(home=planned.home, store_url=store_url, gpus=resources.gpus, per_gpu=resources.per_gpu,
                         jobs=jobs, force_steps=(step,) if step else ())
    handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP) if main_thread() else ()
    previous = {sig: signal.getsignal(sig) for sig in handled}
    try:
        code = run_session(planned.plan, options, display=Display(planned.plan, live=True),
                           install_signals=install_stop_signals if handled else None)
    finally:
        for sig, old in previous.items():
            if old is not None:
                signal.signal(sig, old)
    sys.exit(code)


def _value(value: Any, default: bool) -> str:
    return f"{value!r}{' (default)' if default else ''}"


@click.command()
@click.argument("a")
@click.argument("b")
@click.option("--experiment", "-e", help="Experiment of the runs (when names repeat across experiments).")
@click.option("--all-params", "-a", is_flag=True, help="Show every param, not only those that differ.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@store_options
@friendly
def diff(a: str, b: str, experiment: str | None, all_params: bool, as_json: bool, home: str | None,
         store_url: str | None) -> None:
    """Why runs A and B (id prefixes or names) differ: params (defaults marked), metrics side by side,
    code (git commits and a unified diff of the uncommitted changes each recorded), packages, machine."""
    from runyard.app.diff import diff_runs

    with open_existing(home, store_url) as store:
        data = diff_runs(store, a, b, experiment=experiment)
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
        return
    ra, rb = data["a"], data["b"]
    click.echo(f"A  {ra['name']}  ({ra['id'][:12]})  {ra['experiment']}  {ra['status']}")
    click.echo(f"B  {rb['name']}  ({rb['id'][:12]})  {rb['experiment']}  {rb['status']}")
    shown = [p for p in data["params"] if all_params or not p["same"]]
    click.echo("\nparams" + ("" if shown else ": the same"))
    for p in shown:
        mark = " " if p["same"] else "≠"
        click.echo(f"  {mark} {p['name']}: {_value(p['a'], p['a_default'])}  |  {_value(p['b'], p['b_default'])}")
    click.echo("\nmetrics" + ("" if data["metrics"] else ": none recorded"))
    for m in data["metrics"]:
        click.echo(f"  {m['name']}: {m['a']}  |  {m['b']}")
    click.echo("\ncode")
    for c in data["code"]:
        same = " (the same execution)" if c["same_execution"] else ""
        show = [(c[s]["commit"] or "no commit")[:12] + ("+dirty" if c[s]["dirty"] else "") if c[s]["commit"]
                or c[s]["dirty"] else "not recorded" for s in ("a", "b")]
        click.echo(f"  {c['step']}: {show[0]}  |  {show[1]}{same}")
        if c["diff"]:
            click.echo(c["diff"].rstrip("\n"))
    click.echo("\npackages" + ("" if data["packages"] else ": the same"))
    for name, v in data["packages"].items():
        click.echo(f"  {name}: {v['a'] or '-'}  |  {v['b'] or '-'}")
    click.echo("\nmachine" + ("" if data["machine"] else ": the same"))
    for field, v in data["machine"].items():
        click.echo(f"  {field}: {v['a']}  |  {v['b']}")
