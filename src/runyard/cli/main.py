"""The ``runyard`` command: thin click commands that parse, call one library function and render."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click

from runyard.errors import RunyardError
from runyard.version import __version__

F = TypeVar("F", bound=Callable[..., Any])


def friendly(func: F) -> F:
    """Print a RunyardError as one message on stderr and exit with its code: no traceback for user mistakes."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except RunyardError as err:
            click.echo(f"runyard: {err}", err=True)
            sys.exit(err.exit_code)
        except KeyboardInterrupt:
            click.echo("runyard: interrupted", err=True)
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


# name → (module, attribute, one-line help shown by `runyard --help` without importing the module)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "run": ("runyard.cli.run_cmd", "run", "Run a spec's sweeps on every free slot; resumes what is not done."),
    "plan": ("runyard.cli.plan_cmd", "plan", "Show the runs and step executions of a spec. Writes nothing."),
    "submit": ("runyard.cli.queue_cmd", "submit", "Plan and enqueue a spec's runs for workers, without running them."),
    "worker": ("runyard.cli.queue_cmd", "worker", "Pull queued steps from the store and run them on this machine."),
    "pause": ("runyard.cli.control_cmd", "pause", "Stop starting an experiment's steps; queued work stays."),
    "resume": ("runyard.cli.control_cmd", "resume", "Start a paused experiment's queued steps again."),
    "cancel": ("runyard.cli.control_cmd", "cancel", "Cancel an experiment's or a run's unfinished steps, anywhere."),
    "priority": ("runyard.cli.control_cmd", "priority", "Re-prioritise an experiment's queued steps."),
    "ls": ("runyard.cli.inspect_cmd", "ls", "List experiments, or the runs of one experiment."),
    "show": ("runyard.cli.inspect_cmd", "show", "Show a run: params, steps, commands, logs."),
    "logs": ("runyard.cli.inspect_cmd", "logs", "Print (or follow) the log of a step of a run."),
    "status": ("runyard.cli.inspect_cmd", "status", "What is running where: workers and their steps."),
    "compare": ("runyard.cli.compare_cmd", "compare", "Compare runs: differing params and metrics, filtered, sorted."),
    "tune": ("runyard.cli.tune_cmd", "tune", "Search a spec's tune: space; each free slot takes the next trial."),
    "select": ("runyard.cli.select_cmd", "select", "Pick the best sweep runs and run the spec's final steps for them."),
    "reparse": ("runyard.cli.reparse_cmd", "reparse", "Re-read the metrics of finished runs after a spec change."),
    "rerun": ("runyard.cli.rerun_cmd", "rerun", "Run a past run again with changes, as a new run of its experiment."),
    "diff": ("runyard.cli.rerun_cmd", "diff", "Why two runs differ: params, metrics, code, packages, machine."),
    "tag": ("runyard.cli.past_cmd", "tag", "Add tags to a run."),
    "untag": ("runyard.cli.past_cmd", "untag", "Take tags off a run."),
    "note": ("runyard.cli.past_cmd", "note", "Set the note of a run."),
    "rm": ("runyard.cli.past_cmd", "rm", "Remove runs and the step executions only they use (dry run by default)."),
    "gc": ("runyard.cli.past_cmd", "gc", "Clean up old or failed runs and what nothing uses (dry run by default)."),
    "reindex": ("runyard.cli.reindex_cmd", "reindex", "Rebuild the store from the run and step folders of a home."),
    "report": ("runyard.cli.report_cmd", "report", "Write an experiment's results as one self-contained HTML file."),
    "plot": ("runyard.cli.report_cmd", "plot", "Draw a metric's curves: HTML, PNG or SVG."),
    "export": ("runyard.cli.export_cmd", "export", "Export runs to another tool (TensorBoard, MLflow)."),
    "import": ("runyard.cli.import_cmd", "import_", "Import runs from another tool (mlflow)."),
    "ui": ("runyard.ui.command", "ui", "Serve the web dashboard: runs tables, curves, compare, step graph, queue."),
}


class LazyGroup(click.Group):
    """Commands live in their own modules, imported only when used, so ``runyard --help`` stays fast.
    ``table`` maps each command's name to (module, attribute, one-line help)."""

    table = COMMANDS

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.table)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, entry[2]) for name, entry in self.table.items()])

    def resolve_command(self, ctx: click.Context,
                        args: list[str]) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if name and not name.startswith("-") and name not in self.table:
            from runyard.errors import suggest

            ctx.fail(f"No such command {name!r}{suggest(name, self.table, cutoff=0.5)} "
                     f"(commands: {', '.join(self.table)})")
        return super().resolve_command(ctx, args)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = self.table.get(cmd_name)
        if target is None:
            return None
        import importlib

        module = importlib.import_module(target[0])
        command: click.Command = getattr(module, target[1])
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="runyard")
def cli() -> None:
    """Run parameter sweeps of ML experiments on every GPU, record every run, compare the results."""


def main() -> None:
    cli(prog_name="runyard")


if __name__ == "__main__":
    main()
